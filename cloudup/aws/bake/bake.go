package bake

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	hullaws "github.com/hullproject/hull/cloudup/aws"
)

// Tags hull puts on what it bakes.
const (
	TagBuilder           = "hull.dev/image-builder"
	TagKubernetesVersion = "hull.dev/kubernetes-version"
	TagArchitecture      = "hull.dev/architecture"
	TagBaseImage         = "hull.dev/base-image"
)

// Options say what to bake and from what.
type Options struct {
	// Name is the AMI's name (unique in the account and region).
	Name              string
	KubernetesVersion string
	Architecture      string // amd64 or arm64
	// BaseName and BaseOwner find the operating system AMI to start from:
	// the newest available one whose name matches the pattern.
	BaseName, BaseOwner string
	InstanceType        string
	// SubnetID places the builder; "" uses the default VPC.
	SubnetID string
	// UserData is the builder script (see Script).
	UserData []byte
	// Wait bounds each wait (builder stopped, image available); Poll is
	// the least time between checks.
	Wait, Poll time.Duration
	// Progress reports each step.
	Progress func(format string, a ...any)
}

// Result is the baked image.
type Result struct {
	ImageID, Name, BaseImageID, BuilderID string
}

var ec2Arch = map[string]ec2types.ArchitectureValues{"amd64": ec2types.ArchitectureValuesX8664, "arm64": ec2types.ArchitectureValuesArm64}

// Bake launches a builder from the base image with the builder script,
// waits for the script to power it off (the builder stops), images it,
// waits for the image to be available, tags it and terminates the
// builder, which it also does when any step fails.
func Bake(ctx context.Context, cfg aws.Config, o Options) (res *Result, err error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 15 * time.Second
	}
	arch, ok := ec2Arch[o.Architecture]
	if !ok {
		return nil, fmt.Errorf("architecture %q: want amd64 or arm64", o.Architecture)
	}
	client := ec2.NewFromConfig(cfg)
	base, err := baseImage(ctx, client, o.BaseName, o.BaseOwner, arch)
	if err != nil {
		return nil, err
	}
	res = &Result{Name: o.Name, BaseImageID: aws.ToString(base.ImageId)}
	o.Progress("Base image %s (%s) owned by %s", aws.ToString(base.Name), res.BaseImageID, o.BaseOwner)

	in := &ec2.RunInstancesInput{
		ImageId: base.ImageId, InstanceType: ec2types.InstanceType(o.InstanceType), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(base64.StdEncoding.EncodeToString(o.UserData)),
		// The script's poweroff stops the builder rather than ending it, so its disk can be imaged.
		InstanceInitiatedShutdownBehavior: ec2types.ShutdownBehaviorStop,
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired,
			HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: hullaws.TagList(map[string]string{"Name": "hull image builder " + o.Name, TagBuilder: o.Name})}},
	}
	if o.SubnetID != "" {
		in.SubnetId = aws.String(o.SubnetID)
	}
	run, err := client.RunInstances(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("launch image builder from %s: %w", res.BaseImageID, err)
	}
	if len(run.Instances) != 1 {
		return nil, fmt.Errorf("launch image builder: EC2 returned %d instances", len(run.Instances))
	}
	res.BuilderID = aws.ToString(run.Instances[0].InstanceId)
	o.Progress("Builder %s launched; installing the host packages, nodeup and the assets", res.BuilderID)
	defer func() {
		// A fresh context: the builder must go even when ctx was cancelled.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if _, terr := client.TerminateInstances(tctx, &ec2.TerminateInstancesInput{InstanceIds: []string{res.BuilderID}}); terr != nil {
			err = errors.Join(err, fmt.Errorf("terminate image builder %s (terminate it yourself): %w", res.BuilderID, terr))
			return
		}
		o.Progress("Builder %s terminated", res.BuilderID)
	}()

	ids := &ec2.DescribeInstancesInput{InstanceIds: []string{res.BuilderID}}
	if err := ec2.NewInstanceStoppedWaiter(client, func(w *ec2.InstanceStoppedWaiterOptions) {
		w.MinDelay, w.MaxDelay = o.Poll, max(o.Poll, 30*time.Second)
	}).Wait(ctx, ids, o.Wait); err != nil {
		return res, fmt.Errorf("image builder %s did not finish (power off) within %s; its log is /var/log/hull-image-build.log: %w", res.BuilderID, o.Wait, err)
	}
	o.Progress("Builder %s finished and stopped; creating image %s", res.BuilderID, o.Name)

	img, err := client.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(res.BuilderID), Name: aws.String(o.Name),
		Description: aws.String(fmt.Sprintf("hull: Kubernetes %s on %s", o.KubernetesVersion, aws.ToString(base.Name))),
		NoReboot:    aws.Bool(true)})
	if err != nil {
		return res, fmt.Errorf("create image %s from builder %s: %w", o.Name, res.BuilderID, err)
	}
	res.ImageID = aws.ToString(img.ImageId)
	if err := ec2.NewImageAvailableWaiter(client, func(w *ec2.ImageAvailableWaiterOptions) {
		w.MinDelay, w.MaxDelay = o.Poll, max(o.Poll, 30*time.Second)
	}).Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{res.ImageID}}, o.Wait); err != nil {
		return res, fmt.Errorf("image %s (%s) did not become available within %s: %w", o.Name, res.ImageID, o.Wait, err)
	}
	tags := map[string]string{"Name": o.Name, TagKubernetesVersion: o.KubernetesVersion, TagArchitecture: o.Architecture,
		TagBaseImage: res.BaseImageID}
	if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{res.ImageID}, Tags: hullaws.TagList(tags)}); err != nil {
		return res, fmt.Errorf("tag image %s: %w", res.ImageID, err)
	}
	slog.Debug("image baked", "image", res.ImageID, "name", o.Name, "base", res.BaseImageID)
	o.Progress("Image %s (%s) available and tagged", o.Name, res.ImageID)
	return res, nil
}

// baseImage is the newest available AMI of owner whose name matches pattern.
func baseImage(ctx context.Context, client *ec2.Client, pattern, owner string, arch ec2types.ArchitectureValues) (ec2types.Image, error) {
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{owner}, Filters: []ec2types.Filter{
		{Name: aws.String("name"), Values: []string{pattern}}, {Name: aws.String("state"), Values: []string{"available"}},
		{Name: aws.String("architecture"), Values: []string{string(arch)}}}})
	if err != nil {
		return ec2types.Image{}, fmt.Errorf("find base image %s of %s: %w", pattern, owner, err)
	}
	if len(out.Images) == 0 {
		return ec2types.Image{}, fmt.Errorf("no available %s AMI named %s owned by %s in this region", arch, pattern, owner)
	}
	imgs := out.Images
	sort.Slice(imgs, func(i, j int) bool { return aws.ToString(imgs[i].CreationDate) > aws.ToString(imgs[j].CreationDate) })
	return imgs[0], nil
}
