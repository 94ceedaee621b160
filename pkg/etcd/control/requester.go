package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/state"
)

// Waiting is how a requester waits for the etcd managers.
type Waiting struct {
	// RequestedBy names the requester in the command ("hull on host (pid 1)").
	RequestedBy string
	// Wait bounds the wait; Poll is how often the store is read again.
	Wait, Poll time.Duration
	// Progress reports each step (nil: nothing is reported).
	Progress func(format string, args ...any)
}

func (w Waiting) progress(format string, args ...any) {
	if w.Progress != nil {
		w.Progress(format, args...)
	}
}

// RequestBackup asks the backup leader of an etcd cluster for a backup now
// and waits until the backup is listed. The request is withdrawn once its
// outcome is read, and when the wait ends without one.
func RequestBackup(ctx context.Context, store *state.Store, cluster, etcd string, w Waiting) (backup.Info, error) {
	id := NewID(time.Now())
	key := BackupRequestKey(cluster, etcd, id)
	req := &BackupRequest{ID: id, RequestedBy: w.RequestedBy, Created: time.Now().UTC(), Phase: RequestPending}
	if err := Create(ctx, store, key, req); err != nil {
		return backup.Info{}, fmt.Errorf("request a backup: %w", err)
	}
	w.progress("Asked the backup leader of etcd %s for a backup (request %s)", etcd, id)
	withdraw := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = store.Delete(dctx, key, state.Unconditional())
	}
	deadline := time.Now().Add(w.Wait)
	lastNote := time.Now()
	var out backup.Info
	var failed error // how the wait ended, unless it was interrupted
	err := wait.PollUntilContextCancel(ctx, w.Poll, true, func(ctx context.Context) (bool, error) {
		r, _, err := Get[BackupRequest](ctx, store, key)
		if err != nil {
			failed = fmt.Errorf("read backup request %s: %w", id, err)
			return false, failed
		}
		switch r.Phase {
		case RequestFailed:
			withdraw()
			failed = fmt.Errorf("the backup leader of etcd %s could not take the backup: %s", etcd, r.Error)
			return false, failed
		case RequestSucceeded:
			list, err := backup.List(ctx, store, cluster, etcd)
			if err != nil {
				failed = err
				return false, err
			}
			if b, err := backup.Find(r.Backup, list); err == nil {
				withdraw()
				out = b
				return true, nil
			}
		}
		if time.Now().After(deadline) {
			withdraw()
			failed = fmt.Errorf("no backup of etcd %s was listed within %s: no etcd manager took the request; check that the control plane runs (request withdrawn)", etcd, w.Wait)
			return false, failed
		}
		if time.Since(lastNote) >= 15*time.Second {
			w.progress("Still waiting for the backup leader of etcd %s", etcd)
			lastNote = time.Now()
		}
		return false, nil
	})
	switch {
	case failed != nil:
		return backup.Info{}, failed
	case err != nil:
		withdraw()
		return backup.Info{}, fmt.Errorf("interrupted; backup request withdrawn: %w", context.Cause(ctx))
	}
	return out, nil
}

// CheckNoRestoreRunning refuses a second restore of an etcd cluster while
// one runs. It returns the restore commands it cannot read: nobody can
// drive those, and they must not block every later restore.
func CheckNoRestoreRunning(ctx context.Context, store *state.Store, cluster, etcd string) ([]Damaged, error) {
	running, damaged, err := ListRestores(ctx, store, cluster, etcd)
	if err != nil {
		return nil, err
	}
	for _, r := range running {
		if !r.Phase.Final() {
			return damaged, fmt.Errorf("etcd %s: restore %s of backup %s is already %s (requested by %s at %s); wait for it to finish",
				etcd, r.ID, r.Backup, strings.ToLower(string(r.Phase)), r.RequestedBy, r.Created.Format(time.RFC3339))
		}
	}
	return damaged, nil
}

// NewRestore is the restore command of one etcd cluster back to a backup.
func NewRestore(cluster, etcd, backupName, requestedBy string, now time.Time) *Restore {
	now = now.UTC()
	r := &Restore{ID: NewID(now), Cluster: cluster, EtcdCluster: etcd, Backup: backupName, RequestedBy: requestedBy, Created: now, Phase: Pending, PhaseStarted: now}
	r.Log(now, "restore of backup %s requested by %s", backupName, requestedBy)
	return r
}

// WaitRestores reports each command's new steps until all are final, and
// fails when one failed. The restores go on when the wait ends early.
func WaitRestores(ctx context.Context, store *state.Store, cmds []*Restore, w Waiting) error {
	seen := make([]int, len(cmds))
	final := make([]*Restore, len(cmds))
	deadline := time.Now().Add(w.Wait)
	var failed error // how the wait ended, unless it was interrupted
	err := wait.PollUntilContextCancel(ctx, w.Poll, true, func(ctx context.Context) (bool, error) {
		pending := 0
		for i, cmd := range cmds {
			if final[i] != nil {
				continue
			}
			r, err := GetRestore(ctx, store, cmd.Cluster, cmd.EtcdCluster, cmd.ID)
			if err != nil {
				failed = err
				return false, err
			}
			for _, s := range r.Steps[min(seen[i], len(r.Steps)):] {
				w.progress("etcd %s: %s", cmd.EtcdCluster, s.Message)
			}
			seen[i] = len(r.Steps)
			if r.Phase.Final() {
				final[i] = r
			} else {
				pending++
			}
		}
		if pending == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			failed = fmt.Errorf("the restore did not finish within %s; it goes on: follow it in %s", w.Wait, Dir(cmds[0].Cluster, cmds[0].EtcdCluster))
			return false, failed
		}
		return false, nil
	})
	switch {
	case failed != nil:
		return failed
	case err != nil:
		return fmt.Errorf("stopped waiting (the restore goes on): %w", context.Cause(ctx))
	}
	var errs []error
	for _, r := range final {
		if r.Phase == Failed {
			errs = append(errs, fmt.Errorf("etcd %s: restore failed: %s", r.EtcdCluster, r.Error))
		}
	}
	return errors.Join(errs...)
}
