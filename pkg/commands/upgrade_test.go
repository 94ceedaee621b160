package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/state"
)

const upgradeCluster = "demo.example.com"

// upgrade runs `hull upgrade ARGS` in process against the test's state store,
// with the exit-code rules of Main. (It runs in process because the command
// is registered in the root command separately.)
func (e *env) upgrade(args ...string) result {
	e.t.Helper()
	var out, errOut bytes.Buffer
	o := &rootOptions{stateURL: e.state, out: &out, errOut: &errOut}
	root := &cobra.Command{Use: "hull", SilenceErrors: true, SilenceUsage: true}
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newUpgradeCommand(o))
	markUsageErrors(root)
	root.SetArgs(append([]string{"upgrade"}, args...))
	code := ExitOK
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(&errOut, "Error: %v\n", err)
		code = ExitFailure
		if errors.As(err, &usageError{}) {
			code = ExitUsage
		}
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// createUpgradeCluster creates the sample cluster at version, with the
// control-plane group's image set explicitly to that version's image, the
// node group's image left to completion, and a third group pinned to a
// custom image.
func createUpgradeCluster(t *testing.T, e *env, version string) {
	t.Helper()
	y := strings.Replace(sampleYAML(t), "kubernetesVersion: 1.37.2", "kubernetesVersion: "+version, 1)
	y = strings.Replace(y, "  role: ControlPlane\n", "  role: ControlPlane\n  image: hull-kubernetes-"+version+"\n", 1)
	y += `---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata:
  name: pinned
  labels:
    hull.dev/cluster: demo.example.com
spec:
  role: Node
  image: my-own-image
  subnets: [zone-a]
`
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", y))
}

// storeSnapshot is every file of the file:// store with its content, less
// the cluster lease, whose token changes whenever a command takes it.
func (e *env) storeSnapshot() map[string]string {
	e.t.Helper()
	root := strings.TrimPrefix(e.state, "file://")
	snap := map[string]string{}
	for _, f := range e.storeFiles() {
		if f == filepath.Join(upgradeCluster, "lock") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			e.t.Fatal(err)
		}
		snap[f] = string(b)
	}
	return snap
}

type upgradedSpec struct {
	Version, Channel string
	Images           map[string]string
}

// readSpec reads the user spec back through the real binary.
func (e *env) readSpec() upgradedSpec {
	e.t.Helper()
	var c v1alpha1.Cluster
	decodeJSON(e.t, e.must("get", "clusters", upgradeCluster, "-o", "json"), &c)
	var igs []v1alpha1.InstanceGroup
	decodeJSON(e.t, e.must("get", "instancegroups", "--name", upgradeCluster, "-o", "json"), &igs)
	s := upgradedSpec{Version: c.Spec.KubernetesVersion, Channel: c.Spec.Channel, Images: map[string]string{}}
	for _, ig := range igs {
		s.Images[ig.Metadata.Name] = ig.Spec.Image
	}
	return s
}

func TestUpgradeClusterDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	createUpgradeCluster(t, e, "1.36.1")
	before := e.storeSnapshot()

	r := e.upgrade("cluster", upgradeCluster)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	want := `ITEM                            PROPERTY            OLD                      NEW
Cluster                         KubernetesVersion   1.36.1                   1.36.3
InstanceGroup/control-plane-a   Image               hull-kubernetes-1.36.1   hull-kubernetes-1.36.3
InstanceGroup/nodes-a           Image               hull-kubernetes-1.36.1   hull-kubernetes-1.36.3

Kubernetes 1.36.1 -> 1.36.3 (latest recommended patch of 1.36), etcd 3.6.16 (unchanged)
InstanceGroup/pinned pins image "my-own-image", which is not the image of Kubernetes 1.36.1; it is left as is.

Path to the latest of channel stable: 1.36.1 -> 1.36.3 -> 1.37.2

Step 1: Kubernetes 1.36.1 -> 1.36.3 (latest recommended patch of 1.36), etcd 3.6.16 (unchanged)
  hull upgrade cluster demo.example.com --kubernetes-version 1.36.3 --yes
  hull update cluster demo.example.com --yes
  hull rolling-update cluster demo.example.com --yes

Step 2: Kubernetes 1.36.3 -> 1.37.2 (next minor: recommended version of 1.37), etcd 3.6.16 (unchanged)
  hull upgrade cluster demo.example.com --kubernetes-version 1.37.2 --yes
  hull update cluster demo.example.com --yes
  hull rolling-update cluster demo.example.com --yes

Must specify --yes to perform upgrade
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, e.storeSnapshot()); diff != "" {
		t.Errorf("a dry run changed the state store (-before +after):\n%s", diff)
	}
}

func TestUpgradeClusterYesWithoutBackupWritesNothing(t *testing.T) {
	e := newEnv(t)
	createUpgradeCluster(t, e, "1.36.1")
	before := e.storeSnapshot()
	// No etcd manager runs, so no backup can be taken.
	r := e.upgrade("cluster", upgradeCluster, "--yes", "--cloudonly", "--backup-timeout", "1s")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "etcd backup before the upgrade") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 saying the backup failed and nothing was written", r.code, r.stderr)
	}
	if diff := cmp.Diff(before, e.storeSnapshot()); diff != "" {
		t.Errorf("a refused upgrade changed the state store (-before +after):\n%s", diff)
	}
}

func TestUpgradeClusterYesRefusesAClusterThatDoesNotValidate(t *testing.T) {
	e := newEnv(t)
	t.Setenv("HULL_LOCAL_CLOUD_DIR", t.TempDir()) // no local cloud runs there
	createUpgradeCluster(t, e, "1.36.1")
	before := e.storeSnapshot()
	r := e.upgrade("cluster", upgradeCluster, "--yes", "--skip-backup")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "pass --cloudonly") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming --cloudonly", r.code, r.stderr)
	}
	if diff := cmp.Diff(before, e.storeSnapshot()); diff != "" {
		t.Errorf("a refused upgrade changed the state store (-before +after):\n%s", diff)
	}
}

// --yes has the etcd managers back up main and events, waits until both
// are listed, and only then writes the new spec.
func TestUpgradeClusterYesTakesBackupsFirst(t *testing.T) {
	e := newEnv(t)
	createUpgradeCluster(t, e, "1.36.1")
	store, err := state.Open(context.Background(), e.state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	member := etcdtest.StartCluster(t, 1).Members[0]
	for _, etcd := range []string{"main", "events"} {
		runManager(t, store, member, etcd)
	}
	r := e.upgrade("cluster", upgradeCluster, "--yes", "--cloudonly")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, etcd := range []string{"main", "events"} {
		list, err := backup.List(context.Background(), store, upgradeCluster, etcd)
		if err != nil {
			t.Fatal(err)
		}
		// The first scheduled backup may be listed too; the requested one
		// is named on stdout and in the progress.
		if !slices.ContainsFunc(list, func(b backup.Info) bool {
			return strings.Contains(r.stdout, b.Name+"\n") && strings.Contains(r.stderr, "Backup "+b.Name+" is listed")
		}) {
			t.Errorf("no listed backup of etcd %s is named in the output (%d listed):\nstdout:\n%s\nstderr:\n%s", etcd, len(list), r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "WARNING") {
		t.Errorf("a backed-up upgrade warned:\n%s", r.stderr)
	}
	if v := e.readSpec().Version; v != "1.36.3" {
		t.Errorf("spec version %s after upgrade, want 1.36.3", v)
	}
}

func TestUpgradeClusterYesWritesOneStepAtATime(t *testing.T) {
	e := newEnv(t)
	createUpgradeCluster(t, e, "1.36.1")

	steps := []struct {
		want upgradedSpec
	}{
		{upgradedSpec{Version: "1.36.3", Channel: "stable", Images: map[string]string{"control-plane-a": "hull-kubernetes-1.36.3", "nodes-a": "", "pinned": "my-own-image"}}},
		{upgradedSpec{Version: "1.37.2", Channel: "stable", Images: map[string]string{"control-plane-a": "hull-kubernetes-1.37.2", "nodes-a": "", "pinned": "my-own-image"}}},
	}
	for _, s := range steps {
		r := e.upgrade("cluster", upgradeCluster, "--yes", "--skip-backup", "--cloudonly")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, w := range []string{"hull update cluster demo.example.com --yes\n", "hull rolling-update cluster demo.example.com --yes\n"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("stdout lacks next command %q:\n%s", w, r.stdout)
			}
		}
		for _, w := range []string{"WARNING: --skip-backup"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
			}
		}
		if diff := cmp.Diff(s.want, e.readSpec()); diff != "" {
			t.Errorf("spec after upgrade (-want +got):\n%s", diff)
		}
	}
	for _, args := range [][]string{{"cluster", upgradeCluster}, {"cluster", upgradeCluster, "--yes", "--skip-backup", "--cloudonly"}} {
		if r := e.upgrade(args...); r.code != 0 || r.stdout != "No upgrade required\n" {
			t.Errorf("upgrade %v at the latest: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestUpgradeClusterRefusals(t *testing.T) {
	e := newEnv(t)
	createUpgradeCluster(t, e, "1.35.4")
	bad := writeFile(t, e.dir, "bad-channel", "apiVersion: hull.dev/v1alpha1\nkind: Channel\nmetadata:\n  name: bad\nspec:\n  kubernetesVersions:\n  - range: \">=1.37.0 <1.38.0\"\n    recommended: 1.37.2\n")
	before := e.storeSnapshot()
	tests := []struct {
		args  []string
		code  int
		wants []string
	}{
		{[]string{"--kubernetes-version", "1.37.2"}, 1, []string{"rule no-minor-skip", "upgrade to 1.36 first"}},
		{[]string{"--kubernetes-version", "1.37.2", "--yes", "--skip-backup"}, 1, []string{"rule no-minor-skip", "upgrade to 1.36 first"}},
		{[]string{"--kubernetes-version", "1.35.1"}, 1, []string{"rule no-downgrade"}},
		{[]string{"--kubernetes-version", "1.36.0-rc.1"}, 1, []string{"rule listed-in-channel", "does not list Kubernetes 1.36.0-rc.1"}},
		{[]string{"--channel", "file://" + bad}, 1, []string{"channel file://" + bad + ": line 8: spec.kubernetesVersions[0].recommended: unknown field"}},
		{[]string{"--channel", "nightly"}, 1, []string{"channel nightly: no such channel"}},
		{[]string{"--no-such-flag"}, 2, []string{"unknown flag"}},
	}
	for _, tc := range tests {
		r := e.upgrade(append([]string{"cluster", upgradeCluster}, tc.args...)...)
		if r.code != tc.code {
			t.Errorf("upgrade %v: exit %d, want %d\nstderr:\n%s", tc.args, r.code, tc.code, r.stderr)
		}
		for _, w := range tc.wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("upgrade %v: stderr lacks %q:\n%s", tc.args, w, r.stderr)
			}
		}
	}
	if diff := cmp.Diff(before, e.storeSnapshot()); diff != "" {
		t.Errorf("refused upgrades changed the state store (-before +after):\n%s", diff)
	}
}

func TestUpgradeClusterChangesChannel(t *testing.T) {
	e := newEnv(t)
	createUpgradeCluster(t, e, "1.37.2")
	r := e.upgrade("cluster", upgradeCluster, "--channel", "alpha")
	for _, w := range []string{
		"Cluster                         KubernetesVersion   1.37.2                   1.38.0\n",
		"Cluster                         Channel             stable                   alpha\n",
		"Must specify --yes to perform upgrade\n",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
		}
	}
	if r := e.upgrade("cluster", upgradeCluster, "--channel", "alpha", "--yes", "--skip-backup", "--cloudonly"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	} else if strings.Contains(r.stderr, "validates") {
		t.Errorf("--cloudonly still mentions validation:\n%s", r.stderr)
	}
	want := upgradedSpec{Version: "1.38.0", Channel: "alpha", Images: map[string]string{"control-plane-a": "hull-kubernetes-1.38.0", "nodes-a": "", "pinned": "my-own-image"}}
	if diff := cmp.Diff(want, e.readSpec()); diff != "" {
		t.Errorf("spec after upgrade (-want +got):\n%s", diff)
	}
}

func TestUpgradePlan(t *testing.T) {
	e := newEnv(t)
	createUpgradeCluster(t, e, "1.35.0")
	before := e.storeSnapshot()
	r := e.upgrade("plan", upgradeCluster)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	want := `Cluster demo.example.com runs Kubernetes 1.35.0; channel stable recommends 1.37.2.

Step 1: Kubernetes 1.35.0 -> 1.35.4 (latest recommended patch of 1.35), etcd 3.6.16 (unchanged)
  hull upgrade cluster demo.example.com --kubernetes-version 1.35.4 --yes
  hull update cluster demo.example.com --yes
  hull rolling-update cluster demo.example.com --yes

Step 2: Kubernetes 1.35.4 -> 1.36.3 (next minor: recommended version of 1.36), etcd 3.6.16 (unchanged)
  hull upgrade cluster demo.example.com --kubernetes-version 1.36.3 --yes
  hull update cluster demo.example.com --yes
  hull rolling-update cluster demo.example.com --yes

Step 3: Kubernetes 1.36.3 -> 1.37.2 (next minor: recommended version of 1.37), etcd 3.6.16 (unchanged)
  hull upgrade cluster demo.example.com --kubernetes-version 1.37.2 --yes
  hull update cluster demo.example.com --yes
  hull rolling-update cluster demo.example.com --yes
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if r := e.upgrade("plan", upgradeCluster, "--channel", "alpha"); !strings.Contains(r.stdout, "--kubernetes-version 1.35.4 --channel alpha --yes\n") || !strings.Contains(r.stdout, "Step 4: Kubernetes 1.37.2 -> 1.38.0") {
		t.Errorf("plan --channel alpha:\n%s\n%s", r.stdout, r.stderr)
	}
	if diff := cmp.Diff(before, e.storeSnapshot()); diff != "" {
		t.Errorf("plan changed the state store (-before +after):\n%s", diff)
	}
}

// TestUpgradeClusterEtcdVersion: the etcd version a cluster runs (its spec's,
// else hull's default) is checked against the target's, and moved with the
// Kubernetes version when the channel runs the target at another etcd.
func TestUpgradeClusterEtcdVersion(t *testing.T) {
	stable, err := os.ReadFile("../../channels/stable")
	if err != nil {
		t.Fatal(err)
	}
	// A channel whose 1.36 runs the next etcd minor.
	i := strings.Index(string(stable), `range: ">=1.36.0 <1.37.0"`)
	j := i + strings.Index(string(stable)[i:], "etcdVersion: 3.6.16")
	if i < 0 || j < i {
		t.Fatal("channels/stable no longer has the 1.36 entry this test edits")
	}
	next := string(stable[:j]) + "etcdVersion: 3.7.0" + string(stable[j+len("etcdVersion: 3.6.16"):])

	t.Run("moves with the channel", func(t *testing.T) {
		e := newEnv(t)
		createUpgradeCluster(t, e, "1.35.4")
		ch := "file://" + writeFile(t, e.dir, "next-etcd", next)
		r := e.upgrade("cluster", upgradeCluster, "--channel", ch)
		for _, w := range []string{
			"Cluster                         EtcdClusters/main/Version     3.6.16                   3.7.0\n",
			"Cluster                         EtcdClusters/events/Version   3.6.16                   3.7.0\n",
			"etcd 3.6.16 -> 3.7.0\n",
		} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
			}
		}
		if r := e.upgrade("cluster", upgradeCluster, "--channel", ch, "--yes", "--skip-backup", "--cloudonly"); r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		var c v1alpha1.Cluster
		decodeJSON(t, e.must("get", "clusters", upgradeCluster, "-o", "json"), &c)
		for _, ec := range c.Spec.EtcdClusters {
			if ec.Version != "3.7.0" {
				t.Errorf("etcd cluster %s at %q after the upgrade, want 3.7.0", ec.Name, ec.Version)
			}
		}
	})

	for _, tc := range []struct{ pinned, want string }{
		{"3.4.30", "etcd may move forward by at most one minor per upgrade"},
		{"3.7.1", "etcd cannot be downgraded"},
	} {
		t.Run("refuses etcd "+tc.pinned, func(t *testing.T) {
			e := newEnv(t)
			y := strings.Replace(sampleYAML(t), "kubernetesVersion: 1.37.2", "kubernetesVersion: 1.36.3", 1)
			y = strings.Replace(y, "  - name: main\n", "  - name: main\n    version: "+tc.pinned+"\n", 1)
			e.must("create", "-f", writeFile(t, e.dir, "c.yaml", y))
			before := e.storeSnapshot()
			r := e.upgrade("cluster", upgradeCluster, "--yes", "--skip-backup", "--cloudonly")
			for _, w := range []string{"spec.etcdClusters[0].version " + tc.pinned, "rule etcd-one-minor", tc.want} {
				if r.code != 1 || !strings.Contains(r.stderr, w) {
					t.Errorf("exit %d, stderr lacks %q:\n%s", r.code, w, r.stderr)
				}
			}
			if diff := cmp.Diff(before, e.storeSnapshot()); diff != "" {
				t.Errorf("a refused upgrade changed the state store (-before +after):\n%s", diff)
			}
		})
	}
}
