package aws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

func errorCodes(reqs []awstest.Request) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		if r.ErrorCode != "" {
			out[r.ErrorCode]++
		}
	}
	return out
}

// TestThrottling: the endpoint throttles calls; the adaptive retryer gets
// a create through (IAM throttled) and a network find
// through (EC2 throttled). Throttled before it has measured any send rate,
// the adaptive retryer drops its client to half a call a second and climbs
// back over a few seconds, so the EC2 part is kept small.
func TestThrottling(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "throttled.example.com", Zones: []string{"us-east-1a"}}, awstest.Options{})
	e.srv.Throttle(awstest.ServiceIAM, 2)
	start := time.Now()
	e.update(true)
	if codes := errorCodes(e.srv.Requests()); codes["Throttling"] != 2 {
		t.Errorf("throttled responses: %v, want 2 Throttling", codes)
	}
	t.Logf("FIGURE aws create through 2 throttled IAM calls: %s", time.Since(start).Round(time.Millisecond))

	e.srv.ResetRequests()
	e.srv.Throttle(awstest.ServiceEC2, 2)
	start = time.Now()
	n, err := e.provider().FindNetwork(context.Background(), e.name)
	if err != nil || n == nil || len(n.Subnets) != 1 || strings.Contains(n.Subnets[0].Type, "incomplete") {
		t.Fatalf("find network through throttling: %+v %v", n, err)
	}
	if codes := errorCodes(e.srv.Requests()); codes["RequestLimitExceeded"] != 2 {
		t.Errorf("throttled responses: %v, want 2 RequestLimitExceeded", codes)
	}
	t.Logf("FIGURE aws network find through 2 throttled EC2 calls: %s", time.Since(start).Round(time.Millisecond))

	e.srv.ResetRequests()
	if out := e.update(true); !strings.Contains(out, "No changes") {
		t.Errorf("update after a throttled create is not clean:\n%s", out)
	}
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestDeleteRetriesDependencyViolation: a private cluster whose NAT
// gateways take a while to go and a detached machine that takes a while to
// terminate: AWS refuses to release addresses, detach the gateway, delete
// security groups, subnets and the VPC until they are gone. The delete
// retries in dependency order and leaves nothing.
func TestDeleteRetriesDependencyViolation(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "private.example.com", Zones: []string{"us-east-1a", "us-east-1b"},
		Topology: v1alpha1.TopologyPrivate, Bastion: true}, awstest.Options{TerminationSteps: 20, NATDeletionSteps: 3})
	e.opts.DeleteBackoff = time.Millisecond
	e.update(true)
	ctx := context.Background()
	p := e.provider()
	e.srv.Reconcile()
	e.srv.Reconcile()
	insts, err := p.ListInstances(ctx, e.name)
	if err != nil || len(insts) == 0 {
		t.Fatalf("instances: %v %v", insts, err)
	}
	if err := p.DetachInstance(ctx, insts[0].ID); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	e.delete()
	codes := errorCodes(e.srv.Requests())
	if codes["DependencyViolation"] == 0 || codes["InvalidIPAddress.InUse"] == 0 {
		t.Errorf("want the delete to meet and retry DependencyViolation and InvalidIPAddress.InUse, got %v", codes)
	}
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	var order []string
	for _, r := range e.srv.Requests() {
		if strings.HasPrefix(r.Action, "Delete") && r.ErrorCode == "" && !strings.Contains(r.Action, "Policy") {
			order = append(order, r.Action)
		}
	}
	if last := order[len(order)-1]; last != "DeleteRole" && last != "DeleteInstanceProfile" {
		t.Errorf("IAM should go last, got %v", order)
	}
	if i, j := index(order, "DeleteSubnet"), index(order, "DeleteVpc"); i < 0 || j < i {
		t.Errorf("subnets must go before the VPC: %v", order)
	}
	t.Logf("successful deletes in order: %v; refusals retried: %v", order, codes)
}

func index(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestPagination: with two results per page, everything is still found
// and the second update is still clean.
func TestPagination(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "paged.example.com", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		ControlPlaneCount: ptr.To(3), NodeCount: ptr.To(6)}, awstest.Options{PageLimit: 2})
	e.update(true)
	e.srv.ResetRequests()
	if out := e.update(true); !strings.Contains(out, "No changes") {
		t.Errorf("paged second update is not clean:\n%s", out)
	}
	reads, _, by := calls(e.srv.Requests())
	if by["ec2:DescribeSubnets"] < 2 || by["autoscaling:DescribeAutoScalingGroups"] < 2 {
		t.Errorf("expected paginated describes, got %v", by)
	}
	t.Logf("%d reads with two results a page: %v", reads, by)
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
