package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

// Resource kinds, as the plan lists them (kops's names).
const (
	kindInternetGateway    = "InternetGateway"
	kindElasticIP          = "ElasticIP"
	kindNATGateway         = "NATGateway"
	kindRouteTable         = "RouteTable"
	kindSecurityGroup      = "SecurityGroup"
	kindSecurityGroupRules = "SecurityGroupRules"
	kindIAMRole            = "IAMRole"
	kindIAMRolePolicy      = "IAMRolePolicy"
	kindIAMInstanceProfile = "IAMInstanceProfile"
	kindKeyPair            = "KeyPair"
)

// The engine's task kinds the resources are needed by.
const (
	neededByLaunchConfig  = "LaunchConfig"
	neededByInstanceGroup = "InstanceGroup"
	neededByLoadBalancer  = "LoadBalancer"
)

// PlanResources lists what the cluster holds on AWS besides its VPC,
// subnets, launch templates, groups and load balancer, each a task of the
// plan: the internet gateway, each private zone's elastic IP and NAT
// gateway, the route tables (default route and subnets), the security
// groups and their ingress, each role's IAM role, inline policy and
// instance profile, and the imported SSH key pair. Their finds share the
// network's describe calls (cloud.PlanRead), so a plan costs one call per
// EC2 kind and three per IAM role.
func (p *Provider) PlanResources(net *cloud.Network) []cloud.Resource {
	netKey := "Network/" + net.Cluster
	out := []cloud.Resource{p.internetGateway(netKey)}
	for _, nat := range p.model.NATGateways {
		out = append(out, p.elasticIP(netKey, nat), p.natGateway(nat))
	}
	for _, rt := range p.model.RouteTables {
		out = append(out, p.routeTable(netKey, rt))
	}
	for _, sg := range p.model.SecurityGroups {
		out = append(out, p.securityGroup(netKey, sg), p.securityGroupRules(sg))
	}
	for _, r := range p.model.Roles {
		out = append(out, p.iamResources(r)...)
	}
	if k := p.model.KeyPair; k.Name != "" {
		out = append(out, p.keyPairResource(k))
	}
	return out
}

// findInNetwork is a resource's Find that takes its fields from the
// network as read once per plan (network); fields is nil when the
// resource is absent.
func (p *Provider) findInNetwork(fields func(n *network) map[string]string) func(context.Context) (map[string]string, error) {
	return func(ctx context.Context) (map[string]string, error) {
		n, err := p.network(ctx)
		if err != nil {
			return nil, err
		}
		return fields(n), nil
	}
}

// applyInNetwork is a resource's Apply that runs its ensure step on the
// network (inNetwork).
func (p *Provider) applyInNetwork(step func(context.Context, *network) error) func(context.Context) error {
	return func(ctx context.Context) error { return p.inNetwork(ctx, step) }
}

func (p *Provider) igwName() string { return p.name() }

func (p *Provider) internetGateway(netKey string) cloud.Resource {
	return cloud.Resource{
		Kind: kindInternetGateway, Name: p.igwName(),
		Fields: map[string]string{"attached": "true"},
		After:  []string{netKey},
		// AWS makes no internet-facing load balancer in a VPC without one.
		NeededBy: []string{neededByLoadBalancer},
		Find: p.findInNetwork(func(n *network) map[string]string {
			if n.vpc == nil || n.igw == nil {
				return nil
			}
			vpcID := aws.ToString(n.vpc.VpcId)
			attached := slices.ContainsFunc(n.igw.Attachments, func(a ec2types.InternetGatewayAttachment) bool { return aws.ToString(a.VpcId) == vpcID })
			return map[string]string{"attached": strconv.FormatBool(attached)}
		}),
		Apply: p.applyInNetwork(p.ensureInternetGateway),
	}
}

func natName(nat awsmodel.NATGateway) string { return nat.Tags[awsmodel.TagName] }

func (p *Provider) elasticIP(netKey string, nat awsmodel.NATGateway) cloud.Resource {
	return cloud.Resource{
		Kind: kindElasticIP, Name: natName(nat),
		Fields: map[string]string{"domain": "vpc"},
		After:  []string{netKey},
		Find: p.findInNetwork(func(n *network) map[string]string {
			if _, ok := n.eips[nat.Resource()]; !ok {
				return nil
			}
			return map[string]string{"domain": "vpc"}
		}),
		Apply: p.applyInNetwork(func(ctx context.Context, n *network) error { return p.ensureElasticIP(ctx, n, nat) }),
	}
}

func (p *Provider) natGateway(nat awsmodel.NATGateway) cloud.Resource {
	return cloud.Resource{
		Kind: kindNATGateway, Name: natName(nat),
		Fields: map[string]string{"subnet": nat.Subnet, "elasticIP": kindElasticIP + "/" + natName(nat)},
		// A NAT gateway forwards through the internet gateway of its
		// (utility) subnet.
		After: []string{"Subnet/" + nat.Subnet, kindElasticIP + "/" + natName(nat), kindInternetGateway + "/" + p.igwName()},
		Find: p.findInNetwork(func(n *network) map[string]string {
			g, ok := n.nats[nat.Resource()]
			if !ok {
				return nil
			}
			f := map[string]string{"subnet": subnetName(n, aws.ToString(g.SubnetId))}
			if eip, ok := n.eips[nat.Resource()]; ok && p.natHolds(n, nat, eip) {
				f["elasticIP"] = kindElasticIP + "/" + natName(nat)
			}
			return f
		}),
		Apply: p.applyInNetwork(func(ctx context.Context, n *network) error { return p.ensureNATGateway(ctx, n, nat) }),
	}
}

// subnetName is the name of the cluster subnet with id, else the id.
func subnetName(n *network, id string) string {
	for name, s := range n.subnets {
		if aws.ToString(s.SubnetId) == id {
			return name
		}
	}
	return id
}

// routeTarget is the plan's name for a route table's target.
func (p *Provider) routeTarget(rt awsmodel.RouteTable) string {
	if rt.Target == awsmodel.TargetIGW {
		return kindInternetGateway + "/" + p.igwName()
	}
	for _, nat := range p.model.NATGateways {
		if nat.Key == rt.Target {
			return kindNATGateway + "/" + natName(nat)
		}
	}
	return rt.Target
}

func (p *Provider) routeTable(netKey string, rt awsmodel.RouteTable) cloud.Resource {
	subnets := slices.Sorted(slices.Values(rt.Subnets))
	after := []string{netKey, p.routeTarget(rt)}
	for _, s := range subnets {
		after = append(after, "Subnet/"+s)
	}
	return cloud.Resource{
		Kind: kindRouteTable, Name: rt.Tags[awsmodel.TagName],
		Fields: map[string]string{"defaultRoute": p.routeTarget(rt), "subnets": strings.Join(subnets, ",")},
		After:  after,
		// Machines fetch their config and images through the default
		// route, and the API load balancer answers through it.
		NeededBy: []string{neededByInstanceGroup, neededByLoadBalancer},
		Find: p.findInNetwork(func(n *network) map[string]string {
			have, ok := n.rtbs[rt.Resource()]
			if !ok {
				return nil
			}
			return map[string]string{"defaultRoute": p.actualTarget(n, have), "subnets": strings.Join(p.associatedSubnets(n, have), ",")}
		}),
		Apply: p.applyInNetwork(func(ctx context.Context, n *network) error { return p.ensureRouteTable(ctx, n, rt) }),
	}
}

// actualTarget names the target of a table's default route as the plan
// names it: one of the cluster's gateways, else its id ("" for none).
func (p *Provider) actualTarget(n *network, rt ec2types.RouteTable) string {
	for _, r := range rt.Routes {
		if aws.ToString(r.DestinationCidrBlock) != "0.0.0.0/0" {
			continue
		}
		if id := aws.ToString(r.GatewayId); id != "" {
			if n.igw != nil && id == aws.ToString(n.igw.InternetGatewayId) {
				return kindInternetGateway + "/" + p.igwName()
			}
			return id
		}
		id := aws.ToString(r.NatGatewayId)
		for _, nat := range p.model.NATGateways {
			if g, ok := n.nats[nat.Resource()]; ok && aws.ToString(g.NatGatewayId) == id {
				return kindNATGateway + "/" + natName(nat)
			}
		}
		return id
	}
	return ""
}

// associatedSubnets are the names of the cluster's own subnets the table
// holds, sorted (an adopted subnet's routing is not hull's).
func (p *Provider) associatedSubnets(n *network, rt ec2types.RouteTable) []string {
	var out []string
	for _, m := range p.model.Subnets {
		if s, ok := n.subnets[m.Name]; ok && m.ID == "" && associated(rt, aws.ToString(s.SubnetId)) {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

// digest is a short stable name of a document's content, for fields whose
// whole value (a policy) is too long to print.
func digest(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return "sha256:" + hex.EncodeToString(sum[:])[:16]
}
