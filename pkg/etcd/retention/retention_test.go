package retention_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/retention"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func every(from time.Time, n int, d time.Duration) []backup.Info {
	var out []backup.Info
	for i := range n {
		at := from.Add(time.Duration(i) * d)
		out = append(out, backup.Info{Name: backup.Name(at, 1), Time: at, Seq: 1})
	}
	return out
}

// A year of backups every 15 minutes, pruned once at the end: exactly the
// last hour, the oldest of each hour for 7 days and the oldest of each day
// for 90 days survive.
func TestApplyOverASyntheticYear(t *testing.T) {
	year := every(start, 365*96, 15*time.Minute)
	now := start.Add(365 * 24 * time.Hour) // 15 minutes after the last backup
	keep, drop := retention.Apply(year, now, retention.DefaultPolicy())

	if len(keep)+len(drop) != len(year) {
		t.Fatalf("keep %d + drop %d != %d", len(keep), len(drop), len(year))
	}
	counts := map[string]int{}
	for _, b := range keep {
		age := now.Sub(b.Time)
		switch {
		case age < time.Hour:
			counts["all"]++
		case age < 7*24*time.Hour:
			if b.Time.Minute() != 0 {
				t.Errorf("kept %s (age %s) is not the oldest of its hour", b.Name, age)
			}
			counts["hourly"]++
		case age < 90*24*time.Hour:
			if b.Time.Hour() != 0 || b.Time.Minute() != 0 {
				t.Errorf("kept %s (age %s) is not the oldest of its day", b.Name, age)
			}
			counts["daily"]++
		default:
			t.Errorf("kept %s, older than 90 days", b.Name)
		}
	}
	// The last hour: 23:15, 23:30, 23:45 (23:00 is exactly an hour old, and
	// the oldest of its hour). Hourly: 23:00 back to 7 days ago plus one
	// hour, 167 hours. Daily: midnights 7 to 89 days ago, 83 days.
	want := map[string]int{"all": 3, "hourly": 167, "daily": 83}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("kept per bucket (-want +got):\n%s", diff)
	}
	if keep[0].Name != year[len(year)-1].Name {
		t.Errorf("newest kept is %s, want %s", keep[0].Name, year[len(year)-1].Name)
	}
	if len(drop) != 365*96-253 {
		t.Errorf("dropped %d, want %d", len(drop), 365*96-253)
	}
}

// Pruning every hour through the year, as the leader does, ends with the
// same backups as pruning once: a backup the policy keeps never loses a
// bucket to a younger one.
func TestApplyHourlyThroughTheYearIsStable(t *testing.T) {
	p := retention.DefaultPolicy()
	var kept []backup.Info
	for h := range 365 * 24 {
		kept = append(kept, every(start.Add(time.Duration(h)*time.Hour), 4, 15*time.Minute)...)
		kept, _ = retention.Apply(kept, start.Add(time.Duration(h+1)*time.Hour), p)
	}
	once, _ := retention.Apply(every(start, 365*96, 15*time.Minute), start.Add(365*24*time.Hour), p)
	if diff := cmp.Diff(names(once), names(kept)); diff != "" {
		t.Errorf("hourly pruning differs from pruning once (-once +hourly):\n%s", diff)
	}
}

func TestApplyNeverDropsTheNewest(t *testing.T) {
	old := every(start, 3, time.Hour)
	keep, drop := retention.Apply(old, start.Add(1000*24*time.Hour), retention.DefaultPolicy())
	if len(keep) != 1 || keep[0].Name != old[2].Name || len(drop) != 2 {
		t.Errorf("keep %v drop %v", names(keep), names(drop))
	}
	if keep, drop := retention.Apply(nil, start, retention.DefaultPolicy()); keep != nil || drop != nil {
		t.Errorf("Apply(nil) = %v, %v", keep, drop)
	}
}

func TestApplyCustomPolicy(t *testing.T) {
	// Keep everything for 30 minutes and hourly for 3 hours; no dailies.
	// A backup exactly as old as a limit is past it.
	bs := every(start, 6*4, 15*time.Minute)
	now := start.Add(6 * time.Hour)
	keep, _ := retention.Apply(bs, now, retention.Policy{KeepAllFor: 30 * time.Minute, HourlyFor: 3 * time.Hour})
	want := []string{"2025-01-01T05:45:00Z-1", "2025-01-01T05:00:00Z-1", "2025-01-01T04:00:00Z-1"}
	if diff := cmp.Diff(want, names(keep)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

func names(bs []backup.Info) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

// Prune deletes what Apply drops (meta first) and orphaned directories.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	store, err := state.Open(ctx, statetest.MemURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bs := every(start, 3*24*4, 15*time.Minute) // three days
	for _, b := range bs {
		put(t, store, backup.DataKey("demo", "main", b.Name), "data")
		put(t, store, backup.MetaKey("demo", "main", b.Name), fmt.Sprintf(`{"timestamp":%q}`, b.Time.Format(time.RFC3339)))
	}
	// An orphan: data without meta, as a killed backup leaves it.
	orphan := backup.Name(start.Add(-time.Hour), 9)
	put(t, store, backup.DataKey("demo", "main", orphan), "partial")

	now := start.Add(3 * 24 * time.Hour)
	deleted, err := retention.Prune(ctx, store, "demo", "main", now, retention.DefaultPolicy(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	keep, drop := retention.Apply(bs, now, retention.DefaultPolicy())
	if len(deleted) != len(drop)+1 {
		t.Errorf("deleted %d, want %d dropped + 1 orphan", len(deleted), len(drop))
	}
	left, err := backup.List(ctx, store, "demo", "main")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(names(keep), names(left)); diff != "" {
		t.Errorf("left after prune (-want +got):\n%s", diff)
	}
	objs, _ := store.List(ctx, backup.Prefix("demo", "main")+"/")
	if len(objs) != 2*len(keep) {
		t.Errorf("%d objects left, want %d (data and meta of each kept backup)", len(objs), 2*len(keep))
	}
}

func put(t *testing.T, s *state.Store, key, data string) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, []byte(data), state.Unconditional()); err != nil {
		t.Fatal(err)
	}
}
