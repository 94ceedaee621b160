package assets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultEtcdVersion is the etcd release built when Options.EtcdVersion is empty.
const DefaultEtcdVersion = "3.6.16"

// Options says what Build builds and where.
type Options struct {
	// KubernetesVersion is "1.37.2" or "v1.37.2". Any release whose
	// k8s.io/kubernetes module and staging modules the proxy serves works;
	// 1.37.2 and 1.36.3 are the supported ones.
	KubernetesVersion string
	// EtcdVersion is the go.etcd.io/etcd release, "3.6.16" (the default).
	EtcdVersion string
	// CacheDir holds the repositories (<CacheDir>/assets/<version>/) and
	// the generated wrapper modules (<CacheDir>/build/). Default:
	// $XDG_CACHE_HOME/hull, else ~/.cache/hull.
	CacheDir string
	// Progress receives one line per step; nil discards them.
	Progress func(format string, args ...any)
	// InstallPackages lets Build apt-get install containerd, runc and
	// containernetworking-plugins when they are missing.
	InstallPackages bool
}

// DefaultCacheDir is $XDG_CACHE_HOME/hull, else ~/.cache/hull.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "hull"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w", err)
	}
	return filepath.Join(home, ".cache", "hull"), nil
}

// RepositoryDir is where Build puts the repository for a Kubernetes version.
func RepositoryDir(cacheDir, kubernetesVersion string) (string, error) {
	v, err := parseKubeVersion(kubernetesVersion)
	if err != nil {
		return "", err
	}
	return filepath.Join(cacheDir, "assets", v.String()), nil
}

// builder carries one Build.
type builder struct {
	opts     Options
	kube     kubeVersion
	repo     string    // the repository being built
	buildDir string    // <CacheDir>/build: wrapper modules
	old      *Manifest // the previous manifest, nil if none or unusable
	m        *Manifest // the manifest being assembled
}

// Build produces the repository for o.KubernetesVersion and returns its
// directory and manifest. Each step is skipped when its outputs are in the
// repository with the sums of the previous manifest, so a second Build
// takes seconds. The manifest is written last: a repository without one
// is incomplete. Concurrent Builds of one version wait for each other.
func Build(ctx context.Context, o Options) (repoDir string, m *Manifest, err error) {
	b, err := newBuilder(o)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(b.repo, 0o755); err != nil {
		return "", nil, fmt.Errorf("create asset repository: %w", err)
	}
	unlock, err := lockDir(b.repo)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	b.loadPrevious()

	start := time.Now()
	b.progress("preparing assets for Kubernetes %s in %s", b.kube, b.repo)
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"debian packages", b.debian}, // first: it fails fast on a host without them
		{"kubernetes", b.kubernetes},
		{"etcd", b.etcd},
		{"coredns", b.coredns},
		{"pause", b.pause},
		{"images", b.images},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return "", nil, fmt.Errorf("build assets for Kubernetes %s: %s: %w", b.kube, s.name, err)
		}
	}
	if err := writeManifest(b.repo, b.m); err != nil {
		return "", nil, err
	}
	b.progress("assets for Kubernetes %s ready in %s (%d files, %d images)", b.kube, time.Since(start).Round(time.Second), len(b.m.Files), len(b.m.Images))
	return b.repo, b.m, nil
}

func newBuilder(o Options) (*builder, error) {
	kube, err := parseKubeVersion(o.KubernetesVersion)
	if err != nil {
		return nil, fmt.Errorf("build assets: %w", err)
	}
	if o.EtcdVersion == "" {
		o.EtcdVersion = DefaultEtcdVersion
	}
	o.EtcdVersion = strings.TrimPrefix(o.EtcdVersion, "v")
	if o.CacheDir == "" {
		if o.CacheDir, err = DefaultCacheDir(); err != nil {
			return nil, fmt.Errorf("build assets: %w", err)
		}
	}
	if o.CacheDir, err = filepath.Abs(o.CacheDir); err != nil {
		return nil, fmt.Errorf("build assets: %w", err)
	}
	return &builder{
		opts:     o,
		kube:     kube,
		repo:     filepath.Join(o.CacheDir, "assets", kube.String()),
		buildDir: filepath.Join(o.CacheDir, "build"),
		m: &Manifest{
			KubernetesVersion: kube.String(),
			EtcdVersion:       o.EtcdVersion,
		},
	}, nil
}

// loadPrevious reads the manifest of an earlier Build, if it is usable.
func (b *builder) loadPrevious() {
	old, err := Load(b.repo)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		slog.Warn("assets: ignoring unreadable manifest, rebuilding", "repo", b.repo, "err", err)
	case old.KubernetesVersion != b.kube.String():
		slog.Warn("assets: manifest is for another version, rebuilding", "repo", b.repo, "manifest", old.KubernetesVersion)
	default:
		b.old = old
	}
}

func (b *builder) progress(format string, args ...any) {
	slog.Debug("assets: " + fmt.Sprintf(format, args...))
	if b.opts.Progress != nil {
		b.opts.Progress(format, args...)
	}
}

// cachedFile returns the previous manifest's entry for name when the file
// is in the repository with that size and sum.
func (b *builder) cachedFile(name string) (File, bool) {
	if b.old == nil {
		return File{}, false
	}
	f, ok := b.old.File(name)
	if !ok || checkFile(b.repo, f.Name, f.SHA256, f.Size) != nil {
		return File{}, false
	}
	return f, true
}

// reuseFile records a cached file in the new manifest and reports it as
// "<label> (cached)"; it returns false when the file must be rebuilt.
func (b *builder) reuseFile(name, label string) bool {
	f, ok := b.cachedFile(name)
	if !ok {
		return false
	}
	b.m.Files = append(b.m.Files, f)
	if label != "" {
		b.progress("%s (cached)", label)
	}
	return true
}

// addFile records a file freshly written into the repository.
func (b *builder) addFile(name string) error {
	sum, size, err := SumFile(filepath.Join(b.repo, filepath.FromSlash(name)))
	if err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	b.m.Files = append(b.m.Files, File{Name: name, SHA256: sum, Size: size})
	return nil
}
