package aws

import (
	"context"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// allRoles are the group roles that may have an IAM role, whether or not
// the spec has such groups now (a bastion may have been removed).
var allRoles = []v1alpha1.InstanceGroupRole{v1alpha1.RoleControlPlane, v1alpha1.RoleNode, v1alpha1.RoleBastion}

// FindExtras lists what the cluster owns besides its VPC (and what is in
// it), groups, launch templates and load balancer, each kind found on its
// own so a delete that failed part-way shows all it left, VPC or no VPC:
// machines no group owns, NAT gateways, elastic IPs and internet gateways
// by the cluster tag; the API target group, IAM roles and instance
// profiles by the names hull gives them (and the cluster tag); imported
// key pairs by the tag; the API record in spec.dnsZone while it points at
// the cluster's load balancer. DeleteNetwork deletes them all. Any of
// them that another identity owns is refused (*cloud.ForeignOwnerError).
func (p *Provider) FindExtras(ctx context.Context, cluster string) ([]string, error) {
	if err := p.checkCluster(cluster); err != nil {
		return nil, err
	}
	var out []string
	strays, err := p.strays(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range strays {
		out = append(out, "Instance/"+id)
	}
	n := &network{nats: map[string]ec2types.NatGateway{}, eips: map[string]ec2types.Address{}}
	if err := p.describeGateways(ctx, n); err != nil {
		return nil, err
	}
	if err := p.checkNetwork(n); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(n.nats) {
		out = append(out, "NATGateway/"+aws.ToString(n.nats[k].NatGatewayId))
	}
	for _, k := range sortedKeys(n.eips) {
		out = append(out, "ElasticIP/"+aws.ToString(n.eips[k].AllocationId))
	}
	igws, err := p.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []ec2types.Filter{p.clusterFilter()}})
	if err != nil {
		return nil, wrap(err, "describe internet gateways of %s", p.name())
	}
	for _, g := range igws.InternetGateways {
		if err := p.checkOwner("internet gateway "+aws.ToString(g.InternetGatewayId), ec2TagMap(g.Tags)); err != nil {
			return nil, err
		}
		out = append(out, "InternetGateway/"+aws.ToString(g.InternetGatewayId))
	}
	tg, err := p.targetGroup(ctx)
	if err != nil {
		return nil, err
	}
	if tg != nil {
		out = append(out, "TargetGroup/"+p.model.LoadBalancer.Name)
	}
	iamLeft, err := p.iamLeftovers(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, iamLeft...)
	keys, err := p.clusterKeyPairs(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		out = append(out, "KeyPair/"+aws.ToString(k.KeyName))
	}
	if p.cluster.Spec.DNSZone != "" {
		zone, err := p.hostedZone(ctx)
		if err != nil {
			return nil, err
		}
		rec, err := p.record(ctx, zone, p.model.LoadBalancer.DNSName)
		if err != nil {
			return nil, err
		}
		if rec != nil && p.ownLoadBalancerDNS().MatchString(aliasDNS(rec)) {
			out = append(out, "DNSRecord/"+p.model.LoadBalancer.DNSName)
		}
	}
	return out, nil
}

// strays are the cluster's machines that no autoscaling group owns any
// more (detached ones, or ones whose group is gone).
func (p *Provider) strays(ctx context.Context) ([]string, error) {
	groups, err := p.describeGroups(ctx)
	if err != nil {
		return nil, err
	}
	owned := map[string]bool{}
	for _, g := range groups {
		for _, i := range g.Instances {
			owned[aws.ToString(i.InstanceId)] = true
		}
	}
	ids, err := p.clusterInstances(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if !owned[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// clusterInstances lists the cluster's machines that are not terminated
// or on their way there, by the cluster tag.
func (p *Provider) clusterInstances(ctx context.Context) ([]string, error) {
	var ids []string
	pages := ec2.NewDescribeInstancesPaginator(p.ec2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(maxInstancePage),
		Filters: []ec2types.Filter{p.clusterFilter(), {Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}}})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "describe instances of %s", p.name())
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				if err := p.checkOwner("instance "+aws.ToString(i.InstanceId), ec2TagMap(i.Tags)); err != nil {
					return nil, err
				}
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// iamLeftovers lists the cluster's IAM roles and instance profiles, of
// every group role: "IAMRole/<name>", "InstanceProfile/<name>". One of
// the same name that another cluster owns is not listed; one that a
// cluster of this name but another identity owns is refused.
func (p *Provider) iamLeftovers(ctx context.Context) ([]string, error) {
	var out []string
	for _, role := range allRoles {
		name := awsmodel.IAMName(p.name(), role)
		r, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		switch {
		case err == nil && iamTagMap(r.Role.Tags)[awsmodel.TagCluster] == p.name():
			if err := p.checkOwner("IAM role "+name, iamTagMap(r.Role.Tags)); err != nil {
				return nil, err
			}
			out = append(out, "IAMRole/"+name)
		case err != nil && !hasCode(err, "NoSuchEntity"):
			return nil, wrap(err, "get IAM role %s", name)
		}
		ip, err := p.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		switch {
		case err == nil && p.ownsProfile(ip.InstanceProfile.Tags, ip.InstanceProfile.Roles):
			if err := p.checkOwner("instance profile "+name, iamTagMap(ip.InstanceProfile.Tags)); err != nil {
				return nil, err
			}
			out = append(out, "InstanceProfile/"+name)
		case err != nil && !hasCode(err, "NoSuchEntity"):
			return nil, wrap(err, "get instance profile %s", name)
		}
	}
	return out, nil
}

// describeGateways reads the cluster's live NAT gateways and its elastic
// IPs by the cluster tag, wherever they are.
func (p *Provider) describeGateways(ctx context.Context, n *network) error {
	nats := ec2.NewDescribeNatGatewaysPaginator(p.ec2, &ec2.DescribeNatGatewaysInput{
		Filter:     []ec2types.Filter{p.clusterFilter(), {Name: aws.String("state"), Values: []string{"pending", "available"}}},
		MaxResults: aws.Int32(maxEC2Results)})
	for nats.HasMorePages() {
		out, err := nats.NextPage(ctx)
		if err != nil {
			return wrap(err, "describe NAT gateways of cluster %s", p.name())
		}
		for _, g := range out.NatGateways {
			n.nats[resourceTag(g.Tags)] = g
		}
	}
	eips, err := p.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{p.clusterFilter()}})
	if err != nil {
		return wrap(err, "describe elastic IPs of cluster %s", p.name())
	}
	for _, a := range eips.Addresses {
		n.eips[resourceTag(a.Tags)] = a
	}
	return nil
}

// ownsProfile: an instance profile is the cluster's when it is tagged for
// it, or untagged and holding the cluster's role of the same name.
func (p *Provider) ownsProfile(tags []iamtypes.Tag, roles []iamtypes.Role) bool {
	if owner, ok := iamTagMap(tags)[awsmodel.TagCluster]; ok {
		return owner == p.name()
	}
	for _, r := range roles {
		if iamTagMap(r.Tags)[awsmodel.TagCluster] == p.name() {
			return true
		}
	}
	return false
}
