package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hullproject/hull/"

// The layers, bottom up. A package may import its own layer and those
// below it, never one above (docs/architecture.md draws them).
const (
	base     = iota // building blocks: types, the store, PKI, the provider contract
	provider        // one package tree per cloud, implementing pkg/cloud
	engine          // reconcile, rolling update, upgrades, etcd manager, validation; nodeup
	facade          // pkg/cluster: the application as a library
	cli             // cobra: flags, printing, prompts
	program         // main packages, and the end-to-end tests
)

var layerNames = []string{"building block", "provider", "engine", "facade", "CLI", "program"}

// layers gives each package its layer by the longest matching path
// prefix. A new package must fall under one of them.
var layers = map[string]int{
	"internal/":            base,
	"pkg/apis/":            base,
	"pkg/assets/":          base,
	"pkg/cli/output/":      base,
	"pkg/cloud/":           base,
	"pkg/etcd/backup/":     base,
	"pkg/etcd/control/":    base,
	"pkg/etcd/etcdtest/":   base,
	"pkg/etcd/restore/":    base,
	"pkg/etcd/retention/":  base,
	"pkg/images/":          base,
	"pkg/kube/kubeconfig/": base,
	"pkg/kube/kubetest/":   base,
	"pkg/pki/":             base,
	"pkg/registry/":        base,
	"pkg/state/":           base,
	"channels/":            base,

	"cloudup/aws/":   provider,
	"cloudup/local/": provider,

	"cloudup/":           engine, // the reconcile engine and its graph executor
	"pkg/etcd/manager/":  engine,
	"pkg/kube/validate/": engine,
	"pkg/rollingupdate/": engine,
	"upgrades/":          engine,
	"nodeup/":            engine, // the node agent, a program of its own below cmd/nodeup

	"pkg/cluster/":  facade,
	"pkg/commands/": cli,

	"cmd/":   program,
	"tests/": program,
}

func layerOf(pkg string) (int, bool) {
	best, layer := "", 0
	for prefix, l := range layers {
		if strings.HasPrefix(pkg+"/", prefix) && len(prefix) > len(best) {
			best, layer = prefix, l
		}
	}
	return layer, best != ""
}

type goPackage struct {
	ImportPath string
	Imports    []string
}

// listPackages is `go list -json ./...` from the module root: every
// package with its non-test imports.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// TestImportsPointDown fails on an import from a lower layer into a
// higher one, and on a package no layer claims.
func TestImportsPointDown(t *testing.T) {
	for _, p := range listPackages(t) {
		from := strings.TrimPrefix(p.ImportPath, module)
		fl, ok := layerOf(from)
		if !ok {
			t.Errorf("package %s is in no layer: add its path to the table in %s", from, "internal/layering/layering_test.go")
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := strings.TrimPrefix(imp, module)
			tl, ok := layerOf(to)
			if ok && tl > fl {
				t.Errorf("%s (%s) imports %s (%s): imports must point down", from, layerNames[fl], to, layerNames[tl])
			}
		}
	}
}

// cloudName matches code that names a cloud: the API constants and the
// string literals.
var cloudName = regexp.MustCompile(`v1alpha1\.Cloud(AWS|Local)\b|"(aws|local)"`)

// cloudNameAllowed are the files outside the providers' packages that may
// name a cloud, and why.
var cloudNameAllowed = map[string]string{
	"pkg/apis/v1alpha1/types.go": "the spec.cloudProvider enum",
	"pkg/cloud/driver.go":        "the registry's default cloud",
}

// TestCloudNamesStayInProviders: nothing outside a provider's packages
// (cloudup/<cloud>, nodeup's counterpart, the tests) switches on a cloud's
// name; everything cloud-specific goes through the cloud's registered
// driver (pkg/cloud.Driver, nodeup/model.Cloud).
func TestCloudNamesStayInProviders(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	providers := []string{"cloudup/aws/", "cloudup/local/", "nodeup/awsroutes/", "nodeup/localnode/", "tests/"}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || cloudNameAllowed[rel] != "" ||
			slices.ContainsFunc(providers, func(p string) bool { return strings.HasPrefix(rel, p) }) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			code, _, _ := strings.Cut(line, "//")
			if cloudName.MatchString(code) {
				t.Errorf("%s:%d names a cloud outside its provider's packages: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(fmt.Errorf("walk the module: %w", err))
	}
}
