package manager_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/etcd/manager"
)

const (
	keyA = "/registry/configmaps/default/a"
	keyB = "/registry/configmaps/default/b"
)

// backupHoldingA writes A, has the leader back it up, then writes B and
// deletes A: the backup's data and etcd's current data differ both ways.
// It returns the backup's name.
func (f *fixture) backupHoldingA() string {
	f.t.Helper()
	ctx := context.Background()
	cl := f.client()
	if _, err := cl.Put(ctx, keyA, "A"); err != nil {
		f.t.Fatal(err)
	}
	id := control.NewID(time.Now())
	key := control.BackupRequestKey("demo", "main", id)
	if err := control.Create(ctx, f.store, key, &control.BackupRequest{ID: id, Phase: control.RequestPending}); err != nil {
		f.t.Fatal(err)
	}
	var snap string
	f.waitFor("a backup holding A", 30*time.Second, func() bool {
		r, _, _ := control.Get[control.BackupRequest](ctx, f.store, key)
		if r != nil {
			snap = r.Backup
		}
		return snap != ""
	})
	if _, err := cl.Put(ctx, keyB, "B"); err != nil {
		f.t.Fatal(err)
	}
	if _, err := cl.Delete(ctx, keyA); err != nil {
		f.t.Fatal(err)
	}
	return snap
}

// checkOldData checks that members (all if none named) run etcd on their
// old data: the old cluster id, B present and A still deleted, read
// through each member's own endpoint, and a write succeeds.
func (f *fixture) checkOldData(oldID uint64, members ...int) {
	f.t.Helper()
	if len(members) == 0 {
		for i := range f.cluster.Members {
			members = append(members, i)
		}
	}
	ctx := context.Background()
	for _, i := range members {
		m := f.cluster.Members[i]
		if !m.Running() {
			f.t.Errorf("member %s is not running", m.Name)
			continue
		}
		if got := m.ClusterID(); got != oldID {
			f.t.Errorf("member %s runs cluster %x, want its old cluster %x", m.Name, got, oldID)
		}
		cl := etcdtest.Client(f.t, m.ClientURL)
		var got map[string]string
		f.waitFor("member "+m.Name+" to serve", time.Minute, func() bool {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			resp, err := cl.Get(rctx, "/registry/", clientv3.WithPrefix())
			if err != nil {
				return false
			}
			got = map[string]string{}
			for _, kv := range resp.Kvs {
				got[string(kv.Key)] = string(kv.Value)
			}
			return true
		})
		if got[keyB] != "B" {
			f.t.Errorf("member %s lost B, written after the backup: it does not run its old data (%v)", m.Name, got)
		}
		if _, ok := got[keyA]; ok {
			f.t.Errorf("member %s has A back: it runs the backup's data, not its old data", m.Name)
		}
		if _, err := cl.Put(ctx, "/rolled-back/"+m.Name, "yes"); err != nil {
			f.t.Errorf("write through member %s: %v", m.Name, err)
		}
		for _, p := range leftovers(m.DataDir) {
			f.t.Errorf("member %s: %s left behind", m.Name, p)
		}
	}
}

// leftovers are a data dir's restore and pre-restore siblings.
func leftovers(dataDir string) []string {
	a, _ := filepath.Glob(dataDir + ".restore-*")
	b, _ := filepath.Glob(dataDir + ".pre-restore-*")
	return append(a, b...)
}

// checkNoCrashLoop checks that nothing starts or stops etcd any more once
// the command is over: a failed restore must not leave a member cycling.
func (f *fixture) checkNoCrashLoop() {
	f.t.Helper()
	var before [][2]int
	for _, s := range f.sups {
		starts, stops := s.calls()
		before = append(before, [2]int{starts, stops})
	}
	time.Sleep(20 * f.cfgs[0].PollInterval)
	for i, s := range f.sups {
		starts, stops := s.calls()
		if got := [2]int{starts, stops}; got != before[i] {
			f.t.Errorf("member %d: etcd started/stopped %v times after the restore ended, %v before", i, got, before[i])
		}
		if !f.cluster.Members[i].Running() {
			f.t.Errorf("member %d stopped after the restore ended", i)
		}
	}
}

func (f *fixture) expectRolledBack(r *control.Restore, cause string) {
	f.t.Helper()
	if r.Phase != control.Failed || !strings.Contains(r.Error, cause) {
		f.t.Fatalf("restore ended %s (%q), want Failed because %q", r.Phase, r.Error, cause)
	}
	for _, mm := range r.Members {
		if mm.State != control.MemberRolledBack {
			f.t.Errorf("member %s ended %q (%s), want %s", mm.Name, mm.State, mm.Message, control.MemberRolledBack)
		}
	}
	last := r.Steps[len(r.Steps)-1].Message
	if !strings.Contains(last, cause) || !strings.Contains(last, "every member runs its old data again") {
		f.t.Errorf("last step %q does not say why and that every member runs its old data", last)
	}
}

// etcd would not start on the restored data: the coordinator has moved
// its data aside by then; every member must go back to its old data.
func TestRestoreRollsBackWhenRestoredEtcdDoesNotStart(t *testing.T) {
	f := newFixture(t, 3, time.Hour)
	snap := f.backupHoldingA()
	oldID := f.cluster.Members[0].ClusterID()
	const cause = "injected: the supervisor cannot launch etcd"
	for _, s := range f.sups {
		s.hooks(func(o manager.StartOptions) error {
			if o.ClusterState == "new" {
				return errors.New(cause)
			}
			return nil
		}, nil)
	}
	r := f.waitRestore(writeRestore(t, f.store, snap))
	f.expectRolledBack(r, cause)
	if !slices.ContainsFunc(r.Steps, func(s control.Step) bool { return s.Phase == control.Restoring }) {
		t.Errorf("the restore never reached %s", control.Restoring)
	}
	f.checkOldData(oldID)
	f.checkNoCrashLoop()
}

// The second member cannot start to join the restored cluster, after the
// first joined it: the restored cluster (coordinator and first joiner)
// is torn down and all three run their old data under the old cluster id.
func TestRestoreRollsBackWhenAMemberCannotJoin(t *testing.T) {
	f := newFixture(t, 3, time.Hour)
	snap := f.backupHoldingA()
	oldID := f.cluster.Members[0].ClusterID()
	const cause = "injected: no disk for the joining member"
	var joins atomic.Int32
	for _, s := range f.sups {
		s.hooks(func(o manager.StartOptions) error {
			if o.ClusterState == "existing" && joins.Add(1) == 2 {
				return errors.New(cause)
			}
			return nil
		}, nil)
	}
	r := f.waitRestore(writeRestore(t, f.store, snap))
	f.expectRolledBack(r, cause)
	if !slices.ContainsFunc(r.Steps, func(s control.Step) bool {
		return strings.Contains(s.Message, "etcd started, joining the restored cluster")
	}) {
		t.Errorf("no member joined the restored cluster before the failure: the test does not test what it says")
	}
	f.checkOldData(oldID)
	f.checkNoCrashLoop()
}

// The restored data dir cannot be built (the verified snapshot was damaged
// on disk after every member stopped): nothing was moved aside yet, and
// every member starts on its old data again.
func TestRestoreRollsBackWhenTheDataDirCannotBeBuilt(t *testing.T) {
	f := newFixture(t, 1, time.Hour)
	snap := f.backupHoldingA()
	oldID := f.cluster.Members[0].ClusterID()
	tmp := f.cfgs[0].Node.TempDir
	f.sups[0].hooks(nil, func() {
		files, _ := filepath.Glob(filepath.Join(tmp, "*"))
		for _, p := range files {
			if err := os.Truncate(p, 4096); err != nil {
				t.Errorf("damage snapshot: %v", err)
			}
		}
	})
	r := f.waitRestore(writeRestore(t, f.store, snap))
	f.expectRolledBack(r, "restore etcd data for member m0")
	f.checkOldData(oldID)
	f.checkNoCrashLoop()
}
