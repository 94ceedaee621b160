package cloudup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/upgrades"
)

// NodeGroupHold keeps a node group's launch configuration at an older
// Kubernetes version while the control plane moves to a newer one: a
// kubelet must never be newer than the oldest API server it may talk to.
type NodeGroupHold struct {
	Group string
	// Version and Image are those the group is built at meanwhile: its
	// current launch config's, or for a group with none yet, the oldest
	// control-plane version's.
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

// HoldNodeGroups works out which node groups are built at an older
// Kubernetes version than the cluster's: while some control-plane machine
// does not run the cluster's version yet, a node group keeps its current
// launch config's version, and a new node group starts at the oldest
// version a control-plane machine runs. Without a readable launch config a
// group with machines is not held: there is nothing older to keep.
func HoldNodeGroups(ctx context.Context, provider Cloud, store *state.Store, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) ([]NodeGroupHold, error) {
	if provider == nil {
		return nil, nil
	}
	rv, err := readRunningVersions(ctx, &finder{provider: provider, cluster: c.Metadata.Name}, store)
	if err != nil {
		return nil, err
	}
	return rv.holds(c, igs)
}

// runningVersions is what the cloud runs, group by group.
type runningVersions struct {
	groups map[string]*groupVersions
}

// groupVersions is one group's launch config and machines.
type groupVersions struct {
	lc *cloud.LaunchConfig
	// current is the Kubernetes version of lc's nodeup config; "" when
	// unreadable.
	current string
	// running are the versions its machines may run; nil when unknown (a
	// machine launched from an older config hull kept no record of).
	running []string
	// outdated lists machines not launched from the group's current config.
	outdated []string
	// machines lists every machine of the group.
	machines []string
	name     string
	role     string
}

// readRunningVersions reads the cloud and the record of versions earlier
// launch configs had: a machine launched from the group's current launch
// config runs its version; one launched from an earlier config runs one of
// the versions the record keeps for the group.
func readRunningVersions(ctx context.Context, f *finder, store *state.Store) (*runningVersions, error) {
	name := f.cluster
	lcs, err := f.launchConfigs(ctx)
	if err != nil {
		return nil, fmt.Errorf("find launch configs: %w", err)
	}
	groups, err := f.groups(ctx)
	if err != nil {
		return nil, fmt.Errorf("find instance groups: %w", err)
	}
	insts, err := f.provider.ListInstances(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	record, err := readVersionRecord(ctx, store, name)
	if err != nil {
		return nil, err
	}
	rv := &runningVersions{groups: map[string]*groupVersions{}}
	group := func(n string) *groupVersions {
		if rv.groups[n] == nil {
			rv.groups[n] = &groupVersions{name: n}
		}
		return rv.groups[n]
	}
	for _, lc := range lcs {
		g := group(lc.Group)
		g.lc = lc
		g.current, _ = launchConfigVersion(ctx, store, lc)
	}
	groupConfig := map[string]string{}
	for _, g := range groups {
		groupConfig[g.Name] = g.ConfigVersion
		group(g.Name).role = g.Role
	}
	for _, in := range insts {
		if in.State == cloud.StateTerminating || in.State == cloud.StateTerminated {
			continue
		}
		g := group(in.Group)
		if g.role == "" {
			g.role = in.Role
		}
		g.machines = append(g.machines, in.ID)
		// Both are in the provider's own terms (a hash locally, a launch
		// template version on AWS), so they compare.
		if want, ok := groupConfig[in.Group]; !ok || in.ConfigVersion != want {
			g.outdated = append(g.outdated, in.ID)
		}
	}
	for _, g := range rv.groups {
		slices.Sort(g.machines)
		slices.Sort(g.outdated)
		switch {
		case len(g.machines) == 0:
		case len(g.outdated) == 0 && g.current != "":
			g.running = []string{g.current}
		case len(g.outdated) > 0 && record.Groups[g.name] != nil:
			g.running = addVersion(slices.Clone(record.Groups[g.name]), g.current)
		}
	}
	return rv, nil
}

// controlPlane returns the control-plane machines not known to run target,
// and the versions the others are known to run.
func (rv *runningVersions) controlPlane(target *version.Version) (behind, known []string) {
	for _, g := range rv.groups {
		if g.role != string(v1alpha1.RoleControlPlane) {
			continue
		}
		known = append(known, g.running...)
		for _, id := range g.machines {
			if slices.Contains(g.outdated, id) {
				if !allAtLeast(g.running, target) {
					behind = append(behind, id)
				}
				continue
			}
			if v, err := version.ParseSemantic(g.current); err != nil || v.LessThan(target) {
				behind = append(behind, id)
			}
		}
	}
	slices.Sort(behind)
	return behind, known
}

func (rv *runningVersions) holds(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) ([]NodeGroupHold, error) {
	target, err := version.ParseSemantic(c.Spec.KubernetesVersion)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: spec.kubernetesVersion %q: %w", c.Metadata.Name, c.Spec.KubernetesVersion, err)
	}
	behind, known := rv.controlPlane(target)
	if len(behind) == 0 {
		return nil, nil
	}
	var holds []NodeGroupHold
	for _, ig := range igs {
		if ig.Spec.Role != v1alpha1.RoleNode {
			continue // bastions run no kubelet; control planes are the ones moving
		}
		h := NodeGroupHold{Group: ig.Metadata.Name, Target: c.Spec.KubernetesVersion, Behind: behind}
		g := rv.groups[ig.Metadata.Name]
		switch {
		case g != nil && g.lc != nil:
			if v, err := version.ParseSemantic(g.current); err != nil || !v.LessThan(target) {
				continue
			}
			h.Version, h.Image = g.current, g.lc.Image
		default:
			// A new group starts at the oldest control-plane version, with
			// that version's image unless the group names its own.
			h.Version = upgrades.NodeGroupVersion(c.Spec.KubernetesVersion, known)
			if h.Version == c.Spec.KubernetesVersion {
				continue
			}
			img, err := heldImage(c, ig, h.Version)
			if err != nil || img == "" {
				continue // the skew check refuses the group instead
			}
			h.Image = img
		}
		holds = append(holds, h)
	}
	return holds, nil
}

// heldImage is the image a new group uses at an older version: the default
// image of that version, when the group uses its cloud's default image; ""
// when the group names an image of its own (hull cannot know its version).
func heldImage(c *v1alpha1.Cluster, ig *v1alpha1.InstanceGroup, v string) (string, error) {
	def, err := completion.DefaultImage(c.Spec.CloudProvider, c.Spec.KubernetesVersion)
	if err != nil || ig.Spec.Image != def {
		return "", err
	}
	return completion.DefaultImage(c.Spec.CloudProvider, v)
}

// checkSkew refuses an update that would break the version-skew policy while
// machines are rolled: every API server, old machines' and new ones', within
// one minor of each other; every node kubelet, old and new, no newer than the
// oldest API server and at most three minors older. The controller-manager,
// scheduler and kubelet of a control-plane machine talk to that machine's own
// API server, so they always match it.
func (rv *runningVersions) checkSkew(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, holds []NodeGroupHold) error {
	var v upgrades.Versions
	var unknown []string
	for _, ig := range igs {
		name := ig.Metadata.Name
		built := builtVersion(c, name, holds)
		versions := []string{built}
		if g := rv.groups[name]; g != nil && len(g.machines) > 0 {
			if g.running == nil {
				unknown = append(unknown, name)
			}
			versions = addVersion(slices.Clone(g.running), built)
		}
		switch ig.Spec.Role {
		case v1alpha1.RoleControlPlane:
			v.APIServers = append(v.APIServers, versions...)
		case v1alpha1.RoleNode:
			v.Kubelets = append(v.Kubelets, versions...)
		}
	}
	violations := upgrades.CheckSkew(v)
	if len(violations) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s: Kubernetes %s breaks the version-skew policy while machines are replaced:", c.Metadata.Name, c.Spec.KubernetesVersion)
	for _, vi := range violations {
		fmt.Fprintf(&b, "\n  - %s", vi)
	}
	if len(unknown) > 0 {
		fmt.Fprintf(&b, "\n  (groups with machines of unknown version, not counted: %s)", strings.Join(unknown, ", "))
	}
	fmt.Fprintf(&b, "\nMove one minor version at a time, control plane first: 'hull upgrade cluster %s' proposes the next step; finish any roll in progress with 'hull rolling-update cluster %s --yes' first", c.Metadata.Name, c.Metadata.Name)
	return errors.New(b.String())
}

// recordRunning adds the versions the new launch configs bring to the
// record, and drops those no machine runs any more, before the launch
// configs change: the record may say more than the cloud runs, never less.
func (rv *runningVersions) recordRunning(ctx context.Context, store *state.Store, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, holds []NodeGroupHold) error {
	rec := versionRecord{Groups: map[string][]string{}}
	for _, ig := range igs {
		var vs []string
		if g := rv.groups[ig.Metadata.Name]; g != nil && len(g.machines) > 0 {
			if g.running == nil {
				continue // unknown stays unknown
			}
			vs = slices.Clone(g.running)
		}
		rec.Groups[ig.Metadata.Name] = addVersion(vs, builtVersion(c, ig.Metadata.Name, holds))
	}
	return writeVersionRecord(ctx, store, c.Metadata.Name, rec)
}

// holdFor finds the hold on group, if any.
func holdFor(holds []NodeGroupHold, group string) (NodeGroupHold, bool) {
	if i := slices.IndexFunc(holds, func(h NodeGroupHold) bool { return h.Group == group }); i >= 0 {
		return holds[i], true
	}
	return NodeGroupHold{}, false
}

// builtVersion is the Kubernetes version a group's launch config is built at.
func builtVersion(c *v1alpha1.Cluster, group string, holds []NodeGroupHold) string {
	if h, ok := holdFor(holds, group); ok {
		return h.Version
	}
	return c.Spec.KubernetesVersion
}

func addVersion(vs []string, v string) []string {
	if v == "" || slices.Contains(vs, v) {
		return vs
	}
	vs = append(vs, v)
	slices.Sort(vs)
	return vs
}

// allAtLeast reports whether every version parses and is at least target.
func allAtLeast(vs []string, target *version.Version) bool {
	if len(vs) == 0 {
		return false
	}
	for _, s := range vs {
		v, err := version.ParseSemantic(s)
		if err != nil || v.LessThan(target) {
			return false
		}
	}
	return true
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
