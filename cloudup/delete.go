package cloudup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
)

// CloudResources is what a cluster owns in the cloud.
type CloudResources struct {
	LoadBalancers []string
	Groups        []string
	LaunchConfigs []string
	Network       *cloud.Network
	// Extras are the provider's other resources ("Kind/name", see
	// cloud.Provider.FindExtras), which DeleteNetwork deletes.
	Extras []string
}

// Empty reports whether nothing is left. An adopted network is not the
// cluster's: it does not count.
func (r *CloudResources) Empty() bool {
	return len(r.LoadBalancers)+len(r.Groups)+len(r.LaunchConfigs)+len(r.Extras) == 0 && (r.Network == nil || r.Network.Adopted)
}

// Keys lists the resources as Kind/name, in deletion order.
func (r *CloudResources) Keys() []string {
	var keys []string
	for _, n := range r.LoadBalancers {
		keys = append(keys, "LoadBalancer/"+n)
	}
	for _, n := range r.Groups {
		keys = append(keys, "InstanceGroup/"+n)
	}
	for _, n := range r.LaunchConfigs {
		keys = append(keys, "LaunchConfig/"+n)
	}
	if r.Network != nil {
		k := "Network/" + r.Network.Cluster
		if r.Network.Adopted {
			k += " (adopted " + r.Network.ID + ": only what the cluster made in it)"
		}
		keys = append(keys, k)
	}
	return append(keys, r.Extras...)
}

// FindCloudResources lists what the cluster owns, whether or not its spec
// still exists: a failed create can leave resources behind.
func FindCloudResources(ctx context.Context, p DeleteCloud, cluster string) (*CloudResources, error) {
	r := &CloudResources{}
	lb, err := p.FindLoadBalancer(ctx, cluster, APILoadBalancerName)
	if err != nil {
		return nil, fmt.Errorf("find load balancer: %w", err)
	}
	if lb != nil {
		r.LoadBalancers = append(r.LoadBalancers, lb.Name)
	}
	groups, err := p.FindInstanceGroups(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("find instance groups: %w", err)
	}
	for _, g := range groups {
		r.Groups = append(r.Groups, g.Name)
	}
	lcs, err := p.FindLaunchConfigs(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("find launch configs: %w", err)
	}
	for _, lc := range lcs {
		r.LaunchConfigs = append(r.LaunchConfigs, lc.Group)
	}
	if r.Network, err = p.FindNetwork(ctx, cluster); err != nil {
		return nil, fmt.Errorf("find network: %w", err)
	}
	if r.Extras, err = p.FindExtras(ctx, cluster); err != nil {
		return nil, fmt.Errorf("find other resources: %w", err)
	}
	return r, nil
}

// DeleteCloudResources deletes in reverse dependency order, each step
// finished before the next starts: load balancers, instance groups (their
// machines stopped), launch configs, then the network and the provider's
// other resources. It keeps going after a failure so one stuck resource
// does not strand the rest, and reports everything it could not delete;
// when every step succeeded it looks again and reports what is still there.
func DeleteCloudResources(ctx context.Context, p DeleteCloud, cluster string, r *CloudResources, out io.Writer) error {
	progress := output.NewProgress(out)
	var errs []error
	step := func(key string, fn func() error) {
		if err := fn(); err != nil && !errors.Is(err, cloud.ErrNotFound) {
			progress.Step("%s: delete failed: %v", key, err)
			errs = append(errs, fmt.Errorf("delete %s: %w", key, err))
			return
		}
		progress.Step("%s: deleted", key)
	}
	for _, n := range r.LoadBalancers {
		step("LoadBalancer/"+n, func() error { return p.DeleteLoadBalancer(ctx, cluster, n) })
	}
	groupErrs := make(chan error, len(r.Groups))
	for _, n := range r.Groups {
		go func() { groupErrs <- p.DeleteInstanceGroup(ctx, cluster, n) }()
	}
	for range r.Groups {
		err := <-groupErrs
		if err != nil && !errors.Is(err, cloud.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete instance group: %w", err))
		}
	}
	if len(r.Groups) > 0 {
		progress.Step("InstanceGroups: %d deleted with their machines", len(r.Groups))
	}
	for _, n := range r.LaunchConfigs {
		step("LaunchConfig/"+n, func() error { return p.DeleteLaunchConfig(ctx, cluster, n) })
	}
	if (r.Network != nil || len(r.Extras) > 0) && len(errs) == 0 {
		step("Network/"+cluster, func() error { return p.DeleteNetwork(ctx, cluster) })
	}
	if len(errs) == 0 {
		left, err := FindCloudResources(ctx, p, cluster)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("check that nothing is left: %w", err))
		case !left.Empty():
			errs = append(errs, fmt.Errorf("still there after delete: %s", strings.Join(left.Keys(), ", ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("could not delete every resource of %s (re-run delete to retry): %w", cluster, errors.Join(errs...))
	}
	return nil
}
