package cloudup

import (
	"context"
	"fmt"
	"io"

	"github.com/hullproject/hull/cloudup/graph"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
)

// UpdateOptions control one `hull update cluster`.
type UpdateOptions struct {
	// Yes applies the plan; otherwise it is printed and nothing changes.
	Yes bool
	// Prune deletes cloud resources that are no longer in the spec.
	Prune bool
	Out   io.Writer
	// Graph bounds the executor; zero values take its defaults.
	Graph graph.Options
}

// Update reconciles the cloud with a cluster's spec as the store holds
// it: complete the spec, then Reconcile. With o.Yes it reads, plans and
// applies under the cluster's lease, so the plan applied is the plan made.
func Update(ctx context.Context, reg *registry.Registry, provider Cloud, name string, o UpdateOptions) (*graph.Plan, error) {
	update := func(ctx context.Context) (*graph.Plan, error) {
		c, igs, err := Complete(ctx, reg, name)
		if err != nil {
			return nil, err
		}
		return Reconcile(ctx, reg, provider, c, igs, o)
	}
	if !o.Yes {
		return update(ctx)
	}
	var plan *graph.Plan
	err := reg.WithLock(ctx, name, func(ctx context.Context) error {
		var err error
		plan, err = update(ctx)
		return err
	})
	return plan, err
}

// Reconcile makes the cloud match a completed spec: check the version
// skew, build the model, find what exists, then print the plan or, with
// o.Yes, apply it. The caller holds the cluster's lease when applying.
func Reconcile(ctx context.Context, reg *registry.Registry, provider Cloud, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, o UpdateOptions) (*graph.Plan, error) {
	name := c.Metadata.Name
	// One finder serves the skew rules and the model, so the cloud is read once.
	f := &finder{provider: provider, cluster: name}
	running, err := readRunningVersions(ctx, f, reg.Store())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: version skew: %w", name, err)
	}
	holds, err := running.holds(c, igs)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: version skew: %w", name, err)
	}
	if err := running.checkSkew(c, igs, holds); err != nil {
		return nil, err
	}
	apiHost, err := apiHostFor(ctx, reg, provider, c, igs, o)
	if err != nil {
		return nil, err
	}
	m, err := BuildModelWith(c, igs, provider, reg.Store(), ModelOptions{Holds: holds, APIHost: apiHost, find: f})
	if err != nil {
		return nil, err
	}
	for _, h := range holds {
		fmt.Fprintf(o.Out, "Version skew: %s.\n", h)
	}
	if len(holds) > 0 {
		fmt.Fprintf(o.Out, "'hull rolling-update cluster %s --yes' rolls the control plane first, then updates and rolls the held node groups.\n\n", name)
	}
	// The plan's tasks share their describe calls (cloud.PlanRead); so do
	// the apply's, with reads of their own made after the plan's.
	planCtx := cloud.WithPlanReads(ctx)
	dels, err := m.Deletions(planCtx, provider, name)
	if err != nil {
		return nil, err
	}
	gopts := o.Graph
	if gopts.IsRetryable == nil {
		gopts.IsRetryable = cloud.IsTransient
	}
	plan, err := graph.BuildPlan(planCtx, m.Tasks, dels, gopts)
	if err != nil {
		return nil, fmt.Errorf("plan cluster %s: %w", name, err)
	}
	if !o.Yes {
		return plan, graph.PrintPlan(o.Out, plan, o.Prune)
	}
	if !plan.HasChanges(o.Prune) {
		fmt.Fprintln(o.Out, "No changes need to be applied")
		return plan, nil
	}
	progress := output.NewProgress(o.Out)
	gopts.Progress = func(e graph.Event) {
		switch e.Kind {
		case graph.EventFinished:
			if e.Phase != graph.PhaseFind {
				progress.Step("%s: %s done", e.Key, e.Phase)
			}
		case graph.EventRetrying:
			progress.Step("%s: %s retrying in %s (attempt %d/%d): %v", e.Key, e.Phase, e.Delay, e.Attempt, e.MaxAttempts, e.Err)
		case graph.EventFailed:
			progress.Step("%s: %s failed: %v", e.Key, e.Phase, e.Err)
		}
	}
	if err := reg.PutCompleted(ctx, c, igs); err != nil {
		return plan, err
	}
	if err := running.recordRunning(ctx, reg.Store(), c, igs, holds); err != nil {
		return plan, err
	}
	if err := graph.Apply(cloud.WithPlanReads(ctx), m.Tasks, plan, o.Prune, gopts); err != nil {
		return plan, fmt.Errorf("update cluster %s: %w", name, err)
	}
	progress.Step("Cluster %s: cloud changes applied", name)
	return plan, nil
}

// Complete loads a cluster and returns its completed, validated spec.
func Complete(ctx context.Context, reg *registry.Registry, name string) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, error) {
	c, _, err := reg.GetCluster(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	igs, err := reg.ListInstanceGroups(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return CompleteSpec(c, igs, reg.ConfigBase(name))
}

// CompleteSpec completes a loaded cluster and validates the result;
// configBase is where the store keeps the cluster.
func CompleteSpec(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, configBase string) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, error) {
	name := c.Metadata.Name
	cc, cigs, err := completion.Complete(c, igs, completion.Options{ConfigBase: configBase})
	if err != nil {
		return nil, nil, fmt.Errorf("complete cluster %s: %w", name, err)
	}
	if errs := validation.ValidateCluster(cc, cigs); len(errs) > 0 {
		return nil, nil, fmt.Errorf("cluster %s is invalid; fix it with `hull edit cluster %s`: %w", name, name, errs.ToAggregate())
	}
	return cc, cigs, nil
}
