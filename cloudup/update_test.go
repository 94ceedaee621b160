package cloudup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunInit()
	os.Exit(m.Run())
}

// startDaemon runs a real local cloud daemon in this process.
func startDaemon(t *testing.T) *local.Client {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("HULL_REQUIRE_ROOT") == "1" {
			t.Fatal("needs root to run the local cloud daemon")
		}
		t.Skip("WARNING: skipping: needs root to run the local cloud daemon")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- local.RunDaemon(ctx, local.DaemonOptions{StateDir: dir, Socket: sock}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("daemon: %v", err)
		}
	})
	var cl *local.Client
	var err error
	for i := 0; i < 100; i++ {
		if cl, err = local.Connect(ctx, local.ClientOptions{StateDir: dir, Socket: sock}); err == nil {
			t.Cleanup(func() { cl.Close() })
			return cl
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon did not answer: %v", err)
	return nil
}

// importImage registers a minimal image under name: the dry run only needs
// it to exist and verify.
func importImage(t *testing.T, cl *local.Client, name string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	boot := []byte("#!/bin/sh\nexec sleep 3600\n")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "boot"), boot, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(boot)
	m, _ := json.Marshal(map[string]any{"name": name, "boot": []string{"bin/boot"}, "files": map[string]string{"bin/boot": hex.EncodeToString(sum[:])}})
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), m, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ImportImage(context.Background(), name, dir); err != nil {
		t.Fatal(err)
	}
}

// TestDryRunGolden pins the dry run of the foundation issue's sample
// cluster against an empty local cloud.
func TestDryRunGolden(t *testing.T) {
	cl := startDaemon(t)
	importImage(t, cl, "hull-kubernetes-1.37.2")
	ctx := context.Background()
	store, err := state.Open(ctx, "mem://golden-sample")
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(store)
	data, err := os.ReadFile("testdata/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := codec.DecodeAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.CreateCluster(ctx, objs.Clusters[0], objs.InstanceGroups, nil); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	plan, err := Update(ctx, reg, cl, "demo.example.com", UpdateOptions{Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.HasChanges(false) {
		t.Error("empty cloud, yet no changes")
	}
	golden.Check(t, filepath.Join("testdata", "sample-dryrun.golden"), out.String())
	// A dry run changes nothing: no network, groups, or completed spec.
	if n, _ := cl.FindNetwork(ctx, "demo.example.com"); n != nil {
		t.Errorf("dry run created network %+v", n)
	}
	if _, _, err := store.Get(ctx, registry.CompletedKey("demo.example.com")); err == nil {
		t.Error("dry run wrote the completed spec")
	}
	if !strings.HasSuffix(out.String(), "Must specify --yes to apply changes\n") {
		t.Errorf("dry run must end by asking for --yes:\n%s", out.String())
	}
}
