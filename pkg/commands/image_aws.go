package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/channels"
	"github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/cloudup/aws/bake"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/assets"
	"github.com/hullproject/hull/pkg/cli/output"
)

// maxManifestSize refuses a response that cannot be an assets manifest.
const maxManifestSize = 4 << 20

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
	fl.StringVar(&f.cloud, "cloud", v1alpha1.CloudLocal, "where the image is for: local or aws")
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
		case v1alpha1.CloudLocal:
			for _, name := range []string{"channel", "architecture", "assets-url", "nodeup-url", "instance-type", "subnet", "wait", "poll-interval"} {
				if cmd.Flags().Changed(name) {
					return usagef("--%s is only used with --cloud aws", name)
				}
			}
			return local(cmd, args)
		case v1alpha1.CloudAWS:
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
		return usagef("--cloud must be %s or %s, got %q", v1alpha1.CloudLocal, v1alpha1.CloudAWS, f.cloud)
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
	ch, err := channels.Load(ctx, f.channel)
	if err != nil {
		return err
	}
	base, err := ch.BaseImageFor(v1alpha1.CloudAWS, f.arch)
	if err != nil {
		return err
	}
	pattern, err := ch.ImageFor(v1alpha1.CloudAWS, f.arch, version)
	if err != nil {
		return err
	}
	if name == "" {
		name = strings.Replace(pattern.Name, "*", time.Now().UTC().Format("20060102-150405"), 1)
	}
	if nodeup == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		nodeup = filepath.Join(filepath.Dir(self), "nodeup")
	}
	nodeupSum, err := fileSHA256(nodeup)
	if err != nil {
		return fmt.Errorf("--nodeup: %w (build it with `make build`, which puts nodeup next to hull)", err)
	}
	p := output.NewProgress(o.out)
	raw, m, err := fetchManifest(ctx, f.assetsURL)
	if err != nil {
		return err
	}
	if m.KubernetesVersion != version {
		return fmt.Errorf("the assets at %s are for Kubernetes %s, not %s", f.assetsURL, m.KubernetesVersion, version)
	}
	p.Step("Assets for Kubernetes %s at %s: %d files, %d images", m.KubernetesVersion, f.assetsURL, len(m.Files), len(m.Images))
	nodeupURL := f.nodeupURL
	if nodeupURL == "" {
		nodeupURL = strings.TrimSuffix(f.assetsURL, "/") + "/nodeup"
	}
	script, err := bake.Script(bake.ScriptInput{Image: name, KubernetesVersion: version,
		Downloads: bake.Downloads(f.assetsURL, raw, m, nodeupURL, nodeupSum)})
	if err != nil {
		return err
	}
	cfg, err := aws.LoadConfig(ctx, nil) // region from the environment, the profile or IMDS
	if err != nil {
		return err
	}
	res, err := bake.Bake(ctx, cfg, bake.Options{Name: name, KubernetesVersion: version, Architecture: f.arch,
		BaseName: base.Name, BaseOwner: base.Owner, InstanceType: f.instanceType, SubnetID: f.subnet, UserData: script,
		Wait: f.wait, Poll: f.poll, Progress: p.Step})
	if err != nil {
		return err
	}
	p.Step("Image %s ready (%s)", res.Name, res.ImageID)
	fmt.Fprintf(o.out, "\nInstance groups whose spec.image is %s boot the newest image named like it.\n",
		strings.TrimSuffix(pattern.Name, "-*"))
	return nil
}

// fetchManifest reads an assets repository's manifest over http(s).
func fetchManifest(ctx context.Context, repoURL string) ([]byte, *assets.Manifest, error) {
	u := strings.TrimSuffix(repoURL, "/") + "/" + assets.ManifestFile
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("read assets manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("read assets manifest %s: %s", u, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read assets manifest %s: %w", u, err)
	}
	if len(raw) > maxManifestSize {
		return nil, nil, fmt.Errorf("assets manifest %s is over %d bytes", u, maxManifestSize)
	}
	var m assets.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("assets manifest %s: %w", u, err)
	}
	if m.KubernetesVersion == "" || len(m.Files) == 0 {
		return nil, nil, fmt.Errorf("assets manifest %s lists no Kubernetes version or no files", u)
	}
	return raw, &m, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
