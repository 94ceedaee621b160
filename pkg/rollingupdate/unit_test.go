package rollingupdate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/state"
)

func TestTimelineUnion(t *testing.T) {
	tl := newTimeline()
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tl.intervals[spentDrains] = [][2]time.Time{{at(0), at(4)}, {at(2), at(6)}, {at(10), at(11)}}
	tl.intervals[spentWaits] = [][2]time.Time{{at(5), at(8)}}
	if got := tl.spent(spentDrains); got != 7*time.Second {
		t.Errorf("drains = %s, want 7s (overlapping machines counted once)", got)
	}
	s := tl.summary([]string{"a", "b"}, 20*time.Second)
	// Covered: 0-8 and 10-11 = 9s; overhead 11s.
	if s.Overhead != 11*time.Second || s.OverheadPerMachine() != 5500*time.Millisecond {
		t.Errorf("overhead = %s (%s per machine), want 11s (5.5s)", s.Overhead, s.OverheadPerMachine())
	}
}

func TestTakeWave(t *testing.T) {
	mk := func(specs ...string) []*machineRun {
		var out []*machineRun
		for _, s := range specs {
			mr := &machineRun{id: s}
			switch {
			case strings.HasPrefix(s, "rs"):
				mr.resumed, mr.surge = true, true
			case strings.HasPrefix(s, "r"):
				mr.resumed = true
			case strings.HasPrefix(s, "d"):
				mr.detached = true
			}
			out = append(out, mr)
		}
		return out
	}
	describe := func(w []*machineRun) []string {
		var out []string
		for _, mr := range w {
			out = append(out, fmt.Sprintf("%s/surge=%v", mr.id, mr.surge))
		}
		return out
	}
	tests := []struct {
		name           string
		surge, unavail int
		queue          []string
		want           []string
	}{
		{"unavailable 1", 0, 1, []string{"a", "b"}, []string{"a/surge=false"}},
		{"surge 1", 1, 0, []string{"a", "b"}, []string{"a/surge=true"}},
		{"surge 1 + unavailable 2", 1, 2, []string{"a", "b", "c", "e"}, []string{"a/surge=true", "b/surge=false", "c/surge=false"}},
		{"resumed machines fill the slots first", 0, 2, []string{"r1", "r2", "a"}, []string{"r1/surge=false", "r2/surge=false"}},
		{"resumed beyond the slots all stay in", 0, 1, []string{"r1", "r2", "a"}, []string{"r1/surge=false", "r2/surge=false"}},
		{"resumed surge uses a surge slot", 1, 1, []string{"rs1", "a", "b"}, []string{"rs1/surge=true", "a/surge=false"}},
		{"a detached machine surges", 0, 1, []string{"d1", "a"}, []string{"d1/surge=true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := mk(tc.queue...)
			wave, rest := takeWave(q, &GroupPlan{MaxSurge: tc.surge, MaxUnavailable: tc.unavail})
			if diff := cmp.Diff(tc.want, describe(wave)); diff != "" {
				t.Errorf("wave (-want +got):\n%s", diff)
			}
			if len(wave)+len(rest) != len(q) {
				t.Errorf("wave %d + rest %d != queue %d", len(wave), len(rest), len(q))
			}
		})
	}
}

// TestLeaseTakeoverOfDeadHolder: a run killed with SIGKILL leaves the lease
// held; its re-run on the same host takes it over at once, while a live
// holder (this process) or another host's keeps it.
func TestLeaseTakeoverOfDeadHolder(t *testing.T) {
	ctx := context.Background()
	store, err := state.Open(ctx, "mem://rollingupdate-lease-test")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no `true` to get a dead pid: %v", err)
	}
	host, _ := os.Hostname()
	dead := fmt.Sprintf("root@%s pid %d", host, cmd.Process.Pid)
	for _, tc := range []struct {
		holder   string
		takeover bool
	}{
		{dead, true},
		{state.Holder(), false},
		{fmt.Sprintf("root@other-host pid %d", cmd.Process.Pid), false},
	} {
		key := LockKey("c.example.com")
		_ = store.Delete(ctx, key, state.Unconditional())
		if _, err := store.AcquireLease(ctx, key, tc.holder, time.Hour); err != nil {
			t.Fatal(err)
		}
		held, err := holdLease(ctx, store, "c.example.com", "me@"+host+" pid 1")
		if tc.takeover != (err == nil) {
			t.Errorf("holder %q: holdLease err = %v, want takeover=%v", tc.holder, err, tc.takeover)
		}
		if err == nil {
			if err := held.Release(); err != nil {
				t.Error(err)
			}
			data, _, _ := store.Get(ctx, key)
			var rec struct{ Holder string }
			_ = json.Unmarshal(data, &rec)
			if rec.Holder != "" {
				t.Errorf("after release the lease is held by %q", rec.Holder)
			}
		} else if !strings.Contains(err.Error(), "another rolling update of cluster c.example.com") || !strings.Contains(err.Error(), tc.holder) {
			t.Errorf("refusal %q does not name the holder %q", err, tc.holder)
		}
	}
}
