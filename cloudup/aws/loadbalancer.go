package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// apiLB is the one load balancer cloudup asks for.
const apiLB = "api"

func (p *Provider) checkLB(cluster, name string) error {
	if err := p.checkCluster(cluster); err != nil {
		return err
	}
	if name != apiLB {
		return fmt.Errorf("aws provider manages only the %q load balancer, not %q", apiLB, name)
	}
	return nil
}

// loadBalancer describes the API NLB by name; nil when absent. One tagged
// for another cluster or identity is an error: NLB names are per account
// and region.
func (p *Provider) loadBalancer(ctx context.Context) (*elbtypes.LoadBalancer, error) {
	lb, err := p.describeLoadBalancer(ctx)
	if err != nil || lb == nil {
		return nil, err
	}
	_, err = p.checkELB(ctx, p.lbResource(lb))
	return lb, err
}

// targetGroup describes the API target group by name, as loadBalancer.
func (p *Provider) targetGroup(ctx context.Context) (*elbtypes.TargetGroup, error) {
	tg, err := p.describeTargetGroup(ctx)
	if err != nil || tg == nil {
		return nil, err
	}
	_, err = p.checkELB(ctx, p.tgResource(tg))
	return tg, err
}

func (p *Provider) lbResource(lb *elbtypes.LoadBalancer) elbResource {
	return elbResource{"load balancer " + p.model.LoadBalancer.Name, aws.ToString(lb.LoadBalancerArn)}
}

func (p *Provider) tgResource(tg *elbtypes.TargetGroup) elbResource {
	return elbResource{"target group " + p.model.LoadBalancer.Name, aws.ToString(tg.TargetGroupArn)}
}

// describeLoadBalancer is the API NLB, owner unchecked.
func (p *Provider) describeLoadBalancer(ctx context.Context) (*elbtypes.LoadBalancer, error) {
	name := p.model.LoadBalancer.Name
	out, err := p.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{name}})
	if hasCode(err, "LoadBalancerNotFound") {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "describe load balancer %s", name)
	}
	if len(out.LoadBalancers) == 0 {
		return nil, nil
	}
	return &out.LoadBalancers[0], nil
}

// describeTargetGroup is the API target group, owner unchecked.
func (p *Provider) describeTargetGroup(ctx context.Context) (*elbtypes.TargetGroup, error) {
	name := p.model.LoadBalancer.Name
	out, err := p.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{name}})
	if hasCode(err, "TargetGroupNotFound") {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "describe target group %s", name)
	}
	if len(out.TargetGroups) == 0 {
		return nil, nil
	}
	return &out.TargetGroups[0], nil
}

func (p *Provider) listeners(ctx context.Context, lbArn *string) ([]elbtypes.Listener, error) {
	out, err := p.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: lbArn})
	if err != nil {
		return nil, wrap(err, "describe listeners of load balancer %s", p.model.LoadBalancer.Name)
	}
	return out.Listeners, nil
}

// FindLoadBalancer reports the API NLB: its scheme, listener port, target
// group port and health check, and the groups attached to the target group.
func (p *Provider) FindLoadBalancer(ctx context.Context, cluster, name string) (*cloud.LoadBalancer, error) {
	if err := p.checkLB(cluster, name); err != nil {
		return nil, err
	}
	lb, err := p.describeLoadBalancer(ctx)
	if err != nil || lb == nil {
		return nil, err
	}
	// The target group's owner is checked with the load balancer's, in
	// one call.
	tg, err := p.describeTargetGroup(ctx)
	if err != nil {
		return nil, err
	}
	rs := []elbResource{p.lbResource(lb)}
	if tg != nil {
		rs = append(rs, p.tgResource(tg))
	}
	if _, err := p.checkELB(ctx, rs...); err != nil {
		return nil, err
	}
	host := p.apiHost(aws.ToString(lb.DNSName))
	out := &cloud.LoadBalancer{Cluster: cluster, Name: name, Type: string(v1alpha1.LoadBalancerPublic),
		Address: host + ":443", HostAddress: host + ":443"}
	if lb.Scheme == elbtypes.LoadBalancerSchemeEnumInternal {
		out.Type = string(v1alpha1.LoadBalancerInternal)
	}
	ls, err := p.listeners(ctx, lb.LoadBalancerArn)
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		if len(l.DefaultActions) > 0 && tg != nil && aws.ToString(l.DefaultActions[0].TargetGroupArn) == aws.ToString(tg.TargetGroupArn) {
			out.Port = int(aws.ToInt32(l.Port))
			out.Address = fmt.Sprintf("%s:%d", host, out.Port)
			out.HostAddress = out.Address
		}
	}
	if tg == nil {
		return out, nil
	}
	out.BackendPort = int(aws.ToInt32(tg.Port))
	out.HealthCheck = cloud.HealthCheck{Protocol: string(tg.HealthCheckProtocol), Path: aws.ToString(tg.HealthCheckPath)}
	groups, err := p.describeGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if slices.Contains(g.TargetGroupARNs, aws.ToString(tg.TargetGroupArn)) {
			out.BackendGroups = append(out.BackendGroups, asgTagMap(g.Tags)[awsmodel.TagInstanceGroup])
		}
	}
	slices.Sort(out.BackendGroups)
	return out, nil
}

func elbTags(tags map[string]string) []elbtypes.Tag {
	var out []elbtypes.Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, elbtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

// EnsureLoadBalancer makes the API NLB, its TCP target group with the
// health check, the listener, and attaches the backend groups (detaching
// any other). The API name's record is a task of its own (EnsureDNSRecord).
func (p *Provider) EnsureLoadBalancer(ctx context.Context, want *cloud.LoadBalancer) (*cloud.LoadBalancer, error) {
	if err := p.checkLB(want.Cluster, want.Name); err != nil {
		return nil, err
	}
	m := p.model.LoadBalancer
	scheme := elbtypes.LoadBalancerSchemeEnumInternetFacing
	if want.Type == string(v1alpha1.LoadBalancerInternal) {
		scheme = elbtypes.LoadBalancerSchemeEnumInternal
	}
	lb, err := p.loadBalancer(ctx)
	if err != nil {
		return nil, err
	}
	if lb == nil {
		// A target group left by another identity's cluster stops the
		// create before it starts (ensureTargetGroup checks it again).
		if _, err := p.targetGroup(ctx); err != nil {
			return nil, err
		}
	}
	n := &network{subnets: map[string]ec2types.Subnet{}}
	if err := p.describeSubnets(ctx, n, nil); err != nil {
		return nil, err
	}
	var subnets []string
	var vpcID *string
	for _, s := range m.Subnets {
		sn, ok := n.subnets[s]
		if !ok {
			return nil, wrap(errMissing, "subnet %s of load balancer %s", s, m.Name)
		}
		subnets, vpcID = append(subnets, aws.ToString(sn.SubnetId)), sn.VpcId
	}
	sg, err := p.securityGroupID(ctx, m.SecurityGroup)
	if err != nil {
		return nil, err
	}
	if lb == nil {
		out, err := p.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String(m.Name), Type: elbtypes.LoadBalancerTypeEnumNetwork,
			Scheme: scheme, Subnets: subnets, SecurityGroups: []string{sg}, Tags: elbTags(m.Tags)})
		if err != nil {
			return nil, wrap(err, "create load balancer %s", m.Name)
		}
		lb = &out.LoadBalancers[0]
	} else if lb.Scheme != scheme {
		return nil, fmt.Errorf("load balancer %s is %s, the spec wants %s; delete it to change", m.Name, lb.Scheme, scheme)
	} else if !slices.Equal(lb.SecurityGroups, []string{sg}) {
		if _, err := p.elb.SetSecurityGroups(ctx, &elb.SetSecurityGroupsInput{LoadBalancerArn: lb.LoadBalancerArn, SecurityGroups: []string{sg}}); err != nil {
			return nil, wrap(err, "set security group of load balancer %s", m.Name)
		}
	}
	p.tgMu.Lock()
	tg, err := p.ensureTargetGroup(ctx, want, vpcID)
	if err == nil {
		err = p.attachBackends(ctx, want, tg)
	}
	p.tgMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := p.ensureListener(ctx, want, lb, tg); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("%s:%d", p.apiHost(aws.ToString(lb.DNSName)), want.Port)
	out := *want
	out.Address, out.HostAddress = addr, addr
	return &out, nil
}

func (p *Provider) ensureTargetGroup(ctx context.Context, want *cloud.LoadBalancer, vpcID *string) (*elbtypes.TargetGroup, error) {
	m := p.model.LoadBalancer
	hcProto := elbtypes.ProtocolEnum(strings.ToUpper(want.HealthCheck.Protocol))
	tg, err := p.targetGroup(ctx)
	if err != nil {
		return nil, err
	}
	if tg == nil {
		out, err := p.elb.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String(m.Name), Protocol: elbtypes.ProtocolEnumTcp,
			Port: aws.Int32(int32(want.BackendPort)), VpcId: vpcID, TargetType: elbtypes.TargetTypeEnumInstance,
			HealthCheckProtocol: hcProto, HealthCheckPath: optString(want.HealthCheck.Path), Tags: elbTags(m.Tags)})
		if err != nil {
			return nil, wrap(err, "create target group %s", m.Name)
		}
		return &out.TargetGroups[0], nil
	}
	if int(aws.ToInt32(tg.Port)) != want.BackendPort {
		return nil, fmt.Errorf("target group %s forwards to port %d, the spec wants %d; delete the load balancer to change",
			m.Name, aws.ToInt32(tg.Port), want.BackendPort)
	}
	if tg.HealthCheckProtocol != hcProto || aws.ToString(tg.HealthCheckPath) != want.HealthCheck.Path {
		if _, err := p.elb.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: tg.TargetGroupArn,
			HealthCheckProtocol: hcProto, HealthCheckPath: optString(want.HealthCheck.Path)}); err != nil {
			return nil, wrap(err, "modify health check of target group %s", m.Name)
		}
	}
	return tg, nil
}

func (p *Provider) ensureListener(ctx context.Context, want *cloud.LoadBalancer, lb *elbtypes.LoadBalancer, tg *elbtypes.TargetGroup) error {
	ls, err := p.listeners(ctx, lb.LoadBalancerArn)
	if err != nil {
		return err
	}
	forward := []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tg.TargetGroupArn}}
	found := false
	for _, l := range ls {
		switch {
		case int(aws.ToInt32(l.Port)) != want.Port:
			if _, err := p.elb.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: l.ListenerArn}); err != nil {
				return wrap(err, "delete listener on port %d of %s", aws.ToInt32(l.Port), p.model.LoadBalancer.Name)
			}
		case len(l.DefaultActions) != 1 || aws.ToString(l.DefaultActions[0].TargetGroupArn) != aws.ToString(tg.TargetGroupArn):
			if _, err := p.elb.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: l.ListenerArn, DefaultActions: forward}); err != nil {
				return wrap(err, "point listener %d of %s at its target group", want.Port, p.model.LoadBalancer.Name)
			}
			found = true
		default:
			found = true
		}
	}
	if found {
		return nil
	}
	_, err = p.elb.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Port: aws.Int32(int32(want.Port)),
		Protocol: elbtypes.ProtocolEnumTcp, DefaultActions: forward, Tags: elbTags(p.model.LoadBalancer.Tags)})
	return wrap(err, "create listener %d of %s", want.Port, p.model.LoadBalancer.Name)
}

func (p *Provider) attachBackends(ctx context.Context, want *cloud.LoadBalancer, tg *elbtypes.TargetGroup) error {
	groups, err := p.describeGroups(ctx)
	if err != nil {
		return err
	}
	arn := aws.ToString(tg.TargetGroupArn)
	for _, g := range groups {
		backend := slices.Contains(want.BackendGroups, asgTagMap(g.Tags)[awsmodel.TagInstanceGroup])
		attached := slices.Contains(g.TargetGroupARNs, arn)
		switch {
		case backend && !attached:
			if _, err := p.asg.AttachLoadBalancerTargetGroups(ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{
				AutoScalingGroupName: g.AutoScalingGroupName, TargetGroupARNs: []string{arn}}); err != nil {
				return wrap(err, "attach group %s to target group %s", aws.ToString(g.AutoScalingGroupName), p.model.LoadBalancer.Name)
			}
		case !backend && attached:
			if _, err := p.asg.DetachLoadBalancerTargetGroups(ctx, &autoscaling.DetachLoadBalancerTargetGroupsInput{
				AutoScalingGroupName: g.AutoScalingGroupName, TargetGroupARNs: []string{arn}}); err != nil {
				return wrap(err, "detach group %s from target group %s", aws.ToString(g.AutoScalingGroupName), p.model.LoadBalancer.Name)
			}
		}
	}
	return nil
}

// DeleteLoadBalancer removes the API DNS record, the NLB (and so its
// listeners), then the target group once no group uses it. It deletes
// nothing when another identity owns either.
func (p *Provider) DeleteLoadBalancer(ctx context.Context, cluster, name string) error {
	if err := p.checkLB(cluster, name); err != nil {
		return err
	}
	lb, err := p.loadBalancer(ctx)
	if err != nil {
		return err
	}
	if _, err := p.targetGroup(ctx); err != nil {
		return err
	}
	d := p.newDeleter()
	if p.cluster.Spec.DNSZone != "" {
		if err := p.DeleteDNSRecord(ctx, cluster, p.model.LoadBalancer.DNSName); err != nil {
			d.fail("API DNS record", err)
		}
	}
	if lb != nil {
		d.do(ctx, "load balancer "+p.model.LoadBalancer.Name, func() error {
			_, err := p.elb.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn})
			return err
		})
	}
	if tg, err := p.targetGroup(ctx); err != nil {
		d.fail("target group", err)
	} else if tg != nil {
		if err := p.attachBackends(ctx, &cloud.LoadBalancer{}, tg); err != nil {
			d.fail("target group attachments", err)
		}
	}
	p.deleteTargetGroup(ctx, d)
	return d.err()
}
