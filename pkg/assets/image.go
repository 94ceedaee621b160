package assets

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// PauseVersion is the tag of the pause image, named like the upstream
// image. containerd's default sandbox_image differs (pause:3.6 in 1.6), so
// nodeup must set sandbox_image to PauseImage in containerd's CRI config.
const PauseVersion = "3.10"

// PauseImage is the reference the pause image is tagged with.
const PauseImage = "registry.k8s.io/pause:" + PauseVersion

// LocalRegistry prefixes every image hull builds except pause. Nothing
// serves it: images are imported into containerd from the tarballs.
const LocalRegistry = "hull.local"

// imageSpec says how to assemble one image from repository files.
type imageSpec struct {
	ref        string      // tag
	file       string      // repository-relative tarball
	files      []imageFile // contents
	entrypoint []string
}

// imageFile puts a repository file at an absolute path in the image.
type imageFile struct {
	src string // repository-relative
	dst string // absolute path inside the image
}

// imageSpecs lists the images of a repository for these versions.
func imageSpecs(kube kubeVersion, etcdVersion string) []imageSpec {
	specs := []imageSpec{{
		ref: PauseImage, file: "images/pause.tar",
		files: []imageFile{{"bin/pause", "/pause"}}, entrypoint: []string{"/pause"},
	}}
	binImage := func(name, tag string, extra ...string) imageSpec {
		s := imageSpec{
			ref:        LocalRegistry + "/" + name + ":" + tag,
			file:       "images/" + name + ".tar",
			entrypoint: []string{"/usr/local/bin/" + name},
		}
		for _, bin := range append([]string{name}, extra...) {
			s.files = append(s.files, imageFile{"bin/" + bin, "/usr/local/bin/" + bin})
		}
		return s
	}
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		specs = append(specs, binImage(name, kube.String()))
	}
	specs = append(specs, binImage("etcd", "v"+etcdVersion, "etcdutl"))
	specs = append(specs, binImage("coredns", CoreDNSVersion))
	return specs
}

// images builds every image whose tarball is missing, changed, or made
// from binaries that changed since the previous manifest.
func (b *builder) images(ctx context.Context) error {
	for _, s := range imageSpecs(b.kube, b.opts.EtcdVersion) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if im, ok := b.cachedImage(s); ok {
			b.m.Images = append(b.m.Images, im)
			b.progress("image %s (cached)", s.ref)
			continue
		}
		start := time.Now()
		b.progress("building image %s ...", s.ref)
		files := make([]imageFile, len(s.files))
		for i, f := range s.files {
			files[i] = imageFile{src: filepath.Join(b.repo, filepath.FromSlash(f.src)), dst: f.dst}
		}
		out := filepath.Join(b.repo, filepath.FromSlash(s.file))
		digest, err := buildImage(s.ref, files, s.entrypoint, out)
		if err != nil {
			return err
		}
		sum, _, err := SumFile(out)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.ref, err)
		}
		b.m.Images = append(b.m.Images, Image{Name: s.ref, File: s.file, Digest: digest, SHA256: sum})
		b.progress("built image %s (%s) in %s", s.ref, digest, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// cachedImage reuses the previous manifest's entry when the tarball still
// matches it and every input file has the sum it had then.
func (b *builder) cachedImage(s imageSpec) (Image, bool) {
	if b.old == nil {
		return Image{}, false
	}
	old, ok := b.old.Image(s.file)
	if !ok || old.Name != s.ref {
		return Image{}, false
	}
	for _, f := range s.files {
		was, ok1 := b.old.File(f.src)
		now, ok2 := b.m.File(f.src)
		if !ok1 || !ok2 || was.SHA256 != now.SHA256 {
			return Image{}, false
		}
	}
	if checkFile(b.repo, old.File, old.SHA256, -1) != nil {
		return Image{}, false
	}
	return old, true
}

// buildImage writes a single-layer image holding files, with entrypoint
// set, as a docker-archive tarball at out, and returns its manifest digest.
// Timestamps are fixed, so the same inputs give the same digest.
func buildImage(ref string, files []imageFile, entrypoint []string, out string) (string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	layerPath := out + ".layer"
	defer os.Remove(layerPath)
	if err := writeLayer(layerPath, files); err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	layer, err := tarball.LayerFromFile(layerPath)
	if err != nil {
		return "", fmt.Errorf("image %s: layer: %w", ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image %s: digest: %w", ref, err)
	}
	tmp := out + ".partial"
	defer os.Remove(tmp)
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return "", fmt.Errorf("image %s: write %s: %w", ref, out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	return digest.String(), nil
}

// writeLayer writes an uncompressed layer tar with files and their parent
// directories, owned by root, with a fixed modification time.
func writeLayer(p string, files []imageFile) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	tw := tar.NewWriter(f)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, file := range files {
		dst := strings.TrimPrefix(path.Clean(file.dst), "/")
		if dst == "" || dst == "." || strings.HasPrefix(dst, "../") {
			return fmt.Errorf("bad image path %q", file.dst)
		}
		var parents []string
		for d := path.Dir(dst); d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
		if err := addLayerFile(tw, file.src, dst, epoch); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addLayerFile(tw *tar.Writer, src, dst string, mtime time.Time) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: 0o755, Size: st.Size(), ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, in); err != nil {
		return fmt.Errorf("add %s to layer: %w", src, err)
	}
	return nil
}
