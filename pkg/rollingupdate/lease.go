package rollingupdate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hullproject/hull/pkg/state"
)

// LockKey is the lease that lets one rolling update of a cluster run at a
// time. It is separate from the cluster's own lock, so `hull edit` and
// `hull update` stay usable during a long rolling update.
func LockKey(cluster string) string { return path.Join(cluster, "rolling-update", "lock") }

// LeaseTTL is how long the lease outlives a run that stopped renewing it
// (one killed with SIGKILL on another host); on the same host a dead
// holder's lease is taken over at once.
const LeaseTTL = 60 * time.Second

// Holder names this process in the lease: user@host pid N.
func Holder() string {
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = "uid" + strconv.Itoa(os.Getuid())
	}
	return fmt.Sprintf("%s@%s pid %d", user, host, os.Getpid())
}

// holdLease takes the rolling-update lease and renews it until the returned
// release is called. If renewing fails (the lease was lost) lost is
// cancelled with the reason, and the run must stop.
func holdLease(ctx context.Context, store *state.Store, cluster, holder string) (release func() error, lost context.Context, err error) {
	key := LockKey(cluster)
	lease, err := store.AcquireLease(ctx, key, holder, LeaseTTL)
	if err != nil && errors.Is(err, state.ErrConflict) && takeOverDeadHolder(ctx, store, key) {
		lease, err = store.AcquireLease(ctx, key, holder, LeaseTTL)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("another rolling update of cluster %s may be running: %w", cluster, err)
	}
	lostCtx, cancelLost := context.WithCancelCause(context.Background())
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(LeaseTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.Background(), LeaseTTL/4)
				err := lease.Renew(rctx)
				cancel()
				if err != nil {
					slog.Warn("renew rolling-update lease", "cluster", cluster, "err", err)
					if errors.Is(err, state.ErrConflict) {
						cancelLost(fmt.Errorf("lost the rolling-update lease %s: %w", key, err))
						return
					}
				}
			}
		}
	}()
	return func() error {
		close(stop)
		<-stopped
		cancelLost(nil)
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			return fmt.Errorf("release rolling-update lease of cluster %s: %w", cluster, err)
		}
		return nil
	}, lostCtx, nil
}

// takeOverDeadHolder deletes a lease held by a process of this host that no
// longer exists (a run killed with SIGKILL), so its re-run need not wait for
// the lease to expire. The delete is conditional on the generation read.
func takeOverDeadHolder(ctx context.Context, store *state.Store, key string) bool {
	data, gen, err := store.Get(ctx, key)
	if err != nil {
		return false
	}
	var rec struct {
		Holder string `json:"holder"`
	}
	if json.Unmarshal(data, &rec) != nil {
		return false
	}
	host, _ := os.Hostname()
	at, pidStr, ok := strings.Cut(rec.Holder, " pid ")
	if !ok || !strings.HasSuffix(at, "@"+host) {
		return false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	if !processGone(pid) {
		return false
	}
	slog.Info("taking over the rolling-update lease of a process that is gone", "key", key, "holder", rec.Holder)
	return store.Delete(ctx, key, state.MatchGeneration(gen)) == nil
}
