package aws_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	hullaws "github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
)

// TestStandardChain builds the provider from the standard AWS chain alone:
// credentials and region from the environment, AWS_ENDPOINT_URL for every
// service and AWS_ENDPOINT_URL_EC2 for EC2 only.
func TestStandardChain(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "chain.example.com", Zones: []string{"us-east-1a"}}, awstest.Options{})
	ec2Only := awstest.New()
	ec2Only.AddImage(e.igs[0].Spec.Image)
	ts := httptest.NewServer(ec2Only)
	defer ts.Close()
	all := httptest.NewServer(e.srv)
	defer all.Close()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": awstest.Region,
		"AWS_ENDPOINT_URL": all.URL, "AWS_ENDPOINT_URL_EC2": ts.URL, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
	} {
		t.Setenv(k, v)
	}
	p, err := hullaws.New(context.Background(), e.cluster, hullaws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FindImage(context.Background(), e.igs[0].Spec.Image); err != nil {
		t.Fatalf("find image through AWS_ENDPOINT_URL_EC2: %v", err)
	}
	if _, err := p.FindInstanceGroups(context.Background(), e.name); err != nil {
		t.Fatalf("find groups through AWS_ENDPOINT_URL: %v", err)
	}
	if r := ec2Only.Requests(); len(r) != 1 || r[0].Action != "DescribeImages" {
		t.Errorf("EC2 endpoint got %+v", r)
	}
	if r := e.srv.Requests(); len(r) != 1 || r[0].Service != awstest.ServiceAutoScaling {
		t.Errorf("default endpoint got %+v", r)
	}
}

// TestRepair: a rule revoked behind hull's back shows in the plan as a
// change of its group's rules, and the next update puts it back.
func TestRepair(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "repair.example.com", Zones: []string{"us-east-1a"}}, awstest.Options{})
	e.update(true)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg)
	sgs, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("group-name"), Values: []string{"nodes." + e.name}}}})
	if err != nil || len(sgs.SecurityGroups) != 1 {
		t.Fatalf("nodes group: %v %v", sgs, err)
	}
	g := sgs.SecurityGroups[0]
	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: g.GroupId,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	want := "Will modify resources:\n  SecurityGroupRules/nodes." + e.name + "\n    ingress tcp/22-22/0.0.0.0/0  \"\" -> allow\n    rules                        2 -> 3\n"
	if out := e.update(false); !strings.Contains(out, want) {
		t.Errorf("dry run does not show the missing rule as a change of the group's rules:\n%s", out)
	}
	e.update(true)
	e.srv.ResetRequests()
	if out := e.update(true); !strings.Contains(out, "No changes") {
		t.Errorf("after the repair:\n%s", out)
	}
	e.delete()
}
