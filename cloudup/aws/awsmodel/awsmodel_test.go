package awsmodel

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

func TestLoadBalancerName(t *testing.T) {
	for cluster, want := range map[string]string{
		"demo.example.com":                         "api-demo-example-com",
		"a-very-long-cluster-name.k8s.example.com": "api-a-very-long-cluster-",
	} {
		got := LoadBalancerName(cluster)
		if len(got) > 32 || !strings.HasPrefix(got, want) || strings.HasSuffix(got, "-") {
			t.Errorf("LoadBalancerName(%q) = %q, want a prefix %q, at most 32 characters", cluster, got, want)
		}
	}
	if LoadBalancerName("x.a-very-long-cluster-name.example.com") == LoadBalancerName("y.a-very-long-cluster-name.example.com") {
		t.Error("long names must stay distinct")
	}
}

func TestIAMNameLimit(t *testing.T) {
	long := strings.Repeat("c", 80) + ".example.com"
	if n := IAMName(long, v1alpha1.RoleControlPlane); len(n) > 64 {
		t.Errorf("IAM name %q is %d characters", n, len(n))
	}
}

func TestRolePolicyGrantsStatePaths(t *testing.T) {
	c := &v1alpha1.Cluster{Metadata: v1alpha1.ObjectMeta{Name: "p.example.com"}}
	c.Spec.ConfigBase = "s3://bucket/prefix/p.example.com"
	node, _ := json.Marshal(rolePolicy(c, v1alpha1.RoleNode))
	for _, want := range []string{`arn:aws:s3:::bucket/prefix/p.example.com/nodeup/*`, `arn:aws:s3:::bucket/prefix/p.example.com/pki/issued/*`} {
		if !strings.Contains(string(node), want) {
			t.Errorf("node policy lacks %s:\n%s", want, node)
		}
	}
	if strings.Contains(string(node), "pki/private") || strings.Contains(string(node), "PutObject") {
		t.Errorf("node policy grants more than reads of its paths:\n%s", node)
	}
	cp, _ := json.Marshal(rolePolicy(c, v1alpha1.RoleControlPlane))
	for _, want := range []string{"backups/etcd/*", "ec2:AttachVolume", "elasticloadbalancing:RegisterTargets"} {
		if !strings.Contains(string(cp), want) {
			t.Errorf("control plane policy lacks %s", want)
		}
	}
	c.Spec.ConfigBase = "file:///state/p.example.com"
	if b, _ := json.Marshal(rolePolicy(c, v1alpha1.RoleBastion)); !strings.Contains(string(b), `"Deny"`) {
		t.Errorf("bastion on a non-S3 store should get nothing: %s", b)
	}
}

// TestOwnerTags: the identity always; the store as a tag value IAM and
// Elastic Load Balancing accept, without what may hold credentials, or
// not at all.
func TestOwnerTags(t *testing.T) {
	const id = "7b0c6f0e-1d2a-4f5b-9c3e-8a4d2e6f1b70"
	for _, tc := range []struct {
		store string
		want  map[string]string
	}{
		{"s3://bucket/prefix", map[string]string{TagClusterID: id, TagStateStore: "s3://bucket/prefix"}},
		{"s3://bucket/prefix?region=eu-west-1&endpoint=http://127.0.0.1:7070", map[string]string{TagClusterID: id, TagStateStore: "s3://bucket/prefix"}},
		{"azblob://user:secret@container/p#frag", map[string]string{TagClusterID: id, TagStateStore: "azblob://container/p"}},
		{"file:///home/ops/.hull/state", map[string]string{TagClusterID: id, TagStateStore: "file:///home/ops/.hull/state"}},
		{"file:///home/ops/~state", map[string]string{TagClusterID: id}},
		{"s3://bucket/" + strings.Repeat("p", 250), map[string]string{TagClusterID: id}},
		{"", map[string]string{TagClusterID: id}},
	} {
		if d := cmp.Diff(tc.want, OwnerTags(cloud.Owner{ID: id, Store: tc.store})); d != "" {
			t.Errorf("OwnerTags(store %q) (-want +got):\n%s", tc.store, d)
		}
	}
	if got := ClusterTags("c.example.com", cloud.Owner{Store: "s3://bucket"}); len(got) != 2 || got[TagCluster] != "c.example.com" {
		t.Errorf("without an identity the cluster tags are the name's only: %v", got)
	}
}
