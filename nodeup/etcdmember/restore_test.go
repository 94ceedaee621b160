package etcdmember

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/state"
)

// A lone member's replacement restores the newest backup that verifies
// into its data dir, and real etcd serves it. The newest backup here has a
// truncated meta and the one before it a damaged snapshot, so the one
// before those is used.
func TestReplaceLoneMemberRestoresNewestBackup(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(ctx, "mem://lone-restore")
	if err != nil {
		t.Fatal(err)
	}
	src := etcdtest.StartCluster(t, 1)
	cl := etcdtest.Client(t, src.Endpoints()...)
	at := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	for i, v := range []string{"old", "good", "damaged", "damaged meta"} {
		if _, err := cl.Put(ctx, "/registry/configmaps/default/a", v); err != nil {
			t.Fatal(err)
		}
		if _, err := backup.Save(ctx, cl, st, "demo", "main", at.Add(time.Duration(i)*time.Minute), 1); err != nil {
			t.Fatal(err)
		}
	}
	damaged := backup.DataKey("demo", "main", backup.Name(at.Add(2*time.Minute), 1))
	if _, err := st.Put(ctx, damaged, []byte("not a snapshot"), state.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, backup.MetaKey("demo", "main", backup.Name(at.Add(3*time.Minute), 1)), []byte(`{"etcdVer`), state.Unconditional()); err != nil {
		t.Fatal(err)
	}

	old := cluster(t, st, "a", "i-old", "10.0.1.5", "a")
	if err := old.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	m := etcdtest.NewMember(t, "a")
	repl := cluster(t, st, "a", "i-new", "127.0.0.1", "a")
	repl.Self.PeerURL, repl.Self.ClientURL, repl.DataDir = m.PeerURL, m.ClientURL, m.DataDir
	if err := repl.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	// The manifest's flags would say "new"; etcd ignores them for a data
	// dir that exists.
	if err := m.Start(etcdtest.StartOptions{InitialCluster: "a=" + m.PeerURL, Token: "ignored"}); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := etcdtest.Client(t, m.ClientURL).Get(ctx, "/registry/configmaps/default/a")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "good" {
		t.Fatalf("restored value = %v, %v; want the newest good backup's %q", resp.Kvs, err, "good")
	}
	if m.ClusterID() == src.Members[0].ClusterID() {
		t.Error("the restored cluster kept the old cluster id")
	}
}

// With no backup, a lone member's replacement starts empty, as before.
func TestReplaceLoneMemberWithoutBackupStartsEmpty(t *testing.T) {
	ctx := context.Background()
	st, _ := state.Open(ctx, "mem://lone-empty")
	old := cluster(t, st, "a", "i-old", "10.0.1.5", "a")
	if err := old.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	repl := cluster(t, st, "a", "i-new", "10.0.1.9", "a")
	if err := repl.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if !emptyDir(t, repl.DataDir) {
		t.Error("data dir written without a backup")
	}
}

// When every backup is damaged, a lone member's replacement refuses to
// start etcd empty and names the damage.
func TestReplaceLoneMemberRefusesOnlyDamagedBackups(t *testing.T) {
	ctx := context.Background()
	st, _ := state.Open(ctx, "mem://lone-damaged")
	name := backup.Name(time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC), 1)
	for key, data := range map[string]string{backup.DataKey("demo", "main", name): "data", backup.MetaKey("demo", "main", name): `{"snapshotSHA`} {
		if _, err := st.Put(ctx, key, []byte(data), state.Unconditional()); err != nil {
			t.Fatal(err)
		}
	}
	old := cluster(t, st, "a", "i-old", "10.0.1.5", "a")
	if err := old.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	repl := cluster(t, st, "a", "i-new", "10.0.1.9", "a")
	err := repl.Register().Apply(ctx)
	if err == nil || !strings.Contains(err.Error(), "refusing to start etcd empty") || !strings.Contains(err.Error(), backup.MetaKey("demo", "main", name)) {
		t.Errorf("replacement with only damaged backups: %v, want a refusal naming the meta", err)
	}
}

func emptyDir(t *testing.T, dir string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	return (err == nil && len(entries) == 0) || os.IsNotExist(err)
}
