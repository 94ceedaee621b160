package bootstrap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/apis/nodeup"
)

// TestPlanGolden pins the task list, and the key settings of each task,
// of a control-plane and a worker machine: the dry-run output.
func TestPlanGolden(t *testing.T) {
	for _, tt := range []struct {
		file, group, role, host, addr string
	}{
		{"control-plane.golden", "control-plane-a", "ControlPlane", "i-cp1", "10.0.1.5"},
		{"worker.golden", "nodes-a", "Node", "i-node1", "10.0.1.6"},
	} {
		t.Run(tt.role, func(t *testing.T) {
			e := newEnv(t)
			o, out := e.options(t, testConfig(tt.group, tt.role), tt.host, tt.addr)
			o.DryRun = true
			if err := Run(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(out.String(), e.assetsDir, "$ASSETS")
			golden.Check(t, filepath.Join("testdata", tt.file), got)
			if entries, _ := os.ReadDir(o.Root); len(entries) > 0 {
				t.Errorf("a dry run wrote %d entries under the root", len(entries))
			}
		})
	}
}

// TestFilesIdempotent applies the files phase twice: the second run
// changes nothing.
func TestFilesIdempotent(t *testing.T) {
	for _, role := range []string{"ControlPlane", "Node"} {
		t.Run(role, func(t *testing.T) {
			e := newEnv(t)
			o, out := e.options(t, testConfig("g-"+strings.ToLower(role), role), "i-m1", "10.0.1.7")
			o.Phases = []string{"files"}
			if err := Run(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), " changed") || strings.Contains(out.String(), ", 0 changed") {
				t.Fatalf("first run: %s", out)
			}
			out.Reset()
			if err := Run(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(strings.TrimSpace(out.String()), ", 0 changed") {
				t.Errorf("second run: %s; want 0 changed", out)
			}
			// And the plan agrees.
			out.Reset()
			o.DryRun = true
			if err := Run(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") && !strings.HasSuffix(l, ": unchanged") {
					t.Errorf("after apply, plan line %q; want unchanged", l)
				}
			}
		})
	}
}

func TestConfigHashMismatchRefused(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("control-plane-a", "ControlPlane")
	o, _ := e.options(t, cfg, "i-cp1", "10.0.1.5")
	// Someone rewrote the config object after the machine was launched.
	data, hash, _ := cfg.Encode()
	key := nodeup.ConfigKey(cfg.ClusterName, cfg.InstanceGroup, hash)
	mustPut(t, e.store, key, append(data, []byte("# tampered\n")...))
	var stdout, stderr bytes.Buffer
	code := Main([]string{"--user-data", o.UserData, "--root", o.Root, "--assets", o.AssetsDir, "--address", "10.0.1.5", "--hostname", "i-cp1", "--cloud", "local", "--cgroup-root", "/x"}, &stdout, &stderr)
	if code == 0 {
		t.Fatal("exit code 0; want non-zero")
	}
	if !strings.Contains(stderr.String(), hash) || !strings.Contains(stderr.String(), "but the user-data expects") {
		t.Errorf("stderr %q does not name both hashes", stderr.String())
	}
	if entries, _ := os.ReadDir(o.Root); len(entries) > 0 {
		t.Errorf("refused run wrote %d entries", len(entries))
	}
}

func TestBadAssetsRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"missing", func(dir string) error { return os.Remove(filepath.Join(dir, "bin/kubelet")) }, "bin/kubelet: missing"},
		{"sha256 mismatch", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "images/etcd.tar"), []byte("evil\n"), 0o644)
		}, "images/etcd.tar: sha256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			o, _ := e.options(t, testConfig("nodes-a", "Node"), "i-n1", "10.0.1.8")
			if err := tt.damage(e.assetsDir); err != nil {
				t.Fatal(err)
			}
			err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one naming %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(o.Root); len(entries) > 0 {
				t.Errorf("refused run wrote %d entries", len(entries))
			}
		})
	}
}

// TestUnbakedAssetsFetched: no baked repository, a file:// repository in
// the config: nodeup fetches and verifies it.
func TestUnbakedAssetsFetched(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("nodes-a", "Node")
	cfg.AssetsRepository = "file://" + e.assetsDir
	o, _ := e.options(t, cfg, "i-n1", "10.0.1.8")
	o.AssetsDir = filepath.Join(e.dir, "no-baked-repo")
	o.Phases = []string{"files"}
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.Root, FetchedAssets, "bin/kubelet")); err != nil {
		t.Errorf("asset not fetched: %v", err)
	}
}
