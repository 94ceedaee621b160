package newcluster

import (
	"strconv"
	"strings"

	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// Names of what Build creates.
const (
	// ControlPlaneGroupPrefix starts each control-plane group name.
	ControlPlaneGroupPrefix = "control-plane-"
	// NodeGroupPrefix starts each node group name.
	NodeGroupPrefix = "nodes-"
	// BastionGroupName is the one bastion group.
	BastionGroupName = "bastions"
	// UtilitySubnetPrefix starts the utility subnet of each zone in a
	// private topology; the private subnet is named by the zone itself.
	UtilitySubnetPrefix = "utility-"

	etcdMain   = "main"
	etcdEvents = "events"
)

// Build returns the user spec `hull create cluster` writes for o: the Cluster
// and its InstanceGroups, in the order they should be shown and stored. A bad
// option is an error that starts with the flag at fault, ready to print. It
// writes what a user would write: values the flags gave and the structure
// (subnets, groups, etcd membership); completion fills in everything else,
// including subnet CIDRs.
//
// Shape, as kops builds it:
//   - One subnet per zone, named by the zone: Public in a public topology,
//     Private in a private one, which also gets a Utility subnet per zone
//     named utility-<zone>.
//   - One ControlPlane group of size 1 per etcd member, spread round-robin
//     over the zones; etcd clusters main and events each have one member per
//     control-plane group, named a, b, c, ...
//   - One Node group per zone, with --node-count spread evenly (the remainder
//     to the first zones); a zone that would get no node gets no group, and
//     --node-count 0 makes one group of size 0 in the first zone.
//   - With --bastion, a bastions group of size 1 in the utility subnets.
//
// Group names use the zone's short name (see zoneKeys): control-plane-a,
// nodes-a for zone us-east-1a or local-a. When there are more control-plane
// groups than zones every control-plane name also gets a round number, as in
// kops: control-plane-a-1, control-plane-b-1, control-plane-a-2, ...
func Build(o Options) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	keys := zoneKeys(o.Zones)

	controlPlane := controlPlaneGroups(o, keys)
	igs := append([]*v1alpha1.InstanceGroup(nil), controlPlane...)
	igs = append(igs, nodeGroups(o, keys)...)
	if o.Bastion {
		igs = append(igs, bastionGroup(o))
	}
	return buildCluster(o, controlPlane), igs, nil
}

func buildCluster(o Options, controlPlane []*v1alpha1.InstanceGroup) *v1alpha1.Cluster {
	c := &v1alpha1.Cluster{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindCluster},
		Metadata: v1alpha1.ObjectMeta{Name: o.Name},
		Spec: v1alpha1.ClusterSpec{
			CloudProvider:     o.Cloud,
			KubernetesVersion: o.KubernetesVersion,
			Channel:           o.Channel,
			Networking: v1alpha1.NetworkingSpec{
				NetworkCIDR: o.NetworkCIDR,
				Topology:    o.Topology,
				Subnets:     subnets(o),
			},
			API: v1alpha1.APISpec{
				LoadBalancer: &v1alpha1.LoadBalancerSpec{Type: v1alpha1.LoadBalancerPublic},
			},
			EtcdClusters: []v1alpha1.EtcdClusterSpec{
				etcdCluster(etcdMain, controlPlane),
				etcdCluster(etcdEvents, controlPlane),
			},
			DNSZone:      o.DNSZone,
			SSHKeyName:   o.SSHKeyName,
			SSHPublicKey: strings.TrimSpace(o.SSHPublicKey),
		},
	}
	if o.Bastion {
		c.Spec.Bastion = &v1alpha1.BastionSpec{PublicName: completion.BastionPublicNamePrefix + o.Name}
	}
	return c
}

// subnets lists one subnet per zone, then (private topology) one utility
// subnet per zone. CIDRs are left to completion.
func subnets(o Options) []v1alpha1.SubnetSpec {
	typ := v1alpha1.SubnetPublic
	if o.Topology == v1alpha1.TopologyPrivate {
		typ = v1alpha1.SubnetPrivate
	}
	var out []v1alpha1.SubnetSpec
	for _, z := range o.Zones {
		out = append(out, v1alpha1.SubnetSpec{Name: z, Zone: z, Type: typ})
	}
	if o.Topology == v1alpha1.TopologyPrivate {
		for _, z := range o.Zones {
			out = append(out, v1alpha1.SubnetSpec{Name: UtilitySubnetPrefix + z, Zone: z, Type: v1alpha1.SubnetUtility})
		}
	}
	return out
}

func controlPlaneGroups(o Options, keys []string) []*v1alpha1.InstanceGroup {
	count := *o.ControlPlaneCount
	out := make([]*v1alpha1.InstanceGroup, count)
	for i := range out {
		zone := i % len(o.Zones)
		name := ControlPlaneGroupPrefix + keys[zone]
		if count > len(o.Zones) {
			name += "-" + strconv.Itoa(1+i/len(o.Zones))
		}
		out[i] = group(o.Name, name, v1alpha1.RoleControlPlane, 1, o.ControlPlaneSize, []string{o.Zones[zone]})
	}
	return out
}

func nodeGroups(o Options, keys []string) []*v1alpha1.InstanceGroup {
	count := *o.NodeCount
	if count == 0 {
		// Asked for no nodes: one empty group in the first zone, ready
		// to be scaled with `hull edit instancegroup`.
		return []*v1alpha1.InstanceGroup{group(o.Name, NodeGroupPrefix+keys[0], v1alpha1.RoleNode, 0, o.NodeSize, []string{o.Zones[0]})}
	}
	var out []*v1alpha1.InstanceGroup
	for i, zone := range o.Zones {
		n := count / len(o.Zones)
		if i < count%len(o.Zones) {
			n++
		}
		if n == 0 {
			continue
		}
		out = append(out, group(o.Name, NodeGroupPrefix+keys[i], v1alpha1.RoleNode, int32(n), o.NodeSize, []string{zone}))
	}
	return out
}

func bastionGroup(o Options) *v1alpha1.InstanceGroup {
	var utility []string
	for _, z := range o.Zones {
		utility = append(utility, UtilitySubnetPrefix+z)
	}
	return group(o.Name, BastionGroupName, v1alpha1.RoleBastion, 1, "", utility)
}

func group(cluster, name string, role v1alpha1.InstanceGroupRole, size int32, machineType string, subnets []string) *v1alpha1.InstanceGroup {
	return &v1alpha1.InstanceGroup{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindInstanceGroup},
		Metadata: v1alpha1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{v1alpha1.LabelCluster: cluster},
		},
		Spec: v1alpha1.InstanceGroupSpec{
			Role:        role,
			MinSize:     ptr(size),
			MaxSize:     ptr(size),
			MachineType: machineType,
			Subnets:     subnets,
		},
	}
}

func etcdCluster(name string, controlPlane []*v1alpha1.InstanceGroup) v1alpha1.EtcdClusterSpec {
	e := v1alpha1.EtcdClusterSpec{Name: name}
	for i, ig := range controlPlane {
		e.Members = append(e.Members, v1alpha1.EtcdMemberSpec{Name: completion.MemberName(i), InstanceGroup: ig.Metadata.Name})
	}
	return e
}

func ptr[T any](v T) *T { return &v }

// zoneKeys returns the short name of each zone used in group names: its
// trailing letters (us-east-1a -> a, local-b -> b). If any zone has no
// trailing letters, or two zones share a short name, every zone is known by
// its full name instead, so names stay unique and alike.
func zoneKeys(zones []string) []string {
	keys := make([]string, len(zones))
	seen := map[string]bool{}
	for i, z := range zones {
		k := trailingLetters(z)
		if k == "" || k == z || seen[k] {
			return append([]string(nil), zones...)
		}
		seen[k] = true
		keys[i] = k
	}
	return keys
}

func trailingLetters(s string) string {
	i := len(s)
	for i > 0 && s[i-1] >= 'a' && s[i-1] <= 'z' {
		i--
	}
	return s[i:]
}
