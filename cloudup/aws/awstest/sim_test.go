package awstest

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// group makes a VPC, a subnet, a launch template and a group of desired
// machines in a manually reconciled endpoint.
func group(t *testing.T, desired int32) (*Server, *autoscaling.Client, *ec2.Client) {
	t.Helper()
	ctx := context.Background()
	s := NewWithOptions(Options{ManualReconcile: true})
	cfg := sdkConfig(t, s)
	e, a := ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
	vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.1.1.0/24"), AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		t.Fatal(err)
	}
	ami := s.AddImage("img")
	if _, err := e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tmpl"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami), InstanceType: ec2types.InstanceTypeT3Micro}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(5), DesiredCapacity: aws.Int32(desired), VPCZoneIdentifier: sn.Subnet.SubnetId,
		LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("tmpl"), Version: aws.String("$Latest")},
		Tags:           []asgtypes.Tag{{Key: aws.String("team"), Value: aws.String("x"), PropagateAtLaunch: aws.Bool(true)}}}); err != nil {
		t.Fatal(err)
	}
	s.Reconcile()
	s.Reconcile()
	return s, a, e
}

func members(t *testing.T, a *autoscaling.Client) (asgtypes.AutoScalingGroup, map[string]string) {
	t.Helper()
	out, err := a.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"g"}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describe group: %v %v", out, err)
	}
	m := map[string]string{}
	for _, i := range out.AutoScalingGroups[0].Instances {
		m[aws.ToString(i.InstanceId)] = string(i.LifecycleState) + "@" + aws.ToString(i.LaunchTemplate.Version)
	}
	return out.AutoScalingGroups[0], m
}

func TestGroupSimulation(t *testing.T) {
	ctx := context.Background()
	s, a, e := group(t, 2)
	_, m := members(t, a)
	if len(m) != 2 {
		t.Fatalf("members %v, want 2", m)
	}
	insts := s.Instances()
	if len(insts) != 2 || insts[0].Tags["team"] != "x" || insts[0].Tags["aws:autoscaling:groupName"] != "g" ||
		insts[0].Tags["aws:ec2launchtemplate:version"] != "1" {
		t.Fatalf("instances %+v: want propagated and AWS tags", insts)
	}
	// A new template version: machines keep version 1, replacements get 2.
	if _, err := e.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateName: aws.String("tmpl"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceTypeT3Small}}); err != nil {
		t.Fatal(err)
	}
	victim := insts[0].ID
	if _, err := a.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(victim), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, m := members(t, a); m[victim] != "Terminating@1" {
		t.Errorf("terminated member: %v", m)
	}
	s.Reconcile()
	g, m := members(t, a)
	if len(m) != 2 || aws.ToInt32(g.DesiredCapacity) != 2 || m[victim] != "" {
		t.Fatalf("after reconcile: %v desired %d", m, aws.ToInt32(g.DesiredCapacity))
	}
	var fresh string
	for id, st := range m {
		if id != insts[1].ID {
			fresh = st
		}
	}
	if fresh != "Pending@2" {
		t.Errorf("replacement %q, want Pending@2", fresh)
	}
	// Detach with decrement: the machine leaves, the group does not replace it.
	s.Reconcile()
	if _, err := a.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String("g"),
		InstanceIds: []string{insts[1].ID}, ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	s.Reconcile()
	if g, m := members(t, a); len(m) != 1 || aws.ToInt32(g.DesiredCapacity) != 1 {
		t.Errorf("after detach with decrement: %v desired %d", m, aws.ToInt32(g.DesiredCapacity))
	}
	if len(s.Instances()) != 2 {
		t.Errorf("the detached machine must keep running: %+v", s.Instances())
	}
	// Deleting a group with machines needs force.
	if _, err := a.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g")}); code(err) != "ResourceInUse" {
		t.Errorf("delete with machines: %v, want ResourceInUse", err)
	}
	if _, err := a.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), ForceDelete: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	s.Reconcile()
	s.Reconcile()
	if out, _ := a.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); len(out.AutoScalingGroups) != 0 {
		t.Errorf("group still there: %+v", out.AutoScalingGroups)
	}
}

func TestTagsAndFilters(t *testing.T) {
	ctx := context.Background()
	s := New()
	e := ec2.NewFromConfig(sdkConfig(t, s))
	for i, cl := range []string{"a", "b", "a"} {
		out, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
		if err != nil {
			t.Fatal(err)
		}
		tags := []ec2types.Tag{{Key: aws.String("cluster"), Value: aws.String(cl)}}
		if i == 2 {
			tags = append(tags, ec2types.Tag{Key: aws.String("extra"), Value: aws.String("yes")})
		}
		if _, err := e.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(out.Vpc.VpcId)}, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(f ...ec2types.Filter) int {
		out, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Vpcs)
	}
	if n := count(ec2types.Filter{Name: aws.String("tag:cluster"), Values: []string{"a"}}); n != 2 {
		t.Errorf("tag:cluster=a: %d, want 2", n)
	}
	if n := count(ec2types.Filter{Name: aws.String("tag-key"), Values: []string{"extra"}}); n != 1 {
		t.Errorf("tag-key=extra: %d, want 1", n)
	}
	if n := count(ec2types.Filter{Name: aws.String("tag:cluster"), Values: []string{"*"}}, ec2types.Filter{Name: aws.String("tag-key"), Values: []string{"ext?a"}}); n != 1 {
		t.Errorf("wildcards: %d, want 1", n)
	}
	if _, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("bogus"), Values: []string{"x"}}}}); code(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v", err)
	}
	tags, err := e.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("key"), Values: []string{"cluster"}},
		{Name: aws.String("resource-type"), Values: []string{"vpc"}}}})
	if err != nil || len(tags.Tags) != 3 {
		t.Errorf("describe tags: %+v %v", tags, err)
	}
}

func TestIAMAndSTS(t *testing.T) {
	ctx := context.Background()
	s := New()
	cfg := sdkConfig(t, s)
	c := iam.NewFromConfig(cfg)
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("p"), PolicyDocument: aws.String(`{"a": "b c"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r")}); code(err) != "DeleteConflict" {
		t.Errorf("delete role with a policy: %v, want DeleteConflict", err)
	}
	pol, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("p")})
	if err != nil || aws.ToString(pol.PolicyDocument) != "%7B%22a%22%3A%20%22b%20c%22%7D" {
		t.Errorf("policy as IAM returns it (percent-encoded): %q %v", aws.ToString(pol.PolicyDocument), err)
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")}); code(err) != "NoSuchEntity" {
		t.Errorf("missing role: %v", err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != Account {
		t.Errorf("caller identity: %+v %v", id, err)
	}
}
