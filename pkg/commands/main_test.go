package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local"
)

// hullBin is the real hull binary, built once with a stamped version, so the
// tests see exit codes, stdout and stderr exactly as a user does.
var hullBin string

const testVersion = "v0.0.0-test+stamped"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hull-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hullBin = filepath.Join(dir, "hull")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/hullproject/hull/pkg/commands.Version="+testVersion, "-o", hullBin, "github.com/hullproject/hull/cmd/hull")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hull:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one hull run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// env is one isolated state store and environment for a test.
type env struct {
	t     *testing.T
	state string
	dir   string
	extra []string
}

// newEnv gives the test its own state store and local cloud directory; a
// local cloud daemon a command starts there is shut down when the test ends.
func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	cloudDir := filepath.Join(dir, "cloud")
	t.Cleanup(func() { stopLocalCloud(t, cloudDir) })
	return &env{t: t, state: "file://" + filepath.Join(dir, "state"), dir: dir, extra: []string{EnvLocalCloudDir + "=" + cloudDir}}
}

func stopLocalCloud(t *testing.T, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := local.Connect(ctx, local.ClientOptions{StateDir: dir, Socket: filepath.Join(dir, "daemon.sock")})
	if err != nil {
		return // none was started
	}
	defer cl.Close()
	if err := cl.Shutdown(ctx); err != nil {
		t.Errorf("stop local cloud daemon in %s: %v", dir, err)
	}
}

// run executes the real binary with --state pointing at the test store.
func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(hullBin, append(args, "--state", e.state)...)
	// TMPDIR: an edit that fails keeps the user's copy, as kubectl does.
	cmd.Env = append(os.Environ(), "HOME="+e.dir, "TMPDIR="+e.dir, "XDG_DATA_HOME="+filepath.Join(e.dir, "data"), "HULL_CLUSTER_NAME=", "HULL_STATE=")
	cmd.Env = append(cmd.Env, e.extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run hull %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// must runs hull and fails the test unless it exits 0.
func (e *env) must(args ...string) string {
	e.t.Helper()
	r := e.run("", args...)
	if r.code != 0 {
		e.t.Fatalf("hull %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs hull and asserts the exit code and that stderr holds every want.
func (e *env) fails(code int, wants []string, args ...string) result {
	e.t.Helper()
	r := e.run("", args...)
	if r.code != code {
		e.t.Fatalf("hull %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			e.t.Errorf("hull %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
		}
	}
	return r
}

// storeFiles lists every file in the file:// store, relative to its root.
func (e *env) storeFiles() []string {
	e.t.Helper()
	root := strings.TrimPrefix(e.state, "file://")
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	return files
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sampleYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
}
