package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/cloudup/local"
)

// Build compiles a main package of this module into dir and returns its path.
func Build(dir, pkg, name string, ldflags string) (string, error) {
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// RequireRoot skips a test that starts machines when not run as root,
// loudly, unless HULL_REQUIRE_ROOT=1 (make test sets it) makes that a failure.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("HULL_REQUIRE_ROOT") == "1" {
		t.Fatal("this test starts local-cloud machines and needs root")
	}
	t.Skip("WARNING: skipping: this test starts local-cloud machines and needs root")
}

// Env is one isolated hull environment: its own state store and its own
// local cloud daemon, stopped (after deleting what it made) when the test ends.
type Env struct {
	T        testing.TB
	Hull     string
	Dir      string
	State    string
	CloudDir string
	Extra    []string
}

// NewEnv makes an environment under a fresh temporary directory.
func NewEnv(t testing.TB, hull string) *Env {
	dir := t.TempDir()
	e := &Env{T: t, Hull: hull, Dir: dir, State: "file://" + filepath.Join(dir, "state"), CloudDir: filepath.Join(dir, "cloud")}
	t.Cleanup(e.stopDaemon)
	return e
}

// Result is one hull run.
type Result struct {
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

// Command is hull with the environment's state store and local cloud, not
// started: for a test that reads its output as it runs or kills it.
func (e *Env) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Hull, append(args, "--state", e.State)...)
	cmd.Env = append(os.Environ(), "HULL_LOCAL_CLOUD_DIR="+e.CloudDir, "HULL_CLUSTER_NAME=", "HULL_STATE=")
	cmd.Env = append(cmd.Env, e.Extra...)
	return cmd
}

// Run executes hull with the environment's state store and local cloud.
func (e *Env) Run(args ...string) Result {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := e.Command(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errOut.String(), Elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code = ee.ExitCode()
	} else if err != nil {
		e.T.Fatalf("run hull %v: %v", args, err)
	}
	return r
}

// Must runs hull and fails the test unless it exits 0.
func (e *Env) Must(args ...string) string {
	e.T.Helper()
	r := e.Run(args...)
	if r.Code != 0 {
		e.T.Fatalf("hull %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Fails runs hull, expecting exit code 1 and every want in stderr.
func (e *Env) Fails(wants []string, args ...string) Result {
	e.T.Helper()
	r := e.Run(args...)
	if r.Code != 1 {
		e.T.Fatalf("hull %s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.Stderr, w) {
			e.T.Errorf("hull %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.Stderr)
		}
	}
	return r
}

// Client connects to the environment's daemon (which must be running).
func (e *Env) Client(ctx context.Context) (*local.Client, error) {
	return local.Connect(ctx, local.ClientOptions{StateDir: e.CloudDir, Socket: filepath.Join(e.CloudDir, "daemon.sock")})
}

// Instance is a row of `hull get instances -o json`.
type Instance struct {
	ID            string `json:"id"`
	Group         string `json:"group"`
	Role          string `json:"role"`
	Address       string `json:"address"`
	State         string `json:"state"`
	ConfigVersion string `json:"configVersion"`
	NeedsUpdate   bool   `json:"needsUpdate"`
	Detached      bool   `json:"detached"`
}

// Instances lists the cluster's machines through the CLI.
func (e *Env) Instances(cluster string) []Instance {
	e.T.Helper()
	var out []Instance
	if err := json.Unmarshal([]byte(e.Must("get", "instances", "--name", cluster, "-o", "json")), &out); err != nil {
		e.T.Fatalf("get instances -o json: %v", err)
	}
	return out
}

// WaitInstances polls until ok accepts the instance list, or fails the test.
func (e *Env) WaitInstances(cluster string, timeout time.Duration, what string, ok func([]Instance) bool) []Instance {
	e.T.Helper()
	var insts []Instance
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		insts = e.Instances(cluster)
		return ok(insts), nil
	})
	if err != nil {
		e.T.Fatalf("timed out after %s waiting for %s; instances: %+v", timeout, what, insts)
	}
	return insts
}

// RunningCount counts attached Running instances.
func RunningCount(insts []Instance) int {
	n := 0
	for _, in := range insts {
		if in.State == "Running" && !in.Detached {
			n++
		}
	}
	return n
}

// stopDaemon deletes what the test left in the local cloud and stops its
// daemon, so a failed test leaves no machine, namespace or process behind.
func (e *Env) stopDaemon() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := e.Client(ctx)
	if err != nil {
		return
	}
	defer cl.Close()
	for _, cluster := range e.clusters() {
		if r := e.Run("delete", "cluster", cluster, "--yes"); r.Code != 0 {
			e.T.Logf("cleanup: delete cluster %s: %s", cluster, r.Stderr)
		}
	}
	if err := cl.Shutdown(ctx); err != nil {
		e.T.Errorf("cleanup: stop local cloud daemon: %v", err)
	}
}

func (e *Env) clusters() []string {
	r := e.Run("get", "clusters", "-o", "json")
	var objs []struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &objs) != nil {
		return nil
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Metadata.Name)
	}
	return names
}

// WriteImage makes a local-cloud image directory holding boot (copied) and
// a manifest with its sha256.
func WriteImage(dir, boot string, versions map[string]string) error {
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(boot)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "boot"), data, 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	m := map[string]any{
		"name":     filepath.Base(dir),
		"boot":     []string{"bin/boot"},
		"files":    map[string]string{"bin/boot": hex.EncodeToString(sum[:])},
		"versions": versions,
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}

// Leftovers lists host objects whose name contains any of marks: network
// namespaces, links, cgroups under hull/, and mounts. Tests assert it is
// empty after deleting a cluster.
func Leftovers(marks ...string) []string {
	var found []string
	match := func(s string) bool {
		for _, m := range marks {
			if m != "" && strings.Contains(s, m) {
				return true
			}
		}
		return false
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if match(l) {
				found = append(found, "netns "+l)
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if match(l) {
				found = append(found, "link "+l)
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if match(l) {
				found = append(found, "mount "+l)
			}
		}
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/hull/*")
	for _, d := range dirs {
		if match(d) {
			found = append(found, "cgroup "+d)
		}
	}
	return found
}

// Eventually polls fn every 200 ms until it succeeds, failing the test with
// fn's last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	var lastErr error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		lastErr = fn()
		return lastErr == nil, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, lastErr)
	}
}
