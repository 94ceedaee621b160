package assets

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/hullproject/hull/internal/atomicfile"
)

//go:embed internal/pause/main.go
var pauseSource []byte

// wrapper is a generated Go module under <CacheDir>/build that builds
// programs from modules that cannot be `go install`ed directly.
type wrapper struct {
	dir   string
	files map[string][]byte // go.mod (before tidy), tools.go, main.go ...
}

// stampFile records what the wrapper was generated from; tidy reruns only
// when the generated files change.
const stampFile = "hull-wrapper.stamp"

// prepare writes the wrapper's files and runs `go mod tidy` unless the
// same wrapper was already tidied.
func (w wrapper) prepare(ctx context.Context) error {
	var stamp bytes.Buffer
	for _, name := range sortedKeys(w.files) {
		fmt.Fprintf(&stamp, "== %s\n%s\n", name, w.files[name])
	}
	if old, err := os.ReadFile(filepath.Join(w.dir, stampFile)); err == nil && bytes.Equal(old, stamp.Bytes()) {
		if _, err := os.Stat(filepath.Join(w.dir, "go.sum")); err == nil {
			return nil
		}
	}
	if err := os.RemoveAll(w.dir); err != nil {
		return fmt.Errorf("reset wrapper module %s: %w", w.dir, err)
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("create wrapper module: %w", err)
	}
	for name, data := range w.files {
		if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write wrapper module: %w", err)
		}
	}
	if _, err := run(ctx, goCommand(w.dir, "mod", "tidy")); err != nil {
		return fmt.Errorf("resolve wrapper module %s: %w", w.dir, err)
	}
	return atomicfile.Write(filepath.Join(w.dir, stampFile), stamp.Bytes(), 0o644)
}

// goCommand runs the go tool in dir for a static linux build. The build
// cache is the user's, so repeated builds and other checkouts share it.
func goCommand(dir string, args ...string) command {
	return command{
		dir:  dir,
		name: "go",
		args: args,
		env: []string{
			"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + runtime.GOARCH,
			"GOWORK=off", "GOFLAGS=-buildvcs=false",
		},
	}
}

// goBuild builds pkg from the wrapper in dir into out, via a temporary
// file so out is never a half-written binary.
func goBuild(ctx context.Context, dir, out, pkg string, ldflags ...string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	tmp := out + ".partial"
	defer os.Remove(tmp)
	flags := append([]string{"-s", "-w"}, ldflags...)
	if _, err := run(ctx, goCommand(dir, "build", "-ldflags", strings.Join(flags, " "), "-o", tmp, pkg)); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// moduleInfo is the part of `go mod download -json` output hull reads.
type moduleInfo struct {
	Path, Version, GoMod, Info, Error string
}

// downloadModule fetches path@version through the module proxy (or the
// local module cache) and returns where its go.mod is.
func downloadModule(ctx context.Context, dir, path, version string) (moduleInfo, error) {
	out, err := run(ctx, goCommand(dir, "mod", "download", "-json", path+"@"+version))
	var mi moduleInfo
	if jerr := json.Unmarshal([]byte(out), &mi); err != nil || jerr != nil || mi.Error != "" {
		if mi.Error != "" {
			return mi, fmt.Errorf("module %s@%s is not available from the Go module proxy: %s", path, version, mi.Error)
		}
		if err == nil {
			err = jerr
		}
		return mi, fmt.Errorf("module %s@%s is not available from the Go module proxy: %w", path, version, err)
	}
	return mi, nil
}

// goModDirectives is what a wrapper copies from the module it wraps.
type goModDirectives struct {
	goVersion string
	godebug   []string  // "default=go1.26"
	replaces  []replace // every replace directive, in order
}

type replace struct {
	oldPath, oldVersion string
	newPath, newVersion string
}

// local reports whether the replacement is a directory (a staging module)
// rather than another module version.
func (r replace) local() bool {
	return strings.HasPrefix(r.newPath, "./") || strings.HasPrefix(r.newPath, "../") ||
		strings.HasPrefix(r.newPath, "/") || r.newPath == "." || r.newPath == ".."
}

// parseGoMod reads the go, godebug and replace directives of a go.mod,
// in single-line and block form.
func parseGoMod(data []byte) (goModDirectives, error) {
	var d goModDirectives
	block := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if block != "" {
			if f[0] == ")" {
				block = ""
				continue
			}
			f = append([]string{block}, f...)
		} else if len(f) == 2 && f[1] == "(" {
			block = f[0]
			continue
		}
		switch f[0] {
		case "go":
			if len(f) != 2 {
				return d, fmt.Errorf("go.mod line %d: malformed go directive", n)
			}
			d.goVersion = f[1]
		case "godebug":
			d.godebug = append(d.godebug, f[1:]...)
		case "replace":
			r, err := parseReplace(f[1:])
			if err != nil {
				return d, fmt.Errorf("go.mod line %d: %w", n, err)
			}
			d.replaces = append(d.replaces, r)
		}
	}
	if err := sc.Err(); err != nil {
		return d, fmt.Errorf("read go.mod: %w", err)
	}
	return d, nil
}

// parseReplace reads "old [v] => new [v]".
func parseReplace(f []string) (replace, error) {
	arrow := -1
	for i, s := range f {
		if s == "=>" {
			arrow = i
		}
	}
	lhs, rhs := f, []string(nil)
	if arrow >= 0 {
		lhs, rhs = f[:arrow], f[arrow+1:]
	}
	if arrow < 0 || len(lhs) < 1 || len(lhs) > 2 || len(rhs) < 1 || len(rhs) > 2 {
		return replace{}, fmt.Errorf("malformed replace directive %q", strings.Join(f, " "))
	}
	r := replace{oldPath: unquote(lhs[0]), newPath: unquote(rhs[0])}
	if len(lhs) == 2 {
		r.oldVersion = lhs[1]
	}
	if len(rhs) == 2 {
		r.newVersion = rhs[1]
	}
	return r, nil
}

func unquote(s string) string { return strings.Trim(s, "\"`") }

// kubernetesWrapperGoMod generates the go.mod of the module that builds
// k8s.io/kubernetes at version: it requires the module and, because
// replace directives only apply in the main module, replaces every staging
// module that kubernetes maps to a local directory with its published
// v0.MINOR.PATCH. Other replaces are copied as they are.
func kubernetesWrapperGoMod(kubernetesGoMod []byte, v kubeVersion) ([]byte, error) {
	d, err := parseGoMod(kubernetesGoMod)
	if err != nil {
		return nil, fmt.Errorf("parse k8s.io/kubernetes %s go.mod: %w", v, err)
	}
	staging := 0
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Generated by hull: builds k8s.io/kubernetes %s with its staging modules at %s.\n", v, v.staging())
	b.WriteString("module hull.local/build/kubernetes\n\n")
	if d.goVersion != "" {
		fmt.Fprintf(&b, "go %s\n\n", d.goVersion)
	}
	for _, g := range d.godebug {
		fmt.Fprintf(&b, "godebug %s\n\n", g)
	}
	fmt.Fprintf(&b, "require k8s.io/kubernetes %s\n\nreplace (\n", v)
	for _, r := range d.replaces {
		old := r.oldPath
		if r.oldVersion != "" {
			old += " " + r.oldVersion
		}
		switch {
		case r.local():
			staging++
			fmt.Fprintf(&b, "\t%s => %s %s\n", old, r.oldPath, v.staging())
		case r.newVersion != "":
			fmt.Fprintf(&b, "\t%s => %s %s\n", old, r.newPath, r.newVersion)
		default:
			return nil, fmt.Errorf("k8s.io/kubernetes %s go.mod: replace %s => %s has no version", v, old, r.newPath)
		}
	}
	b.WriteString(")\n")
	if staging == 0 {
		return nil, fmt.Errorf("k8s.io/kubernetes %s go.mod has no staging replace directives; cannot derive the staging modules", v)
	}
	return b.Bytes(), nil
}

// toolsGo returns a tools.go that pins packages (often main packages) in
// the wrapper so `go mod tidy` keeps their modules.
func toolsGo(pkgs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("//go:build tools\n\n// Generated by hull.\npackage tools\n\nimport (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	b.WriteString(")\n")
	return b.Bytes()
}

// etcdWrapper builds etcd (a main calling etcdmain.Main) and etcdutl.
func etcdWrapper(dir, version string) wrapper {
	return wrapper{dir: dir, files: map[string][]byte{
		"go.mod": fmt.Appendf(nil, "// Generated by hull.\nmodule hull.local/build/etcd\n\ngo 1.26\n\nrequire (\n"+
			"\tgo.etcd.io/etcd/etcdutl/v3 v%[1]s\n\tgo.etcd.io/etcd/server/v3 v%[1]s\n)\n", version),
		"main.go": []byte("// Generated by hull: the etcd server.\npackage main\n\nimport (\n\t\"os\"\n\n" +
			"\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n"),
		"tools.go": toolsGo(etcdutlPackage),
	}}
}

const etcdutlPackage = "go.etcd.io/etcd/etcdutl/v3"

// corednsWrapper builds CoreDNS's own main package.
func corednsWrapper(dir, version string) wrapper {
	return wrapper{dir: dir, files: map[string][]byte{
		"go.mod":   fmt.Appendf(nil, "// Generated by hull.\nmodule hull.local/build/coredns\n\ngo 1.26\n\nrequire %s %s\n", corednsModule, version),
		"tools.go": toolsGo(corednsModule),
	}}
}

const corednsModule = "github.com/coredns/coredns"

// pauseWrapper builds the pause program embedded from internal/pause.
func pauseWrapper(dir string) wrapper {
	return wrapper{dir: dir, files: map[string][]byte{
		"go.mod":  []byte("// Generated by hull.\nmodule hull.local/build/pause\n\ngo 1.26\n"),
		"main.go": pauseSource,
	}}
}

func sortedKeys(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }
