package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Environment variables that say where the binaries are.
const (
	// EnvAssetsRepo is an assets repository (pkg/assets): binaries under bin/.
	EnvAssetsRepo = "HULL_ASSETS_REPO"
	// EnvAssetsBin is a plain directory holding etcd and kube-apiserver, for
	// development before a repository is built. It wins over the others.
	EnvAssetsBin = "HULL_ASSETS_BIN"
	// EnvRequireAssets=1 turns a missing binary from a skip into a failure,
	// so CI cannot pass by skipping.
	EnvRequireAssets = "HULL_REQUIRE_ASSETS"
)

// manifestFile marks a complete assets repository (pkg/assets writes it
// last). Named here rather than imported so the harness does not depend on
// the build code.
const manifestFile = "manifest.json"

// Binaries are the programs Start runs.
type Binaries struct {
	Etcd      string
	APIServer string
	// From says how they were found, for messages.
	From string
}

// FindBinaries locates etcd and kube-apiserver: $HULL_ASSETS_BIN, else
// $HULL_ASSETS_REPO/bin, else bin/ of the newest complete repository under
// <XDG_CACHE_HOME or ~/.cache>/hull/assets/.
func FindBinaries() (*Binaries, error) {
	if dir := os.Getenv(EnvAssetsBin); dir != "" {
		return binariesIn(dir, "$"+EnvAssetsBin)
	}
	if repo := os.Getenv(EnvAssetsRepo); repo != "" {
		return binariesIn(filepath.Join(repo, "bin"), "$"+EnvAssetsRepo)
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(cache, "hull", "assets")
	repo, err := newestRepository(root)
	if err != nil {
		return nil, err
	}
	return binariesIn(filepath.Join(repo, "bin"), "assets repository "+repo)
}

func cacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache"), nil
}

// newestRepository is the directory under root whose manifest was written
// last: the most recently completed build.
func newestRepository(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("no assets repository under %s (build one with `hull assets build`, or set $%s or $%s): %w", root, EnvAssetsRepo, EnvAssetsBin, err)
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st, err := os.Stat(filepath.Join(root, e.Name(), manifestFile))
		if err != nil {
			continue // incomplete or being built
		}
		if best == "" || st.ModTime().After(bestTime) {
			best, bestTime = filepath.Join(root, e.Name()), st.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no complete assets repository (a directory with %s) under %s; build one with `hull assets build`, or set $%s or $%s", manifestFile, root, EnvAssetsRepo, EnvAssetsBin)
	}
	return best, nil
}

func binariesIn(dir, from string) (*Binaries, error) {
	b := &Binaries{Etcd: filepath.Join(dir, "etcd"), APIServer: filepath.Join(dir, "kube-apiserver"), From: from + " (" + dir + ")"}
	var missing []string
	for _, p := range []string{b.Etcd, b.APIServer} {
		st, err := os.Stat(p)
		switch {
		case err != nil:
			missing = append(missing, err.Error())
		case st.IsDir() || st.Mode()&0o111 == 0:
			missing = append(missing, p+": not an executable file")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("binaries from %s are unusable: %s", b.From, strings.Join(missing, "; "))
	}
	return b, nil
}
