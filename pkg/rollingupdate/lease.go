package rollingupdate

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/hullproject/hull/pkg/state"
)

// LockKey is the lease that lets one rolling update of a cluster run at a
// time. It is separate from the cluster's own lock, so `hull edit` and
// `hull update` stay usable during a long rolling update.
func LockKey(cluster string) string { return path.Join(cluster, "rolling-update", "lock") }

// LeaseTTL is how long the lease outlives a run that stopped renewing it
// (one killed with SIGKILL on another host); on the same host a dead
// holder's lease is taken over at once (see state.AcquireLease).
const LeaseTTL = 60 * time.Second

// holdLease takes the rolling-update lease and renews it until released.
// The held lease's Context ends if the lease is lost, and the run must stop.
func holdLease(ctx context.Context, store *state.Store, cluster, holder string) (*state.HeldLease, error) {
	held, err := store.HoldLease(ctx, LockKey(cluster), holder, LeaseTTL)
	if err != nil {
		return nil, fmt.Errorf("another rolling update of cluster %s may be running: %w", cluster, err)
	}
	return held, nil
}
