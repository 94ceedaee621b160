package control_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// A restore of main and events whose second command cannot be written
// leaves no command at all: etcd main is never restored alone.
func TestCreateRestoresIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	url := statetest.FileURL(t)
	store, err := state.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	var cmds []*control.Restore
	for _, etcd := range []string{"main", "events"} {
		cmds = append(cmds, &control.Restore{ID: control.NewID(now), Cluster: "demo", EtcdCluster: etcd, Backup: "b", Phase: control.Pending})
	}
	// A directory where the events command's object belongs makes its
	// write fail, as a full disk or a refused PUT would.
	root := strings.TrimPrefix(url, "file://")
	if err := os.MkdirAll(filepath.Join(root, control.RestoreKey("demo", "events", cmds[1].ID), "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	err = control.CreateRestores(ctx, store, cmds)
	if err == nil || !strings.Contains(err.Error(), "etcd events") || !strings.Contains(err.Error(), "nothing was restored") {
		t.Fatalf("CreateRestores = %v, want a failure naming etcd events and saying nothing was restored", err)
	}
	if _, _, err := store.Get(ctx, control.RestoreKey("demo", "main", cmds[0].ID)); err == nil {
		t.Error("the restore command of etcd main is still there after the events one failed")
	}
	restores, _, err := control.ListRestores(ctx, store, "demo", "main")
	if err != nil || len(restores) != 0 {
		t.Errorf("restores of etcd main: %+v, %v; want none", restores, err)
	}

	// Both written when nothing fails.
	os.RemoveAll(filepath.Join(root, "demo"))
	if err := control.CreateRestores(ctx, store, cmds); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if _, _, err := store.Get(ctx, control.RestoreKey("demo", c.EtcdCluster, c.ID)); err != nil {
			t.Errorf("command of etcd %s: %v", c.EtcdCluster, err)
		}
	}
}
