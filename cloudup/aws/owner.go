package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

// Ownership. Every resource hull makes carries the cluster tag (its name)
// and the owner's identity (awsmodel.TagClusterID). The cluster tag finds
// a cluster's resources in one call per kind; the identity tells two
// clusters of one name apart, made from two state stores in one account,
// which kops cannot. Every describe checks the identity of what it finds,
// so plans, applies, deletes and rolling updates refuse another store's
// resources before they touch anything. Identity tags come back with the
// describes, so checking costs no call (load balancers and target groups
// excepted: their tags need DescribeTags, which the load balancer's check
// already made, and a plan asks for both in one call).
//
// A resource with the cluster tag and no identity was made by a hull that
// kept none: it is the caller's. Delete takes it as it is; an update
// claims the whole cluster at once (claim), prompted by the network.

// checkOwner refuses a resource of the cluster's name tagged with another
// identity. What another cluster name's tag marks is not checked here:
// describes filter on the cluster tag, and finds by name refuse it.
func (p *Provider) checkOwner(resource string, tags map[string]string) error {
	id := tags[awsmodel.TagClusterID]
	if p.owner.ID == "" || id == "" || id == p.owner.ID || tags[awsmodel.TagCluster] != p.name() {
		return nil
	}
	return &cloud.ForeignOwnerError{Resource: resource, Caller: p.owner,
		Owner: cloud.Owner{Cluster: p.name(), ID: id, Store: tags[awsmodel.TagStateStore]}}
}

// unclaimed reports a resource of the cluster that has no identity yet.
func (p *Provider) unclaimed(tags map[string]string) bool {
	return p.owner.ID != "" && tags[awsmodel.TagCluster] == p.name() && tags[awsmodel.TagClusterID] == ""
}

// ec2Resource is one EC2 resource of the cluster and its tags.
type ec2Resource struct {
	what, id string
	tags     map[string]string
}

// resources lists what is in n, in a fixed order.
func (n *network) resources() []ec2Resource {
	var out []ec2Resource
	add := func(kind, name string, id *string, tags []ec2types.Tag) {
		what := kind + " " + aws.ToString(id)
		if name != "" {
			what = kind + " " + name + " (" + aws.ToString(id) + ")"
		}
		out = append(out, ec2Resource{what: what, id: aws.ToString(id), tags: ec2TagMap(tags)})
	}
	if n.vpc != nil {
		add("vpc", "", n.vpc.VpcId, n.vpc.Tags)
	}
	for _, k := range sortedKeys(n.subnets) {
		add("subnet", k, n.subnets[k].SubnetId, n.subnets[k].Tags)
	}
	if n.igw != nil {
		add("internet gateway", "", n.igw.InternetGatewayId, n.igw.Tags)
	}
	for _, k := range sortedKeys(n.nats) {
		add("NAT gateway", k, n.nats[k].NatGatewayId, n.nats[k].Tags)
	}
	for _, k := range sortedKeys(n.eips) {
		add("elastic IP", k, n.eips[k].AllocationId, n.eips[k].Tags)
	}
	for _, k := range sortedKeys(n.rtbs) {
		add("route table", k, n.rtbs[k].RouteTableId, n.rtbs[k].Tags)
	}
	for _, k := range sortedKeys(n.sgs) {
		add("security group", aws.ToString(n.sgs[k].GroupName), n.sgs[k].GroupId, n.sgs[k].Tags)
	}
	return out
}

// checkNetwork refuses a network with anything another identity owns.
func (p *Provider) checkNetwork(n *network) error {
	for _, r := range n.resources() {
		if err := p.checkOwner(r.what, r.tags); err != nil {
			return err
		}
	}
	return nil
}

// networkUnclaimed lists the ids of n's resources that have no identity.
func (p *Provider) networkUnclaimed(n *network) []string {
	var ids []string
	for _, r := range n.resources() {
		if p.unclaimed(r.tags) {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// elbResource is the API load balancer or target group, for checkELB.
type elbResource struct {
	what string // "load balancer api-...", "target group api-..."
	arn  string
}

// checkELB refuses load balancers and target groups tagged for another
// cluster or identity, reading their tags in one DescribeTags call. It
// returns the tags by ARN.
func (p *Provider) checkELB(ctx context.Context, rs ...elbResource) (map[string]map[string]string, error) {
	byARN := map[string]map[string]string{}
	if len(rs) == 0 {
		return byARN, nil
	}
	var arns []string
	for _, r := range rs {
		arns = append(arns, r.arn)
	}
	out, err := p.elb.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: arns})
	if err != nil {
		return nil, wrap(err, "describe tags of load balancer %s", p.model.LoadBalancer.Name)
	}
	for _, d := range out.TagDescriptions {
		byARN[aws.ToString(d.ResourceArn)] = elbTagMap(d.Tags)
	}
	for _, r := range rs {
		tags := byARN[r.arn]
		if c, ok := tags[awsmodel.TagCluster]; ok && c != p.name() {
			return nil, fmt.Errorf("%s belongs to cluster %q, not %s", r.what, c, p.name())
		}
		if err := p.checkOwner(r.what, tags); err != nil {
			return nil, err
		}
	}
	return byARN, nil
}

func elbTagMap(tags []elbtypes.Tag) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// claim gives every resource of the cluster that has no identity the
// caller's (the cluster's tags, written again with it), so that a cluster
// of the same name from another store can no longer take them. EnsureNetwork
// calls it when n has such resources: every resource of a cluster made
// before identities lacks one, so that is the first update after them. The
// network is tagged last, so a claim that fails part-way runs again.
// Resources another identity owns stop it, like every describe.
func (p *Provider) claim(ctx context.Context, n *network) error {
	tags := p.model.Tags
	groups, err := p.describeGroups(ctx)
	if err != nil {
		return err
	}
	var asgTags []asgtypes.Tag
	for _, g := range groups {
		if !p.unclaimed(asgTagMap(g.Tags)) {
			continue
		}
		for _, k := range sortedKeys(tags) {
			asgTags = append(asgTags, asgtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k]), PropagateAtLaunch: aws.Bool(true),
				ResourceId: g.AutoScalingGroupName, ResourceType: aws.String("auto-scaling-group")})
		}
	}
	if len(asgTags) > 0 {
		if _, err := p.asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: asgTags}); err != nil {
			return wrap(err, "claim autoscaling groups of %s", p.name())
		}
	}
	if err := p.claimELB(ctx); err != nil {
		return err
	}
	if err := p.claimIAM(ctx); err != nil {
		return err
	}
	var ids []string
	lts, err := p.describeTemplates(ctx)
	if err != nil {
		return err
	}
	for _, lt := range lts {
		if p.unclaimed(ec2TagMap(lt.Tags)) {
			ids = append(ids, aws.ToString(lt.LaunchTemplateId))
		}
	}
	insts, err := p.describeInstances(ctx, nil)
	if err != nil {
		return err
	}
	for _, i := range insts {
		if p.unclaimed(ec2TagMap(i.Tags)) {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	keys, err := p.clusterKeyPairs(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if p.unclaimed(ec2TagMap(k.Tags)) {
			ids = append(ids, aws.ToString(k.KeyPairId))
		}
	}
	for chunk := range slices.Chunk(append(ids, p.networkUnclaimed(n)...), maxTagResources) {
		if _, err := p.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: chunk, Tags: ec2TagList(tags)}); err != nil {
			return wrap(err, "claim %d resources of %s (tag them with cluster id %s)", len(chunk), p.name(), p.owner.ID)
		}
	}
	return nil
}

// maxTagResources is how many resources one CreateTags call tags; AWS
// takes up to 1000 and recommends smaller batches.
const maxTagResources = 200

// claimELB claims the API load balancer and target group.
func (p *Provider) claimELB(ctx context.Context) error {
	var rs []elbResource
	lb, err := p.describeLoadBalancer(ctx)
	if err != nil {
		return err
	}
	if lb != nil {
		rs = append(rs, elbResource{"load balancer " + p.model.LoadBalancer.Name, aws.ToString(lb.LoadBalancerArn)})
	}
	tg, err := p.describeTargetGroup(ctx)
	if err != nil {
		return err
	}
	if tg != nil {
		rs = append(rs, elbResource{"target group " + p.model.LoadBalancer.Name, aws.ToString(tg.TargetGroupArn)})
	}
	tags, err := p.checkELB(ctx, rs...)
	if err != nil {
		return err
	}
	var arns []string
	for _, r := range rs {
		if p.unclaimed(tags[r.arn]) {
			arns = append(arns, r.arn)
		}
	}
	if len(arns) == 0 {
		return nil
	}
	_, err = p.elb.AddTags(ctx, &elb.AddTagsInput{ResourceArns: arns, Tags: elbTags(p.model.Tags)})
	return wrap(err, "claim load balancer %s", p.model.LoadBalancer.Name)
}

// claimIAM claims the IAM roles and instance profiles of every role.
func (p *Provider) claimIAM(ctx context.Context) error {
	for _, role := range allRoles {
		name := awsmodel.IAMName(p.name(), role)
		r, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		switch {
		case hasCode(err, "NoSuchEntity"):
		case err != nil:
			return wrap(err, "get IAM role %s", name)
		default:
			tags := iamTagMap(r.Role.Tags)
			if err := p.checkOwner("IAM role "+name, tags); err != nil {
				return err
			}
			if p.unclaimed(tags) {
				if _, err := p.iam.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String(name), Tags: iamTags(p.model.Tags)}); err != nil {
					return wrap(err, "claim IAM role %s", name)
				}
			}
		}
		ip, err := p.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		switch {
		case hasCode(err, "NoSuchEntity"):
		case err != nil:
			return wrap(err, "get instance profile %s", name)
		case p.ownsProfile(ip.InstanceProfile.Tags, ip.InstanceProfile.Roles):
			tags := iamTagMap(ip.InstanceProfile.Tags)
			if err := p.checkOwner("instance profile "+name, tags); err != nil {
				return err
			}
			if p.owner.ID != "" && tags[awsmodel.TagClusterID] == "" {
				if _, err := p.iam.TagInstanceProfile(ctx, &iam.TagInstanceProfileInput{InstanceProfileName: aws.String(name),
					Tags: iamTags(p.model.Tags)}); err != nil {
					return wrap(err, "claim instance profile %s", name)
				}
			}
		}
	}
	return nil
}
