package aws_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/hullproject/hull/pkg/cloud"
)

// TestResourcesInPlan: the dry run of a private cluster with a bastion and
// an imported key lists every resource EnsureNetwork used to make unseen;
// after `update --yes` a second plan is clean and makes no mutating call.
func TestResourcesInPlan(t *testing.T) {
	e, _ := ownedCluster(t, "parts.example.com")
	n := e.name
	plan := e.update(false)
	for _, want := range []string{
		"InternetGateway/" + n + "\n    attached  true",
		"ElasticIP/us-east-1a." + n,
		"NATGateway/us-east-1a." + n + "\n    elasticIP  ElasticIP/us-east-1a." + n + "\n    subnet     utility-us-east-1a",
		"RouteTable/public." + n + "\n    defaultRoute  InternetGateway/" + n,
		"RouteTable/private-us-east-1a." + n + "\n    defaultRoute  NATGateway/us-east-1a." + n,
		"SecurityGroup/nodes." + n, "SecurityGroup/bastion." + n, "SecurityGroup/api-lb." + n,
		"SecurityGroupRules/nodes." + n, "ingress all/sg:control-plane",
		"IAMRole/nodes." + n, "IAMRolePolicy/control-plane." + n, "IAMInstanceProfile/bastion." + n + "\n    role  IAMRole/bastion." + n,
		"KeyPair/hull." + n + "-",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry run lacks %q:\n%s", want, plan)
		}
	}
	e.update(true)
	e.updateIsClean("an update after the resources were made")
	if out := e.update(false); !strings.Contains(out, "No changes need to be applied") {
		t.Errorf("dry run after update --yes:\n%s", out)
	}
	e.delete()
}

// TestResourceChangesShow: a default route, an inline policy and an
// instance profile's role changed behind hull's back each show in the plan
// as a change of that resource, and the next update puts them back.
func TestResourceChangesShow(t *testing.T) {
	e, _ := ownedCluster(t, "drift.example.com")
	n := e.name
	e.update(true)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg)
	rtbs, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:Name"), Values: []string{"public." + n}}}})
	if err != nil || len(rtbs.RouteTables) != 1 {
		t.Fatalf("public route table: %v %v", rtbs, err)
	}
	if _, err := c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: rtbs.RouteTables[0].RouteTableId,
		DestinationCidrBlock: aws.String("0.0.0.0/0")}); err != nil {
		t.Fatal(err)
	}
	ic := iam.NewFromConfig(e.cfg)
	if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("nodes." + n), PolicyName: aws.String("hull-nodes"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["*"]}]}`)}); err != nil {
		t.Fatal(err)
	}
	plan := e.update(false)
	for _, want := range []string{
		"Will modify resources:",
		"RouteTable/public." + n + "\n    defaultRoute  \"\" -> InternetGateway/" + n,
		"IAMRolePolicy/nodes." + n + "\n    policy  sha256:",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry run lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "Will create resources:") {
		t.Errorf("dry run creates what exists:\n%s", plan)
	}
	e.update(true)
	e.updateIsClean("an update after the repair")
	e.delete()
}

// TestResourcesRefuseForeignOwner: every resource of the plan, found or
// applied for another identity (a second state store's cluster of the same
// name), is refused, and nothing changes.
func TestResourcesRefuseForeignOwner(t *testing.T) {
	e, _ := ownedCluster(t, "theirs.example.com")
	e.update(true)
	ctx := context.Background()
	net, err := e.provider().FindNetwork(ctx, e.name)
	if err != nil || net == nil {
		t.Fatalf("network %+v: %v", net, err)
	}
	before := e.srv.Leftovers()
	e.srv.ResetRequests()
	b := e.providerAs(cloud.Owner{Cluster: e.name, ID: "other-id", Store: "s3://other-store"})
	resources := b.PlanResources(net)
	if len(resources) < 15 {
		t.Fatalf("%d resources, want every kind", len(resources))
	}
	for _, r := range resources {
		if _, err := r.Find(ctx); !errors.Is(err, cloud.ErrForeignOwner) {
			t.Errorf("%s: Find: %v, want a refusal", r.Key(), err)
		}
		if err := r.Apply(ctx); !errors.Is(err, cloud.ErrForeignOwner) {
			t.Errorf("%s: Apply: %v, want a refusal", r.Key(), err)
		}
	}
	if m := mutating(e.srv.Requests()); len(m) > 0 {
		t.Errorf("the other identity made mutating calls: %v", m)
	}
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); strings.Join(left, "\n") != strings.Join(before, "\n") {
		t.Errorf("the owner's resources changed:\nbefore %v\nafter  %v", before, left)
	}
	e.delete()
}

// TestPlanReadsShareNetwork: the resources of one plan read the network
// once: a plan's finds under cloud.WithPlanReads make one call per EC2 kind.
func TestPlanReadsShareNetwork(t *testing.T) {
	e, _ := ownedCluster(t, "shared.example.com")
	e.update(true)
	p := e.provider()
	net, err := p.FindNetwork(context.Background(), e.name)
	if err != nil || net == nil {
		t.Fatalf("network %+v: %v", net, err)
	}
	e.srv.ResetRequests()
	ctx := cloud.WithPlanReads(context.Background())
	for _, r := range p.PlanResources(net) {
		if strings.HasPrefix(r.Kind, "IAM") || r.Kind == "KeyPair" {
			continue
		}
		if f, err := r.Find(ctx); err != nil || f == nil {
			t.Errorf("%s: %v %v", r.Key(), f, err)
		}
	}
	_, _, by := calls(e.srv.Requests())
	for action, n := range by {
		if n != 1 {
			t.Errorf("%s made %d times, want once: %v", action, n, by)
		}
	}
	e.delete()
}
