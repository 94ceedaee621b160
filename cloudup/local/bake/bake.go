package bake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/assets"
)

// Layout of an image directory, as nodeup expects it inside a machine
// (the image is mounted at /opt/hull/image).
const (
	NodeupPath = "bin/nodeup"
	AssetsDir  = "assets"
)

// Options say what to bake.
type Options struct {
	// Name of the image; default hull-kubernetes-<version>.
	Name string
	// Nodeup is the nodeup binary to put in the image.
	Nodeup string
	// AssetsRepo is a repository built by assets.Build.
	AssetsRepo string
	// Unbaked leaves the assets out: nodeup fetches them at boot from the
	// cluster's assets repository and checks their sums.
	Unbaked bool
	// Dir is where the image directory is written (replaced if present).
	Dir string
}

// DefaultName is the image name completion gives instance groups: the
// version without its "v", as users write it in the spec.
func DefaultName(kubernetesVersion string) string {
	return "hull-kubernetes-" + strings.TrimPrefix(kubernetesVersion, "v")
}

// Bake writes the image directory and its manifest, and returns the manifest.
// Assets are hard-linked from the repository when it is on the same
// filesystem (an image is then nearly free), else copied.
func Bake(o Options) (*local.Manifest, error) {
	m, err := assets.Load(o.AssetsRepo)
	if err != nil {
		return nil, fmt.Errorf("read assets repository %s: %w", o.AssetsRepo, err)
	}
	if err := assets.Verify(o.AssetsRepo, m); err != nil {
		return nil, fmt.Errorf("assets repository %s is damaged (rebuild it with `hull assets build`): %w", o.AssetsRepo, err)
	}
	if o.Name == "" {
		o.Name = DefaultName(m.KubernetesVersion)
	}
	tmp := o.Dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "bin"), 0o755); err != nil {
		return nil, err
	}
	im := &local.Manifest{
		Name:  o.Name,
		Boot:  []string{NodeupPath},
		Files: map[string]string{},
		Versions: map[string]string{
			"kubernetes": m.KubernetesVersion,
			"etcd":       m.EtcdVersion,
			"containerd": m.ContainerdVersion,
			"runc":       m.RuncVersion,
			"cni":        m.CNIVersion,
			"baked":      fmt.Sprint(!o.Unbaked),
		},
	}
	sum, err := copyFile(o.Nodeup, filepath.Join(tmp, NodeupPath), 0o755)
	if err != nil {
		return nil, fmt.Errorf("add nodeup %s: %w", o.Nodeup, err)
	}
	im.Files[NodeupPath] = sum
	if !o.Unbaked {
		if err := bakeAssets(o.AssetsRepo, m, tmp, im); err != nil {
			return nil, err
		}
	}
	data, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, local.ManifestFile), data, 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, o.Dir); err != nil {
		return nil, fmt.Errorf("install image %s: %w", o.Dir, err)
	}
	return im, nil
}

// bakeAssets links the repository's files, image tarballs and manifest
// under assets/, recording the sums the repository already verified.
func bakeAssets(repo string, m *assets.Manifest, dir string, im *local.Manifest) error {
	add := func(rel, sum string) error {
		src, dst := filepath.Join(repo, rel), filepath.Join(dir, AssetsDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Link(src, dst); err != nil {
			if _, err := copyFile(src, dst, 0o755); err != nil {
				return fmt.Errorf("add asset %s: %w", rel, err)
			}
		}
		im.Files[filepath.ToSlash(filepath.Join(AssetsDir, rel))] = sum
		return nil
	}
	for _, f := range m.Files {
		if err := add(f.Name, f.SHA256); err != nil {
			return err
		}
	}
	for _, img := range m.Images {
		if err := add(img.File, img.SHA256); err != nil {
			return err
		}
	}
	sum, _, err := assets.SumFile(filepath.Join(repo, assets.ManifestFile))
	if err != nil {
		return fmt.Errorf("assets manifest: %w", err)
	}
	return add(assets.ManifestFile, sum)
}

func copyFile(src, dst string, mode os.FileMode) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
