package awsmodel

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
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
