package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/state"
)

// captureLogs sends slog's default logger to a buffer until the test ends.
func captureLogs(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

// deadPid returns the pid of a process of this host that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no `true` to get a dead pid: %v", err)
	}
	return cmd.Process.Pid
}

func wantHeld(t *testing.T, err error, key, holder string) {
	t.Helper()
	var held *state.LeaseHeldError
	if !errors.Is(err, state.ErrConflict) || !errors.As(err, &held) || held.Key != key || held.Holder != holder {
		t.Fatalf("error = %v, want *LeaseHeldError of %q for %s", err, holder, key)
	}
}

// testLeaseUnreadable: a lock object that does not parse is reported and
// replaced, not left for someone to delete by hand; the replacement is
// conditional, so of many racing acquirers exactly one wins.
func testLeaseUnreadable(t *testing.T, s *state.Store) {
	key := k("demo/lock")
	mustPut(t, s, key, "{not a lease", state.Unconditional())
	logs := captureLogs(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AcquireLease(context.Background(), key, fmt.Sprintf("op%d", i), time.Hour)
		}()
	}
	wg.Wait()
	var winners []string
	for i, err := range errs {
		switch {
		case err == nil:
			winners = append(winners, fmt.Sprintf("op%d", i))
		case !errors.Is(err, state.ErrConflict):
			t.Errorf("op%d: %v", i, err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("winners = %v, want exactly one", winners)
	}
	if got, _ := mustGet(t, s, key); !strings.Contains(got, `"holder":"`+winners[0]+`"`) {
		t.Errorf("lease object = %q, want it held by %s", got, winners[0])
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "key="+key) {
		t.Errorf("no warning naming %s:\n%s", key, logs)
	}
}

// testLeaseDeadHolder: a lease whose holder is a process of this host that
// is gone (killed with SIGKILL) is taken over at once; a live holder's, an
// unparsable holder's and another host's lease are not.
func testLeaseDeadHolder(t *testing.T, s *state.Store) {
	ctx := context.Background()
	host, _ := os.Hostname()
	dead := deadPid(t)
	for _, tc := range []struct {
		name, holder string
		takeover     bool
	}{
		{"dead process of this host", fmt.Sprintf("root@%s pid %d", host, dead), true},
		{"this process", state.Holder(), false},
		{"dead pid on another host", fmt.Sprintf("root@other-host pid %d", dead), false},
		{"holder name without a pid", "alice@" + host, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := k("dead/" + strings.ReplaceAll(tc.name, " ", "-") + "/lock")
			if _, err := s.AcquireLease(ctx, key, tc.holder, time.Hour); err != nil {
				t.Fatal(err)
			}
			_, err := s.AcquireLease(ctx, key, "carol@laptop pid 3", time.Hour)
			if tc.takeover {
				if err != nil {
					t.Fatalf("lease of %q not taken over: %v", tc.holder, err)
				}
				return
			}
			wantHeld(t, err, key, tc.holder)
		})
	}
}

// testLeaseOtherHostExpiry: a holder on another host that vanished without
// releasing keeps the lease until it expires, and not a moment longer.
func testLeaseOtherHostExpiry(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("demo/lock")
	bob := fmt.Sprintf("bob@other-host pid %d", deadPid(t))
	const ttl = 300 * time.Millisecond
	l, err := s.AcquireLease(ctx, key, bob, ttl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AcquireLease(ctx, key, state.Holder(), time.Hour)
	if time.Now().Before(l.Expires()) {
		wantHeld(t, err, key, bob)
	}
	time.Sleep(time.Until(l.Expires()) + 50*time.Millisecond)
	if _, err := s.AcquireLease(ctx, key, state.Holder(), time.Hour); err != nil {
		t.Fatalf("expired lease of %s not taken over: %v", bob, err)
	}
}

// steal overwrites the lease at key with thief's record, conditionally on
// the generation read, as a process that took the lease over would.
func steal(t *testing.T, s *state.Store, key, thief string) {
	t.Helper()
	now := time.Now().UTC()
	rec := fmt.Sprintf(`{"holder":%q,"token":"stolen","acquired":%q,"expires":%q}`,
		thief, now.Format(time.RFC3339Nano), now.Add(time.Hour).Format(time.RFC3339Nano))
	for range 10 {
		_, gen := mustGet(t, s, key)
		_, err := s.Put(context.Background(), key, []byte(rec), state.MatchGeneration(gen))
		if err == nil {
			return
		}
		if !errors.Is(err, state.ErrConflict) {
			t.Fatal(err)
		}
		// A renewal came in between; read again.
	}
	t.Fatalf("could not steal %s", key)
}

// testHoldLeaseLost: a held lease is renewed past its ttl; once someone
// else takes it, the holder's context ends with a cause naming the lease
// and the new holder, and the holder writes nothing more.
func testHoldLeaseLost(t *testing.T, s *state.Store) {
	key := k("demo/lock")
	const ttl = 400 * time.Millisecond
	h, err := s.HoldLease(context.Background(), key, "alice@laptop pid 1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl * 3 / 2)
	if err := h.Context().Err(); err != nil {
		t.Fatalf("held lease ended after its ttl although renewed: %v", context.Cause(h.Context()))
	}

	steal(t, s, key, "bob@bastion pid 7")
	select {
	case <-h.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder's context was not cancelled after the lease was taken")
	}
	var lost *state.LeaseLostError
	if cause := context.Cause(h.Context()); !errors.As(cause, &lost) || lost.Key != key || lost.Holder != "bob@bastion pid 7" {
		t.Fatalf("cause = %v, want *LeaseLostError naming %s and bob", cause, key)
	}
	if h.Lost() == nil || !strings.Contains(h.Lost().Error(), "bob@bastion pid 7") || !strings.Contains(h.Lost().Error(), key) {
		t.Errorf("Lost() = %v", h.Lost())
	}
	_, err = s.Put(h.Context(), k("demo/config"), []byte("alice's"), state.Unconditional())
	if !errors.As(err, &lost) {
		t.Errorf("write after the loss: %v, want the *LeaseLostError", err)
	}
	wantNotFound(t, s, k("demo/config"))
	if err := h.Release(); !errors.Is(err, state.ErrConflict) {
		t.Errorf("Release of a lost lease = %v, want a conflict", err)
	}
	if got, _ := mustGet(t, s, key); !strings.Contains(got, "bob@bastion pid 7") {
		t.Errorf("bob's lease was changed: %q", got)
	}
}
