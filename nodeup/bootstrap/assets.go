package bootstrap

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/assets"
)

// BakedAssets is where a baked image carries its asset repository.
const BakedAssets = "/opt/hull/image/assets"

// FetchedAssets is where an unbaked machine keeps fetched assets.
const FetchedAssets = "/var/lib/hull/assets"

// LocateAssets finds the repository (baked, or fetched from repoURL into
// fetchDir) and verifies every sha256 of its manifest before anything
// starts. Errors name the bad file.
func LocateAssets(ctx context.Context, bakedDir, repoURL, fetchDir string) (string, *assets.Manifest, error) {
	dir := bakedDir
	if _, err := os.Stat(filepath.Join(bakedDir, assets.ManifestFile)); err != nil {
		if repoURL == "" {
			return "", nil, fmt.Errorf("assets: no baked repository at %s and the config names no assets repository", bakedDir)
		}
		if err := Fetch(ctx, repoURL, fetchDir); err != nil {
			return "", nil, err
		}
		dir = fetchDir
	}
	m, err := assets.Load(dir)
	if err != nil {
		return "", nil, fmt.Errorf("assets: %w", err)
	}
	if err := assets.Verify(dir, m); err != nil {
		return "", nil, fmt.Errorf("assets: refusing to start anything: %w", err)
	}
	return dir, m, nil
}

// Fetch copies a repository (file:// or https://) into dir: the manifest,
// then each file it lists that is not already there with the right sum.
// The caller verifies afterwards.
func Fetch(ctx context.Context, repoURL, dir string) error {
	u, err := url.Parse(repoURL)
	if err != nil {
		return fmt.Errorf("assets repository %q: %w", repoURL, err)
	}
	var open func(name string) (io.ReadCloser, error)
	switch u.Scheme {
	case "file":
		open = func(name string) (io.ReadCloser, error) {
			return os.Open(filepath.Join(u.Path, filepath.FromSlash(name)))
		}
	case "https", "http":
		client := &http.Client{Timeout: 10 * time.Minute}
		open = func(name string) (io.ReadCloser, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(repoURL, "/")+"/"+name, nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return nil, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
			}
			return resp.Body, nil
		}
	default:
		return fmt.Errorf("assets repository %q: scheme must be file:// or https://", repoURL)
	}
	if err := copyOne(open, assets.ManifestFile, dir); err != nil {
		return err
	}
	m, err := assets.Load(dir)
	if err != nil {
		return fmt.Errorf("assets from %s: %w", repoURL, err)
	}
	names := []string{}
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	for _, im := range m.Images {
		names = append(names, im.File)
	}
	for _, n := range names {
		if one := (&assets.Manifest{Files: filesNamed(m, n)}); len(one.Files) == 1 && assets.Verify(dir, one) == nil {
			continue // already fetched
		}
		if err := copyOne(open, n, dir); err != nil {
			return err
		}
	}
	return nil
}

func filesNamed(m *assets.Manifest, name string) []assets.File {
	if f, ok := m.File(name); ok {
		return []assets.File{f}
	}
	if im, ok := m.Image(name); ok {
		return []assets.File{{Name: im.File, SHA256: im.SHA256, Size: -1}}
	}
	return nil
}

func copyOne(open func(string) (io.ReadCloser, error), name, dir string) error {
	if !fs.ValidPath(name) || path.Clean(name) != name {
		return fmt.Errorf("assets: refusing file name %q", name)
	}
	r, err := open(name)
	if err != nil {
		return fmt.Errorf("assets: fetch %s: %w", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("assets: fetch %s: %w", name, err)
	}
	mode := os.FileMode(0o644)
	if strings.HasPrefix(name, "bin/") || strings.HasPrefix(name, "cni/") {
		mode = 0o755
	}
	if err := tasks.WriteFileAtomic(filepath.Join(dir, filepath.FromSlash(name)), data, mode); err != nil {
		return fmt.Errorf("assets: %w", err)
	}
	return nil
}
