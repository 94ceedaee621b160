package commands

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/etcd/manager"
	"github.com/hullproject/hull/pkg/state"
)

// backupEnv is a created cluster, a real one-member etcd and a store handle
// for seeding backups with the library.
type backupEnv struct {
	*env
	store  *state.Store
	member *etcdtest.Member
}

func newBackupEnv(t *testing.T) *backupEnv {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	store, err := state.Open(context.Background(), e.state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := etcdtest.StartCluster(t, 1)
	return &backupEnv{env: e, store: store, member: c.Members[0]}
}

// seed takes n real backups of main, a second apart, and returns their
// names newest first.
func (b *backupEnv) seed(n int) []string {
	b.t.Helper()
	cl := etcdtest.Client(b.t, b.member.ClientURL)
	var names []string
	now := time.Now().Add(-time.Duration(n) * time.Second)
	for i := range n {
		at := now.Add(time.Duration(i) * time.Second)
		if _, err := cl.Put(context.Background(), "/k", at.String()); err != nil {
			b.t.Fatal(err)
		}
		if _, err := backup.Save(context.Background(), cl, b.store, demo, "main", at, 1); err != nil {
			b.t.Fatal(err)
		}
		names = append([]string{backup.Name(at, 1)}, names...)
	}
	return names
}

// runManager runs the etcd manager of the member for main until the test ends.
func (b *backupEnv) runManager() {
	b.t.Helper()
	runManager(b.t, b.store, b.member, "main")
}

// runManager runs an etcd manager of member for etcdCluster (main and
// events may share the member: their elections and stores differ).
func runManager(t *testing.T, store *state.Store, m *etcdtest.Member, etcdCluster string) {
	t.Helper()
	mgr, err := manager.New(manager.Config{
		Cluster: demo, EtcdCluster: etcdCluster, Member: m.Name, Store: store,
		Client:       etcdtest.Client(t, m.ClientURL),
		Interval:     time.Hour,
		PollInterval: 100 * time.Millisecond,
		SessionTTL:   2 * time.Second,
		Node:         &manager.Node{Supervisor: &embeddedSupervisor{m}, DataDir: m.DataDir, ClientURL: m.ClientURL, TempDir: t.TempDir()},
		Log:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mgr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

type embeddedSupervisor struct{ m *etcdtest.Member }

func (s *embeddedSupervisor) Start(_ context.Context, o manager.StartOptions) error {
	return s.m.Start(etcdtest.StartOptions{InitialCluster: o.InitialCluster, ClusterState: o.ClusterState, Token: o.ClusterToken})
}

func (s *embeddedSupervisor) Stop(context.Context) error { s.m.Stop(); return nil }

func TestBackupList(t *testing.T) {
	b := newBackupEnv(t)
	b.fails(2, []string{"--etcd \"nope\"", "main, events"}, "backup", "list", demo, "--etcd", "nope")
	if r := b.run("", "backup", "list", demo); r.code != 0 || !strings.Contains(r.stderr, "No backups of etcd main") {
		t.Errorf("empty list: exit %d, stderr %q", r.code, r.stderr)
	}
	names := b.seed(3)
	table := b.must("backup", "list", demo)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "NAME") || !strings.Contains(lines[0], "ETCD VERSION") {
		t.Fatalf("table:\n%s", table)
	}
	for i, n := range names {
		if !strings.HasPrefix(lines[i+1], n) || !strings.Contains(lines[i+1], "3.6.") || !strings.Contains(lines[i+1], "KiB") {
			t.Errorf("row %d = %q, want backup %s with size and etcd version", i, lines[i+1], n)
		}
	}
	var list []backup.Info
	decodeJSON(t, b.must("backup", "list", demo, "-o", "json"), &list)
	if len(list) != 3 || list[0].Name != names[0] || list[0].Meta.SnapshotSHA256 == "" {
		t.Errorf("json list = %+v", list)
	}
	if out := b.must("backup", "list", demo, "--etcd", "events", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("events list = %q, want []", out)
	}
}

func TestBackupCreate(t *testing.T) {
	b := newBackupEnv(t)
	before := b.seed(1)
	b.runManager()
	r := b.run("", "backup", "create", demo, "--wait", "1m")
	if r.code != 0 {
		t.Fatalf("backup create: exit %d\n%s", r.code, r.stderr)
	}
	name := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "Asked the backup leader") || !strings.Contains(r.stderr, "Backup "+name+" is listed") {
		t.Errorf("progress:\n%s", r.stderr)
	}
	list, err := backup.List(context.Background(), b.store, demo, "main")
	if err != nil || len(list) < 2 || list[0].Name != name || slices.Contains(before, name) {
		t.Errorf("after create: newest %v, want the new %s", list, name)
	}
	if reqs, _, _ := control.ListBackupRequests(context.Background(), b.store, demo, "main"); len(reqs) != 0 {
		t.Errorf("backup requests left behind: %+v", reqs)
	}
}

func TestBackupCreateWithoutManagerTimesOut(t *testing.T) {
	b := newBackupEnv(t)
	b.fails(1, []string{"no backup of etcd main was listed within 2s", "request withdrawn"}, "backup", "create", demo, "--wait", "2s")
	if reqs, _, _ := control.ListBackupRequests(context.Background(), b.store, demo, "main"); len(reqs) != 0 {
		t.Errorf("backup requests left behind: %+v", reqs)
	}
}

func TestBackupRestoreWithoutYesChangesNothing(t *testing.T) {
	b := newBackupEnv(t)
	names := b.seed(2)
	before := b.storeFiles()
	out := b.must("backup", "restore", demo, names[1], "--etcd", "main")
	for _, want := range []string{names[1], "DOWN", "LOSE", "fresh cluster id", "--yes", "Nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if after := b.storeFiles(); !slices.Equal(before, after) {
		t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
	}
	// --etcd all: events has no backups, so it cannot be restored.
	b.fails(1, []string{"etcd events has no intact backup"}, "backup", "restore", demo, names[1])
}

func TestBackupRestoreRefusesTamperedBackup(t *testing.T) {
	b := newBackupEnv(t)
	names := b.seed(1)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write([]byte("tampered"))
	gz.Close()
	if _, err := b.store.Put(context.Background(), backup.DataKey(demo, "main", names[0]), buf.Bytes(), state.Unconditional()); err != nil {
		t.Fatal(err)
	}
	before := b.storeFiles()
	b.fails(1, []string{"is damaged", "sha256", "nothing was written"}, "backup", "restore", demo, names[0], "--etcd", "main", "--yes")
	if after := b.storeFiles(); !slices.Equal(before, after) {
		t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestBackupRestoreUnknownNameListsNearest(t *testing.T) {
	b := newBackupEnv(t)
	names := b.seed(2)
	typo := strings.Replace(names[0], "-1", "-7", 1)
	b.fails(1, []string{"backup \"" + typo + "\" not found", "nearest: " + names[0] + ", " + names[1]}, "backup", "restore", demo, typo, "--etcd", "main")
	b.fails(2, []string{"accepts 2 arg"}, "backup", "restore", demo)
}

// The whole restore through the CLI, carried out by a real manager.
func TestBackupRestoreYes(t *testing.T) {
	b := newBackupEnv(t)
	names := b.seed(1)
	cl := etcdtest.Client(t, b.member.ClientURL)
	if _, err := cl.Put(context.Background(), "/after", "lost"); err != nil {
		t.Fatal(err)
	}
	b.runManager()
	r := b.run("", "backup", "restore", demo, names[0], "--etcd", "main", "--yes", "--wait", "2m", "--validation-timeout", "0")
	if r.code != 0 {
		t.Fatalf("restore: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"Verifying backup", "Wrote restore command", "etcd main: member m0: etcd stopped", "new cluster", "fresh backup", "Restore complete"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, ok := etcdtest.Dump(t, etcdtest.Client(t, b.member.ClientURL))["/after"]; ok {
		t.Errorf("a key written after the backup survived the restore")
	}
}
