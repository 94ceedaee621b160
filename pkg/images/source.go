package images

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Annotations that name an image in an OCI layout's index: the OCI one
// (crane, ko: a full reference or just a tag) and containerd's (docker
// and ctr exports: always a full reference).
const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// Source is one image (or multi-platform index) read from a file, with
// the name it carries there.
type Source struct {
	// Ref is the image's name, e.g. docker.io/library/web:v1.
	Ref name.Reference
	// From is the file or directory it was read from.
	From  string
	image v1.Image
	index v1.ImageIndex
}

// Size is the bytes a push may send: the manifest, config and every layer.
func (s Source) Size() (int64, error) {
	if s.index != nil {
		m, err := s.index.IndexManifest()
		if err != nil {
			return 0, err
		}
		var n int64
		for _, d := range m.Manifests {
			n += d.Size
		}
		return n, nil
	}
	m, err := s.image.Manifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// Verify reads every blob and checks it against its digest, so a corrupt
// file is refused before anything is pushed.
func (s Source) Verify() error {
	var err error
	if s.index != nil {
		err = validate.Index(s.index)
	} else {
		err = validate.Image(s.image)
	}
	if err != nil {
		return fmt.Errorf("%s in %s is damaged: %w", s.Ref, s.From, err)
	}
	return nil
}

// ReadTarball reads every image of a tarball as `docker save` writes it
// (docker-archive: manifest.json with RepoTags) or an OCI layout in a tar
// (oci-layout, index.json; as crane, ko, docker and buildkit write it).
// An OCI layout is unpacked under tmp, which the caller removes.
func ReadTarball(path, tmp string) ([]Source, error) {
	kind, err := tarballKind(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "docker":
		return readDockerArchive(path)
	case "oci":
		dir, err := os.MkdirTemp(tmp, "oci-layout-")
		if err != nil {
			return nil, err
		}
		if err := untar(path, dir); err != nil {
			return nil, err
		}
		srcs, err := ReadLayout(dir, nil)
		for i := range srcs {
			srcs[i].From = path
		}
		return srcs, err
	}
	return nil, fmt.Errorf("%s is neither a docker-archive (docker save) nor an OCI layout tar: it holds no manifest.json and no oci-layout", path)
}

// tarballKind looks for the file that names the format at the top of the tar.
func tarballKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	kind := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return kind, nil
		}
		if err != nil {
			return "", fmt.Errorf("%s is not a readable tar file: %w", path, err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "oci-layout":
			return "oci", nil
		case "manifest.json":
			kind = "docker" // an OCI layout from docker has both: keep looking
		}
	}
}

func readDockerArchive(path string) ([]Source, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("%s: read docker-archive manifest.json: %w", path, err)
	}
	var out []Source
	for i, d := range m {
		if len(d.RepoTags) == 0 {
			return nil, fmt.Errorf("%s: image %d (%s) has no name (RepoTags); save it by name: docker save NAME:TAG", path, i, d.Config)
		}
		for _, t := range d.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("%s: image name %q: %w", path, t, err)
			}
			img, err := tarball.Image(opener, &tag)
			if err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", path, t, err)
			}
			out = append(out, Source{Ref: tag, From: path, image: img})
		}
	}
	return out, nil
}

// ReadLayout reads the images of an OCI layout directory. With want, it
// returns the one image named want (by its full name or its tag), or the
// only image of a layout that holds one, under the name want; without,
// every image, each under the full name its annotations give.
func ReadLayout(dir string, want name.Reference) ([]Source, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI layout: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", dir, err)
	}
	var out []Source
	for _, d := range im.Manifests {
		named := d.Annotations[annotationContainerdName]
		if named == "" {
			named = d.Annotations[annotationRefName]
		}
		var ref name.Reference
		switch {
		case want != nil && (len(im.Manifests) == 1 || named == want.String() || named == want.Identifier()):
			ref = want
		case want != nil:
			continue
		case named == "":
			return nil, fmt.Errorf("%s: image %s has no name (annotation %s); push it by name with hull image push CLUSTER REF --from %s", dir, d.Digest, annotationRefName, dir)
		default:
			if ref, err = name.ParseReference(named); err != nil || !strings.Contains(named, "/") && !strings.Contains(named, ":") {
				return nil, fmt.Errorf("%s: image %s is named only %q, not a full reference; push it by name with hull image push CLUSTER REF --from %s", dir, d.Digest, named, dir)
			}
		}
		s := Source{Ref: ref, From: dir}
		if d.MediaType.IsIndex() {
			s.index, err = idx.ImageIndex(d.Digest)
		} else {
			s.image, err = idx.Image(d.Digest)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", dir, d.Digest, err)
		}
		out = append(out, s)
	}
	if want != nil && len(out) == 0 {
		return nil, fmt.Errorf("%s holds %d images and none is named %s", dir, len(im.Manifests), want)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no image", dir)
	}
	return out, nil
}

// untar unpacks a tar of regular files and directories into dir, refusing
// paths that would leave it.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, h.Name, err)
			}
		}
	}
}
