package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// HeldLease is a lease renewed in the background while its holder works.
// Its Context ends the moment the lease is lost, so the holder stops before
// its next write instead of interleaving with whoever holds the lease now.
type HeldLease struct {
	lease   *Lease
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelCauseFunc
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// LeaseLostError is the cause (context.Cause) of a HeldLease's context
// ending because the lease was lost.
type LeaseLostError struct {
	Key string
	// Holder is who holds the lease now; empty if nobody does.
	Holder string
	// How says what happened, e.g. "it is now held by bob@bastion pid 7".
	How string
}

func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("lost the lock %s: %s; stopped so as not to overwrite their changes: re-read and retry", e.Key, e.How)
}

// HoldLease acquires the lease at key as AcquireLease does and renews it
// every ttl/4 until Release. The held lease's Context is derived from ctx;
// it is cancelled with a *LeaseLostError as its cause when a renewal finds
// that someone else took the lease, or when the lease expires because
// renewals kept failing (from then on anyone may take it).
func (s *Store) HoldLease(ctx context.Context, key, holder string, ttl time.Duration) (*HeldLease, error) {
	l, err := s.AcquireLease(ctx, key, holder, ttl)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancelCause(ctx)
	h := &HeldLease{lease: l, parent: ctx, ctx: hctx, cancel: cancel, stop: make(chan struct{}), stopped: make(chan struct{})}
	go h.renew()
	return h, nil
}

// Context is cancelled when the lease is lost (see Lost) or released.
func (h *HeldLease) Context() context.Context { return h.ctx }

// Lost returns the *LeaseLostError if the lease was lost, else nil.
func (h *HeldLease) Lost() error {
	var lost *LeaseLostError
	if errors.As(context.Cause(h.ctx), &lost) {
		return lost
	}
	return nil
}

// WrapLost returns err from the work done under the lease, naming the lost
// lease if it was lost, so a command that stopped on the cancelled Context
// says why rather than "context canceled". Work that finished although the
// lease was lost meanwhile fails too: someone else may have written in
// between.
func (h *HeldLease) WrapLost(err error) error {
	lost := h.Lost()
	switch {
	case lost == nil || errors.Is(err, lost):
		return err
	case err == nil:
		return lost
	}
	return fmt.Errorf("%w (the command stopped with: %v)", lost, err)
}

// Key returns the lease object's key.
func (h *HeldLease) Key() string { return h.lease.key }

func (h *HeldLease) renew() {
	defer close(h.stopped)
	interval := h.lease.ttl / 4
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr error
	for {
		expires := h.lease.Expires()
		expiry := time.NewTimer(time.Until(expires))
		select {
		case <-h.stop:
			expiry.Stop()
			return
		case <-expiry.C:
			h.cancel(&LeaseLostError{Key: h.lease.key, How: fmt.Sprintf(
				"it expired at %s because it could not be renewed (last error: %v)", expires.Format(time.RFC3339), lastErr)})
			return
		case <-tick.C:
			expiry.Stop()
		}
		// Renewal outlives a cancelled caller: the lease is held until Release.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(h.parent), interval)
		err := h.lease.Renew(rctx)
		cancel()
		switch {
		case err == nil:
			lastErr = nil
		case errors.Is(err, ErrConflict):
			h.cancel(h.lostTo())
			return
		default:
			lastErr = err
			slog.Warn("renew lease", "key", h.lease.key, "err", err)
		}
	}
}

// lostTo reads the lease object to say who took the lease.
func (h *HeldLease) lostTo() *LeaseLostError {
	lost := &LeaseLostError{Key: h.lease.key}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.parent), h.lease.ttl/4)
	defer cancel()
	data, _, err := h.lease.store.Get(ctx, h.lease.key)
	var rec leaseRecord
	switch {
	case errors.Is(err, ErrNotFound):
		lost.How = "someone deleted it"
	case err != nil:
		lost.How = fmt.Sprintf("someone else changed it (reading it back: %v)", err)
	case json.Unmarshal(data, &rec) != nil:
		lost.How = "someone overwrote it with an unreadable object"
	case rec.released():
		lost.How = "someone else released it"
	default:
		lost.Holder = rec.Holder
		lost.How = fmt.Sprintf("it is now held by %s until %s", rec.Holder, rec.Expires.Format(time.RFC3339))
	}
	return lost
}

// Release stops renewing, ends Context and gives the lease up (see
// Lease.Release). It runs on a context of its own, as the caller's may be
// cancelled already. Calls after the first return nil.
func (h *HeldLease) Release() error { return h.end(h.lease.Release) }

// ReleaseAndDelete is Release that also removes the lease object (see
// Lease.ReleaseAndDelete).
func (h *HeldLease) ReleaseAndDelete() error { return h.end(h.lease.ReleaseAndDelete) }

func (h *HeldLease) end(release func(context.Context) error) error {
	var err error
	h.once.Do(func() {
		close(h.stop)
		<-h.stopped
		h.cancel(nil)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.parent), 30*time.Second)
		defer cancel()
		err = release(ctx)
	})
	return err
}
