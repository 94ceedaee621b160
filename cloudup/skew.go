package cloudup

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/cloudup/cloud"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/state"
)

// NodeGroupHold keeps a node group's launch configuration at an older
// Kubernetes version while the control plane moves to a newer one: a
// kubelet must never be newer than the oldest API server it may talk to.
type NodeGroupHold struct {
	Group string
	// Version and Image are those of the group's current launch config.
	Version string
	Image   string
	// Target is the cluster's version the group will move to.
	Target string
	// Behind lists the control-plane machines not yet at Target.
	Behind []string
}

func (h NodeGroupHold) String() string {
	return fmt.Sprintf("node group %s stays at Kubernetes %s (image %s) until every control-plane machine runs %s (not yet: %s)",
		h.Group, h.Version, h.Image, h.Target, strings.Join(h.Behind, ", "))
}

// HoldNodeGroups works out which node groups keep their current Kubernetes
// version: those whose current launch config is older than the cluster's
// version while some control-plane machine does not run that version yet.
// A machine's version is that of the launch config it was launched from;
// one launched from a config that is gone counts as not yet upgraded.
// Without a readable current launch config a group is not held: there is
// nothing older to keep.
func HoldNodeGroups(ctx context.Context, provider cloud.Provider, store *state.Store, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) ([]NodeGroupHold, error) {
	if provider == nil {
		return nil, nil
	}
	name := c.Metadata.Name
	target, err := version.ParseSemantic(c.Spec.KubernetesVersion)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: spec.kubernetesVersion %q: %w", name, c.Spec.KubernetesVersion, err)
	}
	lcs, err := provider.FindLaunchConfigs(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("find launch configs: %w", err)
	}
	byVersion := map[string]string{} // config version -> Kubernetes version
	byGroup := map[string]*cloud.LaunchConfig{}
	for _, lc := range lcs {
		byGroup[lc.Group] = lc
		if v, ok := launchConfigVersion(ctx, store, lc); ok {
			byVersion[lc.ConfigVersion] = v
		}
	}
	insts, err := provider.ListInstances(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	var behind []string
	for _, in := range insts {
		if in.Role != string(v1alpha1.RoleControlPlane) || in.State == cloud.StateTerminating || in.State == cloud.StateTerminated {
			continue
		}
		v, err := version.ParseSemantic(byVersion[in.ConfigVersion])
		if err != nil || v.LessThan(target) {
			behind = append(behind, in.ID)
		}
	}
	if len(behind) == 0 {
		return nil, nil
	}
	slices.Sort(behind)
	var holds []NodeGroupHold
	for _, ig := range igs {
		if ig.Spec.Role != v1alpha1.RoleNode {
			continue // bastions run no kubelet; control planes are the ones moving
		}
		lc := byGroup[ig.Metadata.Name]
		if lc == nil {
			continue
		}
		cur, ok := byVersion[lc.ConfigVersion]
		if !ok {
			continue
		}
		if v, err := version.ParseSemantic(cur); err != nil || !v.LessThan(target) {
			continue
		}
		holds = append(holds, NodeGroupHold{Group: ig.Metadata.Name, Version: cur, Image: lc.Image, Target: c.Spec.KubernetesVersion, Behind: behind})
	}
	return holds, nil
}

// launchConfigVersion reads the Kubernetes version of the nodeup config a
// launch config's user-data names.
func launchConfigVersion(ctx context.Context, store *state.Store, lc *cloud.LaunchConfig) (string, bool) {
	if len(lc.UserData) == 0 {
		return "", false
	}
	ud, err := nodeup.ParseUserData(lc.UserData)
	if err != nil {
		return "", false
	}
	data, _, err := store.Get(ctx, ud.ConfigKey)
	if err != nil {
		return "", false
	}
	cfg, err := nodeup.VerifyConfig(ud, data)
	if err != nil {
		return "", false
	}
	return cfg.KubernetesVersion, true
}

// heldGroup is the cluster and group as a held group's launch config is
// built from: the older version and image, everything else current.
func heldGroup(c *v1alpha1.Cluster, ig *v1alpha1.InstanceGroup, h NodeGroupHold) (*v1alpha1.Cluster, *v1alpha1.InstanceGroup) {
	cc := *c
	cc.Spec.KubernetesVersion = h.Version
	igc := *ig
	igc.Spec.Image = h.Image
	return &cc, &igc
}
