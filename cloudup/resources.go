package cloudup

import (
	"context"
	"slices"
	"strings"

	"github.com/hullproject/hull/cloudup/graph"
	"github.com/hullproject/hull/pkg/cloud"
)

// ResourcePlanner is a provider that makes more for a cluster than the
// network, groups and load balancers the model knows (security groups,
// gateways, route tables, IAM roles, ...). Each of its resources becomes a
// task of the graph, so the dry run lists it and a change to it shows.
// Providers without such resources (the local cloud) do not implement it.
type ResourcePlanner interface {
	PlanResources(net *cloud.Network) []cloud.Resource
}

// resourceTask is a provider's resource as a graph task.
type resourceTask struct {
	r cloud.Resource
}

func (t *resourceTask) Key() string            { return t.r.Key() }
func (t *resourceTask) Dependencies() []string { return slices.Clone(t.r.After) }
func (t *resourceTask) Immutable() []string    { return t.r.Immutable }
func (t *resourceTask) Expected() graph.Fields { return graph.Fields(t.r.Fields) }

func (t *resourceTask) Find(ctx context.Context) (graph.Fields, error) {
	f, err := t.r.Find(ctx)
	if err != nil || f == nil {
		return nil, err
	}
	return graph.Fields(f), nil
}

func (t *resourceTask) Apply(ctx context.Context, _ *graph.Change) error { return t.r.Apply(ctx) }

// neededBy adds to a task the resources that must exist before it.
type neededBy struct {
	graph.Task
	extra []string
}

func (t *neededBy) Dependencies() []string { return append(t.Task.Dependencies(), t.extra...) }

// addResources appends the provider's resources to tasks, and makes every
// task of a kind a resource is needed by depend on it (a launch config on
// the security groups and IAM profiles its template names).
func addResources(tasks []graph.Task, provider Cloud, net *cloud.Network) []graph.Task {
	rp, ok := provider.(ResourcePlanner)
	if !ok {
		return tasks
	}
	resources := rp.PlanResources(net)
	if len(resources) == 0 {
		return tasks
	}
	byKind := map[string][]string{}
	for _, r := range resources {
		for _, kind := range r.NeededBy {
			byKind[kind] = append(byKind[kind], r.Key())
		}
	}
	for i, t := range tasks {
		kind, _, _ := strings.Cut(t.Key(), "/")
		if extra := byKind[kind]; len(extra) > 0 {
			tasks[i] = &neededBy{Task: t, extra: extra}
		}
	}
	for _, r := range resources {
		tasks = append(tasks, &resourceTask{r: r})
	}
	return tasks
}
