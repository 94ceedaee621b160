package aws

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

// network is what exists of the cluster network, keyed by the model's
// logical names (the TagResource values).
type network struct {
	vpc     *ec2types.Vpc
	subnets map[string]ec2types.Subnet // by subnet name
	igw     *ec2types.InternetGateway
	nats    map[string]ec2types.NatGateway // by resource, live ones only
	eips    map[string]ec2types.Address    // by resource
	rtbs    map[string]ec2types.RouteTable // by resource
	sgs     map[string]ec2types.SecurityGroup
}

func resourceTag(tags []ec2types.Tag) string { return ec2TagMap(tags)[awsmodel.TagResource] }

// describeNetwork reads the cluster network in a fixed number of calls, one
// per resource kind, each filtered by the cluster tag.
func (p *Provider) describeNetwork(ctx context.Context) (*network, error) {
	n := &network{subnets: map[string]ec2types.Subnet{}, nats: map[string]ec2types.NatGateway{},
		eips: map[string]ec2types.Address{}, rtbs: map[string]ec2types.RouteTable{}, sgs: map[string]ec2types.SecurityGroup{}}
	vin := &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{p.clusterFilter(),
		{Name: aws.String("tag:" + awsmodel.TagResource), Values: []string{"vpc"}}}}
	if id := p.model.VPC.ID; id != "" {
		vin = &ec2.DescribeVpcsInput{VpcIds: []string{id}}
	}
	vout, err := p.ec2.DescribeVpcs(ctx, vin)
	if err != nil {
		return nil, wrap(err, "describe vpc of cluster %s", p.name())
	}
	if len(vout.Vpcs) > 1 {
		return nil, fmt.Errorf("cluster %s has %d VPCs tagged for it; delete the extra ones", p.name(), len(vout.Vpcs))
	}
	if len(vout.Vpcs) == 1 {
		n.vpc = &vout.Vpcs[0]
	}
	var vpcFilter []ec2types.Filter
	if n.vpc != nil {
		vpcFilter = []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{aws.ToString(n.vpc.VpcId)}}}
	}
	if err := p.describeSubnets(ctx, n, vpcFilter); err != nil {
		return nil, err
	}
	igws := ec2.NewDescribeInternetGatewaysPaginator(p.ec2, &ec2.DescribeInternetGatewaysInput{
		Filters: []ec2types.Filter{p.clusterFilter()}, MaxResults: aws.Int32(maxEC2Results)})
	for igws.HasMorePages() {
		out, err := igws.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "describe internet gateway of cluster %s", p.name())
		}
		for i := range out.InternetGateways {
			n.igw = &out.InternetGateways[i]
		}
	}
	if n.igw == nil && p.model.VPC.ID != "" && n.vpc != nil {
		// An adopted VPC usually has its gateway already: use it, never delete it.
		out, err := p.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []ec2types.Filter{
			{Name: aws.String("attachment.vpc-id"), Values: []string{aws.ToString(n.vpc.VpcId)}}}})
		if err != nil {
			return nil, wrap(err, "describe internet gateway of vpc %s", aws.ToString(n.vpc.VpcId))
		}
		if len(out.InternetGateways) > 0 {
			n.igw = &out.InternetGateways[0]
		}
	}
	if err := p.describeGateways(ctx, n); err != nil {
		return nil, err
	}
	rtbs := ec2.NewDescribeRouteTablesPaginator(p.ec2, &ec2.DescribeRouteTablesInput{
		Filters: append([]ec2types.Filter{p.clusterFilter()}, vpcFilter...), MaxResults: aws.Int32(maxRouteTables)})
	for rtbs.HasMorePages() {
		out, err := rtbs.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "describe route tables of cluster %s", p.name())
		}
		for _, r := range out.RouteTables {
			n.rtbs[resourceTag(r.Tags)] = r
		}
	}
	if err := p.describeSecurityGroups(ctx, n, vpcFilter); err != nil {
		return nil, err
	}
	return n, p.checkNetwork(n)
}

func (p *Provider) describeSubnets(ctx context.Context, n *network, vpcFilter []ec2types.Filter) error {
	pages := ec2.NewDescribeSubnetsPaginator(p.ec2, &ec2.DescribeSubnetsInput{
		Filters: append([]ec2types.Filter{p.clusterFilter()}, vpcFilter...), MaxResults: aws.Int32(maxEC2Results)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return wrap(err, "describe subnets of cluster %s", p.name())
		}
		for _, s := range out.Subnets {
			name := strings.TrimPrefix(resourceTag(s.Tags), "subnet/")
			n.subnets[name] = s
		}
	}
	var adopted []string
	for _, s := range p.model.Subnets {
		if s.ID != "" {
			adopted = append(adopted, s.ID)
		}
	}
	if len(adopted) == 0 {
		return nil
	}
	out, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: adopted})
	if err != nil {
		return wrap(err, "describe adopted subnets %v of cluster %s", adopted, p.name())
	}
	for _, s := range out.Subnets {
		for _, m := range p.model.Subnets {
			if m.ID == aws.ToString(s.SubnetId) {
				n.subnets[m.Name] = s
			}
		}
	}
	return nil
}

func (p *Provider) describeSecurityGroups(ctx context.Context, n *network, vpcFilter []ec2types.Filter) error {
	pages := ec2.NewDescribeSecurityGroupsPaginator(p.ec2, &ec2.DescribeSecurityGroupsInput{
		Filters: append([]ec2types.Filter{p.clusterFilter()}, vpcFilter...), MaxResults: aws.Int32(maxEC2Results)})
	ids := map[string]string{}
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return wrap(err, "describe security groups of cluster %s", p.name())
		}
		for _, g := range out.SecurityGroups {
			if err := p.checkOwner("security group "+aws.ToString(g.GroupName), ec2TagMap(g.Tags)); err != nil {
				return err // before its id is kept for launch templates
			}
			key := strings.TrimPrefix(resourceTag(g.Tags), "sg/")
			n.sgs[key] = g
			ids[key] = aws.ToString(g.GroupId)
		}
	}
	p.mu.Lock()
	p.sgIDs = ids
	p.mu.Unlock()
	return nil
}

// FindNetwork reports the cluster's VPC and subnets. A subnet whose public
// addressing is not as the model wants, or a network made before clusters
// had identities (EnsureNetwork claims it), reports its type with a short
// "(incomplete: ...)" so the plan shows a change and the apply repairs it
// with EnsureNetwork. Gateways, route tables and security groups are
// resources of their own (PlanResources) and show their own changes.
// A network another identity owns is refused (*cloud.ForeignOwnerError).
func (p *Provider) FindNetwork(ctx context.Context, cluster string) (*cloud.Network, error) {
	if err := p.checkCluster(cluster); err != nil {
		return nil, err
	}
	n, err := p.network(ctx)
	if err != nil || n.vpc == nil {
		return nil, err
	}
	out := &cloud.Network{Cluster: cluster, CIDR: aws.ToString(n.vpc.CidrBlock), ID: aws.ToString(n.vpc.VpcId), Adopted: p.model.VPC.ID != ""}
	global, perSubnet := p.problems(n)
	for _, m := range p.model.Subnets {
		s, ok := n.subnets[m.Name]
		if !ok {
			continue
		}
		typ := string(m.Type)
		if m.ID == "" {
			typ = ec2TagMap(s.Tags)[awsmodel.TagSubnetType]
		}
		if probs := append(slices.Clone(global), perSubnet[m.Name]...); len(probs) > 0 {
			typ += " (incomplete: " + strings.Join(probs, "; ") + ")"
		}
		out.Subnets = append(out.Subnets, cloud.Subnet{Name: m.Name, Zone: aws.ToString(s.AvailabilityZone),
			CIDR: aws.ToString(s.CidrBlock), Type: typ, Gateway: gateway(aws.ToString(s.CidrBlock))})
	}
	return out, nil
}

// gateway is the VPC router's address in a subnet: its first host.
func gateway(cidr string) string {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	return pfx.Masked().Addr().Next().String()
}

// problems lists what of the VPC and subnets differs from the model:
// network-wide and per subnet.
func (p *Provider) problems(n *network) (global []string, perSubnet map[string][]string) {
	perSubnet = map[string][]string{}
	if len(p.networkUnclaimed(n)) > 0 {
		global = append(global, "no cluster-id tag")
	}
	for _, m := range p.model.Subnets {
		if s, ok := n.subnets[m.Name]; ok && m.ID == "" && aws.ToBool(s.MapPublicIpOnLaunch) != m.MapPublicIP {
			perSubnet[m.Name] = append(perSubnet[m.Name], "public IP setting")
		}
	}
	return global, perSubnet
}

func hasDefaultRoute(rt ec2types.RouteTable, target string) bool {
	return target != "" && slices.ContainsFunc(rt.Routes, func(r ec2types.Route) bool {
		return aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" &&
			(aws.ToString(r.GatewayId) == target || aws.ToString(r.NatGatewayId) == target)
	})
}

func associated(rt ec2types.RouteTable, subnetID string) bool {
	return slices.ContainsFunc(rt.Associations, func(a ec2types.RouteTableAssociation) bool {
		return aws.ToString(a.SubnetId) == subnetID
	})
}
