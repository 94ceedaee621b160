package bake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hullproject/hull/channels"
	hullaws "github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/assets"
)

// maxManifestSize refuses a response that cannot be an assets manifest.
const maxManifestSize = 4 << 20

// BuildOptions are what `hull image build --cloud aws` asks for.
type BuildOptions struct {
	// Channel names the base image and the AMI name pattern ("" for stable).
	Channel           string
	KubernetesVersion string // without a leading v
	Architecture      string
	// Name is the AMI's name; "" names it by the channel's pattern and the time.
	Name string
	// Nodeup is the nodeup binary the builder must download (its sha256
	// is checked there), from NodeupURL ("" for AssetsURL/nodeup).
	Nodeup, NodeupURL string
	// AssetsURL is the assets repository the builder downloads from.
	AssetsURL            string
	InstanceType, Subnet string
	Wait, Poll           time.Duration
	Progress             func(format string, a ...any)
}

// Build bakes the AMI of a Kubernetes version: it reads the assets
// manifest at o.AssetsURL, writes the builder script and bakes (see Bake)
// from the channel's base image, with credentials, region and endpoints
// from the standard AWS chain. It returns the image and the name prefix
// instance groups boot it by.
func Build(ctx context.Context, o BuildOptions) (*Result, string, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	ch, err := channels.Load(ctx, o.Channel)
	if err != nil {
		return nil, "", err
	}
	base, err := ch.BaseImageFor(v1alpha1.CloudAWS, o.Architecture)
	if err != nil {
		return nil, "", err
	}
	pattern, err := ch.ImageFor(v1alpha1.CloudAWS, o.Architecture, o.KubernetesVersion)
	if err != nil {
		return nil, "", err
	}
	name := o.Name
	if name == "" {
		name = strings.Replace(pattern.Name, "*", time.Now().UTC().Format("20060102-150405"), 1)
	}
	nodeupSum, err := fileSHA256(o.Nodeup)
	if err != nil {
		return nil, "", fmt.Errorf("--nodeup: %w (build it with `make build`, which puts nodeup next to hull)", err)
	}
	raw, m, err := fetchManifest(ctx, o.AssetsURL)
	if err != nil {
		return nil, "", err
	}
	if m.KubernetesVersion != o.KubernetesVersion {
		return nil, "", fmt.Errorf("the assets at %s are for Kubernetes %s, not %s", o.AssetsURL, m.KubernetesVersion, o.KubernetesVersion)
	}
	o.Progress("Assets for Kubernetes %s at %s: %d files, %d images", m.KubernetesVersion, o.AssetsURL, len(m.Files), len(m.Images))
	nodeupURL := o.NodeupURL
	if nodeupURL == "" {
		nodeupURL = strings.TrimSuffix(o.AssetsURL, "/") + "/nodeup"
	}
	script, err := Script(ScriptInput{Image: name, KubernetesVersion: o.KubernetesVersion,
		Downloads: Downloads(o.AssetsURL, raw, m, nodeupURL, nodeupSum)})
	if err != nil {
		return nil, "", err
	}
	cfg, err := hullaws.LoadConfig(ctx, nil) // region from the environment, the profile or IMDS
	if err != nil {
		return nil, "", err
	}
	res, err := Bake(ctx, cfg, Options{Name: name, KubernetesVersion: o.KubernetesVersion, Architecture: o.Architecture,
		BaseName: base.Name, BaseOwner: base.Owner, InstanceType: o.InstanceType, SubnetID: o.Subnet, UserData: script,
		Wait: o.Wait, Poll: o.Poll, Progress: o.Progress})
	if err != nil {
		return nil, "", err
	}
	return res, strings.TrimSuffix(pattern.Name, "-*"), nil
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
