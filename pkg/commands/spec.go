package commands

import (
	"context"
	"fmt"
	"slices"

	"github.com/hullproject/hull/channels"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/registry"
)

// checkSpec validates the user's objects, then completes them and validates
// the completed spec too: the user may leave CIDRs and sizes for hull to
// choose, and hull's choices must be valid as well. Last, the Kubernetes
// version must be one the cluster's channel lists. Every command that
// writes a spec calls it.
func checkSpec(ctx context.Context, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, configBase string) error {
	what := fmt.Sprintf("cluster %q", c.Metadata.Name)
	if errs := validation.ValidateCluster(c, igs); len(errs) > 0 {
		return &invalidError{what: what, errs: errs}
	}
	cc, cigs, err := completion.Complete(c, igs, completion.Options{ConfigBase: configBase})
	if err != nil {
		return fmt.Errorf("complete %s: %w", what, err)
	}
	if errs := validation.ValidateCluster(cc, cigs); len(errs) > 0 {
		return &invalidError{what: "completed spec of " + what, errs: errs}
	}
	ch, err := channels.Load(ctx, cc.Spec.Channel)
	if err != nil {
		return fmt.Errorf("%s: load its channel to check spec.kubernetesVersion: %w", what, err)
	}
	if errs := validation.ValidateVersionInChannel(cc, ch); len(errs) > 0 {
		return &invalidError{what: what, errs: errs}
	}
	return nil
}

// loadCluster reads a cluster and all its groups.
func loadCluster(ctx context.Context, reg *registry.Registry, name string) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, error) {
	c, _, err := reg.GetCluster(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	igs, err := reg.ListInstanceGroups(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return c, igs, nil
}

// withGroup returns igs with ig added or replacing the group of the same name.
func withGroup(igs []*v1alpha1.InstanceGroup, ig *v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
	out := slices.Clone(igs)
	for i, g := range out {
		if g.Metadata.Name == ig.Metadata.Name {
			out[i] = ig
			return out
		}
	}
	return append(out, ig)
}

// withoutGroup returns igs less the named group.
func withoutGroup(igs []*v1alpha1.InstanceGroup, name string) []*v1alpha1.InstanceGroup {
	return slices.DeleteFunc(slices.Clone(igs), func(g *v1alpha1.InstanceGroup) bool { return g.Metadata.Name == name })
}

// groupsOf picks the documents labelled for cluster.
func groupsOf(igs []*v1alpha1.InstanceGroup, cluster string) []*v1alpha1.InstanceGroup {
	var out []*v1alpha1.InstanceGroup
	for _, ig := range igs {
		if ig.ClusterName() == cluster {
			out = append(out, ig)
		}
	}
	return out
}

func etcdClusterNames(c *v1alpha1.Cluster) []string {
	var names []string
	for _, e := range c.Spec.EtcdClusters {
		names = append(names, e.Name)
	}
	return names
}
