package awscli

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/assets"
)

const debianOwner = "136693071363" // the stable channel's base image owner

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// assetsServer serves a small assets repository: a manifest for
// Kubernetes 1.37.2, one binary and one image tarball.
func assetsServer(t *testing.T) (*httptest.Server, assets.Manifest) {
	t.Helper()
	kubelet, pause := []byte("kubelet binary"), []byte("pause image")
	m := assets.Manifest{KubernetesVersion: "1.37.2", EtcdVersion: "3.6.16",
		Files:  []assets.File{{Name: "bin/kubelet", SHA256: sum(kubelet), Size: int64(len(kubelet))}},
		Images: []assets.Image{{Name: "registry.k8s.io/pause:3.10", File: "images/pause.tar", SHA256: sum(pause)}}}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"/manifest.json": raw, "/bin/kubelet": kubelet, "/images/pause.tar": pause}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, m
}

// TestImageBuildAWS bakes an AMI through the CLI against the emulator.
// The emulator cannot run the builder's script; it plays its end, the
// builder powering itself off (the signal hull waits for). The test asserts
// the calls in order (base image lookup, RunInstances from it with the
// script as user-data, stop-on-shutdown and IMDSv2, CreateImage of the
// stopped builder, tags on the available image, the builder terminated),
// the script's pinned sums, and that a cluster then finds the AMI.
func TestImageBuildAWS(t *testing.T) {
	emu, e := newAWSEnvNoImage(t, awstest.Options{})
	baseID := emu.AddImageOwned("debian-13-amd64-20261101-1200", debianOwner)
	emu.AddImageOwned("debian-12-amd64-20261120-0000", debianOwner) // newer, but not the channel's
	repo, m := assetsServer(t)
	nodeup := filepath.Join(t.TempDir(), "nodeup")
	if err := os.WriteFile(nodeup, []byte("nodeup binary"), 0o755); err != nil {
		t.Fatal(err)
	}

	out := e.Must("image", "build", "--cloud", "aws", "--kubernetes-version", "1.37.2", "--assets-url", repo.URL,
		"--nodeup", nodeup, "--poll-interval", "100ms", "--wait", "1m")
	var builder, ami string
	var mutating []string
	for _, r := range emu.Requests() {
		if r.Retry() || r.Status != http.StatusOK || !isMutating(r.Action) {
			continue
		}
		mutating = append(mutating, r.Action)
		switch r.Action {
		case "RunInstances":
			if r.Param("ImageId") != baseID || r.Param("InstanceInitiatedShutdownBehavior") != "stop" || r.Param("MetadataOptions.HttpTokens") != "required" {
				t.Errorf("RunInstances %v: want image %s, shutdown behaviour stop, IMDSv2", r.Params, baseID)
			}
			script, err := base64.StdEncoding.DecodeString(r.Param("UserData"))
			if err != nil {
				t.Fatal(err)
			}
			checkBuilderScript(t, string(script), repo.URL, m, sum([]byte("nodeup binary")))
		case "CreateImage":
			builder = r.Param("InstanceId")
			if r.Param("NoReboot") != "true" || !regexp.MustCompile(`^hull-kubernetes-1\.37\.2-amd64-\d{8}-\d{6}$`).MatchString(r.Param("Name")) {
				t.Errorf("CreateImage %v: want NoReboot and a name after the channel's pattern", r.Params)
			}
		case "CreateTags":
			ami = r.Param("ResourceId.1")
		case "TerminateInstances":
			if id := r.Param("InstanceId.1"); id != builder {
				t.Errorf("terminated %s, want the builder %s", id, builder)
			}
		}
	}
	if want := []string{"RunInstances", "CreateImage", "CreateTags", "TerminateInstances"}; !slices.Equal(mutating, want) {
		t.Fatalf("mutating calls %v, want %v\n%s", mutating, want, out)
	}
	// The image was made of the stopped builder.
	stopped := false
	for _, ev := range emu.InstanceEvents() {
		stopped = stopped || (ev.ID == builder && ev.State == "stopped")
	}
	if !stopped {
		t.Errorf("builder %s was imaged without having stopped", builder)
	}
	i := slices.IndexFunc(emu.Images(), func(im awstest.Image) bool { return im.ID == ami })
	if i < 0 {
		t.Fatalf("tagged image %s does not exist", ami)
	}
	img := emu.Images()[i]
	if img.State != "available" || img.Owner != awstest.Account || img.Tags["hull.dev/kubernetes-version"] != "1.37.2" ||
		img.Tags["hull.dev/base-image"] != baseID || img.Tags["Name"] != img.Name {
		t.Errorf("image %+v", img)
	}
	if !strings.Contains(out, "Image "+img.Name+" ready ("+ami+")") {
		t.Errorf("output does not name the image:\n%s", out)
	}
	emu.Reconcile() // the builder finishes terminating
	if left := emu.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}

	// A cluster's default image, hull-kubernetes-1.37.2-amd64, is found:
	// the plan would fail with "not usable" otherwise.
	e.Must("create", "cluster", "img.example.com", "--cloud", "aws", "--zones", "us-east-1a")
	if plan := e.Must("update", "cluster", "img.example.com"); !strings.Contains(plan, "Will create resources:") {
		t.Errorf("plan with the baked image:\n%s", plan)
	}
}

// checkBuilderScript: the script fetches nodeup and every file pinned to
// the manifest's sums, and ends by powering off.
func checkBuilderScript(t *testing.T, script, repo string, m assets.Manifest, nodeupSum string) {
	t.Helper()
	raw, _ := json.Marshal(m)
	wants := []string{
		"#!/bin/bash\n",
		"fetch '" + repo + "/nodeup' '/opt/hull/image/bin/nodeup' '" + nodeupSum + "' '0755'",
		"fetch '" + repo + "/manifest.json' '/opt/hull/image/assets/manifest.json' '" + sum(raw) + "' '0644'",
		"fetch '" + repo + "/bin/kubelet' '/opt/hull/image/assets/bin/kubelet' '" + m.Files[0].SHA256 + "' '0755'",
		"fetch '" + repo + "/images/pause.tar' '/opt/hull/image/assets/images/pause.tar' '" + m.Images[0].SHA256 + "' '0644'",
		"systemctl enable hull-nodeup.service",
	}
	for _, w := range wants {
		if !strings.Contains(script, w) {
			t.Errorf("builder script lacks %q:\n%s", w, script)
		}
	}
	if !strings.HasSuffix(script, "\npoweroff\n") {
		t.Errorf("builder script does not end by powering off:\n%s", script)
	}
}

// TestImageBuildAWSFailures: a builder that never finishes is terminated
// and no image is made; a missing base image stops before any change;
// flags that do not fit --cloud are refused.
func TestImageBuildAWSFailures(t *testing.T) {
	emu, e := newAWSEnvNoImage(t, awstest.Options{PowerOffSteps: 1 << 30})
	repo, _ := assetsServer(t)
	nodeup := filepath.Join(t.TempDir(), "nodeup")
	if err := os.WriteFile(nodeup, []byte("nodeup binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"image", "build", "--cloud", "aws", "--kubernetes-version", "1.37.2", "--assets-url", repo.URL, "--nodeup", nodeup, "--poll-interval", "100ms"}

	e.Fails([]string{"no available x86_64 AMI named debian-13-amd64-* owned by " + debianOwner}, append(args, "--wait", "2s")...)
	for _, r := range emu.Requests() {
		if isMutating(r.Action) {
			t.Errorf("without a base image: mutating call %s", r.Action)
		}
	}

	emu.AddImageOwned("debian-13-amd64-20261101-1200", debianOwner)
	emu.ResetRequests()
	r := e.Fails([]string{"did not finish (power off) within 2s"}, append(args, "--wait", "2s")...)
	var terminated bool
	for _, req := range emu.Requests() {
		if req.Action == "CreateImage" {
			t.Errorf("imaged a builder that did not finish")
		}
		terminated = terminated || req.Action == "TerminateInstances"
	}
	if !terminated || !strings.Contains(r.Stdout, "terminated") {
		t.Errorf("the unfinished builder was not terminated:\n%s", r.Stdout)
	}
	emu.Reconcile()
	if left := emu.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "build", "--cloud", "aws"}, "--assets-url is required with --cloud aws"},
		{[]string{"image", "build", "--cloud", "aws", "--assets-url", repo.URL, "--unbaked"}, "--unbaked is only used with --cloud local"},
		{[]string{"image", "build", "--assets-url", repo.URL}, "--assets-url is only used with --cloud aws"},
		{[]string{"image", "build", "--cloud", "gcp"}, `--cloud must be local or aws, got "gcp"`},
		{[]string{"image", "build", "--cloud", "aws", "--assets-url", "s3://bucket/repo"}, "--assets-url must be an http(s) URL"},
	} {
		if r := e.Run(tc.args...); r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
}
