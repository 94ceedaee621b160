package manager_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/manager"
	"github.com/hullproject/hull/pkg/state"
)

// The leader's first backup gets a truncated meta, and a truncated backup
// request sits beside a good one: the leader warns naming both, serves the
// good request, keeps taking scheduled backups and keeps pruning, and logs
// no error.
func TestDamagedObjectsStopNoScheduledWork(t *testing.T) {
	logs := &syncBuffer{}
	f := newFixture(t, 1, 2*time.Second, func(c *manager.Config) {
		c.PruneEvery = 200 * time.Millisecond
		c.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	f.waitFor("the first backup", 30*time.Second, func() bool { return len(f.backups()) == 1 })
	ctx := context.Background()
	first := f.backups()[0].Name
	truncate(t, f.store, backup.MetaKey("demo", "main", first))

	badID, goodID := control.NewID(time.Now()), control.NewID(time.Now().Add(time.Second))
	badKey, goodKey := control.BackupRequestKey("demo", "main", badID), control.BackupRequestKey("demo", "main", goodID)
	for id, key := range map[string]string{badID: badKey, goodID: goodKey} {
		if err := control.Create(ctx, f.store, key, &control.BackupRequest{ID: id, Created: time.Now(), Phase: control.RequestPending}); err != nil {
			t.Fatal(err)
		}
	}
	truncate(t, f.store, badKey)

	var requested string
	f.waitFor("the good request to be served", 30*time.Second, func() bool {
		r, _, err := control.Get[control.BackupRequest](ctx, f.store, goodKey)
		if err == nil && r.Phase == control.RequestSucceeded {
			requested = r.Backup
		}
		return requested != ""
	})
	f.waitFor("a scheduled backup after the requested one", 30*time.Second, func() bool {
		b := f.backups()
		return b[0].Damaged == "" && b[0].Name != first && b[0].Name != requested
	})
	if b := f.backups(); b[len(b)-1].Name != first || b[len(b)-1].Damaged == "" {
		t.Errorf("oldest backup %+v, want %s listed as damaged", b[len(b)-1], first)
	}
	for _, want := range []string{
		"object=\"etcd backup " + first + "\"",      // the schedule skipped it
		"retention ages it by the time in its name", // retention ran over it
		"object=" + badKey,                          // the request was skipped
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning says %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("the manager logged errors:\n%s", logs.String())
	}
}

// A restore command naming a backup whose meta is damaged fails before
// anything is stopped, naming the meta object.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	f := newFixture(t, 1, time.Hour)
	f.waitFor("the first backup", 30*time.Second, func() bool { return len(f.backups()) == 1 })
	name := f.backups()[0].Name
	key := backup.MetaKey("demo", "main", name)
	truncate(t, f.store, key)
	r := f.waitRestore(writeRestore(t, f.store, name))
	if r.Phase != control.Failed || !strings.Contains(r.Error, "backup "+name+" is damaged: decode "+key) {
		t.Errorf("restore of a damaged backup ended %s: %q", r.Phase, r.Error)
	}
	if starts, stops := f.sups[0].calls(); starts+stops != 0 {
		t.Errorf("etcd started %d and stopped %d times, want untouched", starts, stops)
	}
}

// truncate cuts a store object in half, as a torn write or a bad disk would.
func truncate(t *testing.T, store *state.Store, key string) {
	t.Helper()
	data, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(context.Background(), key, data[:len(data)/2], state.Unconditional()); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log sink the manager's goroutines write while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
