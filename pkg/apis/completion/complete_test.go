package completion

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// TestGolden completes each testdata/<name>.yaml and compares the completed
// spec with testdata/<name>.golden.
func TestGolden(t *testing.T) {
	for _, name := range []string{"sample", "minimal", "aws-private"} {
		t.Run(name, func(t *testing.T) {
			c, igs := load(t, filepath.Join("testdata", name+".yaml"))
			gotC, gotIGs, err := Complete(c, igs, Options{ConfigBase: "file:///x/state/" + c.Metadata.Name})
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			got := encode(t, gotC, gotIGs)
			golden.Check(t, filepath.Join("testdata", name+".golden"), got)

			// Completing the completed spec changes nothing.
			againC, againIGs, err := Complete(gotC, gotIGs, Options{ConfigBase: "file:///x/state/" + c.Metadata.Name})
			if err != nil {
				t.Fatalf("Complete(completed): %v", err)
			}
			if diff := cmp.Diff(got, encode(t, againC, againIGs)); diff != "" {
				t.Errorf("completion is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestCompleteDoesNotMutateInputs(t *testing.T) {
	c, igs := load(t, filepath.Join("testdata", "minimal.yaml"))
	wantC, wantIGs := copyAll(t, c, igs)

	gotC, gotIGs, err := Complete(c, igs, Options{ConfigBase: "mem://state/minimal.example.com"})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if diff := cmp.Diff(wantC, c); diff != "" {
		t.Errorf("Complete mutated the cluster (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantIGs, igs); diff != "" {
		t.Errorf("Complete mutated the instance groups (-before +after):\n%s", diff)
	}

	// The outputs share no memory with the inputs.
	gotC.Spec.Networking.Subnets[0].Name = "changed"
	gotC.Spec.EtcdClusters[0].Members[0].Name = "changed"
	gotIGs[0].Spec.Subnets[0] = "changed"
	gotIGs[0].Metadata.Labels["x"] = "y"
	*gotIGs[3].Spec.MaxSize = 99
	if diff := cmp.Diff(wantC, c); diff != "" {
		t.Errorf("changing the completed cluster changed the input (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantIGs, igs); diff != "" {
		t.Errorf("changing the completed groups changed the input (-before +after):\n%s", diff)
	}
}

func TestCompleteKeepsUserValues(t *testing.T) {
	surge := intstr.FromString("20%")
	c := &v1alpha1.Cluster{
		Metadata: v1alpha1.ObjectMeta{Name: "keep.example.com"},
		Spec: v1alpha1.ClusterSpec{
			CloudProvider:     v1alpha1.CloudAWS,
			KubernetesVersion: "1.37.2",
			Channel:           "alpha",
			ConfigBase:        "s3://bucket/keep.example.com",
			Networking: v1alpha1.NetworkingSpec{
				Subnets: []v1alpha1.SubnetSpec{{Name: "b", Zone: "us-east-1b", Type: v1alpha1.SubnetPublic}, {Name: "a", Zone: "us-east-1a", Type: v1alpha1.SubnetPublic}},
			},
			API:           v1alpha1.APISpec{PublicName: "k8s.internal.example.com", LoadBalancer: &v1alpha1.LoadBalancerSpec{}},
			RollingUpdate: &v1alpha1.RollingUpdate{MaxSurge: &surge},
		},
	}
	ig := &v1alpha1.InstanceGroup{
		Metadata: v1alpha1.ObjectMeta{Name: "bastions"},
		Spec:     v1alpha1.InstanceGroupSpec{Role: v1alpha1.RoleBastion, MaxSize: ptr[int32](2), Image: "my-ami"},
	}
	gotC, gotIGs, err := Complete(c, []*v1alpha1.InstanceGroup{ig}, Options{})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	zero := intstr.FromInt32(0)
	checks := []struct {
		field     string
		got, want any
	}{
		{"channel", gotC.Spec.Channel, "alpha"},
		{"configBase (no Options.ConfigBase)", gotC.Spec.ConfigBase, "s3://bucket/keep.example.com"},
		{"api.publicName", gotC.Spec.API.PublicName, "k8s.internal.example.com"},
		{"api.loadBalancer.type", gotC.Spec.API.LoadBalancer.Type, v1alpha1.LoadBalancerPublic},
		{"subnet order", []string{gotC.Spec.Networking.Subnets[0].Name, gotC.Spec.Networking.Subnets[1].Name}, []string{"b", "a"}},
		{"subnet cidrs", []string{gotC.Spec.Networking.Subnets[0].CIDR, gotC.Spec.Networking.Subnets[1].CIDR}, []string{"172.20.32.0/19", "172.20.64.0/19"}},
		{"rollingUpdate.maxSurge", *gotC.Spec.RollingUpdate.MaxSurge, surge},
		{"rollingUpdate.maxUnavailable when surging", *gotC.Spec.RollingUpdate.MaxUnavailable, zero},
		{"bastion.publicName", gotC.Spec.Bastion.PublicName, "bastion.keep.example.com"},
		{"ig minSize follows maxSize", *gotIGs[0].Spec.MinSize, int32(2)},
		{"ig image", gotIGs[0].Spec.Image, "my-ami"},
		{"aws bastion machineType", gotIGs[0].Spec.MachineType, "t3.micro"},
		{"bastion subnets in public topology", gotIGs[0].Spec.Subnets, []string{"b", "a"}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.field, diff)
		}
	}
}

func TestCompleteErrors(t *testing.T) {
	base := func() (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup) {
		return load(t, filepath.Join("testdata", "minimal.yaml"))
	}
	tests := []struct {
		name   string
		modify func(*v1alpha1.Cluster, []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup
		want   []string // substrings of the error
	}{
		{
			name: "networkCIDR too small for three subnets",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				c.Spec.Networking.NetworkCIDR = "10.0.0.0/30"
				return igs
			},
			want: []string{"spec.networking.networkCIDR", "10.0.0.0/30", "too small"},
		},
		{
			name: "more subnets than big ranges",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				c.Spec.Networking.NetworkCIDR = "10.0.0.0/24"
				c.Spec.Networking.Subnets[1].CIDR = "10.0.0.32/27"
				c.Spec.Networking.Subnets[2].CIDR = "10.0.0.64/26" // takes two big ranges
				for _, z := range []string{"d", "e", "f", "g"} {
					c.Spec.Networking.Subnets = append(c.Spec.Networking.Subnets,
						v1alpha1.SubnetSpec{Name: "local-" + z, Zone: "local-" + z, Type: v1alpha1.SubnetPublic})
				}
				return igs
			},
			want: []string{"spec.networking.subnets[6].cidr", `"local-g"`, "10.0.0.0/24", "no free range"},
		},
		{
			name: "invalid networkCIDR",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				c.Spec.Networking.NetworkCIDR = "172.20.0.0"
				return igs
			},
			want: []string{"spec.networking.networkCIDR"},
		},
		{
			name: "invalid subnet cidr",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				c.Spec.Networking.Subnets[1].CIDR = "nope"
				return igs
			},
			want: []string{"spec.networking.subnets[1].cidr"},
		},
		{
			name: "unknown cloud",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				c.Spec.CloudProvider = "gce"
				return igs
			},
			want: []string{`instance group "control-plane-a"`, "spec.cloudProvider", `"gce"`},
		},
		{
			name: "no kubernetesVersion",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				c.Spec.KubernetesVersion = ""
				return igs
			},
			want: []string{"kubernetesVersion"},
		},
		{
			name: "unknown role",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				igs[3].Spec.Role = "Worker"
				return igs
			},
			want: []string{`instance group "nodes"`, "spec.role", `"Worker"`},
		},
		{
			name: "group of another cluster",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				igs[0].Metadata.Labels = map[string]string{v1alpha1.LabelCluster: "other.example.com"}
				return igs
			},
			want: []string{"metadata.labels[hull.dev/cluster]", "other.example.com"},
		},
		{
			name: "no subnet suits the role",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				c.Spec.Networking.Topology = v1alpha1.TopologyPrivate // but every subnet is Public
				return igs
			},
			want: []string{`instance group "nodes"`, "spec.subnets", "role Node", "private topology"},
		},
		{
			name: "nil group",
			modify: func(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) []*v1alpha1.InstanceGroup {
				return append(igs, nil)
			},
			want: []string{"instance group 4 is nil"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, igs := base()
			igs = tt.modify(c, igs)
			_, _, err := Complete(c, igs, Options{})
			if err == nil {
				t.Fatal("Complete succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestMemberName(t *testing.T) {
	got := []string{MemberName(0), MemberName(1), MemberName(25), MemberName(26), MemberName(27), MemberName(701), MemberName(702)}
	want := []string{"a", "b", "z", "aa", "ab", "zz", "aaa"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MemberName (-want +got):\n%s", diff)
	}
}

func load(t *testing.T, path string) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := codec.DecodeAll(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(objs.Clusters) != 1 {
		t.Fatalf("%s: want 1 cluster, got %d", path, len(objs.Clusters))
	}
	return objs.Clusters[0], objs.InstanceGroups
}

func copyAll(t *testing.T, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup) {
	t.Helper()
	cc, err := deepCopy(c)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*v1alpha1.InstanceGroup, len(igs))
	for i, ig := range igs {
		if out[i], err = deepCopy(ig); err != nil {
			t.Fatal(err)
		}
	}
	return cc, out
}

func encode(t *testing.T, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) string {
	t.Helper()
	objs := []any{c}
	for _, ig := range igs {
		objs = append(objs, ig)
	}
	b, err := codec.EncodeAll(objs...)
	if err != nil {
		t.Fatalf("EncodeAll: %v", err)
	}
	return string(b)
}
