package newcluster

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

var goldenCases = []struct {
	name string
	opts Options
}{
	{
		name: "local-1-control-plane",
		opts: Options{Name: "demo.example.com", KubernetesVersion: "1.37.2", Channel: "stable"},
	},
	{
		name: "aws-3-control-planes",
		opts: Options{
			Name: "three.example.com", Cloud: "aws", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
			ControlPlaneCount: ptr(3), NodeCount: ptr(4), KubernetesVersion: "1.37.2", Channel: "stable",
			ControlPlaneSize: "m6i.large", NodeSize: "m6i.xlarge", DNSZone: "example.com",
			SSHPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPfhxTYmkoN5UO1bZmd7aRZRDbIiYMq//KMX2wGDj82V ops@example.com\n",
		},
	},
	{
		name: "aws-private-bastion",
		opts: Options{
			Name: "private.example.com", Cloud: "aws", Zones: []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
			ControlPlaneCount: ptr(3), NodeCount: ptr(2), KubernetesVersion: "1.37.2", Channel: "stable",
			Topology: "private", Bastion: true, NetworkCIDR: "10.20.0.0/16", SSHKeyName: "ops",
		},
	},
	{
		name: "local-3-control-planes-1-zone",
		opts: Options{Name: "ha.example.com", ControlPlaneCount: ptr(3), NodeCount: ptr(1), KubernetesVersion: "1.37.2"},
	},
}

func TestBuildGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			c, igs, err := Build(tc.opts)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".golden"), encode(t, c, igs))
		})
	}
}

// TestBuildCompletes checks that what Build writes survives the round trip
// through the codec and completes into a consistent spec: every subnet gets
// its own range, and every group and etcd member refers to what exists.
func TestBuildCompletes(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			c, igs, err := Build(tc.opts)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			objs, err := codec.DecodeAll([]byte(encode(t, c, igs)))
			if err != nil {
				t.Fatalf("decode what Build wrote: %v", err)
			}
			cc, cigs, err := completion.Complete(objs.Clusters[0], objs.InstanceGroups, completion.Options{ConfigBase: "mem://state/" + c.Metadata.Name})
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			checkConsistent(t, cc, cigs)
		})
	}
}

func checkConsistent(t *testing.T, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) {
	t.Helper()
	subnets := map[string]bool{}
	var ranges []netip.Prefix
	for _, s := range c.Spec.Networking.Subnets {
		subnets[s.Name] = true
		p := netip.MustParsePrefix(s.CIDR)
		for _, r := range ranges {
			if r.Overlaps(p) {
				t.Errorf("subnet %s %s overlaps %s", s.Name, p, r)
			}
		}
		ranges = append(ranges, p)
	}
	groups := map[string]v1alpha1.InstanceGroupRole{}
	for _, ig := range igs {
		if _, dup := groups[ig.Metadata.Name]; dup {
			t.Errorf("duplicate group %s", ig.Metadata.Name)
		}
		groups[ig.Metadata.Name] = ig.Spec.Role
		for _, s := range ig.Spec.Subnets {
			if !subnets[s] {
				t.Errorf("group %s names unknown subnet %s", ig.Metadata.Name, s)
			}
		}
		if ig.Spec.Role == v1alpha1.RoleControlPlane && (*ig.Spec.MinSize != 1 || *ig.Spec.MaxSize != 1) {
			t.Errorf("control-plane group %s is not 1/1", ig.Metadata.Name)
		}
	}
	for _, e := range c.Spec.EtcdClusters {
		var members int
		for _, m := range e.Members {
			if groups[m.InstanceGroup] != v1alpha1.RoleControlPlane {
				t.Errorf("etcd %s member %s is on %s, not a control-plane group", e.Name, m.Name, m.InstanceGroup)
			}
			members++
		}
		var cp int
		for _, role := range groups {
			if role == v1alpha1.RoleControlPlane {
				cp++
			}
		}
		if members != cp || members%2 == 0 {
			t.Errorf("etcd %s has %d members for %d control-plane groups", e.Name, members, cp)
		}
	}
}

func TestBuildSpreadsNodes(t *testing.T) {
	tests := []struct {
		zones int
		nodes *int // nil: the flag not given
		want  map[string]int32
	}{
		{zones: 3, nodes: ptr(2), want: map[string]int32{"nodes-a": 1, "nodes-b": 1}},
		{zones: 3, nodes: ptr(5), want: map[string]int32{"nodes-a": 2, "nodes-b": 2, "nodes-c": 1}},
		{zones: 3, nodes: ptr(6), want: map[string]int32{"nodes-a": 2, "nodes-b": 2, "nodes-c": 2}},
		{zones: 2, nodes: ptr(1), want: map[string]int32{"nodes-a": 1}},
		{zones: 1, nodes: nil, want: map[string]int32{"nodes-a": DefaultNodeCount}},
		// Asked for none: one empty group, not the default.
		{zones: 1, nodes: ptr(0), want: map[string]int32{"nodes-a": 0}},
		{zones: 3, nodes: ptr(0), want: map[string]int32{"nodes-a": 0}},
		{zones: 3, nodes: ptr(3000), want: map[string]int32{"nodes-a": 1000, "nodes-b": 1000, "nodes-c": 1000}},
	}
	for _, tt := range tests {
		zones := []string{"local-a", "local-b", "local-c"}[:tt.zones]
		_, igs, err := Build(Options{Name: "n.example.com", Zones: zones, NodeCount: tt.nodes, KubernetesVersion: "1.37.2"})
		if err != nil {
			t.Fatalf("Build(%d zones, %v nodes): %v", tt.zones, tt.nodes, err)
		}
		got := map[string]int32{}
		for _, ig := range igs {
			if ig.Spec.Role == v1alpha1.RoleNode {
				if *ig.Spec.MinSize != *ig.Spec.MaxSize {
					t.Errorf("%s: minSize %d, maxSize %d", ig.Metadata.Name, *ig.Spec.MinSize, *ig.Spec.MaxSize)
				}
				got[ig.Metadata.Name] = *ig.Spec.MinSize
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%d zones, %v nodes (-want +got):\n%s", tt.zones, tt.nodes, diff)
		}
	}
}

func TestBuildNames(t *testing.T) {
	tests := []struct {
		zones        []string
		controlPlane int
		want         []string
	}{
		{[]string{"local-a"}, 1, []string{"control-plane-a", "nodes-a"}},
		{[]string{"us-east-1a", "us-east-1b"}, 1, []string{"control-plane-a", "nodes-a", "nodes-b"}},
		{[]string{"us-east-1a", "us-east-1b"}, 5, []string{
			"control-plane-a-1", "control-plane-b-1", "control-plane-a-2", "control-plane-b-2", "control-plane-a-3",
			"nodes-a", "nodes-b",
		}},
		// Short names would clash: full zone names everywhere.
		{[]string{"us-east-1a", "us-west-2a"}, 1, []string{"control-plane-us-east-1a", "nodes-us-east-1a", "nodes-us-west-2a"}},
		// A zone without trailing letters has no short name.
		{[]string{"zone-1", "zone-b"}, 1, []string{"control-plane-zone-1", "nodes-zone-1", "nodes-zone-b"}},
	}
	for _, tt := range tests {
		_, igs, err := Build(Options{Name: "n.example.com", Cloud: "local", Zones: tt.zones, ControlPlaneCount: ptr(tt.controlPlane), KubernetesVersion: "1.37.2"})
		if err != nil {
			t.Fatalf("Build(%v, %d): %v", tt.zones, tt.controlPlane, err)
		}
		var got []string
		for _, ig := range igs {
			got = append(got, ig.Metadata.Name)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("zones %v, %d control planes (-want +got):\n%s", tt.zones, tt.controlPlane, diff)
		}
	}
}

func TestBuildInvalidOptions(t *testing.T) {
	valid := func() Options {
		return Options{Name: "bad.example.com", Cloud: "aws", Zones: []string{"us-east-1a"}, KubernetesVersion: "1.37.2"}
	}
	tests := []struct {
		name   string
		modify func(*Options)
		want   string // the error starts with this; it names the flag
	}{
		{"no name", func(o *Options) { o.Name = "" }, "cluster NAME is required"},
		{"unknown cloud", func(o *Options) { o.Cloud = "gce" }, `--cloud: unsupported value "gce", want local or aws`},
		{"aws without zones", func(o *Options) { o.Zones = nil }, "--zones is required for --cloud aws"},
		{"duplicate zone", func(o *Options) { o.Zones = []string{"us-east-1a", "us-east-1b", "us-east-1a"} }, "--zones: duplicate zone us-east-1a"},
		{"empty zone", func(o *Options) { o.Zones = []string{"us-east-1a", ""} }, "--zones: empty zone name"},
		{"malformed zone", func(o *Options) { o.Zones = []string{"US_EAST_1A"} }, `--zones: invalid zone "US_EAST_1A"`},
		{"even control plane", func(o *Options) { o.ControlPlaneCount = ptr(2) }, "--control-plane-count must be odd (1, 3, 5), got 2"},
		{"zero control plane", func(o *Options) { o.ControlPlaneCount = ptr(0) }, "--control-plane-count must be odd (1, 3, 5), got 0"},
		{"negative control plane", func(o *Options) { o.ControlPlaneCount = ptr(-1) }, "--control-plane-count must be odd (1, 3, 5), got -1"},
		{"control plane over etcd's advice", func(o *Options) { o.ControlPlaneCount = ptr(9) }, "--control-plane-count 9 is more than 7: each control-plane machine runs an etcd member"},
		{"negative nodes", func(o *Options) { o.NodeCount = ptr(-3) }, "--node-count must be 0 or more, got -3"},
		{"nodes over the group limit", func(o *Options) { o.NodeCount = ptr(100000000) }, "--node-count 100000000 over 1 zone(s) puts 100000000 nodes in one group, more than the 1000 an instance group may hold (a group is the unit"},
		{"nodes that overflow int32", func(o *Options) { o.NodeCount = ptr(1 << 40) }, "--node-count 1099511627776 over 1 zone(s)"},
		{"no version", func(o *Options) { o.KubernetesVersion = "" }, "--kubernetes-version is required"},
		{"bad version", func(o *Options) { o.KubernetesVersion = "latest" }, `--kubernetes-version "latest"`},
		{"unknown topology", func(o *Options) { o.Topology = "hidden" }, `--topology: unsupported value "hidden", want public or private`},
		{"bastion in public topology", func(o *Options) { o.Bastion = true }, "--bastion requires --topology private"},
		{"bastion in explicit public topology", func(o *Options) { o.Bastion = true; o.Topology = "public" }, "--bastion requires --topology private"},
		{"bad network cidr", func(o *Options) { o.NetworkCIDR = "10.0.0.0" }, "--network-cidr: "},
		{"zone of another cloud", func(o *Options) { o.Zones = []string{"local-a"} }, `--zones: "local-a" is not an AWS zone`},
		{"zones in two regions", func(o *Options) { o.Zones = []string{"us-east-1a", "us-west-2b"} }, "--zones: us-west-2b is in region us-west-2, us-east-1a in us-east-1"},
		{"dns zone on the local cloud", func(o *Options) { o.Cloud, o.Zones, o.DNSZone = "local", nil, "example.com" }, "--dns-zone only applies with --cloud aws"},
		{"ssh key on the local cloud", func(o *Options) { o.Cloud, o.Zones, o.SSHPublicKey = "local", nil, "ssh-ed25519 AAAA" }, "--ssh-public-key only applies with --cloud aws"},
		{"two ssh keys", func(o *Options) { o.SSHKeyName, o.SSHPublicKey = "ops", "ssh-ed25519 AAAA" }, "--ssh-key-name and --ssh-public-key exclude each other"},
		{"network cidr with host bits", func(o *Options) { o.NetworkCIDR = "10.0.0.1/16" }, "--network-cidr 10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.modify(&o)
			c, igs, err := Build(o)
			if err == nil {
				t.Fatalf("Build succeeded, want error %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to start with %q", err, tt.want)
			}
			if c != nil || igs != nil {
				t.Errorf("Build returned objects with an error")
			}
		})
	}
}

func TestLocalDefaultsToOneZone(t *testing.T) {
	c, _, err := Build(Options{Name: "l.example.com", KubernetesVersion: "1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Spec.Networking.Subnets; len(got) != 1 || got[0].Zone != "local-a" {
		t.Errorf("subnets = %+v, want one in %s", got, "local-a")
	}
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
