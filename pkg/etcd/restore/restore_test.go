package restore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/etcd/restore"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// snapshot -> store -> verify -> restore into a fresh data dir -> a new
// etcd on it holds the same keys, under a new cluster id.
func TestSnapshotStoreRestoreEveryBackend(t *testing.T) {
	ctx := context.Background()
	src := etcdtest.StartCluster(t, 3)
	cl := etcdtest.Client(t, src.Endpoints()...)
	etcdtest.Fill(t, cl, "/fill/", 1)
	for i := range 100 {
		if _, err := cl.Put(ctx, "/registry/configmaps/default/cm-"+string(rune('a'+i%26))+"-"+time.Duration(i).String(), "v"); err != nil {
			t.Fatal(err)
		}
	}
	want := etcdtest.Dump(t, cl)
	for name, url := range statetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			store, err := state.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			if _, err := backup.Save(ctx, cl, store, "demo", "main", t0, 1); err != nil {
				t.Fatal(err)
			}
			list, err := backup.List(ctx, store, "demo", "main")
			if err != nil || len(list) != 1 {
				t.Fatalf("List = %v, %v", list, err)
			}
			if list[0].Meta.MemberCount != 3 {
				t.Errorf("member count %d, want 3", list[0].Meta.MemberCount)
			}
			snap, err := restore.Verify(ctx, store, "demo", "main", list[0], t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Remove()

			m := etcdtest.NewMember(t, "restored")
			initial := m.Name + "=" + m.PeerURL
			if err := restore.ToDataDir(snap.Path, m.DataDir, m.Name, m.PeerURL, initial, "hull-restore-"+name); err != nil {
				t.Fatal(err)
			}
			if err := m.Start(etcdtest.StartOptions{InitialCluster: initial, Token: "hull-restore-" + name}); err != nil {
				t.Fatal(err)
			}
			if err := m.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			rcl := etcdtest.Client(t, m.ClientURL)
			got := etcdtest.Dump(t, rcl)
			if !cmp.Equal(want, got) {
				t.Errorf("restored keys differ: %d keys, want %d", len(got), len(want))
			}
			// Watches from before the restore must fail as compacted.
			resp, err := rcl.Get(ctx, "/fill/", clientv3.WithPrefix(), clientv3.WithLimit(1))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Revision <= restore.RevisionBump {
				t.Errorf("revision after restore %d, want above the bump %d", resp.Header.Revision, restore.RevisionBump)
			}
			if _, err := rcl.Get(ctx, "/fill/", clientv3.WithRev(resp.Header.Revision-1)); err == nil {
				t.Errorf("reading at revision %d succeeded; the restore should mark it compacted", resp.Header.Revision-1)
			}
			if m.ClusterID() == src.Members[0].ClusterID() {
				t.Errorf("restored cluster id %x equals the original's", m.ClusterID())
			}
		})
	}
}

func TestVerifyRefusesTamperedBackup(t *testing.T) {
	ctx := context.Background()
	src := etcdtest.StartCluster(t, 1)
	cl := etcdtest.Client(t, src.Endpoints()...)
	if _, err := cl.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(ctx, statetest.MemURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := backup.Save(ctx, cl, store, "demo", "main", t0, 1); err != nil {
		t.Fatal(err)
	}
	list, _ := backup.List(ctx, store, "demo", "main")
	key := backup.DataKey("demo", "main", list[0].Name)

	// Flip one byte of the snapshot and gzip it again.
	data := gunzip(t, store, key)
	data[len(data)/2] ^= 0xff
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(data)
	gz.Close()
	if _, err := store.Put(ctx, key, buf.Bytes(), state.Unconditional()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = restore.Verify(ctx, store, "demo", "main", list[0], dir)
	if !errors.Is(err, restore.ErrChecksum) {
		t.Fatalf("Verify of a tampered backup = %v, want a checksum error", err)
	}
	if err := restore.Check(ctx, store, "demo", "main", list[0]); !errors.Is(err, restore.ErrChecksum) {
		t.Fatalf("Check of a tampered backup = %v, want a checksum error", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("Verify left %v behind", left)
	}

	// Not gzip at all.
	if _, err := store.Put(ctx, key, []byte("not gzip"), state.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Verify(ctx, store, "demo", "main", list[0], dir); !errors.Is(err, restore.ErrChecksum) {
		t.Fatalf("Verify of a non-gzip backup = %v, want a checksum error", err)
	}
}

func TestToDataDirRefusesExistingData(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := restore.ToDataDir(filepath.Join(dir, "x"), dir, "a", "http://127.0.0.1:1", "a=http://127.0.0.1:1", "t")
	if err == nil {
		t.Fatal("restore into a non-empty data dir succeeded")
	}
	if err := restore.ToDataDir("x", t.TempDir(), "a", "http://127.0.0.1:1", "a=http://127.0.0.1:1", ""); err == nil {
		t.Fatal("restore without a token succeeded")
	}
}

func gunzip(t *testing.T, store *state.Store, key string) []byte {
	t.Helper()
	data, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(gz); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
