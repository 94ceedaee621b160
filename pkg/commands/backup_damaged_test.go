package commands

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/state"
)

// damageMeta truncates a backup's meta object and returns its key.
func (b *backupEnv) damageMeta(name string) string {
	b.t.Helper()
	key := backup.MetaKey(demo, "main", name)
	truncateObject(b.t, b.store, key)
	return key
}

func truncateObject(t *testing.T, store *state.Store, key string) {
	t.Helper()
	data, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(context.Background(), key, data[:len(data)/2], state.Unconditional()); err != nil {
		t.Fatal(err)
	}
}

// A backup with a truncated meta is listed as damaged, in the table and in
// structured output, with a warning naming its meta object; the others
// are listed as before.
func TestBackupListShowsDamaged(t *testing.T) {
	b := newBackupEnv(t)
	names := b.seed(3)
	key := b.damageMeta(names[1])
	warning := "WARNING: etcd main: backup " + names[1] + " is damaged and cannot be restored: decode " + key

	r := b.run("", "backup", "list", demo)
	if r.code != 0 || !strings.Contains(r.stderr, warning) {
		t.Fatalf("backup list: exit %d, stderr lacks %q:\n%s", r.code, warning, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "STATUS") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for i, n := range names {
		want := []string{n, "ok", "KiB"}
		if i == 1 {
			want = []string{n, "damaged"}
		}
		if got := strings.Fields(lines[i+1]); got[0] != want[0] || got[len(got)-1] != want[1] || !strings.Contains(lines[i+1], want[len(want)-1]) {
			t.Errorf("row %d = %q, want %s ... %s", i, lines[i+1], want[0], want[1])
		}
	}

	var list []backup.Info
	decodeJSON(t, b.must("backup", "list", demo, "-o", "json"), &list)
	var damaged []string
	for _, x := range list {
		damaged = append(damaged, x.Damaged)
	}
	if len(list) != 3 || damaged[0] != "" || !strings.Contains(damaged[1], key) || damaged[2] != "" {
		t.Errorf("json damaged fields = %q, want only %s's, naming %s", damaged, names[1], key)
	}
	if out := b.must("backup", "list", demo, "-o", "yaml"); !strings.Contains(out, "damaged: ") || !strings.Contains(out, key) {
		t.Errorf("yaml lacks the damaged field:\n%s", out)
	}
}

// Restoring the damaged backup fails naming its meta object, before
// anything is written; restoring another backup beside it works, through
// a real manager, with a warning about the damaged one. A damaged restore
// command left in the control directory does not block it either.
func TestBackupRestoreBesideDamagedBackup(t *testing.T) {
	b := newBackupEnv(t)
	names := b.seed(2)
	key := b.damageMeta(names[0])
	stale := control.RestoreKey(demo, "main", control.NewID(time.Now()))
	if err := control.Create(context.Background(), b.store, stale, &control.Restore{ID: "stale", Phase: control.Stopping}); err != nil {
		t.Fatal(err)
	}
	truncateObject(t, b.store, stale)

	before := b.storeFiles()
	b.fails(1, []string{"backup " + names[0] + " is damaged: decode " + key, "refusing to restore it"},
		"backup", "restore", demo, names[0], "--etcd", "main", "--yes")
	if after := b.storeFiles(); !slices.Equal(before, after) {
		t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
	}

	b.runManager()
	r := b.run("", "backup", "restore", demo, names[1], "--etcd", "main", "--yes", "--wait", "2m", "--validation-timeout", "0")
	if r.code != 0 {
		t.Fatalf("restore beside a damaged backup: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"WARNING: etcd main: backup " + names[0] + " is damaged", "skipped damaged control object " + stale, "Restore complete"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
