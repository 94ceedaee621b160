package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hullproject/hull/pkg/cloud"
)

// ManifestFile is the name of an image's manifest inside its directory.
const ManifestFile = "manifest.json"

// Manifest describes an image directory: the boot command (relative to the
// image root), the sha256 of every file, and the versions baked in.
type Manifest struct {
	Name     string            `json:"name"`
	Boot     []string          `json:"boot"`
	Files    map[string]string `json:"files"`
	Versions map[string]string `json:"versions,omitempty"`
}

// image is an imported image: its verified copy lives in Dir.
type image struct {
	Name       string    `json:"name"`
	ID         string    `json:"id"`
	Dir        string    `json:"dir"`
	Boot       []string  `json:"boot"`
	ImportedAt time.Time `json:"importedAt"`
}

var imageNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// imageCache remembers the sha256 of files by identity and change stamp, so
// re-verifying an image reads only files that changed since last time. The
// ctime is part of the stamp because no write can preserve it.
type imageCache struct {
	mu   sync.Mutex
	sums map[fileStamp]string
}

type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func newImageCache() *imageCache { return &imageCache{sums: map[fileStamp]string{}} }

func (c *imageCache) sum(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	var stamp fileStamp
	if ok {
		stamp = fileStamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: fi.ModTime().UnixNano(), ctime: st.Ctim.Nano()}
		c.mu.Lock()
		s, hit := c.sums[stamp]
		c.mu.Unlock()
		if hit {
			return s, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	s := hex.EncodeToString(h.Sum(nil))
	if ok {
		c.mu.Lock()
		c.sums[stamp] = s
		c.mu.Unlock()
	}
	return s, nil
}

// verifyImage checks an image directory against its manifest and returns
// the manifest and the image id (derived from the manifest's bytes). Errors
// name the file and what is wrong with it.
func (c *imageCache) verifyImage(dir string) (*Manifest, string, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("missing %s in %s", ManifestFile, dir)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", ManifestFile, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("parse %s: %w", ManifestFile, err)
	}
	if len(m.Boot) == 0 {
		return nil, "", fmt.Errorf("%s has no boot command", ManifestFile)
	}
	if _, ok := m.Files[m.Boot[0]]; !ok {
		return nil, "", fmt.Errorf("boot program %s is not listed in the files of %s", m.Boot[0], ManifestFile)
	}
	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		if !filepath.IsLocal(name) || name == ManifestFile {
			return nil, "", fmt.Errorf("%s lists file %q, which is not a path inside the image", ManifestFile, name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		got, err := c.sum(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("missing file %s", name)
		}
		if err != nil {
			return nil, "", fmt.Errorf("file %s: %w", name, err)
		}
		if got != m.Files[name] {
			return nil, "", fmt.Errorf("sha256 mismatch for %s: manifest says %s, file has %s", name, m.Files[name], got)
		}
	}
	sum := sha256.Sum256(data)
	return &m, "img-" + hex.EncodeToString(sum[:])[:16], nil
}

// importImage verifies dir, copies (hardlinks where it can) its files into
// StateDir/images/<name> and records the image.
func (d *daemon) importImage(name, dir string) (*cloud.Image, error) {
	if !imageNameRE.MatchString(name) {
		return nil, errInvalid("image name %q: use letters, digits, '.', '_' and '-'", name)
	}
	if !filepath.IsAbs(dir) {
		return nil, errInvalid("import image %s: directory %q must be an absolute path", name, dir)
	}
	m, id, err := d.images.verifyImage(dir)
	if err != nil {
		return nil, errInvalid("import image %s from %s: %v", name, dir, err)
	}
	target := filepath.Join(d.opts.StateDir, "images", name)

	d.mu.Lock()
	old := d.st.Images[name]
	d.mu.Unlock()
	if old != nil && old.ID == id {
		if _, _, err := d.images.verifyImage(old.Dir); err == nil {
			return &cloud.Image{Name: name, ID: id}, nil
		}
		// The stored copy is damaged: import it again over it.
	}

	tmp, err := os.MkdirTemp(filepath.Join(d.opts.StateDir, "images"), "."+name+".import-")
	if err != nil {
		return nil, fmt.Errorf("import image %s: %w", name, err)
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	files := []string{ManifestFile}
	for f := range m.Files {
		files = append(files, f)
	}
	for _, f := range files {
		if err := linkOrCopy(filepath.Join(dir, f), filepath.Join(tmp, f)); err != nil {
			return nil, fmt.Errorf("import image %s: %w", name, err)
		}
	}
	// Verify the copy: the source may have changed while we copied it.
	if _, id2, err := d.images.verifyImage(tmp); err != nil || id2 != id {
		return nil, errConflict("import image %s: %s changed during the import (%v); try again", name, dir, err)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	var users []string
	for _, inst := range d.st.Instances {
		if inst.live() && inst.Image == name {
			users = append(users, inst.ID)
		}
	}
	if old := d.st.Images[name]; old != nil && old.ID != id && len(users) > 0 {
		sort.Strings(users)
		return nil, errConflict("image %s is in use by instances %v with different content (%s); import the new content under a new name", name, users, old.ID)
	}
	if err := os.RemoveAll(target); err != nil {
		return nil, fmt.Errorf("import image %s: replace old copy: %w", name, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return nil, fmt.Errorf("import image %s: %w", name, err)
	}
	d.st.Images[name] = &image{Name: name, ID: id, Dir: target, Boot: m.Boot, ImportedAt: time.Now().UTC()}
	if err := d.saveLocked(); err != nil {
		return nil, err
	}
	d.log.Info("imported image", "name", name, "id", id, "from", dir, "files", len(m.Files))
	return &cloud.Image{Name: name, ID: id}, nil
}

// findImage returns a recorded image after re-verifying its files; a broken
// image is reported as not found, naming what is wrong.
func (d *daemon) findImage(name string) (*cloud.Image, error) {
	img, err := d.verifiedImage(name)
	if err != nil {
		return nil, err
	}
	return &cloud.Image{Name: img.Name, ID: img.ID}, nil
}

func (d *daemon) verifiedImage(name string) (*image, error) {
	d.mu.Lock()
	img := d.st.Images[name]
	d.mu.Unlock()
	if img == nil {
		return nil, errNotFound("image %s is not imported into the local cloud", name)
	}
	_, id, err := d.images.verifyImage(img.Dir)
	if err != nil {
		return nil, errNotFound("image %s is corrupt: %v; import it again", name, err)
	}
	if id != img.ID {
		return nil, errNotFound("image %s is corrupt: its manifest changed since the import (id %s, was %s); import it again", name, id, img.ID)
	}
	cp := *img
	return &cp, nil
}

// linkOrCopy hardlinks src to dst, or copies it (keeping its mode) when
// they are on different filesystems.
func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
