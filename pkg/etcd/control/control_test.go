package control_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// Members report their state concurrently; conditional updates lose none.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	for name, url := range map[string]string{"mem": statetest.MemURL(t), "file": statetest.FileURL(t)} {
		t.Run(name, func(t *testing.T) {
			store, err := state.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			id := control.NewID(time.Now())
			key := control.RestoreKey("demo", "main", id)
			cmd := &control.Restore{ID: id, Cluster: "demo", EtcdCluster: "main", Phase: control.Stopping}
			for i := range 5 {
				cmd.Members = append(cmd.Members, control.Member{Name: fmt.Sprintf("m%d", i)})
			}
			if err := control.Create(ctx, store, key, cmd); err != nil {
				t.Fatal(err)
			}
			if err := control.Create(ctx, store, key, cmd); !errors.Is(err, state.ErrConflict) {
				t.Errorf("second Create = %v, want a conflict", err)
			}
			var wg sync.WaitGroup
			for i := range 5 {
				wg.Go(func() {
					_, err := control.Update(ctx, store, key, func(r *control.Restore) error {
						r.Members[i].State = control.MemberStopped
						r.Log(time.Now(), "m%d stopped", i)
						return nil
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			got, err := control.GetRestore(ctx, store, "demo", "main", id)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got.Members {
				if m.State != control.MemberStopped {
					t.Errorf("member %s state %q lost", m.Name, m.State)
				}
			}
			if len(got.Steps) != 5 {
				t.Errorf("%d steps, want 5", len(got.Steps))
			}

			got.SetPhase(control.Succeeded, time.Now(), "done")
			if err := control.ArchiveRestore(ctx, store, got); err != nil {
				t.Fatal(err)
			}
			if list, _, err := control.ListRestores(ctx, store, "demo", "main"); err != nil || len(list) != 0 {
				t.Errorf("restores after archive = %v, %v", list, err)
			}
			if r, err := control.GetRestore(ctx, store, "demo", "main", id); err != nil || r.Phase != control.Succeeded {
				t.Errorf("archived restore = %v, %v", r, err)
			}
		})
	}
}

// Only the members of a failed command that stopped or changed their etcd
// and have not rolled back yet are unsettled.
func TestUnsettled(t *testing.T) {
	r := &control.Restore{Phase: control.Failed, Members: []control.Member{
		{Name: "untouched"},
		{Name: "stopped", State: control.MemberStopped},
		{Name: "restored", State: control.MemberRestored},
		{Name: "joining", State: control.MemberJoining},
		{Name: "joined", State: control.MemberJoined},
		{Name: "rolled-back", State: control.MemberRolledBack},
		{Name: "failed", State: control.MemberFailed},
		{Name: "roll-back-failed", State: control.MemberRollBackFailed},
	}}
	want := []string{"stopped", "restored", "joining", "joined", "failed"}
	if got := r.Unsettled(); !slices.Equal(got, want) {
		t.Errorf("Unsettled() = %v, want %v", got, want)
	}
	r.Phase = control.Succeeded
	if got := r.Unsettled(); len(got) != 0 {
		t.Errorf("a succeeded restore has unsettled members %v", got)
	}
}

// A truncated command object is skipped and reported apart; the intact
// commands around it are listed.
func TestListsSkipDamagedObjects(t *testing.T) {
	ctx := context.Background()
	store, err := state.Open(ctx, statetest.FileURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	base := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	var restores, requests []string
	for i := range 3 {
		id := control.NewID(base.Add(time.Duration(i) * time.Minute))
		if err := control.Create(ctx, store, control.RestoreKey("demo", "main", id), &control.Restore{ID: id, Phase: control.Pending}); err != nil {
			t.Fatal(err)
		}
		if err := control.Create(ctx, store, control.BackupRequestKey("demo", "main", id), &control.BackupRequest{ID: id, Phase: control.RequestPending}); err != nil {
			t.Fatal(err)
		}
		restores, requests = append(restores, id), append(requests, id)
	}
	truncate := func(key string) {
		data, _, err := store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, key, data[:len(data)/2], state.Unconditional()); err != nil {
			t.Fatal(err)
		}
	}
	badRestore := control.RestoreKey("demo", "main", restores[1])
	badRequest := control.BackupRequestKey("demo", "main", requests[0])
	truncate(badRestore)
	truncate(badRequest)

	rs, damaged, err := control.ListRestores(ctx, store, "demo", "main")
	if err != nil {
		t.Fatalf("ListRestores with a damaged command: %v", err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	if diff := cmp.Diff([]string{restores[0], restores[2]}, ids); diff != "" {
		t.Errorf("restores (-want +got):\n%s", diff)
	}
	if len(damaged) != 1 || damaged[0].Key != badRestore || !strings.Contains(damaged[0].Error(), badRestore) {
		t.Errorf("damaged restores = %v, want %s", damaged, badRestore)
	}

	reqs, damaged, err := control.ListBackupRequests(ctx, store, "demo", "main")
	if err != nil {
		t.Fatalf("ListBackupRequests with a damaged request: %v", err)
	}
	ids = nil
	for _, r := range reqs {
		ids = append(ids, r.ID)
	}
	if diff := cmp.Diff([]string{requests[1], requests[2]}, ids); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if len(damaged) != 1 || damaged[0].Key != badRequest {
		t.Errorf("damaged requests = %v, want %s", damaged, badRequest)
	}
}
