package cloud

import (
	"context"
	"sync"
)

// Resource is one thing a provider makes for a cluster beyond the network,
// groups and load balancers the engine models itself (security groups,
// gateways, route tables, IAM roles, key pairs, ...). The engine makes it a
// task of its graph, so the dry run lists it and a change to it shows.
type Resource struct {
	// Kind and Name make the task's key, "Kind/Name"; unique per cluster.
	Kind string
	Name string
	// Fields are what the plan compares with what Find reports, and
	// prints on create (field name -> printable value).
	Fields map[string]string
	// Immutable names the fields that cannot change in place.
	Immutable []string
	// After are keys of resources to apply first: the provider's own
	// ("SecurityGroup/nodes.demo") and the engine's ("Network/<cluster>",
	// "Subnet/<name>").
	After []string
	// NeededBy are kinds of the engine's tasks that wait for this one
	// ("LaunchConfig", "InstanceGroup", "LoadBalancer"): what a launch
	// template names must exist before it.
	NeededBy []string
	// Find reports the resource's fields, nil (and a nil error) when it
	// does not exist. A foreign owner is refused (*ForeignOwnerError).
	Find func(ctx context.Context) (map[string]string, error)
	// Apply creates the resource or makes it match Fields.
	Apply func(ctx context.Context) error
}

// Key is the resource's task key, "Kind/Name".
func (r Resource) Key() string { return r.Kind + "/" + r.Name }

// planReads memoises reads for one plan (or one apply): key -> entry.
type planReads struct {
	mu      sync.Mutex
	entries map[string]*planEntry
}

type planEntry struct {
	mu   sync.Mutex // held while the read runs, so concurrent readers wait for it
	done bool
	val  any
}

type planReadsKey struct{}

// WithPlanReads returns a context whose PlanRead calls share their answers:
// the engine makes one per plan and one per apply, so that many tasks of a
// provider read the cloud with one describe call per kind instead of one
// each, and the call budget does not grow with the number of resources.
func WithPlanReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, planReadsKey{}, &planReads{entries: map[string]*planEntry{}})
}

// PlanRead returns what read returned for key earlier under the same
// WithPlanReads context, or runs read. Errors are not kept, so a retry
// reads again; without WithPlanReads every call reads. A value kept is
// shared: a caller that changes the cloud may update it in place (under
// its own lock), so later readers of the same plan see the change.
func PlanRead[T any](ctx context.Context, key string, read func(context.Context) (T, error)) (T, error) {
	reads, _ := ctx.Value(planReadsKey{}).(*planReads)
	if reads == nil {
		return read(ctx)
	}
	reads.mu.Lock()
	e := reads.entries[key]
	if e == nil {
		e = &planEntry{}
		reads.entries[key] = e
	}
	reads.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		if v, ok := e.val.(T); ok {
			return v, nil
		}
	}
	v, err := read(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	e.val, e.done = v, true
	return v, nil
}
