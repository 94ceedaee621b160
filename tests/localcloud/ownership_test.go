package localcloud

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/tests/harness"
)

// Two state stores hold a cluster of the same name; only one of them made
// it. The other store's update and delete, with or without --yes, must
// refuse to touch it and name the store that owns it (issue #15, finding A).
func TestAnotherStoreCannotTouchACluster(t *testing.T) {
	harness.RequireRoot(t)
	const name = "owned.local.example.com"
	a := harness.NewEnv(t, hullBin)
	imgDir := filepath.Join(a.Dir, image)
	if err := harness.WriteImage(imgDir, bootBin, map[string]string{"kubernetes": "none"}); err != nil {
		t.Fatal(err)
	}
	a.Must("image", "import", imgDir, "--name", image)
	spec := write(t, a.Dir, "c.yaml", clusterYAML(name, "10.214.0.0/16", "10.214.32.0/19", image, 1))
	a.Must("create", "-f", spec)
	a.Must("update", "cluster", name, "--yes")
	a.WaitInstances(name, 90*time.Second, "4 running machines", func(in []harness.Instance) bool { return harness.RunningCount(in) == 4 })
	before := a.Instances(name)

	// Store B shares the local cloud but not the store. It gets no cleanup of
	// its own: A's stops the daemon after deleting A's cluster.
	b := &harness.Env{T: t, Hull: hullBin, Dir: a.Dir, State: "file://" + filepath.Join(a.Dir, "other-store"), CloudDir: a.CloudDir}
	b.Must("create", "-f", spec)
	refusal := []string{"belongs to another cluster named " + name, a.State, "--state " + a.State}
	for _, args := range [][]string{
		{"delete", "cluster", name, "--yes"},
		{"delete", "cluster", name},
		{"update", "cluster", name, "--yes"},
		{"update", "cluster", name},
		{"rolling-update", "cluster", name, "--yes", "--cloudonly", "--force"},
	} {
		b.Fails(refusal, args...)
	}
	after := a.Instances(name)
	if len(after) != len(before) {
		t.Fatalf("store B changed cluster A's machines: before %+v, after %+v", before, after)
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].State != "Running" {
			t.Errorf("machine %s: now %s %s", before[i].ID, after[i].ID, after[i].State)
		}
	}
	if out := a.Must("update", "cluster", name); !strings.Contains(out, "No changes need to be applied") {
		t.Errorf("cluster A after store B's attempts:\n%s", out)
	}

	// Once A deleted its cluster, the name is free: B can create its own.
	a.Must("delete", "cluster", name, "--yes")
	b.Must("update", "cluster", name, "--yes")
	// A new create of the name in store A is another cluster: a new identity.
	a.Must("create", "-f", spec)
	a.Fails([]string{"belongs to another cluster named " + name, b.State}, "delete", "cluster", name, "--yes")
	b.Must("delete", "cluster", name, "--yes")
}

// A dry run reads the local cloud and plans without starting its daemon,
// so it leaves no process behind (issue #15, finding 6).
func TestDryRunStartsNoDaemon(t *testing.T) {
	harness.RequireRoot(t)
	const name = "dryrun.local.example.com"
	e := harness.NewEnv(t, hullBin)
	imgDir := filepath.Join(e.Dir, image)
	if err := harness.WriteImage(imgDir, bootBin, map[string]string{"kubernetes": "none"}); err != nil {
		t.Fatal(err)
	}
	e.Must("image", "import", imgDir, "--name", image)
	e.Must("create", "-f", write(t, e.Dir, "c.yaml", clusterYAML(name, "10.215.0.0/16", "10.215.32.0/19", image, 1)))
	ctx := context.Background()
	cl, err := e.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	harness.Eventually(t, 30*time.Second, "the daemon to stop", func() error { return daemonGone(e.CloudDir) })

	plan := e.Must("update", "cluster", name)
	for _, want := range []string{"Will create resources:", "Network/" + name, "InstanceGroup/nodes-b", "Must specify --yes"} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry run lacks %q:\n%s", want, plan)
		}
	}
	e.Must("rolling-update", "cluster", name, "--cloudonly")
	e.Must("delete", "cluster", name)
	e.Must("get", "instances", "--name", name)
	if err := daemonGone(e.CloudDir); err != nil {
		t.Fatalf("a command that only plans left a daemon behind: %v", err)
	}
}

// daemonGone fails while a local cloud daemon for dir runs.
func daemonGone(dir string) error {
	out, _ := exec.Command("pgrep", "-af", "local-cloud daemon --state-dir "+dir).Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		return &leftoverError{s}
	}
	return nil
}

type leftoverError struct{ procs string }

func (e *leftoverError) Error() string { return "still running: " + e.procs }
