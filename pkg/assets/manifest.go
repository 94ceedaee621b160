package assets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hullproject/hull/internal/atomicfile"
)

// ManifestFile is the name of the manifest inside a repository.
const ManifestFile = "manifest.json"

// File is one file of the repository, named relative to its root with
// forward slashes, e.g. "bin/kube-apiserver".
type File struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Image is a container image saved as a docker-archive tarball that
// `ctr images import` accepts.
type Image struct {
	// Name is the reference the image is tagged with inside the tarball,
	// e.g. "registry.k8s.io/pause:3.10" or "hull.local/kube-apiserver:v1.37.2".
	Name string `json:"name"`
	// File is the tarball, relative to the repository: "images/kube-apiserver.tar".
	File string `json:"file"`
	// Digest is the digest of the image manifest.
	Digest string `json:"digest"`
	// SHA256 is the sum of the tarball.
	SHA256 string `json:"sha256"`
}

// Manifest describes a complete repository. Build writes it last, so a
// repository with a manifest is a finished one.
type Manifest struct {
	KubernetesVersion string  `json:"kubernetesVersion"`
	EtcdVersion       string  `json:"etcdVersion"`
	ContainerdVersion string  `json:"containerdVersion"`
	RuncVersion       string  `json:"runcVersion"`
	CNIVersion        string  `json:"cniVersion"`
	Files             []File  `json:"files"`
	Images            []Image `json:"images"`
}

// File returns the entry for a repository-relative name.
func (m *Manifest) File(name string) (File, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Image returns the entry whose tarball is file.
func (m *Manifest) Image(file string) (Image, bool) {
	for _, im := range m.Images {
		if im.File == file {
			return im, true
		}
	}
	return Image{}, false
}

// sortEntries orders files and images by name so the JSON is stable.
func (m *Manifest) sortEntries() {
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Name < m.Files[j].Name })
	sort.Slice(m.Images, func(i, j int) bool { return m.Images[i].File < m.Images[j].File })
}

// validate refuses entries that would point outside the repository.
func (m *Manifest) validate() error {
	var errs []error
	seen := map[string]bool{}
	check := func(name string) {
		if !localName(name) {
			errs = append(errs, fmt.Errorf("entry %q: not a relative path inside the repository", name))
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("entry %q: listed twice", name))
		}
		seen[name] = true
	}
	for _, f := range m.Files {
		check(f.Name)
	}
	for _, im := range m.Images {
		check(im.File)
	}
	return errors.Join(errs...)
}

func localName(name string) bool {
	return name != "" && name != ManifestFile && !strings.Contains(name, `\`) &&
		path.Clean(name) == name && filepath.IsLocal(filepath.FromSlash(name))
}

// Load reads the manifest of the repository at repoDir.
func Load(repoDir string) (*Manifest, error) {
	p := filepath.Join(repoDir, ManifestFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("load asset manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("load asset manifest %s: %w", p, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("load asset manifest %s: %w", p, err)
	}
	return &m, nil
}

// Verify checks that every file and image tarball m lists is present in
// repoDir with the recorded size and sha256. The error lists every bad
// entry by name.
func Verify(repoDir string, m *Manifest) error {
	if m == nil {
		return errors.New("verify assets: no manifest")
	}
	if err := m.validate(); err != nil {
		return fmt.Errorf("verify assets in %s: %w", repoDir, err)
	}
	var errs []error
	for _, f := range m.Files {
		if err := checkFile(repoDir, f.Name, f.SHA256, f.Size); err != nil {
			errs = append(errs, err)
		}
	}
	for _, im := range m.Images {
		if err := checkFile(repoDir, im.File, im.SHA256, -1); err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", im.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verify assets in %s: %w", repoDir, err)
	}
	return nil
}

// checkFile compares one file with its expected sum; size < 0 skips the
// size check (the sum covers it).
func checkFile(repoDir, name, wantSum string, size int64) error {
	p := filepath.Join(repoDir, filepath.FromSlash(name))
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: missing", name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if size >= 0 && st.Size() != size {
		return fmt.Errorf("%s: size %d, manifest says %d", name, st.Size(), size)
	}
	sum, _, err := SumFile(p)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if sum != wantSum {
		return fmt.Errorf("%s: sha256 %s, manifest says %s", name, sum, wantSum)
	}
	return nil
}

// SumFile returns the hex sha256 and size of a file.
func SumFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeManifest stores m in repoDir atomically: a reader sees the old
// manifest or the new one, never a torn file.
func writeManifest(repoDir string, m *Manifest) error {
	m.sortEntries()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode asset manifest: %w", err)
	}
	return atomicfile.Write(filepath.Join(repoDir, ManifestFile), append(data, '\n'), 0o644)
}
