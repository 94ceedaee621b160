package aws_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/state"
)

// withGroups is a cluster of 1 control plane and node groups spread over
// three zones, groups in all.
func withGroups(t *testing.T, groups int, dnsZone string) *env {
	t.Helper()
	e := newEnv(t, newcluster.Options{Name: fmt.Sprintf("budget%d.example.com", groups), Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		NodeCount: ptr.To(3), DNSZone: dnsZone}, awstest.Options{})
	if dnsZone != "" {
		e.srv.AddHostedZone(dnsZone)
	}
	ctx := context.Background()
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	for i := 4; i < groups; i++ {
		one := int32(1)
		ig := &v1alpha1.InstanceGroup{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindInstanceGroup},
			Metadata: v1alpha1.ObjectMeta{Name: fmt.Sprintf("pool-%02d", i), Labels: map[string]string{v1alpha1.LabelCluster: e.name}},
			Spec:     v1alpha1.InstanceGroupSpec{Role: v1alpha1.RoleNode, MinSize: &one, MaxSize: &one, Subnets: []string{zones[i%3]}},
		}
		if _, err := e.reg.PutInstanceGroup(ctx, e.name, ig, state.MustNotExist()); err != nil {
			t.Fatal(err)
		}
	}
	e.complete()
	if len(e.igs) != groups {
		t.Fatalf("%d groups, want %d", len(e.igs), groups)
	}
	return e
}

// planReads is the number of read calls one dry run makes.
func planReads(t *testing.T, e *env) (int, map[string]int) {
	t.Helper()
	e.srv.ResetRequests()
	out := e.update(false)
	if !strings.Contains(out, "Must specify --yes") && !strings.Contains(out, "No changes") {
		t.Fatalf("dry run output:\n%s", out)
	}
	reqs := e.srv.Requests()
	if m := mutating(reqs); len(m) > 0 {
		t.Fatalf("dry run made mutating calls: %v", m)
	}
	reads, _, by := calls(reqs)
	return reads, by
}

// Describe budgets of a dry run, recorded in docs/performance.md: one
// find per resource kind, whatever the number of groups; IAM has no
// describe by tag, so each role (control plane, nodes) costs its role,
// its policy (when the role exists) and its instance profile. A change
// here is a change of the figure there.
var (
	emptyAccountBudget = map[string]int{
		"autoscaling:DescribeAutoScalingGroups": 3, "ec2:DescribeAddresses": 1, "ec2:DescribeImages": 1, "ec2:DescribeInstances": 1,
		"ec2:DescribeInternetGateways": 1, "ec2:DescribeLaunchTemplates": 2, "ec2:DescribeNatGateways": 1, "ec2:DescribeRouteTables": 1,
		"ec2:DescribeSecurityGroups": 1, "ec2:DescribeSubnets": 1, "ec2:DescribeVpcs": 1, "elasticloadbalancing:DescribeLoadBalancers": 2,
		"iam:GetInstanceProfile": 2, "iam:GetRole": 2,
	}
	builtClusterBudget = map[string]int{
		"autoscaling:DescribeAutoScalingGroups": 4, "ec2:DescribeAddresses": 1, "ec2:DescribeImages": 1, "ec2:DescribeInstances": 1,
		"ec2:DescribeInternetGateways": 1, "ec2:DescribeLaunchTemplates": 4, "ec2:DescribeNatGateways": 1, "ec2:DescribeRouteTables": 1,
		"ec2:DescribeSecurityGroups": 1, "ec2:DescribeSubnets": 3, "ec2:DescribeVpcs": 1, "elasticloadbalancing:DescribeListeners": 1,
		"elasticloadbalancing:DescribeLoadBalancers": 2, "elasticloadbalancing:DescribeTags": 2, "elasticloadbalancing:DescribeTargetGroups": 1,
		"iam:GetInstanceProfile": 2, "iam:GetRole": 2, "iam:GetRolePolicy": 2,
	}
)

const (
	emptyAccountReads = 20
	builtClusterReads = 31
)

// TestDescribeBudget: a plan of 5 and of 50 instance groups makes exactly
// the budgeted describe calls, call by call, on an empty account and on a
// built cluster.
func TestDescribeBudget(t *testing.T) {
	for _, n := range []int{5, 50} {
		e := withGroups(t, n, "")
		empty, by := planReads(t, e)
		if empty != emptyAccountReads {
			t.Errorf("%d groups, empty account: %d describe calls, want %d", n, empty, emptyAccountReads)
		}
		if d := cmp.Diff(emptyAccountBudget, by); d != "" {
			t.Errorf("%d groups, empty account: calls (-budget +made):\n%s", n, d)
		}
		e.update(true)
		built, by := planReads(t, e)
		if built != builtClusterReads {
			t.Errorf("%d groups, built cluster: %d describe calls, want %d", n, built, builtClusterReads)
		}
		if d := cmp.Diff(builtClusterBudget, by); d != "" {
			t.Errorf("%d groups, built cluster: calls (-budget +made):\n%s", n, d)
		}
		e.delete()
	}
	t.Logf("FIGURE aws describe calls per plan: %d (empty account), %d (built cluster), for 5 and for 50 instance groups",
		emptyAccountReads, builtClusterReads)
}

// The budgets are the sums of their calls.
func TestBudgetsAdd(t *testing.T) {
	for want, m := range map[int]map[string]int{emptyAccountReads: emptyAccountBudget, builtClusterReads: builtClusterBudget} {
		sum := 0
		for _, n := range m {
			sum += n
		}
		if sum != want {
			t.Errorf("budget %v adds up to %d, not %d", m, sum, want)
		}
	}
}

// TestDescribeBudgetWithDNSZone: with spec.dnsZone a plan of a built
// cluster checks the API record too (its load balancer lookup replaces the
// one that finds the load balancer's DNS name without a zone): two calls
// more, for 5 and for 50 groups.
func TestDescribeBudgetWithDNSZone(t *testing.T) {
	want := map[string]int{"route53:ListHostedZonesByName": 1, "route53:ListResourceRecordSets": 1}
	for k, n := range builtClusterBudget {
		want[k] += n
	}
	for _, n := range []int{5, 50} {
		e := withGroups(t, n, "example.com")
		e.update(true)
		reads, by := planReads(t, e)
		if d := cmp.Diff(want, by); d != "" {
			t.Errorf("%d groups with a DNS zone: %d calls (-budget +made):\n%s", n, reads, d)
		}
		e.delete()
	}
}
