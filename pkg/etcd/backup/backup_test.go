package backup_test

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func openStore(t *testing.T, url string) *state.Store { return openStoreB(t, url) }

func openStoreB(t testing.TB, url string) *state.Store {
	t.Helper()
	s, err := state.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSaveListEveryBackend(t *testing.T) {
	c := etcdtest.StartCluster(t, 1)
	cl := etcdtest.Client(t, c.Endpoints()...)
	etcdtest.Fill(t, cl, "/fill/", 2)
	ctx := context.Background()
	for name, url := range statetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			store := openStore(t, url)
			for i, at := range []time.Time{t0, t0.Add(15 * time.Minute), t0.Add(15 * time.Minute)} {
				meta, err := backup.Save(ctx, cl, store, "demo", "main", at, i)
				if err != nil {
					t.Fatal(err)
				}
				if meta.MemberCount != 1 || meta.EtcdVersion == "" || meta.SnapshotSize < 2<<20 || meta.CompressedSize <= 0 {
					t.Errorf("meta %+v", meta)
				}
			}
			got, err := backup.List(ctx, store, "demo", "main")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, b := range got {
				names = append(names, b.Name)
			}
			want := "2026-03-14T15:24:26Z-2 2026-03-14T15:24:26Z-1 2026-03-14T15:09:26Z-0"
			if strings.Join(names, " ") != want {
				t.Errorf("List = %v, want %s", names, want)
			}
			// A name that is taken is refused, and the first backup stays.
			if _, err := backup.Save(ctx, cl, store, "demo", "main", t0, 0); !errors.Is(err, state.ErrConflict) {
				t.Errorf("Save over an existing backup: %v, want a conflict", err)
			}
		})
	}
}

// A hull backup is a real etcd snapshot: etcdutl's snapshot status reads
// it after gunzip, and it equals a snapshot etcdutl itself saves.
func TestBackupIsAnEtcdSnapshot(t *testing.T) {
	c := etcdtest.StartCluster(t, 1)
	cl := etcdtest.Client(t, c.Endpoints()...)
	ctx := context.Background()
	for i := range 50 {
		if _, err := cl.Put(ctx, "/k/"+strings.Repeat("x", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cl.Get(ctx, "/k/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t, statetest.FileURL(t))
	meta, err := backup.Save(ctx, cl, store, "demo", "main", t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ours := gunzip(t, store, backup.DataKey("demo", "main", backup.Name(t0, 0)), filepath.Join(dir, "hull.db"))
	sum := sha256.Sum256(ours)
	if hex.EncodeToString(sum[:]) != meta.SnapshotSHA256 || int64(len(ours)) != meta.SnapshotSize {
		t.Fatalf("meta sha256/size %s/%d do not describe the snapshot", meta.SnapshotSHA256, meta.SnapshotSize)
	}

	mgr := snapshot.NewV3(zap.NewNop())
	theirs := filepath.Join(dir, "etcdutl.db")
	if _, err := mgr.Save(ctx, clientv3.Config{Endpoints: c.Endpoints()[:1]}, theirs); err != nil {
		t.Fatal(err)
	}
	got, err := mgr.Status(filepath.Join(dir, "hull.db"))
	if err != nil {
		t.Fatalf("etcdutl snapshot status of a hull backup: %v", err)
	}
	want, err := mgr.Status(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != resp.Header.Revision {
		t.Errorf("snapshot revision %d, etcd revision %d", got.Revision, resp.Header.Revision)
	}
	if got.Hash != want.Hash || got.Revision != want.Revision || got.TotalKey != want.TotalKey {
		t.Errorf("hull snapshot status %+v, etcdutl snapshot save status %+v", got, want)
	}
	if got.TotalKey != 50 {
		t.Errorf("snapshot holds %d keys, want 50", got.TotalKey)
	}
}

func gunzip(t *testing.T, store *state.Store, key, path string) []byte {
	t.Helper()
	r, err := store.NewReader(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// A backup cancelled part way through the stream leaves nothing listed:
// no meta, and no committed data object.
func TestCancelledMidStreamLeavesNoBackup(t *testing.T) {
	c := etcdtest.StartCluster(t, 1)
	cl := etcdtest.Client(t, c.Endpoints()...)
	etcdtest.Fill(t, cl, "/fill/", 48)
	url := statetest.FileURL(t)
	store := openStore(t, url)
	root := strings.TrimPrefix(url, "file://")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := backup.Save(ctx, cl, store, "demo", "main", t0, 0)
		done <- err
	}()
	// Cancel once the in-flight object holds data: mid-stream.
	deadline := time.Now().Add(30 * time.Second)
	for streamed(root) < 1<<20 {
		if time.Now().After(deadline) {
			t.Fatal("the backup never started streaming")
		}
		select {
		case err := <-done:
			t.Fatalf("the backup finished before it could be cancelled (%v); fill more data", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled backup succeeded")
	}
	list, err := backup.List(context.Background(), store, "demo", "main")
	if err != nil || len(list) != 0 {
		t.Errorf("List after a cancelled backup = %v, %v; want nothing", list, err)
	}
	if _, _, err := store.Get(context.Background(), backup.MetaKey("demo", "main", backup.Name(t0, 0))); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("meta of a cancelled backup: %v, want not found", err)
	}
	objs, err := store.List(context.Background(), "demo/")
	if err != nil || len(objs) != 0 {
		t.Errorf("objects after a cancelled backup = %v, %v; want none", objs, err)
	}
}

// streamed is the size of the largest file under root.
func streamed(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n = max(n, fi.Size())
			}
		}
		return nil
	})
	return n
}

func TestNearest(t *testing.T) {
	var all []backup.Info
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Hour)
		all = append(all, backup.Info{Name: backup.Name(at, 1), Time: at, Seq: 1})
	}
	backup.SortNewestFirst(all)
	names := func(bs []backup.Info) string {
		var s []string
		for _, b := range bs {
			s = append(s, b.Name)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct{ name, want string }{
		{"2026-03-14T18:09:26Z-7", "2026-03-14T18:09:26Z-1 2026-03-14T19:09:26Z-1 2026-03-14T17:09:26Z-1 2026-03-14T20:09:26Z-1 2026-03-14T16:09:26Z-1"},
		{"2026-03-14T18:00", "2026-03-14T18:09:26Z-1 2026-03-14T17:09:26Z-1 2026-03-14T19:09:26Z-1 2026-03-14T16:09:26Z-1 2026-03-14T20:09:26Z-1"},
		{"2026-03-14T23:09:26Z1", "2026-03-14T23:09:26Z-1 2026-03-15T00:09:26Z-1 2026-03-14T22:09:26Z-1 2026-03-14T21:09:26Z-1 2026-03-14T20:09:26Z-1"},
		{"nonsense", "2026-03-15T00:09:26Z-1 2026-03-14T23:09:26Z-1 2026-03-14T22:09:26Z-1 2026-03-14T21:09:26Z-1 2026-03-14T20:09:26Z-1"},
	} {
		_, err := backup.Find(tc.name, all)
		var nf *backup.NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("Find(%q) = %v", tc.name, err)
		}
		if got := names(nf.Nearest); got != tc.want {
			t.Errorf("Nearest(%q) = %s\nwant %s", tc.name, got, tc.want)
		}
	}
	if b, err := backup.Find(all[3].Name, all); err != nil || b.Name != all[3].Name {
		t.Errorf("Find existing = %v, %v", b, err)
	}
}

func TestParseName(t *testing.T) {
	at, seq, err := backup.ParseName(backup.Name(t0.In(time.FixedZone("x", 3600)), 12))
	if err != nil || !at.Equal(t0) || seq != 12 {
		t.Errorf("round trip = %v %d %v", at, seq, err)
	}
	for _, bad := range []string{"", "control", "2026-03-14T15:09:26Z", "2026-03-14T15:09:26Z--1", "2026-03-14-1"} {
		if _, _, err := backup.ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}

// One unusable meta among intact ones: List returns every backup, the
// damaged one marked with the object and the reason, and no error.
func TestListMarksDamagedMeta(t *testing.T) {
	ctx := context.Background()
	intact := backup.Meta{Timestamp: t0, SnapshotSHA256: strings.Repeat("ab", 32), SnapshotSize: 10, EtcdVersion: "3.6.0"}
	good, err := json.Marshal(intact)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, meta, reason string
	}{
		{"truncated", string(good[:len(good)/2]), "unexpected end of JSON input"},
		{"empty", "", "unexpected end of JSON input"},
		{"not JSON", "\x00\x01garbage", "invalid character"},
		{"no checksum", `{"timestamp":"2026-03-14T15:09:26Z","snapshotSize":10}`, "is not a sha256"},
		{"no size", `{"snapshotSHA256":"` + strings.Repeat("ab", 32) + `"}`, "snapshotSize 0 is not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t, statetest.FileURL(t))
			var names []string
			for i := range 3 {
				at := t0.Add(time.Duration(i) * time.Hour)
				names = append([]string{backup.Name(at, 1)}, names...)
				put(t, store, backup.DataKey("demo", "main", names[0]), "data")
				put(t, store, backup.MetaKey("demo", "main", names[0]), string(good))
			}
			damagedKey := backup.MetaKey("demo", "main", names[1])
			put(t, store, damagedKey, tc.meta)

			got, err := backup.List(ctx, store, "demo", "main")
			if err != nil {
				t.Fatalf("List with one damaged meta: %v", err)
			}
			if !strings.Contains(got[1].Damaged, damagedKey) || !strings.Contains(got[1].Damaged, tc.reason) {
				t.Errorf("damage = %q, want it to name %s and say %q", got[1].Damaged, damagedKey, tc.reason)
			}
			want := []backup.Info{
				{Name: names[0], Time: t0.Add(2 * time.Hour), Seq: 1, Meta: intact},
				{Name: names[1], Time: t0.Add(time.Hour), Seq: 1, Damaged: got[1].Damaged},
				{Name: names[2], Time: t0, Seq: 1, Meta: intact},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]backup.Info{want[0], want[2]}, backup.Intact(got)); diff != "" {
				t.Errorf("Intact (-want +got):\n%s", diff)
			}
			if err := got[1].DamageError(); !errors.Is(err, backup.ErrDamaged) || !strings.Contains(err.Error(), damagedKey) {
				t.Errorf("DamageError = %v, want ErrDamaged naming %s", err, damagedKey)
			}
			if err := got[0].DamageError(); err != nil {
				t.Errorf("DamageError of an intact backup = %v", err)
			}
		})
	}
}

func put(t *testing.T, s *state.Store, key, data string) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, []byte(data), state.Unconditional()); err != nil {
		t.Fatal(err)
	}
}
