package commands

import (
	"context"
	"slices"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/registry"
)

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
