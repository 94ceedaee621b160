package manager_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/etcd/manager"
)

// The coordinator's machine dies mid-restore (its manager and its etcd
// stop) after it restored the snapshot and one member joined the restored
// cluster, while the next member is starting to join. Another manager sees
// the heartbeat stop, takes the command over and rolls every member back:
// the two live members serve their old data with a quorum, and the
// command fails naming the dead coordinator. It is kept until the dead
// machine comes back; its manager then rolls its own member back too.
func TestRestoreRollsBackWhenTheCoordinatorDies(t *testing.T) {
	// Long enough for an embedded member to stop (up to ~13 s with client
	// streams open); the take-over and the dead member's roll-back each
	// wait this long.
	f := newFixture(t, 3, time.Hour, func(c *manager.Config) { c.StepTimeout = 25 * time.Second })
	ctx := context.Background()
	snap := f.backupHoldingA()
	oldID := f.cluster.Members[0].ClusterID()

	// Hold the second joiner's start until the coordinator is dead, so the
	// kill lands at a known point: restored cluster formed, one member in it.
	var joins atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	for _, s := range f.sups {
		s.hooks(func(o manager.StartOptions) error {
			if o.ClusterState == "existing" && joins.Add(1) == 2 {
				close(entered)
				<-release
			}
			return nil
		}, nil)
	}
	id := writeRestore(t, f.store, snap)
	select {
	case <-entered:
	case <-time.After(3 * time.Minute):
		if r, err := control.GetRestore(ctx, f.store, "demo", "main", id); err == nil {
			for _, s := range r.Steps {
				t.Logf("[%s] %s: %s", s.Time.Format("15:04:05.000"), s.Phase, s.Message)
			}
		}
		t.Fatal("the second member never started to join the restored cluster")
	}
	cmd, err := control.GetRestore(ctx, f.store, "demo", "main", id)
	if err != nil {
		t.Fatal(err)
	}
	dead := slices.IndexFunc(f.cluster.Members, func(m *etcdtest.Member) bool { return m.Name == cmd.Coordinator })
	if dead < 0 || cmd.Phase != control.Joining {
		t.Fatalf("coordinator %q, phase %s: want a member coordinating the %s phase", cmd.Coordinator, cmd.Phase, control.Joining)
	}
	deadName := cmd.Coordinator
	var live []int
	for i := range f.cluster.Members {
		if i != dead {
			live = append(live, i)
		}
	}
	f.stop(dead)
	f.cluster.Members[dead].Stop()
	t.Logf("killed the coordinator %s's machine during %s", deadName, cmd.Phase)
	releaseOnce()

	var r *control.Restore
	f.waitFor("the restore to fail", 3*time.Minute, func() bool {
		r, _ = control.GetRestore(ctx, f.store, "demo", "main", id)
		return r != nil && r.Phase.Final()
	})
	for _, s := range r.Steps {
		t.Logf("[%s] %s: %s", s.Time.Format("15:04:05.000"), s.Phase, s.Message)
	}
	if r.Phase != control.Failed || !strings.Contains(r.Error, "coordinator "+deadName+" went silent") {
		t.Fatalf("restore ended %s (%q), want Failed naming the silent coordinator %s", r.Phase, r.Error, deadName)
	}
	if r.Coordinator == deadName || r.Coordinator == "" {
		t.Errorf("coordinator %q after the take-over", r.Coordinator)
	}
	if got := r.Unsettled(); !slices.Equal(got, []string{deadName}) {
		t.Errorf("members owing a roll-back %v, want just the dead %s", got, deadName)
	}
	f.checkOldData(oldID, live...)
	if _, _, err := f.store.Get(ctx, control.RestoreKey("demo", "main", id)); err != nil {
		t.Errorf("the command was archived while %s still owes its roll-back: %v", deadName, err)
	}

	// The machine comes back: its manager finds the failed command and
	// puts its member's old data back.
	f.start(dead)
	r = f.waitRestore(id)
	if mm := r.Member(deadName); mm == nil || mm.State != control.MemberRolledBack {
		t.Errorf("the returning member ended %+v, want %s", mm, control.MemberRolledBack)
	}
	f.checkOldData(oldID)
	f.checkNoCrashLoop()
}

// A command whose coordinator never renews its heartbeat before anything
// was stopped (a claim by a manager that died at once, or that predates
// heartbeats) fails without touching etcd.
func TestSilentCoordinatorBeforeStopping(t *testing.T) {
	f := newFixture(t, 1, time.Hour, func(c *manager.Config) { c.StepTimeout = 2 * time.Second })
	f.waitFor("the first backup", 30*time.Second, func() bool { return len(f.backups()) == 1 })
	ctx := context.Background()
	id := control.NewID(time.Now())
	cmd := &control.Restore{ID: id, Cluster: "demo", EtcdCluster: "main", Backup: f.backups()[0].Name,
		Created: time.Now().UTC(), Phase: control.Pending, PhaseStarted: time.Now().UTC(), Coordinator: "ghost"}
	if err := control.Create(ctx, f.store, control.RestoreKey("demo", "main", id), cmd); err != nil {
		t.Fatal(err)
	}
	r := f.waitRestore(id)
	if r.Phase != control.Failed || !strings.Contains(r.Error, "coordinator ghost went silent") || !strings.Contains(r.Error, "nothing was stopped") {
		t.Errorf("restore ended %s (%q), want Failed naming ghost, nothing stopped", r.Phase, r.Error)
	}
	if r.Coordinator != "m0" {
		t.Errorf("coordinator %q, want m0 to have taken over", r.Coordinator)
	}
	if starts, stops := f.sups[0].calls(); starts+stops != 0 {
		t.Errorf("etcd started %d and stopped %d times, want untouched", starts, stops)
	}
	if _, err := f.client().Put(ctx, "still", "serving"); err != nil {
		t.Errorf("etcd stopped serving: %v", err)
	}
}
