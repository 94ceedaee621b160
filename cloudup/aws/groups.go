package aws

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

// describeGroups lists the cluster's autoscaling groups in one paginated
// call filtered by the cluster tag, leaving out groups being deleted.
func (p *Provider) describeGroups(ctx context.Context) ([]asgtypes.AutoScalingGroup, error) {
	var out []asgtypes.AutoScalingGroup
	pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(p.asg, &autoscaling.DescribeAutoScalingGroupsInput{
		Filters:    []asgtypes.Filter{{Name: aws.String("tag:" + awsmodel.TagCluster), Values: []string{p.name()}}},
		MaxRecords: aws.Int32(maxASGRecords)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "describe autoscaling groups of %s", p.name())
		}
		for _, g := range page.AutoScalingGroups {
			if err := p.checkOwner("autoscaling group "+aws.ToString(g.AutoScalingGroupName), asgTagMap(g.Tags)); err != nil {
				return nil, err
			}
			if aws.ToString(g.Status) == "" {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

// subnetIDs maps the cluster's subnet names to ids and back, in one call.
func (p *Provider) subnetIDs(ctx context.Context) (byName, byID map[string]string, err error) {
	n := &network{subnets: map[string]ec2types.Subnet{}}
	if err := p.describeSubnets(ctx, n, nil); err != nil {
		return nil, nil, err
	}
	if err := p.checkNetwork(n); err != nil {
		return nil, nil, err
	}
	byName, byID = map[string]string{}, map[string]string{}
	for name, s := range n.subnets {
		byName[name] = aws.ToString(s.SubnetId)
		byID[aws.ToString(s.SubnetId)] = name
	}
	return byName, byID, nil
}

// FindInstanceGroups returns the cluster's groups in three calls whatever
// their number: the groups, the subnets (for names) and the launch
// templates (for the version new machines get). ConfigVersion is the
// latest launch template version number: the group launches $Latest.
func (p *Provider) FindInstanceGroups(ctx context.Context, cluster string) ([]*cloud.InstanceGroup, error) {
	if err := p.checkCluster(cluster); err != nil {
		return nil, err
	}
	groups, err := p.describeGroups(ctx)
	if err != nil || len(groups) == 0 {
		return []*cloud.InstanceGroup{}, err
	}
	_, subnetNames, err := p.subnetIDs(ctx)
	if err != nil {
		return nil, err
	}
	versions, err := p.templateVersions(ctx)
	if err != nil {
		return nil, err
	}
	out := []*cloud.InstanceGroup{}
	for _, g := range groups {
		tags := asgTagMap(g.Tags)
		ig := &cloud.InstanceGroup{Cluster: cluster, Name: tags[awsmodel.TagInstanceGroup], Role: tags[awsmodel.TagRole],
			MinSize: int(aws.ToInt32(g.MinSize)), MaxSize: int(aws.ToInt32(g.MaxSize)), Desired: int(aws.ToInt32(g.DesiredCapacity))}
		if ig.Name == "" {
			continue
		}
		for _, id := range strings.Split(aws.ToString(g.VPCZoneIdentifier), ",") {
			name, ok := subnetNames[strings.TrimSpace(id)]
			if !ok {
				name = strings.TrimSpace(id)
			}
			ig.Subnets = append(ig.Subnets, name)
		}
		if lt := g.LaunchTemplate; lt != nil {
			ig.ConfigVersion = groupVersion(aws.ToString(lt.Version), versions[aws.ToString(lt.LaunchTemplateName)])
		}
		out = append(out, ig)
	}
	slices.SortFunc(out, func(a, b *cloud.InstanceGroup) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

type templateVersion struct{ latest, def int64 }

func (p *Provider) templateVersions(ctx context.Context) (map[string]templateVersion, error) {
	lts, err := p.describeTemplates(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]templateVersion{}
	for _, lt := range lts {
		out[aws.ToString(lt.LaunchTemplateName)] = templateVersion{aws.ToInt64(lt.LatestVersionNumber), aws.ToInt64(lt.DefaultVersionNumber)}
	}
	return out, nil
}

// groupVersion resolves the version a group launches ($Latest, $Default
// or a number) to a number.
func groupVersion(spec string, v templateVersion) string {
	switch spec {
	case "$Latest":
		return strconv.FormatInt(v.latest, 10)
	case "$Default", "":
		return strconv.FormatInt(v.def, 10)
	}
	return spec
}

// EnsureInstanceGroup creates or updates the group's autoscaling group:
// sizes, subnets, the launch template at $Latest, tags that propagate to
// its machines, and for the control plane the API target group. Desired 0
// keeps the current capacity (MinSize for a new group), within the bounds.
func (p *Provider) EnsureInstanceGroup(ctx context.Context, g *cloud.InstanceGroup) error {
	if err := p.checkCluster(g.Cluster); err != nil {
		return err
	}
	role, err := awsmodel.ParseRole(g.Role)
	if err != nil {
		return fmt.Errorf("autoscaling group of %s: %w", g.Name, err)
	}
	if g.MinSize < 0 || g.MaxSize < g.MinSize || len(g.Subnets) == 0 {
		return fmt.Errorf("autoscaling group of %s: need 0 <= minSize (%d) <= maxSize (%d) and a subnet", g.Name, g.MinSize, g.MaxSize)
	}
	m := p.model.NewAutoScalingGroup(g.Name, role, int32(g.MinSize), int32(g.MaxSize), g.Subnets)
	byName, _, err := p.subnetIDs(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, s := range m.Subnets {
		if byName[s] == "" {
			return wrap(errMissing, "subnet %s of autoscaling group %s", s, m.Name)
		}
		ids = append(ids, byName[s])
	}
	var tgs []string
	if m.TargetGroup {
		p.tgMu.Lock()
		defer p.tgMu.Unlock()
		tg, err := p.targetGroup(ctx)
		if err != nil {
			return err
		}
		if tg != nil {
			tgs = append(tgs, aws.ToString(tg.TargetGroupArn))
		}
	}
	out, err := p.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{m.Name}})
	if err != nil {
		return wrap(err, "describe autoscaling group %s", m.Name)
	}
	lt := &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(m.LaunchTemplate), Version: aws.String("$Latest")}
	var tags []asgtypes.Tag
	for _, k := range sortedKeys(m.Tags) {
		tags = append(tags, asgtypes.Tag{Key: aws.String(k), Value: aws.String(m.Tags[k]), PropagateAtLaunch: aws.Bool(true),
			ResourceId: aws.String(m.Name), ResourceType: aws.String("auto-scaling-group")})
	}
	if len(out.AutoScalingGroups) == 0 {
		desired := int32(min(max(g.Desired, g.MinSize), g.MaxSize))
		_, err := p.asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(m.Name),
			LaunchTemplate: lt, MinSize: aws.Int32(m.MinSize), MaxSize: aws.Int32(m.MaxSize), DesiredCapacity: aws.Int32(desired),
			VPCZoneIdentifier: aws.String(strings.Join(ids, ",")), Tags: tags, TargetGroupARNs: tgs,
			HealthCheckType: aws.String("EC2"), HealthCheckGracePeriod: aws.Int32(300)})
		return wrap(err, "create autoscaling group %s", m.Name)
	}
	return p.updateGroup(ctx, out.AutoScalingGroups[0], g, m, lt, ids, tags, tgs)
}

func (p *Provider) updateGroup(ctx context.Context, have asgtypes.AutoScalingGroup, g *cloud.InstanceGroup, m awsmodel.AutoScalingGroup,
	lt *asgtypes.LaunchTemplateSpecification, subnetIDs []string, tags []asgtypes.Tag, tgs []string) error {
	if aws.ToString(have.Status) != "" {
		return fmt.Errorf("autoscaling group %s is %s; wait for it to go", m.Name, aws.ToString(have.Status))
	}
	if owner := asgTagMap(have.Tags)[awsmodel.TagCluster]; owner != p.name() {
		return fmt.Errorf("autoscaling group %s exists but belongs to cluster %q", m.Name, owner)
	}
	// A group without the identity gets it below with the other tags.
	if err := p.checkOwner("autoscaling group "+m.Name, asgTagMap(have.Tags)); err != nil {
		return err
	}
	desired := aws.ToInt32(have.DesiredCapacity)
	if g.Desired > 0 {
		desired = int32(g.Desired)
	}
	desired = min(max(desired, m.MinSize), m.MaxSize)
	haveLT := have.LaunchTemplate
	if aws.ToInt32(have.MinSize) != m.MinSize || aws.ToInt32(have.MaxSize) != m.MaxSize || aws.ToInt32(have.DesiredCapacity) != desired ||
		aws.ToString(have.VPCZoneIdentifier) != strings.Join(subnetIDs, ",") || haveLT == nil ||
		aws.ToString(haveLT.LaunchTemplateName) != m.LaunchTemplate || aws.ToString(haveLT.Version) != "$Latest" {
		if _, err := p.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(m.Name),
			LaunchTemplate: lt, MinSize: aws.Int32(m.MinSize), MaxSize: aws.Int32(m.MaxSize), DesiredCapacity: aws.Int32(desired),
			VPCZoneIdentifier: aws.String(strings.Join(subnetIDs, ","))}); err != nil {
			return wrap(err, "update autoscaling group %s", m.Name)
		}
	}
	haveTags := map[string]asgtypes.TagDescription{}
	for _, t := range have.Tags {
		haveTags[aws.ToString(t.Key)] = t
	}
	var changed []asgtypes.Tag
	for _, t := range tags {
		h, ok := haveTags[aws.ToString(t.Key)]
		if !ok || aws.ToString(h.Value) != aws.ToString(t.Value) || !aws.ToBool(h.PropagateAtLaunch) {
			changed = append(changed, t)
		}
	}
	if len(changed) > 0 {
		if _, err := p.asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: changed}); err != nil {
			return wrap(err, "tag autoscaling group %s", m.Name)
		}
	}
	var attach []string
	for _, tg := range tgs {
		if !slices.Contains(have.TargetGroupARNs, tg) {
			attach = append(attach, tg)
		}
	}
	if len(attach) > 0 {
		_, err := p.asg.AttachLoadBalancerTargetGroups(ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{
			AutoScalingGroupName: aws.String(m.Name), TargetGroupARNs: attach})
		return wrap(err, "attach autoscaling group %s to the API target group", m.Name)
	}
	return nil
}

// DeleteInstanceGroup force-deletes the autoscaling group, which
// terminates its machines, and waits until AWS has removed it. A group
// another identity owns is refused.
func (p *Provider) DeleteInstanceGroup(ctx context.Context, cluster, name string) error {
	if err := p.checkCluster(cluster); err != nil {
		return err
	}
	asgName := awsmodel.GroupResourceName(cluster, name)
	have, err := p.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{asgName}})
	if err != nil {
		return wrap(err, "describe autoscaling group %s", asgName)
	}
	if len(have.AutoScalingGroups) == 0 {
		return nil
	}
	if err := p.checkOwner("autoscaling group "+asgName, asgTagMap(have.AutoScalingGroups[0].Tags)); err != nil {
		return err
	}
	_, err = p.asg.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(asgName),
		ForceDelete: aws.Bool(true)})
	if err != nil && !hasCode(err, "ScalingActivityInProgress") && !isGroupMissing(err) {
		return wrap(err, "delete autoscaling group %s", asgName)
	}
	deadline := time.Now().Add(p.opts.DeleteTimeout)
	for backoff := p.opts.DeleteBackoff; ; backoff = min(2*backoff, 30*time.Second) {
		out, err := p.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{asgName}})
		if err != nil {
			return wrap(err, "describe autoscaling group %s", asgName)
		}
		if len(out.AutoScalingGroups) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("autoscaling group %s is still being deleted after %s", asgName, p.opts.DeleteTimeout)
		}
		if err := sleep(ctx, backoff); err != nil {
			return fmt.Errorf("wait for autoscaling group %s to go: %w", asgName, err)
		}
	}
}

func isGroupMissing(err error) bool {
	return hasCode(err, "ValidationError") && strings.Contains(err.Error(), "not found")
}

// liveStates are the EC2 states of machines that still count.
var liveStates = []string{"pending", "running", "shutting-down", "stopping", "stopped"}

func (p *Provider) describeInstances(ctx context.Context, ids []string) ([]ec2types.Instance, error) {
	in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{p.clusterFilter(),
		{Name: aws.String("instance-state-name"), Values: liveStates}}}
	if len(ids) > 0 {
		in.InstanceIds = ids
	} else {
		in.MaxResults = aws.Int32(maxInstancePage)
	}
	var out []ec2types.Instance
	pages := ec2.NewDescribeInstancesPaginator(p.ec2, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "describe instances of %s", p.name())
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				if err := p.checkOwner("instance "+aws.ToString(i.InstanceId), ec2TagMap(i.Tags)); err != nil {
					return nil, err
				}
			}
			out = append(out, r.Instances...)
		}
	}
	return out, nil
}
