package awstest

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestMotoBehindRecorder: moto answers the SDK through the recording
// proxy, which logs each call's service, action, parameters and status;
// a group launches from a second launch template version (the moto fix
// motoServer carries), and its machine carries the version it was
// launched with in the aws:ec2launchtemplate:version tag; Inventory sees
// what was made.
func TestMotoBehindRecorder(t *testing.T) {
	rec, err := NewRecorder(StartMoto(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(Region), config.WithBaseEndpoint(srv.URL),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	before, err := Inventory(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	e := ec2.NewFromConfig(cfg)
	ud := func(s string) *string { return aws.String(base64.StdEncoding.EncodeToString([]byte(s))) }
	lt, err := e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("lt"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12c6146b"), UserData: ud("one")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId,
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12c6146b"), UserData: ud("two")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId,
		DefaultVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := autoscaling.NewFromConfig(cfg).CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
		AvailabilityZones: []string{"us-east-1a"},
		LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt"), Version: aws.String("$Latest")}}); err != nil {
		t.Fatalf("a group launching from the second version: %v", err)
	}
	out, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:aws:autoscaling:groupName"), Values: []string{"g"}}}})
	if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("the group's machines: %+v, %v", out, err)
	}
	if v := tagValue(out.Reservations[0].Instances[0].Tags, "aws:ec2launchtemplate:version"); v != "2" {
		t.Errorf("machine launched from version 2 is tagged version %q", v)
	}
	_, err = e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"missing"}})
	if err == nil {
		t.Fatal("describing a missing launch template succeeded")
	}

	var got []string
	for _, r := range rec.Requests() {
		got = append(got, r.Service+" "+r.Action+" "+r.ErrorCode)
	}
	want := []string{"ec2 CreateLaunchTemplate ", "ec2 CreateLaunchTemplateVersion ", "ec2 ModifyLaunchTemplate ",
		"autoscaling CreateAutoScalingGroup ", "ec2 DescribeInstances ", "ec2 DescribeLaunchTemplates InvalidLaunchTemplateName.NotFoundException"}
	if i := slices.Index(got, want[0]); i < 0 || !slices.Equal(got[i:], want) {
		t.Errorf("recorded calls:\n%s\nwant them to end with:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if reqs := rec.Requests(); reqs[len(reqs)-1].Status != 400 || reqs[len(reqs)-1].Param("LaunchTemplateName.1") != "missing" {
		t.Errorf("last call recorded as %+v", reqs[len(reqs)-1])
	}

	after, err := Inventory(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	added := slices.DeleteFunc(after, func(s string) bool { return slices.Contains(before, s) })
	if len(added) != 3 || !slices.Contains(added, "launch-template lt") || !slices.Contains(added, "autoscaling-group g") {
		t.Errorf("inventory gained %v, want the launch template, the group and its machine", added)
	}
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
