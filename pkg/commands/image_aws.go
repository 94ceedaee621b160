package commands

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/cloudup/aws/bake"
	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/cli/output"
)

// The clouds `hull image build` bakes for, as their providers name them.
var (
	localCloud = local.Driver{}.Name()
	awsCloud   = aws.Driver{}.Name()
)

type awsImageFlags struct {
	cloud, channel, arch string
	assetsURL, nodeupURL string
	instanceType, subnet string
	wait, poll           time.Duration
}

// addAWSImageBuild teaches `hull image build` --cloud aws: the local
// build stays as it is, and the AWS flags are refused without --cloud aws.
func addAWSImageBuild(o *rootOptions, cmd *cobra.Command) {
	var f awsImageFlags
	local := cmd.RunE
	cmd.Short = "Bake a machine image for one Kubernetes version (local cloud or an AWS AMI)"
	cmd.Long += `

With --cloud aws, bake an AMI instead: launch a builder machine from the
channel's base image (Debian) whose user-data script installs the host
packages, downloads nodeup and every file of the assets repository at
--assets-url (each checked against the sha256 in the manifest hull read from
there), installs the boot unit that runs nodeup, and powers off. hull waits
for the builder to stop, creates the AMI (named after the channel's pattern,
hull-kubernetes-<version>-<arch>-<time>), waits for it to be available, tags
it and terminates the builder (also when a step fails). Instance groups whose
spec.image is hull-kubernetes-<version>-<arch> boot the newest such AMI.
Credentials, region and endpoints come from the standard AWS chain.`
	cmd.Example += `
  hull image build --cloud aws --kubernetes-version 1.37.2 --assets-url https://assets.example.com/1.37.2`
	fl := cmd.Flags()
	fl.StringVar(&f.cloud, "cloud", localCloud, "where the image is for: local or aws")
	fl.StringVar(&f.channel, "channel", "", "release channel naming the base image and the AMI name pattern (--cloud aws; default stable)")
	fl.StringVar(&f.arch, "architecture", "amd64", "machine architecture: amd64 or arm64 (--cloud aws)")
	fl.StringVar(&f.assetsURL, "assets-url", "", "https URL of an assets repository (manifest.json at its root) the builder downloads from (--cloud aws)")
	fl.StringVar(&f.nodeupURL, "nodeup-url", "", "URL the builder downloads nodeup from; its sha256 must be --nodeup's (--cloud aws; default <assets-url>/nodeup)")
	fl.StringVar(&f.instanceType, "instance-type", "t3.medium", "machine type of the builder (--cloud aws)")
	fl.StringVar(&f.subnet, "subnet", "", "subnet id for the builder, which needs to reach --assets-url (--cloud aws; default the default VPC)")
	fl.DurationVar(&f.wait, "wait", 30*time.Minute, "longest wait for the builder to finish, and for the AMI (--cloud aws)")
	fl.DurationVar(&f.poll, "poll-interval", 15*time.Second, "least time between checks while waiting (--cloud aws)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch f.cloud {
		case localCloud:
			for _, name := range []string{"channel", "architecture", "assets-url", "nodeup-url", "instance-type", "subnet", "wait", "poll-interval"} {
				if cmd.Flags().Changed(name) {
					return usagef("--%s is only used with --cloud aws", name)
				}
			}
			return local(cmd, args)
		case awsCloud:
			for _, name := range []string{"unbaked", "cache-dir"} {
				if cmd.Flags().Changed(name) {
					return usagef("--%s is only used with --cloud local", name)
				}
			}
			if err := f.check(); err != nil {
				return err
			}
			version, _ := cmd.Flags().GetString("kubernetes-version")
			name, _ := cmd.Flags().GetString("name")
			nodeup, _ := cmd.Flags().GetString("nodeup")
			return o.buildAWSImage(cmd.Context(), f, strings.TrimPrefix(version, "v"), name, nodeup)
		}
		return usagef("--cloud must be %s or %s, got %q", localCloud, awsCloud, f.cloud)
	}
}

func (f *awsImageFlags) check() error {
	if f.assetsURL == "" {
		return usagef("--assets-url is required with --cloud aws: the builder downloads nodeup's assets from it")
	}
	for flag, v := range map[string]string{"--assets-url": f.assetsURL, "--nodeup-url": f.nodeupURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return usagef("%s must be an http(s) URL the builder can download from, got %q", flag, v)
		}
	}
	if f.wait <= 0 || f.poll <= 0 {
		return usagef("--wait and --poll-interval must be positive, got %s and %s", f.wait, f.poll)
	}
	return nil
}

func (o *rootOptions) buildAWSImage(ctx context.Context, f awsImageFlags, version, name, nodeup string) error {
	if nodeup == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		nodeup = filepath.Join(filepath.Dir(self), "nodeup")
	}
	p := output.NewProgress(o.out)
	res, prefix, err := bake.Build(ctx, bake.BuildOptions{Channel: f.channel, KubernetesVersion: version, Architecture: f.arch, Name: name,
		Nodeup: nodeup, NodeupURL: f.nodeupURL, AssetsURL: f.assetsURL, InstanceType: f.instanceType, Subnet: f.subnet,
		Wait: f.wait, Poll: f.poll, Progress: p.Step})
	if err != nil {
		return err
	}
	p.Step("Image %s ready (%s)", res.Name, res.ImageID)
	fmt.Fprintf(o.out, "\nInstance groups whose spec.image is %s boot the newest image named like it.\n", prefix)
	return nil
}
