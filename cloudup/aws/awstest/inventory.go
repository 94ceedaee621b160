package awstest

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// Inventory lists, as sorted "kind id" lines, every resource of the kinds
// hull makes that an AWS endpoint holds, asked through the SDK as any
// client would; terminated instances and deleted NAT gateways do not
// count. Comparing it before and after a test shows what the test left
// behind on an implementation whose own defaults (moto's default VPC)
// are unknown. It uses calls the emulator does not implement (ListRoles,
// ListInstanceProfiles): on the emulator, use Server.Leftovers.
func Inventory(ctx context.Context, cfg aws.Config) ([]string, error) {
	var out []string
	add := func(kind string, ids ...*string) {
		for _, id := range ids {
			out = append(out, kind+" "+aws.ToString(id))
		}
	}
	for _, list := range []func(context.Context, aws.Config, func(string, ...*string)) error{inventoryEC2, inventoryNetwork, inventoryRest} {
		if err := list(ctx, cfg, add); err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

func inventoryEC2(ctx context.Context, cfg aws.Config, add func(string, ...*string)) error {
	c := ec2.NewFromConfig(cfg)
	insts := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{})
	for insts.HasMorePages() {
		page, err := insts.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describe instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				if i.State == nil || i.State.Name != ec2types.InstanceStateNameTerminated {
					add("instance", i.InstanceId)
				}
			}
		}
	}
	lts := ec2.NewDescribeLaunchTemplatesPaginator(c, &ec2.DescribeLaunchTemplatesInput{})
	for lts.HasMorePages() {
		page, err := lts.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describe launch templates: %w", err)
		}
		for _, lt := range page.LaunchTemplates {
			add("launch-template", lt.LaunchTemplateName)
		}
	}
	keys, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		return fmt.Errorf("describe key pairs: %w", err)
	}
	for _, k := range keys.KeyPairs {
		add("key-pair", k.KeyName)
	}
	addrs, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if err != nil {
		return fmt.Errorf("describe addresses: %w", err)
	}
	for _, a := range addrs.Addresses {
		add("elastic-ip", a.AllocationId)
	}
	return nil
}

func inventoryNetwork(ctx context.Context, cfg aws.Config, add func(string, ...*string)) error {
	c := ec2.NewFromConfig(cfg)
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil {
		return fmt.Errorf("describe vpcs: %w", err)
	}
	for _, v := range vpcs.Vpcs {
		add("vpc", v.VpcId)
	}
	subnets, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil {
		return fmt.Errorf("describe subnets: %w", err)
	}
	for _, s := range subnets.Subnets {
		add("subnet", s.SubnetId)
	}
	sgs, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		return fmt.Errorf("describe security groups: %w", err)
	}
	for _, g := range sgs.SecurityGroups {
		add("security-group", g.GroupId)
	}
	igws, err := c.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{})
	if err != nil {
		return fmt.Errorf("describe internet gateways: %w", err)
	}
	for _, g := range igws.InternetGateways {
		add("internet-gateway", g.InternetGatewayId)
	}
	rtbs, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
	if err != nil {
		return fmt.Errorf("describe route tables: %w", err)
	}
	for _, r := range rtbs.RouteTables {
		add("route-table", r.RouteTableId)
	}
	nats, err := c.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{})
	if err != nil {
		return fmt.Errorf("describe nat gateways: %w", err)
	}
	for _, n := range nats.NatGateways {
		if n.State != ec2types.NatGatewayStateDeleted {
			add("natgateway", n.NatGatewayId)
		}
	}
	return nil
}

func inventoryRest(ctx context.Context, cfg aws.Config, add func(string, ...*string)) error {
	groups := autoscaling.NewDescribeAutoScalingGroupsPaginator(autoscaling.NewFromConfig(cfg), &autoscaling.DescribeAutoScalingGroupsInput{})
	for groups.HasMorePages() {
		page, err := groups.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describe autoscaling groups: %w", err)
		}
		for _, g := range page.AutoScalingGroups {
			add("autoscaling-group", g.AutoScalingGroupName)
		}
	}
	lb := elb.NewFromConfig(cfg)
	lbs, err := lb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		return fmt.Errorf("describe load balancers: %w", err)
	}
	for _, l := range lbs.LoadBalancers {
		add("load-balancer", l.LoadBalancerName)
	}
	tgs, err := lb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{})
	if err != nil {
		return fmt.Errorf("describe target groups: %w", err)
	}
	for _, g := range tgs.TargetGroups {
		add("target-group", g.TargetGroupName)
	}
	ic := iam.NewFromConfig(cfg)
	roles := iam.NewListRolesPaginator(ic, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list roles: %w", err)
		}
		for _, r := range page.Roles {
			add("iam-role", r.RoleName)
		}
	}
	profiles := iam.NewListInstanceProfilesPaginator(ic, &iam.ListInstanceProfilesInput{})
	for profiles.HasMorePages() {
		page, err := profiles.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list instance profiles: %w", err)
		}
		for _, p := range page.InstanceProfiles {
			add("iam-instance-profile", p.InstanceProfileName)
		}
	}
	r53 := route53.NewFromConfig(cfg)
	zones, err := r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	if err != nil {
		return fmt.Errorf("list hosted zones: %w", err)
	}
	for _, z := range zones.HostedZones {
		add("hosted-zone", z.Name)
		recs, err := r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: z.Id})
		if err != nil {
			return fmt.Errorf("list records of %s: %w", aws.ToString(z.Name), err)
		}
		for _, r := range recs.ResourceRecordSets {
			add("record", aws.String(string(r.Type)+" "+aws.ToString(r.Name)))
		}
	}
	return nil
}
