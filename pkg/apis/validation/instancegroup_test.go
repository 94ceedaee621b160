package validation

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

func TestValidateInstanceGroupsInCluster(t *testing.T) {
	runInvalidCases(t, []invalidCase{
		// identity
		{
			name:   "group name not a DNS label",
			mutate: func(o *objects) { o.group("nodes-a").Metadata.Name = "Nodes_A" },
			want:   []string{invalid("instanceGroups[Nodes_A].metadata.name")},
		},
		{
			name:   "group name missing",
			mutate: func(o *objects) { o.copyGroup("nodes-a", "") },
			want:   []string{required("instanceGroups[2].metadata.name")},
		},
		{
			name:   "duplicate group name",
			mutate: func(o *objects) { o.copyGroup("nodes-a", "nodes-a") },
			want:   []string{duplicate("instanceGroups[nodes-a].metadata.name")},
		},
		{
			name:   "cluster label names another cluster",
			mutate: func(o *objects) { o.group("nodes-a").Metadata.Labels[v1alpha1.LabelCluster] = "other.example.com" },
			want:   []string{invalid("instanceGroups[nodes-a].metadata.labels[hull.dev/cluster]")},
		},
		{
			name:   "cluster label missing",
			mutate: func(o *objects) { o.group("nodes-a").Metadata.Labels = nil },
			want:   []string{required("instanceGroups[nodes-a].metadata.labels[hull.dev/cluster]")},
		},

		// roles
		{
			name:   "unknown role",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Role = "Worker" },
			want:   []string{unsupported("instanceGroups[nodes-a].spec.role"), required("instanceGroups")},
		},
		{
			name:   "role missing",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Role = "" },
			want:   []string{required("instanceGroups[nodes-a].spec.role"), required("instanceGroups")},
		},
		{
			name:   "no Node group",
			mutate: func(o *objects) { o.removeGroup("nodes-a") },
			want:   []string{required("instanceGroups")},
		},
		{
			name:   "no ControlPlane group",
			mutate: func(o *objects) { o.group("control-plane-a").Spec.Role = v1alpha1.RoleNode },
			want: []string{
				required("instanceGroups"),
				invalid("spec.etcdClusters[0].members[0].instanceGroup"),
				invalid("spec.etcdClusters[1].members[0].instanceGroup"),
			},
		},

		// sizes
		{
			name:   "negative minSize",
			mutate: func(o *objects) { o.group("nodes-a").Spec.MinSize = ptr[int32](-1) },
			want:   []string{invalid("instanceGroups[nodes-a].spec.minSize")},
		},
		{
			name: "maxSize below minSize",
			mutate: func(o *objects) {
				o.group("nodes-a").Spec.MinSize, o.group("nodes-a").Spec.MaxSize = ptr[int32](3), ptr[int32](2)
			},
			want: []string{invalid("instanceGroups[nodes-a].spec.maxSize")},
		},
		{
			name: "node group over the size limit",
			mutate: func(o *objects) {
				o.group("nodes-a").Spec.MinSize, o.group("nodes-a").Spec.MaxSize = ptr[int32](1), ptr[int32](100_000_000)
			},
			want: []string{invalid("instanceGroups[nodes-a].spec.maxSize")},
		},
		{
			name: "control-plane group of none",
			mutate: func(o *objects) {
				cp := o.group("control-plane-a")
				cp.Spec.MinSize, cp.Spec.MaxSize = ptr[int32](0), ptr[int32](0)
			},
			want: []string{
				invalid("instanceGroups[control-plane-a].spec.minSize"),
				invalid("instanceGroups[control-plane-a].spec.maxSize"),
			},
		},
		{
			name: "control-plane group of three",
			mutate: func(o *objects) {
				cp := o.group("control-plane-a")
				cp.Spec.MinSize, cp.Spec.MaxSize = ptr[int32](3), ptr[int32](3)
			},
			want: []string{
				invalid("instanceGroups[control-plane-a].spec.minSize"),
				invalid("instanceGroups[control-plane-a].spec.maxSize"),
			},
		},

		// rolling update on groups
		{
			name: "control-plane group surges",
			mutate: func(o *objects) {
				o.group("control-plane-a").Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: ptr(intstr.FromInt32(1))}
			},
			want: []string{forbidden("instanceGroups[control-plane-a].spec.rollingUpdate.maxSurge")},
		},
		{
			name: "control-plane group never unavailable",
			mutate: func(o *objects) {
				o.group("control-plane-a").Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxUnavailable: ptr(intstr.FromInt32(0))}
			},
			want: []string{invalid("instanceGroups[control-plane-a].spec.rollingUpdate.maxUnavailable")},
		},
		{
			name: "negative maxUnavailable",
			mutate: func(o *objects) {
				o.group("nodes-a").Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxUnavailable: ptr(intstr.FromInt32(-1))}
			},
			want: []string{invalid("instanceGroups[nodes-a].spec.rollingUpdate.maxUnavailable")},
		},
		{
			name: "group rollingUpdate both zero",
			mutate: func(o *objects) {
				o.group("nodes-a").Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: ptr(intstr.FromString("0%")), MaxUnavailable: ptr(intstr.FromInt32(0))}
			},
			want: []string{invalid("instanceGroups[nodes-a].spec.rollingUpdate.maxUnavailable")},
		},

		// subnets and topology
		{
			name:   "group without subnets",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Subnets = nil },
			want:   []string{required("instanceGroups[nodes-a].spec.subnets")},
		},
		{
			name:   "group names an unknown subnet",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Subnets = []string{"zone-b"} },
			want:   []string{unsupported("instanceGroups[nodes-a].spec.subnets[0]")},
		},
		{
			name:   "group names a subnet twice",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Subnets = []string{"zone-a", "zone-a"} },
			want:   []string{duplicate("instanceGroups[nodes-a].spec.subnets[1]")},
		},
		{
			name: "bastion in public topology",
			mutate: func(o *objects) {
				o.copyGroup("nodes-a", "bastions").Spec.Role = v1alpha1.RoleBastion
			},
			want: []string{forbidden("instanceGroups[bastions].spec.role")},
		},
		{
			name: "nodes in a Private subnet in public topology",
			mutate: func(o *objects) {
				n := &o.c.Spec.Networking
				n.Subnets = append(n.Subnets, v1alpha1.SubnetSpec{Name: "zone-b", Zone: "local-b", CIDR: "172.20.64.0/19", Type: v1alpha1.SubnetPrivate})
				o.group("nodes-a").Spec.Subnets = []string{"zone-b"}
			},
			want: []string{invalid("instanceGroups[nodes-a].spec.subnets[0]")},
		},
		{
			name:   "private topology without a Private subnet",
			mutate: func(o *objects) { o.c.Spec.Networking.Topology = v1alpha1.TopologyPrivate },
			want: []string{
				required("spec.networking.subnets"),
				invalid("instanceGroups[control-plane-a].spec.subnets[0]"),
				invalid("instanceGroups[nodes-a].spec.subnets[0]"),
			},
		},
		{
			name:   "bastion outside the Utility subnets",
			base:   "completed.yaml",
			mutate: func(o *objects) { o.group("bastions").Spec.Subnets = []string{"us-east-1a"} },
			want:   []string{invalid("instanceGroups[bastions].spec.subnets[0]")},
		},
		{
			name: "bastion without any Utility subnet",
			base: "completed.yaml",
			mutate: func(o *objects) {
				n := &o.c.Spec.Networking
				n.Subnets = slices.DeleteFunc(n.Subnets, func(s v1alpha1.SubnetSpec) bool { return s.Type == v1alpha1.SubnetUtility })
				o.group("bastions").Spec.Subnets = []string{"us-east-1a"}
			},
			want: []string{
				required("spec.networking.subnets"),
				invalid("instanceGroups[bastions].spec.subnets[0]"),
			},
		},
		{
			name:   "private topology with a Public subnet for machines",
			base:   "completed.yaml",
			mutate: func(o *objects) { o.subnet("us-east-1c").Type = v1alpha1.SubnetPublic },
			want: []string{
				invalid("instanceGroups[control-plane-us-east-1c].spec.subnets[0]"),
				invalid("instanceGroups[nodes].spec.subnets[2]"),
			},
		},

		// labels and taints
		{
			name:   "node label key invalid",
			mutate: func(o *objects) { o.group("nodes-a").Spec.NodeLabels = map[string]string{"bad key": "x"} },
			want:   []string{invalid("instanceGroups[nodes-a].spec.nodeLabels[bad key]")},
		},
		{
			name:   "node label value invalid",
			mutate: func(o *objects) { o.group("nodes-a").Spec.NodeLabels = map[string]string{"tier": "front end"} },
			want:   []string{invalid("instanceGroups[nodes-a].spec.nodeLabels[tier]")},
		},
		{
			name:   "300,000 node labels",
			mutate: func(o *objects) { o.group("nodes-a").Spec.NodeLabels = manyLabels(300_000) },
			want:   []string{tooLong("instanceGroups[nodes-a].spec.nodeLabels")},
		},
		{
			// Under Kubernetes' 256 KiB, over what one kubelet argument holds.
			name:   "node labels over 64 KiB",
			mutate: func(o *objects) { o.group("nodes-a").Spec.NodeLabels = manyLabels(6000) },
			want:   []string{tooLong("instanceGroups[nodes-a].spec.nodeLabels")},
		},
		{
			name:   "taints over 64 KiB",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Taints = manyTaints(5000) },
			want:   []string{tooLong("instanceGroups[nodes-a].spec.taints")},
		},
		{
			name:   "group label key invalid",
			mutate: func(o *objects) { o.group("nodes-a").Metadata.Labels["-bad"] = "x" },
			want:   []string{invalid("instanceGroups[nodes-a].metadata.labels[-bad]")},
		},
		{
			name: "group annotations over 256 KiB",
			mutate: func(o *objects) {
				o.group("nodes-a").Metadata.Annotations = map[string]string{"a": strings.Repeat("x", 200<<10), "b": strings.Repeat("x", 100<<10)}
			},
			want: []string{tooLong("instanceGroups[nodes-a].metadata.annotations")},
		},
		{
			name:   "taint without effect",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Taints = []string{"dedicated=gpu"} },
			want:   []string{invalid("instanceGroups[nodes-a].spec.taints[0]")},
		},
		{
			name:   "taint with unknown effect",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Taints = []string{"dedicated=gpu:Never"} },
			want:   []string{unsupported("instanceGroups[nodes-a].spec.taints[0]")},
		},
		{
			name:   "taint with invalid key",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Taints = []string{"bad key:NoSchedule"} },
			want:   []string{invalid("instanceGroups[nodes-a].spec.taints[0]")},
		},
		{
			name:   "taint repeated for the same key and effect",
			mutate: func(o *objects) { o.group("nodes-a").Spec.Taints = []string{"gpu=a:NoSchedule", "gpu=b:NoSchedule"} },
			want:   []string{duplicate("instanceGroups[nodes-a].spec.taints[1]")},
		},
	})
}

// TestValidateInstanceGroup covers the single-group entry point that `hull
// edit instancegroup` uses, where the other groups are not at hand.
func TestValidateInstanceGroup(t *testing.T) {
	for _, tc := range []struct {
		name      string
		base      string
		group     string
		mutate    func(o *objects, ig *v1alpha1.InstanceGroup)
		noCluster bool
		want      []string
	}{
		{name: "sample control plane", group: "control-plane-a", want: nil},
		{name: "sample nodes", group: "nodes-a", want: nil},
		{name: "completed bastion", base: "completed.yaml", group: "bastions", want: nil},
		{name: "completed nodes", base: "completed.yaml", group: "nodes", want: nil},
		{
			name:   "control plane turned into nodes while etcd runs on it",
			group:  "control-plane-a",
			mutate: func(_ *objects, ig *v1alpha1.InstanceGroup) { ig.Spec.Role = v1alpha1.RoleNode },
			want:   []string{invalid("instanceGroups[control-plane-a].spec.role")},
		},
		{
			name:   "new control-plane group without etcd members",
			group:  "control-plane-a",
			mutate: func(_ *objects, ig *v1alpha1.InstanceGroup) { ig.Metadata.Name = "control-plane-b" },
			want:   []string{required("spec.etcdClusters[0].members"), required("spec.etcdClusters[1].members")},
		},
		{
			name:   "label names another cluster",
			group:  "nodes-a",
			mutate: func(_ *objects, ig *v1alpha1.InstanceGroup) { ig.Metadata.Labels[v1alpha1.LabelCluster] = "other" },
			want:   []string{invalid("instanceGroups[nodes-a].metadata.labels[hull.dev/cluster]")},
		},
		{
			name:   "unknown subnet",
			group:  "nodes-a",
			mutate: func(_ *objects, ig *v1alpha1.InstanceGroup) { ig.Spec.Subnets = []string{"zone-q"} },
			want:   []string{unsupported("instanceGroups[nodes-a].spec.subnets[0]")},
		},
		{
			name:      "without a cluster only the group's own fields are checked",
			group:     "nodes-a",
			noCluster: true,
			mutate: func(_ *objects, ig *v1alpha1.InstanceGroup) {
				ig.Spec.Subnets = []string{"zone-q"}
				ig.Spec.MinSize = ptr[int32](-2)
			},
			want: []string{invalid("instanceGroups[nodes-a].spec.minSize")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if base == "" {
				base = "sample.yaml"
			}
			o := load(t, base)
			ig := o.group(tc.group)
			if tc.mutate != nil {
				tc.mutate(o, ig)
			}
			c := o.c
			if tc.noCluster {
				c = nil
			}
			want := slices.Sorted(slices.Values(tc.want))
			if diff := cmp.Diff(want, summary(ValidateInstanceGroup(ig, c))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
