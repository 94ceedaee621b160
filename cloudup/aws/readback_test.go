package aws_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// What the lifecycle tests read back from the endpoint, each kind with the
// SDK as any AWS client would, and compare with the spec.

func (e *env) clusterTagFilter() []ec2types.Filter {
	return []ec2types.Filter{{Name: aws.String("tag:hull.dev/cluster"), Values: []string{e.name}}}
}

// subnetNames maps the cluster's subnet ids to their spec names.
func (e *env) subnetNames() map[string]string {
	e.t.Helper()
	out, err := ec2.NewFromConfig(e.cfg).DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{Filters: e.clusterTagFilter()})
	if err != nil {
		e.t.Fatal(err)
	}
	names := map[string]string{}
	for _, s := range out.Subnets {
		for _, t := range s.Tags {
			if aws.ToString(t.Key) == "hull.dev/resource" {
				names[aws.ToString(s.SubnetId)] = strings.TrimPrefix(aws.ToString(t.Value), "subnet/")
			}
		}
	}
	return names
}

// checkGroups: every instance group is an autoscaling group with the
// spec's sizes (desired at the minimum) and subnets, launching its
// template's $Latest, tagged for the cluster, the group and the role, every
// tag propagated to its machines; only control-plane groups are API
// targets.
func checkGroups(t *testing.T, e *env, targetGroupARN string) {
	t.Helper()
	out, err := autoscaling.NewFromConfig(e.cfg).DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]asgtypes.AutoScalingGroup{}
	for _, g := range out.AutoScalingGroups {
		byName[aws.ToString(g.AutoScalingGroupName)] = g
	}
	subnets := e.subnetNames()
	if len(byName) != len(e.igs) {
		t.Errorf("%d autoscaling groups for %d instance groups", len(byName), len(e.igs))
	}
	for _, ig := range e.igs {
		name := ig.Metadata.Name + "." + e.name
		g, ok := byName[name]
		if !ok {
			t.Errorf("no autoscaling group %s", name)
			continue
		}
		if aws.ToInt32(g.MinSize) != *ig.Spec.MinSize || aws.ToInt32(g.MaxSize) != *ig.Spec.MaxSize || aws.ToInt32(g.DesiredCapacity) != *ig.Spec.MinSize {
			t.Errorf("%s: min/max/desired %d/%d/%d, spec %d/%d", name, aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize), aws.ToInt32(g.DesiredCapacity),
				*ig.Spec.MinSize, *ig.Spec.MaxSize)
		}
		var got []string
		for _, id := range strings.Split(aws.ToString(g.VPCZoneIdentifier), ",") {
			got = append(got, subnets[id])
		}
		if d := cmp.Diff(ig.Spec.Subnets, got); d != "" {
			t.Errorf("%s: subnets (-spec +group):\n%s", name, d)
		}
		if lt := g.LaunchTemplate; lt == nil || aws.ToString(lt.LaunchTemplateName) != name || aws.ToString(lt.Version) != "$Latest" {
			t.Errorf("%s: launch template %+v", name, g.LaunchTemplate)
		}
		tags := map[string]string{}
		for _, tag := range g.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			if !aws.ToBool(tag.PropagateAtLaunch) {
				t.Errorf("%s: tag %s does not propagate to machines", name, aws.ToString(tag.Key))
			}
		}
		want := map[string]string{"Name": name, "hull.dev/cluster": e.name, "hull.dev/instance-group": ig.Metadata.Name,
			"hull.dev/role": string(ig.Spec.Role), "kubernetes.io/cluster/" + e.name: "owned",
			"hull.dev/cluster-id": e.opts.Owner.ID, "hull.dev/state-store": e.opts.Owner.Store}
		if d := cmp.Diff(want, tags); d != "" {
			t.Errorf("%s: tags (-want +got):\n%s", name, d)
		}
		var wantTGs []string
		if ig.IsControlPlane() {
			wantTGs = []string{targetGroupARN}
		}
		if !slices.Equal(g.TargetGroupARNs, wantTGs) {
			t.Errorf("%s: target groups %v, want %v", name, g.TargetGroupARNs, wantTGs)
		}
	}
}

// checkLoadBalancer: the API is a network load balancer of the spec's
// scheme behind the api-lb security group, one zone per subnet it wants,
// with one TCP listener on 443 forwarding to an instance target group on
// 443 that probes HTTPS /readyz. It returns the target group's ARN.
func checkLoadBalancer(t *testing.T, e *env, scheme elbtypes.LoadBalancerSchemeEnum, subnets []string) string {
	t.Helper()
	ctx := context.Background()
	c := elb.NewFromConfig(e.cfg)
	lb, gotSubnets := e.apiLoadBalancer()
	if lb.Type != elbtypes.LoadBalancerTypeEnumNetwork || lb.Scheme != scheme || aws.ToString(lb.LoadBalancerName) != "api-"+strings.ReplaceAll(e.name, ".", "-") {
		t.Errorf("load balancer %s: type %s scheme %s", aws.ToString(lb.LoadBalancerName), lb.Type, lb.Scheme)
	}
	if !slices.Equal(gotSubnets, subnets) {
		t.Errorf("load balancer subnets %v, want %v", gotSubnets, subnets)
	}
	sgs, err := ec2.NewFromConfig(e.cfg).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: lb.SecurityGroups})
	if err != nil || len(sgs.SecurityGroups) != 1 || aws.ToString(sgs.SecurityGroups[0].GroupName) != "api-lb."+e.name {
		t.Errorf("load balancer security groups %v: %+v %v", lb.SecurityGroups, sgs, err)
	}
	ls, err := c.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
	if err != nil || len(ls.Listeners) != 1 {
		t.Fatalf("listeners %+v, %v", ls, err)
	}
	l := ls.Listeners[0]
	if aws.ToInt32(l.Port) != 443 || l.Protocol != elbtypes.ProtocolEnumTcp || len(l.DefaultActions) != 1 || l.DefaultActions[0].Type != elbtypes.ActionTypeEnumForward {
		t.Errorf("listener %d %s %+v", aws.ToInt32(l.Port), l.Protocol, l.DefaultActions)
	}
	tgs, err := c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(l.DefaultActions[0].TargetGroupArn)}})
	if err != nil || len(tgs.TargetGroups) != 1 {
		t.Fatalf("target group %+v, %v", tgs, err)
	}
	tg := tgs.TargetGroups[0]
	if aws.ToInt32(tg.Port) != 443 || tg.Protocol != elbtypes.ProtocolEnumTcp || tg.TargetType != elbtypes.TargetTypeEnumInstance ||
		tg.HealthCheckProtocol != elbtypes.ProtocolEnumHttps || aws.ToString(tg.HealthCheckPath) != "/readyz" || aws.ToString(tg.VpcId) != aws.ToString(lb.VpcId) {
		t.Errorf("target group %+v", tg)
	}
	return aws.ToString(tg.TargetGroupArn)
}

// policyActions reads an inline policy back and lists "Sid: actions
// [condition]" per statement.
func policyActions(t *testing.T, encoded string) []string {
	t.Helper()
	doc, err := url.QueryUnescape(encoded)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Sid       string
			Effect    string
			Action    []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	var out []string
	for _, s := range p.Statement {
		line := s.Sid + " " + s.Effect + ": " + strings.Join(s.Action, ",")
		if c := s.Condition["StringEquals"]; c != nil {
			line += " if " + c["aws:ResourceTag/hull.dev/cluster"]
		}
		out = append(out, line)
	}
	return out
}

// checkIAM: each role in use has the EC2 trust policy, exactly one inline
// policy with the actions its machines need (the control plane may route
// pods and attach volumes of the cluster only), and an instance profile
// holding it.
func checkIAM(t *testing.T, e *env, roles map[v1alpha1.InstanceGroupRole][]string) {
	t.Helper()
	ctx := context.Background()
	c := iam.NewFromConfig(e.cfg)
	key := map[v1alpha1.InstanceGroupRole]string{v1alpha1.RoleControlPlane: "control-plane", v1alpha1.RoleNode: "nodes", v1alpha1.RoleBastion: "bastion"}
	for role, want := range roles {
		name := key[role] + "." + e.name
		r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil {
			t.Errorf("role %s: %v", name, err)
			continue
		}
		if trust, _ := url.QueryUnescape(aws.ToString(r.Role.AssumeRolePolicyDocument)); !strings.Contains(trust, `"Service":"ec2.amazonaws.com"`) ||
			!strings.Contains(trust, "sts:AssumeRole") {
			t.Errorf("%s trusts %s", name, trust)
		}
		pols, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
		if err != nil || !slices.Equal(pols.PolicyNames, []string{"hull-" + key[role]}) {
			t.Errorf("%s: inline policies %+v, %v", name, pols, err)
			continue
		}
		pol, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("hull-" + key[role])})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, policyActions(t, aws.ToString(pol.PolicyDocument))); d != "" {
			t.Errorf("%s: policy (-want +got):\n%s", name, d)
		}
		ip, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		if err != nil || len(ip.InstanceProfile.Roles) != 1 || aws.ToString(ip.InstanceProfile.Roles[0].RoleName) != name {
			t.Errorf("instance profile %s: %+v, %v", name, ip, err)
		}
	}
}

// controlPlanePolicy and nodePolicy are the roles' statements with a
// state store IAM cannot grant (mem://, as in these tests).
var (
	controlPlanePolicy = []string{
		"Describe Allow: autoscaling:DescribeAutoScalingGroups,ec2:DescribeInstances,ec2:DescribeRouteTables,ec2:DescribeVolumes," +
			"elasticloadbalancing:DescribeTargetGroups,elasticloadbalancing:DescribeTargetHealth",
		"PodRoutes Allow: ec2:CreateRoute,ec2:DeleteRoute,ec2:ModifyInstanceAttribute,ec2:ReplaceRoute if CLUSTER",
		"EtcdVolumes Allow: ec2:AttachVolume,ec2:DetachVolume if CLUSTER",
		"APILoadBalancer Allow: elasticloadbalancing:DeregisterTargets,elasticloadbalancing:RegisterTargets if CLUSTER",
	}
	nodePolicy    = []string{"Describe Allow: ec2:DescribeInstances,ec2:DescribeRegions"}
	bastionPolicy = []string{"Nothing Deny: *"}
)

func forCluster(lines []string, cluster string) []string {
	out := slices.Clone(lines)
	for i := range out {
		out[i] = strings.ReplaceAll(out[i], "CLUSTER", cluster)
	}
	return out
}

// checkRouting renders every route table of the cluster as "resource:
// default route target -> associated subnets", the target named by kind
// (igw, or nat/<zone> for the NAT gateway of that zone), and checks that
// each NAT gateway sits in its zone's utility subnet with an elastic IP.
func checkRouting(t *testing.T, e *env, want []string) {
	t.Helper()
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg)
	subnets := e.subnetNames()
	nats, err := c.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{Filter: e.clusterTagFilter()})
	if err != nil {
		t.Fatal(err)
	}
	natName := map[string]string{}
	for _, n := range nats.NatGateways {
		var res string
		for _, tag := range n.Tags {
			if aws.ToString(tag.Key) == "hull.dev/resource" {
				res = aws.ToString(tag.Value)
			}
		}
		natName[aws.ToString(n.NatGatewayId)] = res
		zone := strings.TrimPrefix(res, "nat/")
		if n.State != ec2types.NatGatewayStateAvailable || subnets[aws.ToString(n.SubnetId)] != "utility-"+zone ||
			len(n.NatGatewayAddresses) != 1 || aws.ToString(n.NatGatewayAddresses[0].AllocationId) == "" {
			t.Errorf("NAT gateway %s: state %s, subnet %s, addresses %+v", res, n.State, subnets[aws.ToString(n.SubnetId)], n.NatGatewayAddresses)
		}
	}
	rtbs, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: e.clusterTagFilter()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rt := range rtbs.RouteTables {
		var res, target string
		for _, tag := range rt.Tags {
			if aws.ToString(tag.Key) == "hull.dev/resource" {
				res = aws.ToString(tag.Value)
			}
		}
		for _, r := range rt.Routes {
			if aws.ToString(r.DestinationCidrBlock) != "0.0.0.0/0" {
				continue
			}
			switch {
			case strings.HasPrefix(aws.ToString(r.GatewayId), "igw-"):
				target = "igw"
			case r.NatGatewayId != nil:
				target = natName[aws.ToString(r.NatGatewayId)]
			}
			if r.State != ec2types.RouteStateActive {
				target += " (" + string(r.State) + ")"
			}
		}
		var assoc []string
		for _, a := range rt.Associations {
			assoc = append(assoc, subnets[aws.ToString(a.SubnetId)])
		}
		slices.Sort(assoc)
		got = append(got, res+": "+target+" -> "+strings.Join(assoc, ","))
	}
	slices.Sort(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("route tables (-want +got):\n%s", d)
	}
}
