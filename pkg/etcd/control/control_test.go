package control_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

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
			if list, err := control.ListRestores(ctx, store, "demo", "main"); err != nil || len(list) != 0 {
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
