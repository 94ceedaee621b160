package aws_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// TestCreateUpdateDelete is `hull create cluster --cloud aws --zones
// us-east-1a,us-east-1b,us-east-1c --control-plane-count 3`, `update --yes`
// twice and `delete --yes` against the emulated endpoint.
func TestCreateUpdateDelete(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "demo.example.com", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		ControlPlaneCount: ptr.To(3)}, awstest.Options{})
	out := e.update(true)
	if !strings.Contains(out, "cloud changes applied") {
		t.Fatalf("update output:\n%s", out)
	}
	checkCreated(t, e)

	e.srv.ResetRequests()
	if out := e.update(true); !strings.Contains(out, "No changes need to be applied") {
		t.Errorf("second update changed something:\n%s", out)
	}
	if m := mutating(e.srv.Requests()); len(m) != 0 {
		t.Errorf("second update made %d mutating calls: %v", len(m), m)
	}
	reads, _, byAction := calls(e.srv.Requests())
	if reads != builtClusterReads {
		t.Errorf("a no-change update made %d reads, want the budget of any built cluster, %d: %v", reads, builtClusterReads, byAction)
	}
	t.Logf("FIGURE aws calls of a no-change update (3 control planes, 3 node groups): %d reads %v", reads, byAction)

	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) != 0 {
		t.Errorf("delete left resources behind:\n%s", strings.Join(left, "\n"))
	}
}

func checkCreated(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg)
	tagFilter := []ec2types.Filter{{Name: aws.String("tag:hull.dev/cluster"), Values: []string{e.name}}}
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: tagFilter})
	if err != nil || len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "172.20.0.0/16" {
		t.Fatalf("vpc: %+v %v", vpcs, err)
	}
	subnets, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: tagFilter})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range subnets.Subnets {
		tags := map[string]string{}
		for _, t := range s.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		got[tags["Name"]] = aws.ToString(s.AvailabilityZone) + " " + aws.ToString(s.CidrBlock) + " " + tags["hull.dev/subnet-type"] +
			" public=" + boolString(aws.ToBool(s.MapPublicIpOnLaunch))
	}
	want := map[string]string{
		"us-east-1a.demo.example.com": "us-east-1a 172.20.32.0/19 Public public=true",
		"us-east-1b.demo.example.com": "us-east-1b 172.20.64.0/19 Public public=true",
		"us-east-1c.demo.example.com": "us-east-1c 172.20.96.0/19 Public public=true",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("subnets (-want +got):\n%s", d)
	}
	checkSecurityGroups(t, e, c)
	checkUserData(t, e, c)
	tg := checkLoadBalancer(t, e, elbtypes.LoadBalancerSchemeEnumInternetFacing, []string{"us-east-1a", "us-east-1b", "us-east-1c"})
	checkGroups(t, e, tg)
	checkIAM(t, e, map[v1alpha1.InstanceGroupRole][]string{
		v1alpha1.RoleControlPlane: forCluster(controlPlanePolicy, e.name), v1alpha1.RoleNode: nodePolicy})
	checkRouting(t, e, []string{"rtb/public: igw -> us-east-1a,us-east-1b,us-east-1c"})
}

// TestCreateUpdateDeletePrivate is `hull create cluster --topology private
// --bastion` over two zones: NAT gateways per zone in the utility subnets,
// private route tables through them, the bastion's role and group, read
// back from the endpoint; a second update changes nothing; delete leaves
// nothing.
func TestCreateUpdateDeletePrivate(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "private.example.com", Zones: []string{"us-east-1a", "us-east-1b"},
		Topology: v1alpha1.TopologyPrivate, Bastion: true, NodeCount: ptr.To(3)}, awstest.Options{})
	e.update(true)
	checkRouting(t, e, []string{
		"rtb/private-us-east-1a: nat/us-east-1a -> us-east-1a",
		"rtb/private-us-east-1b: nat/us-east-1b -> us-east-1b",
		"rtb/public: igw -> utility-us-east-1a,utility-us-east-1b",
	})
	tg := checkLoadBalancer(t, e, elbtypes.LoadBalancerSchemeEnumInternetFacing, []string{"utility-us-east-1a", "utility-us-east-1b"})
	checkGroups(t, e, tg)
	checkIAM(t, e, map[v1alpha1.InstanceGroupRole][]string{v1alpha1.RoleControlPlane: forCluster(controlPlanePolicy, e.name),
		v1alpha1.RoleNode: nodePolicy, v1alpha1.RoleBastion: bastionPolicy})
	e.updateIsClean("the second update")
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) != 0 {
		t.Errorf("delete left resources behind:\n%s", strings.Join(left, "\n"))
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// checkSecurityGroups renders every rule as "group <- source proto ports".
func checkSecurityGroups(t *testing.T, e *env, c *ec2.Client) {
	t.Helper()
	out, err := c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:hull.dev/cluster"), Values: []string{e.name}}}})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, g := range out.SecurityGroups {
		names[aws.ToString(g.GroupId)] = strings.TrimSuffix(aws.ToString(g.GroupName), "."+e.name)
	}
	var got []string
	for _, g := range out.SecurityGroups {
		for _, p := range g.IpPermissions {
			ports := "all"
			if aws.ToString(p.IpProtocol) != "-1" {
				ports = aws.ToString(p.IpProtocol) + "/" + itoa(aws.ToInt32(p.FromPort)) + "-" + itoa(aws.ToInt32(p.ToPort))
			}
			for _, r := range p.IpRanges {
				got = append(got, names[aws.ToString(g.GroupId)]+" <- "+aws.ToString(r.CidrIp)+" "+ports)
			}
			for _, r := range p.UserIdGroupPairs {
				got = append(got, names[aws.ToString(g.GroupId)]+" <- "+names[aws.ToString(r.GroupId)]+" "+ports)
			}
		}
	}
	want := []string{
		"api-lb <- 0.0.0.0/0 tcp/443-443",
		"api-lb <- control-plane tcp/443-443",
		"api-lb <- nodes tcp/443-443",
		"control-plane <- 0.0.0.0/0 tcp/22-22",
		"control-plane <- api-lb tcp/443-443",
		"control-plane <- control-plane all",
		"control-plane <- nodes icmp/-1--1",
		"control-plane <- nodes tcp/1-2378",
		"control-plane <- nodes tcp/2400-65535",
		"control-plane <- nodes udp/1-65535",
		"nodes <- 0.0.0.0/0 tcp/22-22",
		"nodes <- control-plane all",
		"nodes <- nodes all",
	}
	sortStrings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("security group rules (-want +got):\n%s", d)
	}
}

// checkUserData compares every launch template with what the model says
// the group boots with, and checks IMDSv2 and the instance profile.
func checkUserData(t *testing.T, e *env, c *ec2.Client) {
	t.Helper()
	m := e.model()
	out, err := c.DescribeLaunchTemplateVersions(context.Background(), &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.LaunchTemplateVersions) != len(e.igs) {
		t.Fatalf("%d launch templates, want %d", len(out.LaunchTemplateVersions), len(e.igs))
	}
	for _, v := range out.LaunchTemplateVersions {
		group := strings.TrimSuffix(aws.ToString(v.LaunchTemplateName), "."+e.name)
		d := v.LaunchTemplateData
		ud, err := base64.StdEncoding.DecodeString(aws.ToString(d.UserData))
		if err != nil {
			t.Fatalf("%s: user-data is not base64: %v", group, err)
		}
		if want := string(m.LaunchConfigs[group].UserData); string(ud) != want {
			t.Errorf("%s: user-data\n%s\nwant\n%s", group, ud, want)
		}
		if _, err := nodeup.ParseUserData(ud); err != nil {
			t.Errorf("%s: %v", group, err)
		}
		if d.MetadataOptions == nil || d.MetadataOptions.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired {
			t.Errorf("%s: IMDSv2 not required: %+v", group, d.MetadataOptions)
		}
		if d.IamInstanceProfile == nil || !strings.HasSuffix(aws.ToString(d.IamInstanceProfile.Name), "."+e.name) {
			t.Errorf("%s: instance profile %+v", group, d.IamInstanceProfile)
		}
	}
}
