package graph

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// TaskError is a Find, Apply or Delete call that failed for good: a
// permanent error, or a retryable one on the last attempt.
type TaskError struct {
	Key      string
	Phase    Phase
	Attempts int
	Err      error
}

func (e *TaskError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("%s: %s failed after %d attempts: %v", e.Key, e.Phase, e.Attempts, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Key, e.Phase, e.Err)
}

func (e *TaskError) Unwrap() error { return e.Err }

// TimeoutError is a call that did not return within Options.TaskTimeout on
// its last attempt, or that ignored cancellation (Abandoned: it may still
// be running, so it was not tried again).
type TimeoutError struct {
	Key         string
	Phase       Phase
	Timeout     time.Duration
	Attempt     int
	MaxAttempts int
	Abandoned   bool
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("task %s did not finish within %s (attempt %d/%d)", e.Key, e.Timeout, e.Attempt, e.MaxAttempts)
	switch e.Phase {
	case PhaseFind:
		msg += " while finding it"
	case PhaseDelete:
		msg += " while deleting it"
	}
	if e.Abandoned {
		msg += "; it did not stop when cancelled"
	}
	return msg
}

// Unwrap makes errors.Is(err, context.DeadlineExceeded) true.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// reporter serialises Progress calls.
type reporter struct {
	mu sync.Mutex
	fn func(Event)
}

func (r *reporter) emit(e Event) {
	if r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(e)
}

// call runs fn for one task under the retry rules of o: each attempt has
// o.TaskTimeout; timeouts and errors o.IsRetryable accepts are tried again
// after a doubling backoff, up to o.MaxAttempts attempts. o must have its
// defaults filled.
func call(ctx context.Context, key string, phase Phase, o Options, rep *reporter, fn func(context.Context) error) error {
	start := time.Now()
	ev := func(kind EventKind, n int, delay time.Duration, err error) {
		rep.emit(Event{Key: key, Phase: phase, Kind: kind, Attempt: n, MaxAttempts: o.MaxAttempts,
			Elapsed: time.Since(start), Delay: delay, Err: err})
	}
	delay := o.Backoff
	for n := 1; ; n++ {
		ev(EventStarted, n, 0, nil)
		err, timedOut, abandoned := attempt(ctx, o.TaskTimeout, fn)
		if err == nil {
			ev(EventFinished, n, 0, nil)
			return nil
		}
		if ctx.Err() != nil {
			ev(EventFailed, n, 0, err)
			return fmt.Errorf("%s: %s interrupted: %w", key, phase, ctx.Err())
		}
		if timedOut {
			err = &TimeoutError{Key: key, Phase: phase, Timeout: o.TaskTimeout, Attempt: n,
				MaxAttempts: o.MaxAttempts, Abandoned: abandoned}
		}
		if abandoned || n >= o.MaxAttempts || !(timedOut || o.IsRetryable(err)) {
			ev(EventFailed, n, 0, err)
			if timedOut {
				return err
			}
			return &TaskError{Key: key, Phase: phase, Attempts: n, Err: err}
		}
		ev(EventRetrying, n, delay, err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("%s: %s interrupted: %w", key, phase, ctx.Err())
		}
		delay = nextBackoff(delay, o.Backoff)
	}
}

// attempt runs fn once with a deadline. timedOut is true when fn failed
// after the deadline passed. If fn has not returned by the deadline, it is
// given a grace period to notice the cancellation; if it still has not
// returned, attempt gives up on it (abandoned) and it keeps running.
func attempt(ctx context.Context, timeout time.Duration, fn func(context.Context) error) (err error, timedOut, abandoned bool) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1) // buffered: an abandoned fn must not block
	go func() { done <- fn(actx) }()
	select {
	case err = <-done:
	case <-actx.Done():
		grace := time.NewTimer(min(timeout, maxBackoff))
		defer grace.Stop()
		select {
		case err = <-done:
		case <-grace.C:
			return actx.Err(), errors.Is(actx.Err(), context.DeadlineExceeded), true
		}
	}
	return err, err != nil && errors.Is(actx.Err(), context.DeadlineExceeded), false
}

// nextBackoff doubles delay, capped at 10s (or at base, if larger).
func nextBackoff(delay, base time.Duration) time.Duration {
	return min(2*delay, max(maxBackoff, base))
}
