package manager_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/etcd/manager"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// supervisor runs a real embedded etcd member and records every call.
type supervisor struct {
	member  *etcdtest.Member
	cluster *etcdtest.Cluster

	mu     sync.Mutex
	starts []manager.StartOptions
	stops  int
	// beforeStart, if set, runs before each start; its error fails the
	// start without touching etcd, as a supervisor that cannot launch it.
	beforeStart func(manager.StartOptions) error
	// afterStop, if set, runs after each stop.
	afterStop func()
}

func (s *supervisor) hooks(beforeStart func(manager.StartOptions) error, afterStop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeStart, s.afterStop = beforeStart, afterStop
}

func (s *supervisor) Start(ctx context.Context, opts manager.StartOptions) error {
	s.mu.Lock()
	s.starts = append(s.starts, opts)
	hook := s.beforeStart
	s.mu.Unlock()
	if hook != nil {
		if err := hook(opts); err != nil {
			return err
		}
	}
	o := etcdtest.StartOptions{InitialCluster: opts.InitialCluster, ClusterState: opts.ClusterState, Token: opts.ClusterToken}
	if opts == (manager.StartOptions{}) {
		o = etcdtest.StartOptions{InitialCluster: s.cluster.InitialCluster(), Token: s.cluster.Token}
	}
	return s.member.Start(o)
}

func (s *supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stops++
	hook := s.afterStop
	s.mu.Unlock()
	s.member.Stop()
	if hook != nil {
		hook()
	}
	return nil
}

func (s *supervisor) calls() (starts, stops int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.starts), s.stops
}

// fixture is a real etcd cluster with a manager beside each member.
type fixture struct {
	t        *testing.T
	cluster  *etcdtest.Cluster
	store    *state.Store
	cfgs     []manager.Config
	managers []*manager.Manager
	sups     []*supervisor
	cancels  []context.CancelFunc
	done     []chan struct{}
}

// newFixture starts a cluster of members and their managers; opts change
// every manager's config before it starts.
func newFixture(t *testing.T, members int, interval time.Duration, opts ...func(*manager.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, cluster: etcdtest.StartCluster(t, members)}
	var err error
	if f.store, err = state.Open(context.Background(), statetest.FileURL(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for _, m := range f.cluster.Members {
		sup := &supervisor{member: m, cluster: f.cluster}
		cfg := manager.Config{
			Cluster: "demo", EtcdCluster: "main", Member: m.Name,
			Store:        f.store,
			Client:       etcdtest.Client(t, m.ClientURL),
			Interval:     interval,
			PollInterval: 100 * time.Millisecond,
			StepTimeout:  30 * time.Second,
			SessionTTL:   2 * time.Second,
			Node:         &manager.Node{Supervisor: sup, DataDir: m.DataDir, ClientURL: m.ClientURL, TempDir: t.TempDir()},
			Log:          log.With("test", t.Name()),
		}
		for _, o := range opts {
			o(&cfg)
		}
		f.cfgs = append(f.cfgs, cfg)
		f.sups = append(f.sups, sup)
		f.managers = append(f.managers, nil)
		f.cancels = append(f.cancels, nil)
		f.done = append(f.done, nil)
		f.start(len(f.cfgs) - 1)
	}
	t.Cleanup(func() {
		for i := range f.managers {
			f.stop(i)
		}
	})
	return f
}

// start runs a new manager for member i, as nodeup does when its machine
// (re)boots.
func (f *fixture) start(i int) {
	f.t.Helper()
	mgr, err := manager.New(f.cfgs[i])
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.managers[i], f.cancels[i], f.done[i] = mgr, cancel, done
	go func() { defer close(done); mgr.Run(ctx) }()
}

// stop stops member i's manager and waits until it returned; stopping a
// stopped manager does nothing.
func (f *fixture) stop(i int) {
	f.cancels[i]()
	<-f.done[i]
}

func (f *fixture) leaders() []int {
	var out []int
	for i, m := range f.managers {
		if m.IsLeader() {
			out = append(out, i)
		}
	}
	return out
}

func (f *fixture) waitFor(what string, timeout time.Duration, cond func() bool) {
	f.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		f.t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

func (f *fixture) backups() []backup.Info {
	f.t.Helper()
	list, err := backup.List(context.Background(), f.store, "demo", "main")
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

func (f *fixture) client() *clientv3.Client {
	return etcdtest.Client(f.t, f.cluster.Endpoints()...)
}

// Three managers on a real three-member cluster: exactly one leads and
// backs up; when its etcd session dies, another member takes the backups.
func TestLeaderElectionAndFailover(t *testing.T) {
	f := newFixture(t, 3, time.Second)
	f.waitFor("a leader", 30*time.Second, func() bool { return len(f.leaders()) == 1 })
	for range 10 {
		if l := f.leaders(); len(l) != 1 {
			t.Fatalf("leaders %v, want exactly one", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	first := f.leaders()[0]
	firstName := f.cluster.Members[first].Name
	f.waitFor("two backups by the leader", 30*time.Second, func() bool { return len(f.backups()) >= 2 })
	for _, b := range f.backups() {
		if b.Meta.Member != firstName {
			t.Errorf("backup %s taken through %s, want the leader %s", b.Name, b.Meta.Member, firstName)
		}
	}

	// Kill the leader's session: revoke the lease behind its election key.
	cl := f.client()
	sess, err := concurrency.NewSession(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	leader, err := concurrency.NewElection(sess, manager.ElectionKey("demo", "main")).Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(leader.Kvs[0].Value); got != firstName {
		t.Fatalf("election leader %s, manager says %s", got, firstName)
	}
	if _, err := cl.Revoke(context.Background(), clientv3.LeaseID(leader.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	f.waitFor("a new leader", 30*time.Second, func() bool {
		l := f.leaders()
		return len(l) == 1 && l[0] != first
	})
	second := f.cluster.Members[f.leaders()[0]].Name
	f.waitFor("a backup by the new leader", 30*time.Second, func() bool {
		b := f.backups()
		return b[0].Meta.Member == second
	})
	for _, s := range f.sups {
		if starts, stops := s.calls(); starts+stops != 0 {
			t.Errorf("backups started or stopped etcd (%d starts, %d stops)", starts, stops)
		}
	}
}

// A backup request is served by the leader, which writes its outcome.
func TestBackupRequest(t *testing.T) {
	f := newFixture(t, 1, time.Hour)
	f.waitFor("the first backup", 30*time.Second, func() bool { return len(f.backups()) == 1 })
	ctx := context.Background()
	id := control.NewID(time.Now())
	key := control.BackupRequestKey("demo", "main", id)
	if err := control.Create(ctx, f.store, key, &control.BackupRequest{ID: id, Created: time.Now(), Phase: control.RequestPending}); err != nil {
		t.Fatal(err)
	}
	var req *control.BackupRequest
	f.waitFor("the request to be served", 30*time.Second, func() bool {
		req, _, _ = control.Get[control.BackupRequest](ctx, f.store, key)
		return req != nil && req.Phase != control.RequestPending
	})
	if req.Phase != control.RequestSucceeded || req.Backup == "" {
		t.Fatalf("request ended %+v", req)
	}
	if b := f.backups(); len(b) != 2 || b[0].Name != req.Backup {
		t.Errorf("backups %v, want the requested %s newest", b, req.Backup)
	}
}

func writeRestore(t *testing.T, store *state.Store, backupName string) string {
	t.Helper()
	id := control.NewID(time.Now())
	cmd := &control.Restore{ID: id, Cluster: "demo", EtcdCluster: "main", Backup: backupName, Created: time.Now().UTC(), Phase: control.Pending, PhaseStarted: time.Now().UTC()}
	if err := control.Create(context.Background(), store, control.RestoreKey("demo", "main", id), cmd); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) waitRestore(id string) *control.Restore {
	f.t.Helper()
	var r *control.Restore
	f.waitFor("the restore to finish", 2*time.Minute, func() bool {
		_, _, err := f.store.Get(context.Background(), control.RestoreHistoryKey("demo", "main", id))
		if err != nil {
			return false
		}
		r, err = control.GetRestore(context.Background(), f.store, "demo", "main", id)
		return err == nil
	})
	for _, s := range r.Steps {
		f.t.Logf("[%s] %s: %s", s.Time.Format("15:04:05.000"), s.Phase, s.Message)
	}
	// ArchiveRestore writes the history copy first and removes the command
	// right after: under load the test can look in between.
	f.waitFor("the restore command to be removed", 10*time.Second, func() bool {
		_, _, err := f.store.Get(context.Background(), control.RestoreKey("demo", "main", id))
		return errors.Is(err, state.ErrNotFound)
	})
	return r
}

// The whole protocol on three real members: A exists in the backup, B is
// written after it and A deleted; the restore brings A back, B is gone,
// every member runs under a new cluster id, and a fresh backup exists.
func TestRestoreThreeMembers(t *testing.T) {
	f := newFixture(t, 3, time.Hour)
	ctx := context.Background()
	snap := f.backupHoldingA()
	oldID := f.cluster.Members[0].ClusterID()

	r := f.waitRestore(writeRestore(t, f.store, snap))
	if r.Phase != control.Succeeded {
		t.Fatalf("restore ended %s: %s", r.Phase, r.Error)
	}
	newID := f.cluster.Members[0].ClusterID()
	for _, m := range f.cluster.Members {
		if !m.Running() || m.ClusterID() != newID {
			t.Errorf("member %s running %v, cluster id %x, want %x", m.Name, m.Running(), m.ClusterID(), newID)
		}
	}
	if newID == oldID {
		t.Errorf("cluster id %x unchanged by the restore", newID)
	}
	after := etcdtest.Client(t, f.cluster.Endpoints()...)
	for _, m := range f.cluster.Members {
		st, err := after.Status(ctx, m.ClientURL)
		if err != nil {
			t.Errorf("member %s unhealthy: %v", m.Name, err)
			continue
		}
		if st.Header.ClusterId != newID {
			t.Errorf("member %s in cluster %x, want %x", m.Name, st.Header.ClusterId, newID)
		}
	}
	got := etcdtest.Dump(t, after)
	if got["/registry/configmaps/default/a"] != "A" {
		t.Errorf("A is missing after the restore")
	}
	if _, ok := got["/registry/configmaps/default/b"]; ok {
		t.Errorf("B, written after the backup, survived the restore")
	}
	if r.FreshBackup == "" || f.backups()[0].Name != r.FreshBackup {
		t.Errorf("fresh backup %q is not the newest listed", r.FreshBackup)
	}
}

// A backup whose snapshot does not match its sha256 is refused before
// anything is stopped; etcd keeps serving its current data.
func TestRestoreRefusesTamperedBackup(t *testing.T) {
	f := newFixture(t, 3, time.Hour)
	f.waitFor("the first backup", 30*time.Second, func() bool { return len(f.backups()) == 1 })
	ctx := context.Background()
	name := f.backups()[0].Name
	if _, err := f.store.Put(ctx, backup.DataKey("demo", "main", name), gzipped(t, "not the snapshot"), state.Unconditional()); err != nil {
		t.Fatal(err)
	}
	r := f.waitRestore(writeRestore(t, f.store, name))
	if r.Phase != control.Failed || r.Error == "" {
		t.Fatalf("restore of a tampered backup ended %s (%q), want Failed", r.Phase, r.Error)
	}
	for i, s := range f.sups {
		if starts, stops := s.calls(); starts+stops != 0 {
			t.Errorf("member %d: etcd started %d and stopped %d times, want untouched", i, starts, stops)
		}
	}
	if _, err := f.client().Put(ctx, "still", "serving"); err != nil {
		t.Errorf("etcd stopped serving: %v", err)
	}
	t.Logf("refused: %s", r.Error)
}

// A restore whose named backup does not exist fails and says so.
func TestRestoreUnknownBackup(t *testing.T) {
	f := newFixture(t, 1, time.Hour)
	f.waitFor("the first backup", 30*time.Second, func() bool { return len(f.backups()) == 1 })
	r := f.waitRestore(writeRestore(t, f.store, "2020-01-01T00:00:00Z-1"))
	if r.Phase != control.Failed || r.Error != fmt.Sprintf("backup %q not found; nearest: %s", "2020-01-01T00:00:00Z-1", f.backups()[0].Name) {
		t.Errorf("restore ended %s: %q", r.Phase, r.Error)
	}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write([]byte(s))
	gz.Close()
	return buf.Bytes()
}
