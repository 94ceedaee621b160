package awstest

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

func sdkConfig(t *testing.T, s *Server) aws.Config {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")),
		config.WithBaseEndpoint(ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestEC2Roundtrip(t *testing.T) {
	ctx := context.Background()
	s := New()
	e := ec2.NewFromConfig(sdkConfig(t, s))
	vpcOut, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: []ec2types.TagSpecification{{
		ResourceType: ec2types.ResourceTypeVpc, Tags: []ec2types.Tag{{Key: aws.String("hull.dev/cluster"), Value: aws.String("a")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	vpcID := aws.ToString(vpcOut.Vpc.VpcId)
	for i := 0; i < 7; i++ {
		_, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcID, CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", i)),
			AvailabilityZone: aws.String("us-east-1a"), TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSubnet, Tags: []ec2types.Tag{{Key: aws.String("hull.dev/cluster"), Value: aws.String("a")}}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.SetPageLimit(2)
	var n, pages int
	p := ec2.NewDescribeSubnetsPaginator(e, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(1000),
		Filters: []ec2types.Filter{{Name: aws.String("tag:hull.dev/cluster"), Values: []string{"a"}}, {Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(out.Subnets)
	}
	if n != 7 || pages != 4 {
		t.Errorf("got %d subnets in %d pages, want 7 in 4", n, pages)
	}
	_, err = e.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &vpcID})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "DependencyViolation" {
		t.Fatalf("delete vpc with subnets: %v, want DependencyViolation", err)
	}
	s.Throttle(ServiceEC2, 1)
	_, err = e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}, func(o *ec2.Options) { o.RetryMaxAttempts = 1 })
	if !errors.As(err, &ae) || ae.ErrorCode() != "RequestLimitExceeded" {
		t.Fatalf("throttled: %v", err)
	}
	out, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	if err != nil || len(out.Vpcs) != 1 || aws.ToString(out.Vpcs[0].CidrBlock) != "10.0.0.0/16" || len(out.Vpcs[0].Tags) != 1 {
		t.Fatalf("describe vpc: %+v %v", out, err)
	}
}
