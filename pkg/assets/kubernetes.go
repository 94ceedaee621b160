package assets

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// KubernetesBinaries are built from k8s.io/kubernetes/cmd/<name> into bin/.
var KubernetesBinaries = []string{
	"kube-apiserver", "kube-controller-manager", "kube-scheduler",
	"kubelet", "kube-proxy", "kubectl",
}

// kubeVersion is a Kubernetes release, "v1.37.2".
type kubeVersion struct {
	major, minor, patch, pre string
}

var kubeVersionRE = regexp.MustCompile(`^v?(1)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

func parseKubeVersion(s string) (kubeVersion, error) {
	m := kubeVersionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return kubeVersion{}, fmt.Errorf("kubernetes version %q: want 1.MINOR.PATCH, e.g. 1.37.2", s)
	}
	return kubeVersion{major: m[1], minor: m[2], patch: m[3], pre: m[4]}, nil
}

func (v kubeVersion) String() string {
	return "v" + v.major + "." + v.minor + "." + v.patch + v.pre
}

// staging is the version k8s.io/* staging modules are published at for
// this release: v1.37.2 -> v0.37.2.
func (v kubeVersion) staging() string {
	return "v0." + v.minor + "." + v.patch + v.pre
}

// kubeLDFlags stamps the version into both copies of the version package,
// so `--version` and `kubectl version` report v instead of v0.0.0-master.
func kubeLDFlags(v kubeVersion, commit string, date time.Time) []string {
	if commit == "" {
		commit = strings.Repeat("0", 40)
	}
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		for _, kv := range [][2]string{
			{"gitVersion", v.String()}, {"gitMajor", v.major}, {"gitMinor", v.minor},
			{"gitTreeState", "clean"}, {"gitCommit", commit},
			{"buildDate", date.UTC().Format(time.RFC3339)},
		} {
			flags = append(flags, "-X", pkg+"."+kv[0]+"="+kv[1])
		}
	}
	return flags
}

// kubernetes builds the Kubernetes binaries that are not already in the
// repository with the sums of the previous manifest.
func (b *builder) kubernetes(ctx context.Context) error {
	var todo []string
	for _, name := range KubernetesBinaries {
		if b.reuseFile("bin/"+name, fmt.Sprintf("%s %s", name, b.kube)) {
			continue
		}
		todo = append(todo, name)
	}
	if len(todo) == 0 {
		return nil
	}
	dir := filepath.Join(b.buildDir, "k8s-"+b.kube.String())
	b.progress("resolving k8s.io/kubernetes %s and its staging modules ...", b.kube)
	info, err := b.prepareKubernetes(ctx, dir)
	if err != nil {
		return err
	}
	ldflags := kubeLDFlags(b.kube, info.commit, info.date)
	for _, name := range todo {
		out := filepath.Join(b.repo, "bin", name)
		start := time.Now()
		b.progress("building %s %s (CGO_ENABLED=0) ...", name, b.kube)
		if err := goBuild(ctx, dir, out, "k8s.io/kubernetes/cmd/"+name, ldflags...); err != nil {
			return err
		}
		args, want := []string{"--version"}, "Kubernetes "+b.kube.String()
		if name == "kubectl" {
			args, want = []string{"version", "--client"}, "Client Version: "+b.kube.String()
		}
		if err := checkVersion(ctx, out, want, args...); err != nil {
			return err
		}
		if err := b.addFile("bin/" + name); err != nil {
			return err
		}
		b.progress("built %s %s in %s", name, b.kube, time.Since(start).Round(time.Second))
	}
	return nil
}

// releaseInfo is what the module proxy says about a release.
type releaseInfo struct {
	commit string
	date   time.Time
}

// prepareKubernetes generates and tidies the wrapper module in dir.
func (b *builder) prepareKubernetes(ctx context.Context, dir string) (releaseInfo, error) {
	if err := os.MkdirAll(b.buildDir, 0o755); err != nil {
		return releaseInfo{}, fmt.Errorf("create build dir: %w", err)
	}
	mi, err := downloadModule(ctx, b.buildDir, "k8s.io/kubernetes", b.kube.String())
	if err != nil {
		return releaseInfo{}, fmt.Errorf("kubernetes %s: %w", b.kube, err)
	}
	goMod, err := os.ReadFile(mi.GoMod)
	if err != nil {
		return releaseInfo{}, fmt.Errorf("kubernetes %s: read go.mod: %w", b.kube, err)
	}
	wrapperMod, err := kubernetesWrapperGoMod(goMod, b.kube)
	if err != nil {
		return releaseInfo{}, err
	}
	pkgs := make([]string, 0, len(KubernetesBinaries))
	for _, name := range KubernetesBinaries {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+name)
	}
	w := wrapper{dir: dir, files: map[string][]byte{"go.mod": wrapperMod, "tools.go": toolsGo(pkgs...)}}
	if err := w.prepare(ctx); err != nil {
		return releaseInfo{}, fmt.Errorf("kubernetes %s (a staging module at %s may be missing from the proxy): %w", b.kube, b.kube.staging(), err)
	}
	return readReleaseInfo(mi.Info), nil
}

// readReleaseInfo reads the proxy's .info file: the release time and,
// when the proxy records it, the commit.
func readReleaseInfo(path string) releaseInfo {
	var info struct {
		Time   time.Time
		Origin struct{ Hash string }
	}
	ri := releaseInfo{date: time.Unix(0, 0)}
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &info) != nil {
		return ri
	}
	if !info.Time.IsZero() {
		ri.date = info.Time
	}
	ri.commit = info.Origin.Hash
	return ri
}

// etcd builds bin/etcd and bin/etcdutl.
func (b *builder) etcd(ctx context.Context) error {
	v := b.opts.EtcdVersion
	sameVersion := b.old != nil && b.old.EtcdVersion == v
	if sameVersion && b.reuseFile("bin/etcd", "etcd v"+v) && b.reuseFile("bin/etcdutl", "etcdutl v"+v) {
		return nil
	}
	dir := filepath.Join(b.buildDir, "etcd-v"+v)
	b.progress("resolving go.etcd.io/etcd v%s ...", v)
	if err := etcdWrapper(dir, v).prepare(ctx); err != nil {
		return fmt.Errorf("etcd v%s: %w", v, err)
	}
	for _, t := range []struct{ name, pkg, want string }{
		{"etcd", ".", "etcd Version: " + v},
		{"etcdutl", etcdutlPackage, "etcdutl version: " + v},
	} {
		start := time.Now()
		b.progress("building %s v%s (CGO_ENABLED=0) ...", t.name, v)
		out := filepath.Join(b.repo, "bin", t.name)
		if err := goBuild(ctx, dir, out, t.pkg); err != nil {
			return fmt.Errorf("etcd v%s: %w", v, err)
		}
		args := []string{"--version"}
		if t.name == "etcdutl" {
			args = []string{"version"}
		}
		if err := checkVersion(ctx, out, t.want, args...); err != nil {
			return err
		}
		if err := b.addFile("bin/" + t.name); err != nil {
			return err
		}
		b.progress("built %s v%s in %s", t.name, v, time.Since(start).Round(time.Second))
	}
	return nil
}

// CoreDNSVersion is the CoreDNS release built into the repository.
const CoreDNSVersion = "v1.15.0"

// coredns builds bin/coredns from CoreDNS's own main package.
func (b *builder) coredns(ctx context.Context) error {
	if b.reuseFile("bin/coredns", "coredns "+CoreDNSVersion) {
		return nil
	}
	dir := filepath.Join(b.buildDir, "coredns-"+CoreDNSVersion)
	b.progress("resolving %s %s ...", corednsModule, CoreDNSVersion)
	if err := corednsWrapper(dir, CoreDNSVersion).prepare(ctx); err != nil {
		return fmt.Errorf("coredns %s: %w", CoreDNSVersion, err)
	}
	start := time.Now()
	b.progress("building coredns %s (CGO_ENABLED=0) ...", CoreDNSVersion)
	out := filepath.Join(b.repo, "bin", "coredns")
	if err := goBuild(ctx, dir, out, corednsModule); err != nil {
		return fmt.Errorf("coredns %s: %w", CoreDNSVersion, err)
	}
	if err := checkVersion(ctx, out, "CoreDNS-"+strings.TrimPrefix(CoreDNSVersion, "v"), "-version"); err != nil {
		return err
	}
	if err := b.addFile("bin/coredns"); err != nil {
		return err
	}
	b.progress("built coredns %s in %s", CoreDNSVersion, time.Since(start).Round(time.Second))
	return nil
}

// pause builds bin/pause from internal/pause.
func (b *builder) pause(ctx context.Context) error {
	if b.reuseFile("bin/pause", "pause "+PauseVersion) {
		return nil
	}
	b.progress("building pause %s (CGO_ENABLED=0) ...", PauseVersion)
	if err := buildPause(ctx, filepath.Join(b.buildDir, "pause"), filepath.Join(b.repo, "bin", "pause")); err != nil {
		return err
	}
	return b.addFile("bin/pause")
}

// buildPause builds the embedded pause program into out.
func buildPause(ctx context.Context, dir, out string) error {
	if err := pauseWrapper(dir).prepare(ctx); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	if err := goBuild(ctx, dir, out, "."); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	return nil
}

// checkVersion runs a freshly built binary and requires want in its output,
// so a missing ldflags stamp or a wrong module version fails the build.
func checkVersion(ctx context.Context, bin, want string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := run(ctx, command{name: bin, args: args})
	if err != nil {
		return fmt.Errorf("check version of %s: %w", filepath.Base(bin), err)
	}
	if !strings.Contains(out, want) {
		return fmt.Errorf("check version of %s: %s printed %q, want %q", filepath.Base(bin), strings.Join(args, " "), strings.TrimSpace(out), want)
	}
	return nil
}
