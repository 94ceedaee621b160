package aws_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// TestDeleteFailsPartWayThenReruns: a delete that AWS refuses part of
// (IAM roles, the target group, an elastic IP and the key pair) still
// deletes the rest, the VPC included, and says what it left; looking
// again finds every leftover although the VPC is gone; a re-run deletes
// them and leaves the account empty.
func TestDeleteFailsPartWayThenReruns(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "orphans.example.com", Zones: []string{"us-east-1a"}, Topology: v1alpha1.TopologyPrivate,
		Bastion: true, DNSZone: "example.com", SSHPublicKey: sshKeyA}, awstest.Options{})
	e.srv.AddHostedZone("example.com")
	e.update(true)
	ctx := context.Background()
	// Someone gave the bastion more rights; they go with the role.
	if _, err := iam.NewFromConfig(e.cfg).AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("bastion." + e.name),
		PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")}); err != nil {
		t.Fatal(err)
	}
	deleteOnce := func() error {
		p := e.provider()
		res, err := cloudup.FindCloudResources(ctx, p, e.name)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		return cloudup.DeleteCloudResources(ctx, p, e.name, res, &out)
	}
	// The first delete stops after the load balancer: its target group
	// could not go, so the network is left for the next run.
	e.srv.Fail(awstest.ServiceELBv2, "DeleteTargetGroup", "AccessDenied", 1)
	if err := deleteOnce(); err == nil || !strings.Contains(err.Error(), "target group") {
		t.Fatalf("first delete: %v", err)
	}
	// The second gets the network deleted, but not what outlives a VPC.
	refused := [][2]string{{awstest.ServiceIAM, "DeleteRole"}, {awstest.ServiceELBv2, "DeleteTargetGroup"},
		{awstest.ServiceEC2, "ReleaseAddress"}, {awstest.ServiceEC2, "DeleteKeyPair"}}
	for _, f := range refused {
		e.srv.Fail(f[0], f[1], "AccessDenied", -1)
	}
	err := deleteOnce()
	if err == nil {
		t.Fatal("delete with refused calls succeeded")
	}
	for _, want := range []string{"IAM role control-plane.orphans.example.com", "target group api-orphans-example-com", "elastic IP", "key pair hull.orphans.example.com-"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("delete error does not report %q: %v", want, err)
		}
	}
	vpcs, err := ec2.NewFromConfig(e.cfg).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:hull.dev/cluster"), Values: []string{e.name}}}})
	if err != nil || len(vpcs.Vpcs) != 0 {
		t.Fatalf("the VPC should be gone: %+v %v", vpcs, err)
	}

	left, err := cloudup.FindCloudResources(ctx, e.provider(), e.name)
	if err != nil {
		t.Fatal(err)
	}
	if left.Network != nil || left.Empty() {
		t.Fatalf("after the failed delete: network %+v, empty %v", left.Network, left.Empty())
	}
	var kinds []string
	for _, k := range left.Keys() {
		kind, name, _ := strings.Cut(k, "/")
		if kind == "ElasticIP" || kind == "KeyPair" {
			name = strings.SplitN(name, "-", 2)[0] // ids and fingerprints vary
		}
		kinds = append(kinds, kind+"/"+name)
	}
	slices.Sort(kinds)
	want := []string{"ElasticIP/eipalloc", "IAMRole/bastion.orphans.example.com", "IAMRole/control-plane.orphans.example.com",
		"IAMRole/nodes.orphans.example.com", "KeyPair/hull.orphans.example.com", "TargetGroup/api-orphans-example-com"}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("leftovers found again (-want +got):\n%s", d)
	}

	for _, f := range refused {
		e.srv.Fail(f[0], f[1], "", 0)
	}
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("after the re-run: %v", left)
	}
	if res, err := cloudup.FindCloudResources(ctx, e.provider(), e.name); err != nil || !res.Empty() {
		t.Errorf("after the re-run hull still finds %v (%v)", res.Keys(), err)
	}
}

// TestDeleteFindsStrayMachinesAndRecords: a machine detached from its
// group and the API record whose load balancer is gone are found and
// deleted with the rest.
func TestDeleteFindsStrayMachinesAndRecords(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "strays.example.com", Zones: []string{"us-east-1a"}, DNSZone: "example.com"}, awstest.Options{})
	zone := e.srv.AddHostedZone("example.com")
	e.update(true)
	e.srv.Reconcile()
	ctx := context.Background()
	p := e.provider()
	insts, err := p.ListInstances(ctx, e.name)
	if err != nil || len(insts) == 0 {
		t.Fatalf("instances %v, %v", insts, err)
	}
	if err := p.DetachInstance(ctx, insts[0].ID); err != nil {
		t.Fatal(err)
	}
	// The load balancer went in an earlier, failed delete; its record stayed.
	e.srv.Fail(awstest.ServiceRoute53, "ChangeResourceRecordSets", "AccessDenied", -1)
	if err := p.DeleteLoadBalancer(ctx, e.name, cloudup.APILoadBalancerName); err == nil {
		t.Fatal("deleting the load balancer with Route 53 refused succeeded")
	}
	e.srv.Fail(awstest.ServiceRoute53, "ChangeResourceRecordSets", "", 0)
	res, err := cloudup.FindCloudResources(ctx, e.provider(), e.name)
	if err != nil {
		t.Fatal(err)
	}
	keys := strings.Join(res.Keys(), " ")
	for _, want := range []string{"Instance/" + insts[0].ID, "DNSRecord/api.strays.example.com"} {
		if !strings.Contains(keys, want) {
			t.Errorf("FindCloudResources lacks %s: %s", want, keys)
		}
	}
	e.delete()
	e.srv.Reconcile()
	if recs := e.srv.Records(zone); len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
