package rollingupdate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/tests/harness"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunInit()
	code := m.Run()
	stopLocalCloud()
	os.Exit(code)
}

const testImage = "hull-ru-testboot"

// daemon is one in-process local cloud daemon shared by this package's
// machine tests, with the e2e test image (internal/testboot) imported.
var daemon struct {
	once sync.Once
	cl   *local.Client
	err  error
	stop func()
}

func localCloud(t *testing.T) *local.Client {
	t.Helper()
	harness.RequireRoot(t)
	daemon.once.Do(func() {
		dir, err := os.MkdirTemp("", "hull-ru-cloud-")
		if err != nil {
			daemon.err = err
			return
		}
		sock := filepath.Join(dir, "d.sock")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- local.RunDaemon(ctx, local.DaemonOptions{StateDir: dir, Socket: sock}) }()
		daemon.stop = func() { cancel(); <-done; os.RemoveAll(dir) }
		for range 100 {
			if daemon.cl, err = local.Connect(ctx, local.ClientOptions{StateDir: dir, Socket: sock}); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			daemon.err = fmt.Errorf("daemon did not answer: %w", err)
			return
		}
		boot, err := harness.Build(dir, "github.com/hullproject/hull/internal/testboot", "testboot", "")
		if err == nil {
			img := filepath.Join(dir, testImage)
			if err = harness.WriteImage(img, boot, map[string]string{"kubernetes": "none"}); err == nil {
				_, err = daemon.cl.ImportImage(ctx, testImage, img)
			}
		}
		daemon.err = err
	})
	if daemon.err != nil {
		t.Fatal(daemon.err)
	}
	return daemon.cl
}

// stopLocalCloud ends the shared daemon; the last machine test calls it.
func stopLocalCloud() {
	if daemon.stop != nil {
		daemon.cl.Close()
		daemon.stop()
	}
}

// localCluster is a cluster with one node group of two machines on the
// local cloud, deleted (machines, group, network) when the test ends.
type localCluster struct {
	name  string
	cl    *local.Client
	store *state.Store
	lc    cloud.LaunchConfig
}

func newLocalCluster(t *testing.T, name, cidr, subnet string, ru *v1alpha1.RollingUpdate) *localCluster {
	t.Helper()
	cl := localCloud(t)
	ctx := context.Background()
	store, err := state.Open(ctx, "mem://rollingupdate-"+strings.ReplaceAll(name, ".", "-"))
	if err != nil {
		t.Fatal(err)
	}
	c := &localCluster{name: name, cl: cl, store: store,
		lc: cloud.LaunchConfig{Cluster: name, Group: "nodes", Image: testImage, MachineType: "local", UserData: []byte("v1"), ConfigVersion: "v1"}}
	if _, err := cl.EnsureNetwork(ctx, &cloud.Network{Cluster: name, CIDR: cidr, Subnets: []cloud.Subnet{{Name: "zone-a", Zone: "local-a", CIDR: subnet, Type: "Public"}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, err := range []error{cl.DeleteInstanceGroup(ctx, name, "nodes"), cl.DeleteLaunchConfig(ctx, name, "nodes"), cl.DeleteNetwork(ctx, name)} {
			if err != nil {
				t.Errorf("cleanup of %s: %v", name, err)
			}
		}
		if left := harness.Leftovers(name); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	if err := cl.EnsureLaunchConfig(ctx, &c.lc); err != nil {
		t.Fatal(err)
	}
	g := &cloud.InstanceGroup{Cluster: name, Name: "nodes", Role: "Node", MinSize: 2, MaxSize: 2, Subnets: []string{"zone-a"}}
	if err := cl.EnsureInstanceGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	c.waitMachines(t, "v1")
	c.target(ru) // checks the spec builds
	return c
}

func (c *localCluster) target(ru *v1alpha1.RollingUpdate) Target {
	spec := &v1alpha1.Cluster{Spec: v1alpha1.ClusterSpec{CloudProvider: v1alpha1.CloudLocal, RollingUpdate: ru}}
	spec.Metadata.Name = c.name
	ig := &v1alpha1.InstanceGroup{Spec: v1alpha1.InstanceGroupSpec{Role: v1alpha1.RoleNode}}
	ig.Metadata.Name = "nodes"
	return Target{Spec: spec, InstanceGroups: []*v1alpha1.InstanceGroup{ig}, Cloud: c.cl, CanSurge: true, Store: c.store}
}

// waitMachines waits for the group nodes to have two attached, Running
// machines of version, and returns their IDs, sorted.
func (c *localCluster) waitMachines(t *testing.T, version string) []string {
	t.Helper()
	var insts []*cloud.Instance
	var ids []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		all, err := c.cl.ListInstances(ctx, c.name)
		if err != nil {
			return false, err
		}
		insts = slices.DeleteFunc(all, func(in *cloud.Instance) bool { return in.Group != "nodes" })
		ids = nil
		ok := len(insts) == 2
		for _, in := range insts {
			ids = append(ids, in.ID)
			ok = ok && in.State == cloud.StateRunning && !in.Detached && in.ConfigVersion == version
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("cluster %s: no 2 Running machines of version %s (%v); machines: %s", c.name, version, err, describe(insts))
	}
	return ids
}

// bump changes the group's launch config version, as `hull update --yes` would.
func (c *localCluster) bump(t *testing.T, version string) {
	t.Helper()
	c.lc.ConfigVersion, c.lc.UserData = version, []byte(version)
	if err := c.cl.EnsureLaunchConfig(context.Background(), &c.lc); err != nil {
		t.Fatal(err)
	}
}

func (c *localCluster) checkpoint(t *testing.T) *Checkpoint {
	t.Helper()
	data, _, err := c.store.Get(context.Background(), CheckpointKey(c.name))
	if err != nil {
		t.Fatal(err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatal(err)
	}
	return &cp
}

func describe(insts []*cloud.Instance) string {
	var parts []string
	for _, in := range insts {
		parts = append(parts, fmt.Sprintf("%s/%s/%s/detached=%v", in.ID, in.State, in.ConfigVersion, in.Detached))
	}
	return strings.Join(parts, " ")
}

func cloudOnlyOptions(out *syncBuffer) Options {
	o := DefaultOptions()
	o.CloudOnly = true
	o.NodeInterval = 0
	o.PostDrainDelay = 0
	o.ValidationTimeout = 2 * time.Minute
	o.PollInterval = 100 * time.Millisecond
	o.Out = out
	return o
}

// TestLocalCloudRollingUpdate replaces both machines of a group whose
// launch config changed, once by surging (detach first) and once by taking
// one machine down at a time, and logs the wall time of each.
func TestLocalCloudRollingUpdate(t *testing.T) {
	cases := []struct {
		name, cluster, cidr, subnet string
		ru                          *v1alpha1.RollingUpdate
		surge                       bool
	}{
		{"surge1", "ru-surge.local", "10.231.0.0/16", "10.231.1.0/24", nil, true},
		{"unavailable1", "ru-unavail.local", "10.232.0.0/16", "10.232.1.0/24", &v1alpha1.RollingUpdate{MaxSurge: ptrIntstr(intstr.FromInt32(0))}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newLocalCluster(t, tc.cluster, tc.cidr, tc.subnet, tc.ru)
			old := c.waitMachines(t, "v1")
			c.bump(t, "v2")
			target := c.target(tc.ru)
			plan, err := LoadPlan(context.Background(), target, Options{CloudOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if g := plan.Groups[0]; (g.MaxSurge == 1) != tc.surge || len(g.NeedUpdate()) != 2 {
				t.Fatalf("plan: surge %d unavailable %d, need %d; want surge=%v and 2", g.MaxSurge, g.MaxUnavailable, len(g.NeedUpdate()), tc.surge)
			}
			var out syncBuffer
			start := time.Now()
			sum, err := Run(context.Background(), target, cloudOnlyOptions(&out))
			wall := time.Since(start)
			t.Logf("output:\n%s", out.String())
			if err != nil {
				t.Fatal(err)
			}
			now := c.waitMachines(t, "v2")
			if slices.ContainsFunc(now, func(id string) bool { return slices.Contains(old, id) }) {
				t.Errorf("old machines %v still run: %v", old, now)
			}
			if got := slices.Sorted(slices.Values(sum.Replaced)); !slices.Equal(got, slices.Sorted(slices.Values(old))) {
				t.Errorf("replaced %v, want %v", got, old)
			}
			if tc.surge != strings.Contains(out.String(), ": detach done") {
				t.Errorf("surge=%v, but the output says otherwise:\n%s", tc.surge, out.String())
			}
			cp := c.checkpoint(t)
			if cp.Finished == nil {
				t.Error("checkpoint not finished")
			}
			for _, id := range old {
				if r := cp.Machines[id]; r == nil || r.Phase != PhaseDone || !slices.Contains(now, r.Replacement) {
					t.Errorf("checkpoint of %s = %+v, want Done with a replacement among %v", id, r, now)
				}
			}
			t.Logf("FIGURE rolling-update local cloud, 2 node machines, --cloudonly, %s: wall %s (replacements %s, overhead %s = %s per machine)",
				map[bool]string{true: "maxSurge 1 (detach)", false: "maxUnavailable 1"}[tc.surge],
				wall.Round(100*time.Millisecond), sum.Replacements.Round(100*time.Millisecond), sum.Overhead.Round(100*time.Millisecond), sum.OverheadPerMachine().Round(100*time.Millisecond))
		})
	}
}

// TestLocalCloudReplacementNeverJoins rolls onto an image whose machines
// die at boot: the group fails after --validation-timeout naming the machine.
func TestLocalCloudReplacementNeverJoins(t *testing.T) {
	c := newLocalCluster(t, "ru-broken.local", "10.236.0.0/16", "10.236.1.0/24", nil)
	ctx := context.Background()
	dir := t.TempDir()
	script := filepath.Join(dir, "boot.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "hull-ru-broken")
	if err := harness.WriteImage(img, script, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cl.ImportImage(ctx, "hull-ru-broken", img); err != nil {
		t.Fatal(err)
	}
	old := c.waitMachines(t, "v1")
	c.lc.Image = "hull-ru-broken"
	c.bump(t, "v2")
	var out syncBuffer
	o := cloudOnlyOptions(&out)
	o.ValidationTimeout = 3 * time.Second
	sum, err := Run(ctx, c.target(nil), o)
	t.Logf("output:\n%s", out.String())
	if err == nil {
		t.Fatal("the rolling update succeeded onto machines that never run")
	}
	for _, want := range []string{"instance group nodes", "the replacement of machine " + old[0], "did not join within 3s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(sum.Replaced) != 0 {
		t.Errorf("replaced %v", sum.Replaced)
	}
	// Surge: the old machine still serves, detached, so nothing is down.
	insts, err := c.cl.ListInstances(ctx, c.name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(insts, func(in *cloud.Instance) bool { return in.ID == old[0] && in.State == cloud.StateRunning }) {
		t.Errorf("machine %s is gone: %s", old[0], describe(insts))
	}
}

func ptrIntstr(v intstr.IntOrString) *intstr.IntOrString { return &v }

// syncBuffer is a bytes.Buffer safe for the runner's concurrent writes
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLocalCloudLoneEtcdBacksUpBeforeTerminate: with a lone etcd member,
// every control-plane machine is backed up before it is terminated (its
// replacement restores the newest backup), and a failed backup stops the
// run with the machine still running.
func TestLocalCloudLoneEtcdBacksUpBeforeTerminate(t *testing.T) {
	c := newLocalCluster(t, "ru-lone.local", "10.238.0.0/16", "10.238.1.0/24", nil)
	old := c.waitMachines(t, "v1")
	c.bump(t, "v2")
	target := c.target(nil)
	target.InstanceGroups[0].Spec.Role = v1alpha1.RoleControlPlane
	target.Spec.Spec.EtcdClusters = []v1alpha1.EtcdClusterSpec{{Name: "main", Members: []v1alpha1.EtcdMemberSpec{{Name: "a", InstanceGroup: "nodes"}}}}
	ctx := context.Background()
	running := func() []string {
		insts, err := c.cl.ListInstances(ctx, c.name)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, in := range insts {
			if in.State == cloud.StateRunning && slices.Contains(old, in.ID) {
				ids = append(ids, in.ID)
			}
		}
		return ids
	}

	target.BackupEtcd = func(context.Context) error { return errors.New("no backup leader") }
	var out syncBuffer
	if _, err := Run(ctx, target, cloudOnlyOptions(&out)); err == nil || !strings.Contains(err.Error(), "no backup leader") {
		t.Fatalf("run with a failing backup = %v, want it to stop naming the cause\n%s", err, out.String())
	}
	if got := running(); len(got) != 2 {
		t.Fatalf("a machine was terminated although its backup failed: running %v of %v", got, old)
	}

	var calls [][]string // old machines still running at each backup
	target.BackupEtcd = func(context.Context) error { calls = append(calls, running()); return nil }
	out = syncBuffer{}
	if _, err := Run(ctx, target, cloudOnlyOptions(&out)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(calls) != 2 || len(calls[0]) != 2 || len(calls[1]) != 1 {
		t.Errorf("backups saw old machines running %v; want one backup before each of the 2 terminations", calls)
	}
	if !strings.Contains(out.String(), ": backup-etcd done") {
		t.Errorf("no backup-etcd step in the output:\n%s", out.String())
	}
}
