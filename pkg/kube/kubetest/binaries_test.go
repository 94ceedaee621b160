package kubetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeRepo makes an assets repository; complete ones have a manifest
// written at mtime.
func fakeRepo(t *testing.T, root, name string, complete bool, mtime time.Time) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if err := os.WriteFile(filepath.Join(dir, "bin", b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if complete {
		m := filepath.Join(dir, manifestFile)
		if err := os.WriteFile(m, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(m, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindBinaries(t *testing.T) {
	now := time.Now()
	cache := t.TempDir()
	root := filepath.Join(cache, "hull", "assets")
	older := fakeRepo(t, root, "v1.36.3", true, now.Add(-time.Hour))
	newer := fakeRepo(t, root, "v1.37.2", true, now)
	fakeRepo(t, root, "v1.38.0", false, now) // being built: no manifest
	explicit := fakeRepo(t, t.TempDir(), "repo", false, now)

	tests := []struct {
		name       string
		bin, repo  string
		wantDir    string
		wantErrSub string
	}{
		{name: "newest complete repository in the cache", wantDir: newer},
		{name: "HULL_ASSETS_REPO wins over the cache", repo: older, wantDir: older},
		{name: "HULL_ASSETS_BIN wins over everything", bin: filepath.Join(explicit, "bin"), repo: older, wantDir: explicit},
		{name: "HULL_ASSETS_BIN without binaries", bin: t.TempDir(), wantErrSub: "unusable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_CACHE_HOME", cache)
			t.Setenv(EnvAssetsBin, tc.bin)
			t.Setenv(EnvAssetsRepo, tc.repo)
			b, err := FindBinaries()
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("FindBinaries() error = %v, want one containing %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(tc.wantDir, "bin", "kube-apiserver"); b.APIServer != want {
				t.Errorf("APIServer = %s, want %s", b.APIServer, want)
			}
		})
	}

	t.Run("no repository", func(t *testing.T) {
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		t.Setenv(EnvAssetsBin, "")
		t.Setenv(EnvAssetsRepo, "")
		if _, err := FindBinaries(); err == nil || !strings.Contains(err.Error(), "hull assets build") {
			t.Fatalf("FindBinaries() error = %v, want a hint to build the assets", err)
		}
	})
}
