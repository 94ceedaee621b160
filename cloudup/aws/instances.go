package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Tags EC2 and Auto Scaling put on the machines they launch.
const (
	tagTemplateVersion = "aws:ec2launchtemplate:version"
	tagASGName         = "aws:autoscaling:groupName"
)

var lifecycleStates = map[asgtypes.LifecycleState]string{
	asgtypes.LifecycleStatePending: cloud.StatePending, asgtypes.LifecycleStatePendingWait: cloud.StatePending,
	asgtypes.LifecycleStatePendingProceed: cloud.StatePending, asgtypes.LifecycleStateInService: cloud.StateRunning,
	asgtypes.LifecycleStateTerminating: cloud.StateTerminating, asgtypes.LifecycleStateTerminatingWait: cloud.StateTerminating,
	asgtypes.LifecycleStateTerminatingProceed: cloud.StateTerminating, asgtypes.LifecycleStateTerminated: cloud.StateTerminated,
	asgtypes.LifecycleStateDetaching: cloud.StateRunning, asgtypes.LifecycleStateDetached: cloud.StateRunning,
}

var ec2States = map[ec2types.InstanceStateName]string{
	ec2types.InstanceStateNamePending: cloud.StatePending, ec2types.InstanceStateNameRunning: cloud.StateRunning,
	ec2types.InstanceStateNameShuttingDown: cloud.StateTerminating, ec2types.InstanceStateNameTerminated: cloud.StateTerminated,
	ec2types.InstanceStateNameStopping: cloud.StateTerminating, ec2types.InstanceStateNameStopped: cloud.StateTerminated,
}

// ListInstances returns the cluster's machines that are not terminated,
// detached ones included, in two calls (machines by the cluster tag, groups
// for membership). ConfigVersion is the launch template version a machine
// was launched with, as the aws:ec2launchtemplate:version tag EC2 puts on
// it at launch says ("Launch an instance from a launch template", EC2 user
// guide); the group's own report of a member's template is the fallback
// only, since implementations differ in it: moto reports every member at
// the group's current version, which would hide machines a rolling update
// must replace.
func (p *Provider) ListInstances(ctx context.Context, cluster string) ([]*cloud.Instance, error) {
	if err := p.checkCluster(cluster); err != nil {
		return nil, err
	}
	insts, err := p.describeInstances(ctx, nil)
	if err != nil {
		return nil, err
	}
	groups, err := p.describeGroups(ctx)
	if err != nil {
		return nil, err
	}
	members := map[string]asgtypes.Instance{}
	for _, g := range groups {
		for _, i := range g.Instances {
			members[aws.ToString(i.InstanceId)] = i
		}
	}
	out := []*cloud.Instance{}
	for _, i := range insts {
		id := aws.ToString(i.InstanceId)
		tags := ec2TagMap(i.Tags)
		inst := &cloud.Instance{ID: id, Cluster: cluster, Group: tags[awsmodel.TagInstanceGroup], Role: tags[awsmodel.TagRole],
			Address: aws.ToString(i.PrivateIpAddress), LaunchTime: aws.ToTime(i.LaunchTime), ConfigVersion: tags[tagTemplateVersion]}
		if i.State != nil {
			inst.State = ec2States[i.State.Name]
		}
		if m, ok := members[id]; ok {
			if s, ok := lifecycleStates[m.LifecycleState]; ok && inst.State != cloud.StateTerminating {
				inst.State = s
			}
			if m.LaunchTemplate != nil && inst.ConfigVersion == "" {
				inst.ConfigVersion = aws.ToString(m.LaunchTemplate.Version)
			}
		} else {
			inst.Detached = true
		}
		if inst.State == cloud.StateTerminated {
			continue
		}
		out = append(out, inst)
	}
	slices.SortFunc(out, func(a, b *cloud.Instance) int {
		return strings.Compare(a.Group+"/"+a.ID, b.Group+"/"+b.ID)
	})
	return out, nil
}

// instance finds one of the cluster's machines, refusing any other.
func (p *Provider) instance(ctx context.Context, id string) (ec2types.Instance, error) {
	insts, err := p.describeInstances(ctx, []string{id})
	if isNotFound(err) || (err == nil && len(insts) == 0) {
		return ec2types.Instance{}, fmt.Errorf("instance %s of cluster %s: %w", id, p.name(), cloud.ErrNotFound)
	}
	if err != nil {
		return ec2types.Instance{}, err
	}
	return insts[0], nil
}

// TerminateInstance stops a machine. A control-plane machine is first
// deregistered from the API target group so clients stop reaching it. In
// its group, TerminateInstanceInAutoScalingGroup keeps the desired capacity
// unless decrement, so a replacement launches; a detached machine is
// terminated directly.
func (p *Provider) TerminateInstance(ctx context.Context, id string, decrement bool) error {
	inst, err := p.instance(ctx, id)
	if err != nil {
		return err
	}
	tags := ec2TagMap(inst.Tags)
	if tags[awsmodel.TagRole] == string(v1alpha1.RoleControlPlane) {
		if err := p.deregister(ctx, id); err != nil {
			return err
		}
	}
	out, err := p.asg.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return wrap(err, "describe autoscaling membership of instance %s", id)
	}
	if len(out.AutoScalingInstances) == 0 {
		_, err := p.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		return wrap(err, "terminate detached instance %s", id)
	}
	_, err = p.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(decrement)})
	return wrap(err, "terminate instance %s of group %s", id, aws.ToString(out.AutoScalingInstances[0].AutoScalingGroupName))
}

// deregister takes a machine out of the API target group, if there is one.
// The machine's owner was checked; the group it is in is its cluster's.
func (p *Provider) deregister(ctx context.Context, id string) error {
	tg, err := p.describeTargetGroup(ctx)
	if err != nil || tg == nil {
		return err
	}
	_, err = p.elb.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []elbtypes.TargetDescription{{Id: aws.String(id)}}})
	if hasCode(err, "InvalidTarget") {
		return nil
	}
	return wrap(err, "deregister instance %s from target group %s", id, aws.ToString(tg.TargetGroupName))
}

// DetachInstance takes a machine out of its group without decrementing
// the desired capacity, so the group launches its replacement while the
// machine keeps running (surge). Auto Scaling deregisters it from the
// group's target groups.
func (p *Provider) DetachInstance(ctx context.Context, id string) error {
	inst, err := p.instance(ctx, id)
	if err != nil {
		return err
	}
	group := ec2TagMap(inst.Tags)[tagASGName]
	if group == "" {
		return fmt.Errorf("instance %s is in no autoscaling group", id)
	}
	_, err = p.asg.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String(group),
		InstanceIds: []string{id}, ShouldDecrementDesiredCapacity: aws.Bool(false)})
	return wrap(err, "detach instance %s from group %s", id, group)
}
