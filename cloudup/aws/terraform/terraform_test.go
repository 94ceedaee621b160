package terraform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/aws/terraform"
	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/state"
)

var refRE = regexp.MustCompile(`\$\{(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.`)

// GoldenOwner is the identity the goldens' resources are tagged with;
// tests/awscli puts it in place of the one `hull create cluster` made.
var GoldenOwner = cloud.Owner{ID: "7b0c6f0e-1d2a-4f5b-9c3e-8a4d2e6f1b70", Store: "s3://hull-state"}

// Cases are the clusters the goldens pin: 1 and 3 control planes, public
// and private (with a bastion) topology; an existing VPC with one existing
// subnet and an imported SSH key; an internal API load balancer with a
// named key pair and the DNS zone given by id.
var cases = []struct {
	golden string
	opts   newcluster.Options
	edit   func(s *v1alpha1.ClusterSpec)
}{
	{"public-1cp", newcluster.Options{Name: "one.example.com", Zones: []string{"us-east-1a"}}, nil},
	{"public-3cp", newcluster.Options{Name: "three.example.com", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"}, ControlPlaneCount: ptr.To(3)}, nil},
	{"private-1cp", newcluster.Options{Name: "private-one.example.com", Zones: []string{"us-east-1a"}, Topology: v1alpha1.TopologyPrivate, Bastion: true}, nil},
	{"private-3cp", newcluster.Options{Name: "private-three.example.com", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		ControlPlaneCount: ptr.To(3), Topology: v1alpha1.TopologyPrivate, Bastion: true}, nil},
	{"existing-vpc", newcluster.Options{Name: "existing.example.com", Zones: []string{"us-east-1a", "us-east-1b"}, Topology: v1alpha1.TopologyPrivate,
		SSHPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPfhxTYmkoN5UO1bZmd7aRZRDbIiYMq//KMX2wGDj82V ops@example.com"},
		func(s *v1alpha1.ClusterSpec) {
			s.Networking.NetworkID, s.Networking.NetworkCIDR = "vpc-0123456789abcdef0", "10.1.0.0/16"
			s.Networking.Subnets[0].ID, s.Networking.Subnets[0].CIDR = "subnet-0123456789abcdef0", "10.1.32.0/19"
		}},
	{"internal-lb", newcluster.Options{Name: "internal.example.com", Zones: []string{"us-east-1a"}, Topology: v1alpha1.TopologyPrivate,
		Bastion: true, SSHKeyName: "ops"},
		func(s *v1alpha1.ClusterSpec) {
			s.API.LoadBalancer.Type = v1alpha1.LoadBalancerInternal
			s.DNSZone = "Z0123456789ABCDEFGHIJ"
		}},
}

// completed builds what `hull create cluster` writes for o, edited, and
// completes it with an S3 state store, so the IAM policies grant its paths.
func completed(t *testing.T, o newcluster.Options, edit func(s *v1alpha1.ClusterSpec)) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, map[string][]byte) {
	t.Helper()
	o.Cloud, o.KubernetesVersion, o.DNSZone = v1alpha1.CloudAWS, "1.37.2", "example.com"
	c, igs, err := newcluster.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&c.Spec)
	}
	c, igs, err = completion.Complete(c, igs, completion.Options{ConfigBase: "s3://hull-state/" + o.Name})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validation.ValidateCluster(c, igs); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	store, err := state.Open(context.Background(), "mem://terraform-golden")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := cloudup.BuildModel(c, igs, nil, store)
	if err != nil {
		t.Fatal(err)
	}
	ud := map[string][]byte{}
	for name, lc := range m.LaunchConfigs {
		ud[name] = lc.UserData
	}
	return c, igs, ud
}

// TestGolden writes each case to a directory and compares every file, in
// name order, with testdata/<case>.golden.
func TestGolden(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			c, igs, ud := completed(t, tc.opts, tc.edit)
			dir := t.TempDir()
			if err := terraform.WriteTerraform(dir, c, igs, ud, GoldenOwner); err != nil {
				t.Fatal(err)
			}
			got := readTree(t, dir)
			golden.Check(t, filepath.Join("testdata", tc.golden+".golden"), got)
			// Rendering twice gives the same bytes.
			again, _, err := terraform.Render(c, igs, ud, GoldenOwner)
			if err != nil {
				t.Fatal(err)
			}
			for name, body := range again {
				if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != string(body) {
					t.Errorf("%s differs between two renders", name)
				}
			}
		})
	}
}

func readTree(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "=== %s ===\n%s", n, data)
		if !strings.HasSuffix(string(data), "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// TestReferences checks that every ${type.name.attr} points at a resource
// or data source that the output defines.
func TestReferences(t *testing.T) {
	for _, tc := range cases {
		c, igs, ud := completed(t, tc.opts, tc.edit)
		files, _, err := terraform.Render(c, igs, ud, GoldenOwner)
		if err != nil {
			t.Fatal(err)
		}
		defined := map[string]bool{"path.module": true}
		var all strings.Builder
		for _, body := range files {
			var d map[string]map[string]json.RawMessage
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			for _, block := range []string{"resource", "data"} {
				for typ, raw := range d[block] {
					var names map[string]json.RawMessage
					if err := json.Unmarshal(raw, &names); err != nil {
						t.Fatal(err)
					}
					for n := range names {
						key := typ + "." + n
						if block == "data" {
							key = "data." + key
						}
						defined[key] = true
					}
				}
			}
			all.Write(body)
		}
		refs := refRE.FindAllStringSubmatch(all.String(), -1)
		if len(refs) == 0 {
			t.Fatalf("%s: no references found", tc.golden)
		}
		for _, m := range refs {
			if key := m[1] + m[2] + "." + m[3]; !defined[key] {
				t.Errorf("%s: reference to undefined %s", tc.golden, key)
			}
		}
	}
}
