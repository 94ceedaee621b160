package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

// errMissing marks a resource another step should have made first.
var errMissing = fmt.Errorf("missing: %w", cloud.ErrNotFound)

// EnsureNetwork makes the network match the model: the VPC (unless
// adopted) and one subnet per spec subnet. What the network holds besides
// (gateways, route tables, security groups) are resources of their own
// (PlanResources), so the plan lists them. It is idempotent: on a complete
// network it only describes. A network made before clusters had
// identities is first claimed with the whole cluster (see claim).
func (p *Provider) EnsureNetwork(ctx context.Context, want *cloud.Network) (*cloud.Network, error) {
	if err := p.checkCluster(want.Cluster); err != nil {
		return nil, err
	}
	if err := p.checkNetworkSpec(want); err != nil {
		return nil, err
	}
	p.netMu.Lock()
	defer p.netMu.Unlock()
	n, err := p.network(ctx)
	if err != nil {
		return nil, err
	}
	if !p.claimed && len(p.networkUnclaimed(n)) > 0 {
		if err := p.claim(ctx, n); err != nil {
			return nil, err
		}
		// The network's tags as read are now out of date; the claim
		// covered every resource, so the next call need not make it again.
		p.claimed = true
	}
	for _, step := range []func(context.Context, *network) error{p.ensureVPC, p.ensureSubnets} {
		if err := step(ctx, n); err != nil {
			return nil, err
		}
	}
	out := &cloud.Network{Cluster: want.Cluster, CIDR: aws.ToString(n.vpc.CidrBlock), ID: aws.ToString(n.vpc.VpcId)}
	for _, m := range p.model.Subnets {
		s := n.subnets[m.Name]
		out.Subnets = append(out.Subnets, cloud.Subnet{Name: m.Name, Zone: m.Zone, CIDR: aws.ToString(s.CidrBlock),
			Type: string(m.Type), Gateway: gateway(aws.ToString(s.CidrBlock))})
	}
	return out, nil
}

// network is the cluster network as read once per plan or apply
// (cloud.PlanRead): the network and subnet tasks and every resource of
// PlanResources share its describe calls. Callers that change the cloud
// hold netMu and update it in place.
func (p *Provider) network(ctx context.Context) (*network, error) {
	return cloud.PlanRead(ctx, "aws/network/"+p.name(), p.describeNetwork)
}

// inNetwork runs an ensure step of one resource on the network, serialised
// with EnsureNetwork and the other resources' steps.
func (p *Provider) inNetwork(ctx context.Context, step func(context.Context, *network) error) error {
	p.netMu.Lock()
	defer p.netMu.Unlock()
	n, err := p.network(ctx)
	if err != nil {
		return err
	}
	if n.vpc == nil {
		return wrap(errMissing, "vpc of cluster %s", p.name())
	}
	return step(ctx, n)
}

// checkNetworkSpec refuses a network that is not the cluster's: the
// provider builds from the completed spec, cloudup from the same spec.
func (p *Provider) checkNetworkSpec(want *cloud.Network) error {
	if p.model.VPC.ID == "" && want.CIDR != p.model.VPC.CIDR {
		return fmt.Errorf("network of %s: cidr %s differs from the spec's %s", p.name(), want.CIDR, p.model.VPC.CIDR)
	}
	for _, s := range want.Subnets {
		m, ok := p.model.Subnet(s.Name)
		if !ok || (m.ID == "" && (m.CIDR != s.CIDR || m.Zone != s.Zone || string(m.Type) != s.Type)) {
			return fmt.Errorf("network of %s: subnet %s (%s %s %s) is not in the spec", p.name(), s.Name, s.Zone, s.CIDR, s.Type)
		}
	}
	return nil
}

func (p *Provider) ensureVPC(ctx context.Context, n *network) error {
	if n.vpc != nil {
		if p.model.VPC.ID == "" && aws.ToString(n.vpc.CidrBlock) != p.model.VPC.CIDR {
			return fmt.Errorf("vpc %s of %s has cidr %s, the spec says %s; a VPC's cidr cannot change",
				aws.ToString(n.vpc.VpcId), p.name(), aws.ToString(n.vpc.CidrBlock), p.model.VPC.CIDR)
		}
		return nil
	}
	if p.model.VPC.ID != "" {
		return wrap(errMissing, "vpc %s named by spec.networking.networkID", p.model.VPC.ID)
	}
	out, err := p.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(p.model.VPC.CIDR),
		TagSpecifications: tagSpec(ec2types.ResourceTypeVpc, p.model.VPC.Tags)})
	if err != nil {
		return wrap(err, "create vpc %s of %s", p.model.VPC.CIDR, p.name())
	}
	n.vpc = out.Vpc
	// Instances need DNS hostnames for the in-VPC names Kubernetes uses.
	if _, err := p.ec2.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: out.Vpc.VpcId,
		EnableDnsHostnames: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
		return wrap(err, "enable DNS hostnames in vpc %s", aws.ToString(out.Vpc.VpcId))
	}
	return nil
}

func (p *Provider) ensureSubnets(ctx context.Context, n *network) error {
	vpcID := n.vpc.VpcId
	for _, m := range p.model.Subnets {
		s, ok := n.subnets[m.Name]
		if m.ID != "" {
			if !ok {
				return wrap(errMissing, "subnet %s (%s) named by the spec", m.Name, m.ID)
			}
			continue
		}
		if !ok {
			out, err := p.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcID, CidrBlock: aws.String(m.CIDR),
				AvailabilityZone: aws.String(m.Zone), TagSpecifications: tagSpec(ec2types.ResourceTypeSubnet, m.Tags)})
			if err != nil {
				return wrap(err, "create subnet %s (%s in %s)", m.Name, m.CIDR, m.Zone)
			}
			s = *out.Subnet
		} else if aws.ToString(s.CidrBlock) != m.CIDR || aws.ToString(s.AvailabilityZone) != m.Zone {
			return fmt.Errorf("subnet %s is %s in %s, the spec says %s in %s; delete it to move it",
				m.Name, aws.ToString(s.CidrBlock), aws.ToString(s.AvailabilityZone), m.CIDR, m.Zone)
		} else if ec2TagMap(s.Tags)[awsmodel.TagSubnetType] != string(m.Type) {
			if _, err := p.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(s.SubnetId)},
				Tags: ec2TagList(map[string]string{awsmodel.TagSubnetType: string(m.Type)})}); err != nil {
				return wrap(err, "tag subnet %s", m.Name)
			}
		}
		if aws.ToBool(s.MapPublicIpOnLaunch) != m.MapPublicIP {
			if _, err := p.ec2.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: s.SubnetId,
				MapPublicIpOnLaunch: &ec2types.AttributeBooleanValue{Value: aws.Bool(m.MapPublicIP)}}); err != nil {
				return wrap(err, "set public addressing of subnet %s", m.Name)
			}
			s.MapPublicIpOnLaunch = aws.Bool(m.MapPublicIP)
		}
		n.subnets[m.Name] = s
	}
	return nil
}

func (p *Provider) ensureInternetGateway(ctx context.Context, n *network) error {
	if n.igw == nil {
		out, err := p.ec2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{
			TagSpecifications: tagSpec(ec2types.ResourceTypeInternetGateway, withName(p.model.Tags, p.name(), "igw"))})
		if err != nil {
			return wrap(err, "create internet gateway of %s", p.name())
		}
		n.igw = out.InternetGateway
	}
	for _, a := range n.igw.Attachments {
		if aws.ToString(a.VpcId) == aws.ToString(n.vpc.VpcId) {
			return nil
		}
	}
	if _, err := p.ec2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: n.igw.InternetGatewayId,
		VpcId: n.vpc.VpcId}); err != nil {
		return wrap(err, "attach internet gateway %s to vpc %s", aws.ToString(n.igw.InternetGatewayId), aws.ToString(n.vpc.VpcId))
	}
	n.igw.Attachments = append(n.igw.Attachments, ec2types.InternetGatewayAttachment{VpcId: n.vpc.VpcId})
	return nil
}

func withName(base map[string]string, name, resource string) map[string]string {
	out := map[string]string{awsmodel.TagName: name, awsmodel.TagResource: resource}
	for k, v := range base {
		out[k] = v
	}
	return out
}

// ensureElasticIP allocates the address of a NAT gateway, unless it has
// one that is free or already its gateway's.
func (p *Provider) ensureElasticIP(ctx context.Context, n *network, nat awsmodel.NATGateway) error {
	if eip, ok := n.eips[nat.Resource()]; ok && (eip.AssociationId == nil || p.natHolds(n, nat, eip)) {
		return nil
	}
	out, err := p.ec2.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc,
		TagSpecifications: tagSpec(ec2types.ResourceTypeElasticIp, nat.Tags)})
	if err != nil {
		return wrap(err, "allocate elastic IP for NAT gateway %s", nat.Key)
	}
	n.eips[nat.Resource()] = ec2types.Address{AllocationId: out.AllocationId, PublicIp: out.PublicIp, Tags: ec2TagList(nat.Tags)}
	return nil
}

// natHolds reports whether the NAT gateway of nat uses the address.
func (p *Provider) natHolds(n *network, nat awsmodel.NATGateway, eip ec2types.Address) bool {
	g, ok := n.nats[nat.Resource()]
	return ok && slices.ContainsFunc(g.NatGatewayAddresses, func(a ec2types.NatGatewayAddress) bool {
		return aws.ToString(a.AllocationId) == aws.ToString(eip.AllocationId)
	})
}

func (p *Provider) ensureNATGateway(ctx context.Context, n *network, nat awsmodel.NATGateway) error {
	if _, ok := n.nats[nat.Resource()]; ok {
		return nil
	}
	eip, ok := n.eips[nat.Resource()]
	if !ok || eip.AssociationId != nil {
		if err := p.ensureElasticIP(ctx, n, nat); err != nil {
			return err
		}
		if eip = n.eips[nat.Resource()]; eip.AssociationId != nil {
			return fmt.Errorf("elastic IP %s of NAT gateway %s is associated elsewhere", aws.ToString(eip.AllocationId), nat.Key)
		}
	}
	subnet, ok := n.subnets[nat.Subnet]
	if !ok {
		return wrap(errMissing, "subnet %s for NAT gateway %s", nat.Subnet, nat.Key)
	}
	out, err := p.ec2.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{SubnetId: subnet.SubnetId, AllocationId: eip.AllocationId,
		TagSpecifications: tagSpec(ec2types.ResourceTypeNatgateway, nat.Tags)})
	if err != nil {
		return wrap(err, "create NAT gateway %s in subnet %s", nat.Key, nat.Subnet)
	}
	n.nats[nat.Resource()] = *out.NatGateway
	return nil
}

func (p *Provider) ensureRouteTable(ctx context.Context, n *network, rt awsmodel.RouteTable) error {
	have, ok := n.rtbs[rt.Resource()]
	if !ok {
		out, err := p.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: n.vpc.VpcId,
			TagSpecifications: tagSpec(ec2types.ResourceTypeRouteTable, rt.Tags)})
		if err != nil {
			return wrap(err, "create route table %s", rt.Key)
		}
		have = *out.RouteTable
		n.rtbs[rt.Resource()] = have
	}
	if err := p.ensureDefaultRoute(ctx, n, rt, &have); err != nil {
		return err
	}
	n.rtbs[rt.Resource()] = have
	for _, sn := range rt.Subnets {
		s, ok := n.subnets[sn]
		if !ok {
			return wrap(errMissing, "subnet %s of route table %s", sn, rt.Key)
		}
		subnetID := aws.ToString(s.SubnetId)
		if associated(have, subnetID) {
			continue
		}
		if err := p.disassociateElsewhere(ctx, n, subnetID); err != nil {
			return err
		}
		out, err := p.ec2.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: have.RouteTableId, SubnetId: aws.String(subnetID)})
		if err != nil {
			return wrap(err, "associate subnet %s with route table %s", sn, rt.Key)
		}
		have.Associations = append(have.Associations, ec2types.RouteTableAssociation{RouteTableAssociationId: out.AssociationId,
			SubnetId: aws.String(subnetID), RouteTableId: have.RouteTableId})
		n.rtbs[rt.Resource()] = have
	}
	return nil
}

// ensureDefaultRoute points the table's default route at its target,
// recording the route in have.
func (p *Provider) ensureDefaultRoute(ctx context.Context, n *network, rt awsmodel.RouteTable, have *ec2types.RouteTable) error {
	in := &ec2.CreateRouteInput{RouteTableId: have.RouteTableId, DestinationCidrBlock: aws.String("0.0.0.0/0")}
	var target string
	if rt.Target == awsmodel.TargetIGW {
		if n.igw == nil {
			return wrap(errMissing, "internet gateway for route table %s", rt.Key)
		}
		in.GatewayId, target = n.igw.InternetGatewayId, aws.ToString(n.igw.InternetGatewayId)
	} else {
		nat, ok := n.nats["nat/"+strings.TrimPrefix(rt.Target, "nat-")]
		if !ok {
			return wrap(errMissing, "NAT gateway %s for route table %s", rt.Target, rt.Key)
		}
		in.NatGatewayId, target = nat.NatGatewayId, aws.ToString(nat.NatGatewayId)
	}
	if hasDefaultRoute(*have, target) {
		return nil
	}
	route := ec2types.Route{DestinationCidrBlock: in.DestinationCidrBlock, GatewayId: in.GatewayId, NatGatewayId: in.NatGatewayId}
	for i, r := range have.Routes {
		if aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" {
			_, err := p.ec2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: in.RouteTableId, DestinationCidrBlock: in.DestinationCidrBlock,
				GatewayId: in.GatewayId, NatGatewayId: in.NatGatewayId})
			if err != nil {
				return wrap(err, "replace default route of route table %s", rt.Key)
			}
			have.Routes[i] = route
			return nil
		}
	}
	if _, err := p.ec2.CreateRoute(ctx, in); err != nil {
		return wrap(err, "create default route of route table %s", rt.Key)
	}
	have.Routes = append(have.Routes, route)
	return nil
}

// disassociateElsewhere frees a subnet from another of the cluster's route
// tables (a subnet has one route table).
func (p *Provider) disassociateElsewhere(ctx context.Context, n *network, subnetID string) error {
	for key, rt := range n.rtbs {
		for _, a := range rt.Associations {
			if aws.ToString(a.SubnetId) != subnetID {
				continue
			}
			if _, err := p.ec2.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: a.RouteTableAssociationId}); err != nil &&
				!hasCode(err, "InvalidAssociationID.NotFound") {
				return wrap(err, "disassociate subnet %s from route table %s", subnetID, key)
			}
		}
		// n is shared by the apply's steps: the other table no longer holds it.
		rt.Associations = slices.DeleteFunc(slices.Clone(rt.Associations), func(a ec2types.RouteTableAssociation) bool {
			return aws.ToString(a.SubnetId) == subnetID
		})
		n.rtbs[key] = rt
	}
	return nil
}

// isNotFound reports AWS "does not exist" errors, whatever the service.
func isNotFound(err error) bool {
	if errors.Is(err, cloud.ErrNotFound) {
		return true
	}
	switch errorCode(err) {
	case "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidInternetGatewayID.NotFound", "InvalidAllocationID.NotFound",
		"NatGatewayNotFound", "InvalidRouteTableID.NotFound", "InvalidGroup.NotFound", "InvalidLaunchTemplateName.NotFoundException",
		"InvalidLaunchTemplateId.NotFound", "InvalidInstanceID.NotFound", "InvalidAssociationID.NotFound", "Gateway.NotAttached",
		"NoSuchEntity", "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "NoSuchHostedZone":
		return true
	}
	return false
}
