package assets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBuildIntegration builds the whole repository for Kubernetes 1.37.2:
// minutes with a warm Go build cache, about ten cold. It runs only with
// HULL_ASSETS_TEST=1 (make e2e) and needs `go test -timeout 60m`; the
// Debian packages must be installed or the test must run as root.
func TestBuildIntegration(t *testing.T) {
	if os.Getenv("HULL_ASSETS_TEST") != "1" {
		t.Skip("set HULL_ASSETS_TEST=1 to build real Kubernetes assets (slow)")
	}
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < 20*time.Minute {
		t.Logf("warning: test deadline in %s; a cold build can take longer (use -timeout 60m)", time.Until(deadline).Round(time.Second))
	}
	ctx := context.Background()
	cacheDir := t.TempDir()

	var mu sync.Mutex
	var lines []string
	opts := Options{
		KubernetesVersion: "1.37.2",
		CacheDir:          cacheDir,
		InstallPackages:   os.Geteuid() == 0,
		Progress: func(format string, args ...any) {
			line := fmt.Sprintf(format, args...)
			t.Log(line)
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
		},
	}

	start := time.Now()
	repo, m, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first Build: %s", time.Since(start).Round(time.Second))
	if want := filepath.Join(cacheDir, "assets", "v1.37.2"); repo != want {
		t.Errorf("repository %s, want %s", repo, want)
	}
	if m.KubernetesVersion != "v1.37.2" || m.EtcdVersion != DefaultEtcdVersion || m.ContainerdVersion == "" || m.RuncVersion == "" || m.CNIVersion == "" {
		t.Errorf("manifest versions incomplete: %+v", *m)
	}
	for _, c := range []struct {
		bin, want string
		args      []string
	}{
		{"kubelet", "Kubernetes v1.37.2", []string{"--version"}},
		{"kube-apiserver", "Kubernetes v1.37.2", []string{"--version"}},
		{"kubectl", "Client Version: v1.37.2", []string{"version", "--client"}},
		{"etcd", "etcd Version: 3.6.16", []string{"--version"}},
	} {
		if err := checkVersion(ctx, filepath.Join(repo, "bin", c.bin), c.want, c.args...); err != nil {
			t.Error(err)
		}
	}
	for _, name := range []string{"bin/containerd", "bin/runc", "bin/etcdutl", "cni/bridge", "cni/firewall", "bin/coredns"} {
		if _, ok := m.File(name); !ok {
			t.Errorf("manifest lacks %s", name)
		}
	}
	kube, _ := parseKubeVersion("1.37.2")
	if len(m.Images) != len(imageSpecs(kube, DefaultEtcdVersion)) {
		t.Errorf("manifest has %d images: %+v", len(m.Images), m.Images)
	}
	loaded, err := Load(repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(repo, loaded); err != nil {
		t.Fatal(err)
	}

	// A second Build reuses everything: every step reports "(cached)" and
	// nothing says "building".
	mu.Lock()
	lines = nil
	mu.Unlock()
	start = time.Now()
	if _, m2, err := Build(ctx, opts); err != nil {
		t.Fatal(err)
	} else if len(m2.Files) != len(m.Files) || len(m2.Images) != len(m.Images) {
		t.Errorf("second Build: %d files %d images, first %d %d", len(m2.Files), len(m2.Images), len(m.Files), len(m.Images))
	}
	t.Logf("second Build: %s", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	cached := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "building ") || strings.HasPrefix(l, "resolving ") || strings.HasPrefix(l, "installing ") || strings.HasPrefix(l, "copied ") {
			t.Errorf("second Build rebuilt something: %q", l)
		}
		if strings.HasSuffix(l, "(cached)") {
			cached++
		}
	}
	// 6 Kubernetes binaries, etcd, etcdutl, coredns, pause, Debian, and every image.
	if want := len(KubernetesBinaries) + 5 + len(m.Images); cached != want {
		t.Errorf("second Build reported %d cached steps, want %d:\n%s", cached, want, strings.Join(lines, "\n"))
	}
}
