package validation

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// objects is one decoded testdata file: a Cluster and its groups.
type objects struct {
	c   *v1alpha1.Cluster
	igs []*v1alpha1.InstanceGroup
}

// load decodes a testdata file afresh, so every case mutates its own copy.
func load(t testing.TB, name string) *objects {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := codec.DecodeAll(data)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	if len(objs.Clusters) != 1 {
		t.Fatalf("%s: want 1 Cluster, got %d", name, len(objs.Clusters))
	}
	return &objects{c: objs.Clusters[0], igs: objs.InstanceGroups}
}

func (o *objects) group(name string) *v1alpha1.InstanceGroup {
	for _, ig := range o.igs {
		if ig.Metadata.Name == name {
			return ig
		}
	}
	panic("test bug: no instance group " + name)
}

func (o *objects) removeGroup(name string) {
	o.igs = slices.DeleteFunc(o.igs, func(ig *v1alpha1.InstanceGroup) bool { return ig.Metadata.Name == name })
}

func (o *objects) subnet(name string) *v1alpha1.SubnetSpec {
	for i := range o.c.Spec.Networking.Subnets {
		if o.c.Spec.Networking.Subnets[i].Name == name {
			return &o.c.Spec.Networking.Subnets[i]
		}
	}
	panic("test bug: no subnet " + name)
}

func (o *objects) etcd(name string) *v1alpha1.EtcdClusterSpec {
	for i := range o.c.Spec.EtcdClusters {
		if o.c.Spec.EtcdClusters[i].Name == name {
			return &o.c.Spec.EtcdClusters[i]
		}
	}
	panic("test bug: no etcd cluster " + name)
}

// copyGroup adds a copy of an existing group under a new name.
func (o *objects) copyGroup(from, to string) *v1alpha1.InstanceGroup {
	ig := *o.group(from)
	ig.Metadata.Name = to
	ig.Spec.Subnets = slices.Clone(ig.Spec.Subnets)
	o.igs = append(o.igs, &ig)
	return &ig
}

// addControlPlanes adds control-plane-<m> groups, each with a member <m> in
// every etcd cluster, the way `hull create cluster` lays them out.
func (o *objects) addControlPlanes(members ...string) {
	for _, m := range members {
		o.copyGroup("control-plane-a", "control-plane-"+m)
		for i := range o.c.Spec.EtcdClusters {
			ec := &o.c.Spec.EtcdClusters[i]
			ec.Members = append(ec.Members, v1alpha1.EtcdMemberSpec{Name: m, InstanceGroup: "control-plane-" + m})
		}
	}
}

func (o *objects) renameCluster(name string) {
	o.c.Metadata.Name = name
	for _, ig := range o.igs {
		ig.Metadata.Labels[v1alpha1.LabelCluster] = name
	}
}

func ptr[T any](v T) *T { return &v }

// summary is what the table tests compare: each error's path and type,
// sorted, so a case fails on a missing error and on an extra one alike.
func summary(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+" "+string(e.Type))
	}
	slices.Sort(out)
	return out
}

func invalid(path string) string     { return path + " " + string(field.ErrorTypeInvalid) }
func required(path string) string    { return path + " " + string(field.ErrorTypeRequired) }
func duplicate(path string) string   { return path + " " + string(field.ErrorTypeDuplicate) }
func unsupported(path string) string { return path + " " + string(field.ErrorTypeNotSupported) }
func forbidden(path string) string   { return path + " " + string(field.ErrorTypeForbidden) }
func tooLong(path string) string     { return path + " " + string(field.ErrorTypeTooLong) }
func tooMany(path string) string     { return path + " " + string(field.ErrorTypeTooMany) }

// manyLabels is n distinct, individually valid labels: only their number
// is wrong.
func manyLabels(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("label-%d", i)] = "value"
	}
	return m
}

// manyTaints is n distinct, individually valid taints.
func manyTaints(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("taint-%d=x:NoSchedule", i)
	}
	return out
}

// invalidCase starts from a valid testdata file, breaks it and names every
// error that must come out, no more, no fewer.
type invalidCase struct {
	name   string
	base   string // testdata file; sample.yaml when empty
	mutate func(o *objects)
	want   []string
}

func runInvalidCases(t *testing.T, cases []invalidCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if base == "" {
				base = "sample.yaml"
			}
			o := load(t, base)
			tc.mutate(o)
			errs := ValidateCluster(o.c, o.igs)
			want := slices.Sorted(slices.Values(tc.want))
			if diff := cmp.Diff(want, summary(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nfull errors:\n%s", diff, errs.ToAggregate())
			}
		})
	}
}

func TestValidSpecs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		base   string
		mutate func(o *objects)
	}{
		{name: "issue sample", base: "sample.yaml"},
		{name: "completed private topology with bastion", base: "completed.yaml"},
		{
			// The user spec before completion: everything completion fills is empty.
			name: "fields completion fills left empty", base: "sample.yaml",
			mutate: func(o *objects) {
				s := &o.c.Spec
				s.CloudProvider, s.Channel = "", ""
				n := &s.Networking
				n.NetworkCIDR, n.PodCIDR, n.ServiceClusterIPRange, n.Topology = "", "", "", ""
				n.Subnets[0].CIDR = ""
				for _, ig := range o.igs {
					ig.Spec.MinSize, ig.Spec.MaxSize = nil, nil
				}
			},
		},
		{
			// --node-count 0: a node group to scale later.
			name: "empty node group", base: "sample.yaml",
			mutate: func(o *objects) {
				o.group("nodes-a").Spec.MinSize, o.group("nodes-a").Spec.MaxSize = ptr[int32](0), ptr[int32](0)
			},
		},
		{
			name: "groups, labels and names at their limits", base: "sample.yaml",
			mutate: func(o *objects) {
				o.renameCluster(strings.Repeat("a", 63) + ".example.com")
				o.group("nodes-a").Spec.MinSize, o.group("nodes-a").Spec.MaxSize = ptr[int32](1000), ptr[int32](1000)
				o.group("nodes-a").Spec.NodeLabels = manyLabels(100)
				o.c.Metadata.Annotations = map[string]string{"note": strings.Repeat("x", 256<<10-4)}
				o.addControlPlanes("b", "c", "d", "e", "f", "g")
			},
		},
		{
			name: "three control-plane groups", base: "sample.yaml",
			mutate: func(o *objects) { o.addControlPlanes("b", "c") },
		},
		{
			name: "channel as file and dot-less cluster name", base: "sample.yaml",
			mutate: func(o *objects) {
				o.c.Spec.Channel = "file:///srv/hull/channels/stable"
				o.renameCluster("demo")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := load(t, tc.base)
			if tc.mutate != nil {
				tc.mutate(o)
			}
			if errs := ValidateCluster(o.c, o.igs); len(errs) != 0 {
				t.Errorf("want no errors, got:\n%s", errs.ToAggregate())
			}
		})
	}
}

// TestErrorMessages pins the wording users see for the errors the issue and
// the design name explicitly.
func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(o *objects)
		want   string
	}{
		{
			name:   "subnet outside the network",
			mutate: func(o *objects) { o.subnet("zone-a").CIDR = "10.0.0.0/24" },
			want:   `spec.networking.subnets[0].cidr: Invalid value: "10.0.0.0/24": is not inside networkCIDR 172.20.0.0/16`,
		},
		{
			name:   "IPv6 refused",
			mutate: func(o *objects) { o.c.Spec.Networking.PodCIDR = "fd00:100::/56" },
			want:   `spec.networking.podCIDR: Invalid value: "fd00:100::/56": IPv6 is not supported yet; use an IPv4 CIDR`,
		},
		{
			name: "extra args with dashes",
			mutate: func(o *objects) {
				o.c.Spec.KubeAPIServer = &v1alpha1.KubeAPIServerSpec{ExtraArgs: map[string]string{"--v": "4"}}
			},
			want: `spec.kubeAPIServer.extraArgs[--v]: Invalid value: "--v": write the flag without leading dashes: v`,
		},
		{
			name: "group size limit explained",
			mutate: func(o *objects) {
				o.group("nodes-a").Spec.MinSize, o.group("nodes-a").Spec.MaxSize = ptr[int32](1), ptr[int32](1001)
			},
			want: `instanceGroups[nodes-a].spec.maxSize: Invalid value: 1001: must be at most 1000: a group is the unit hull scales and rolls, one machine at a time; ` +
				`spread bigger fleets over several groups, within Kubernetes' tested limit of 5000 nodes per cluster`,
		},
		{
			name:   "labels over the size limit",
			mutate: func(o *objects) { o.c.Metadata.Labels = manyLabels(30_000) },
			want:   `metadata.labels: Too long: may not be more than 262144 bytes; these are 468890: labels, keys and values together, like Kubernetes' limit on annotations`,
		},
		{
			name:   "host bits",
			mutate: func(o *objects) { o.c.Spec.Networking.NetworkCIDR = "172.20.1.0/16" },
			want:   `spec.networking.networkCIDR: Invalid value: "172.20.1.0/16": has host bits set; did you mean 172.20.0.0/16?`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := load(t, "sample.yaml")
			tc.mutate(o)
			errs := ValidateCluster(o.c, o.igs)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff([]string{tc.want}, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMultipleErrorsReportedTogether checks that validation does not stop at
// the first problem: the user fixes everything in one edit.
func TestMultipleErrorsReportedTogether(t *testing.T) {
	o := load(t, "sample.yaml")
	o.c.Spec.KubernetesVersion = "latest"
	o.subnet("zone-a").CIDR = "10.0.0.0/24"
	o.c.Spec.EtcdClusters = o.c.Spec.EtcdClusters[:1]
	nodes := o.group("nodes-a")
	nodes.Spec.MinSize, nodes.Spec.MaxSize = ptr[int32](3), ptr[int32](1)
	nodes.Spec.Taints = []string{"gpu"}
	o.group("control-plane-a").Spec.Subnets = []string{"zone-z"}

	want := []string{
		invalid("spec.kubernetesVersion"),
		invalid("spec.networking.subnets[0].cidr"),
		required("spec.etcdClusters"),
		invalid("instanceGroups[nodes-a].spec.maxSize"),
		invalid("instanceGroups[nodes-a].spec.taints[0]"),
		unsupported("instanceGroups[control-plane-a].spec.subnets[0]"),
	}
	slices.Sort(want)
	errs := ValidateCluster(o.c, o.igs)
	if diff := cmp.Diff(want, summary(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if msg := errs.ToAggregate().Error(); !strings.Contains(msg, "is not inside networkCIDR") {
		t.Errorf("aggregate message lacks the subnet error: %s", msg)
	}
}

func TestNilInputs(t *testing.T) {
	if diff := cmp.Diff([]string{required("cluster")}, summary(ValidateCluster(nil, nil))); diff != "" {
		t.Errorf("nil cluster (-want +got):\n%s", diff)
	}
	o := load(t, "sample.yaml")
	got := summary(ValidateCluster(o.c, append(o.igs, nil)))
	if diff := cmp.Diff([]string{required("instanceGroups[2]")}, got); diff != "" {
		t.Errorf("nil group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{required("instanceGroups")}, summary(ValidateInstanceGroup(nil, o.c))); diff != "" {
		t.Errorf("nil group alone (-want +got):\n%s", diff)
	}
	// A Cluster with every optional pointer and list empty must not panic.
	empty := &v1alpha1.Cluster{}
	if errs := ValidateCluster(empty, []*v1alpha1.InstanceGroup{{}}); len(errs) == 0 {
		t.Error("empty objects validated")
	}
}
