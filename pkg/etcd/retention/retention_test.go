package retention_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
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
		put(t, store, backup.MetaKey("demo", "main", b.Name), metaJSON(t, b.Time))
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

// metaJSON is an intact meta object for a backup taken at.
func metaJSON(t *testing.T, at time.Time) string {
	t.Helper()
	data, err := json.Marshal(backup.Meta{Timestamp: at, SnapshotSHA256: strings.Repeat("ab", 32), SnapshotSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Prune over backups some of whose metas are truncated: it is not
// stopped, warns naming each damaged backup, ages them by their names,
// and never lets a damaged backup cost a restorable one.
func TestPruneWithDamagedBackups(t *testing.T) {
	// 00:00 to 02:45 every 15 minutes; pruned at 03:00.
	now := start.Add(3 * time.Hour)
	at := func(hhmm string) string {
		tm, err := time.Parse("15:04", hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return backup.Name(start.Add(time.Duration(tm.Hour())*time.Hour+time.Duration(tm.Minute())*time.Minute), 1)
	}
	hourly := retention.Policy{KeepAllFor: time.Hour, HourlyFor: 24 * time.Hour}
	for _, tc := range []struct {
		name    string
		damaged []string
		policy  retention.Policy
		left    []string
	}{{
		name:    "a damaged oldest of its hour gives the hour to the next intact one",
		damaged: []string{"00:00"},
		policy:  hourly,
		left:    []string{"02:45", "02:30", "02:15", "02:00", "01:00", "00:15"},
	}, {
		name:    "a damaged backup alone in its hour keeps the hour",
		damaged: []string{"00:00", "00:15", "00:30", "00:45"},
		policy:  hourly,
		left:    []string{"02:45", "02:30", "02:15", "02:00", "01:00", "00:00"},
	}, {
		name:    "a young damaged backup is kept like any other",
		damaged: []string{"02:30"},
		policy:  hourly,
		left:    []string{"02:45", "02:30", "02:15", "02:00", "01:00", "00:00"},
	}, {
		name:    "a damaged newest backup does not cost the newest intact one",
		damaged: []string{"02:45"},
		policy:  retention.Policy{},
		left:    []string{"02:45", "02:30"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store, err := state.Open(ctx, statetest.FileURL(t))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			for _, b := range every(start, 12, 15*time.Minute) {
				put(t, store, backup.DataKey("demo", "main", b.Name), "data")
				meta := metaJSON(t, b.Time)
				for _, d := range tc.damaged {
					if at(d) == b.Name {
						meta = meta[:len(meta)/2]
					}
				}
				put(t, store, backup.MetaKey("demo", "main", b.Name), meta)
			}
			var logs bytes.Buffer
			if _, err := retention.Prune(ctx, store, "demo", "main", now, tc.policy, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatalf("Prune with damaged backups: %v", err)
			}
			left, err := backup.List(ctx, store, "demo", "main")
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, hhmm := range tc.left {
				want = append(want, at(hhmm))
			}
			if diff := cmp.Diff(want, names(left)); diff != "" {
				t.Errorf("left after prune (-want +got):\n%s", diff)
			}
			for _, d := range tc.damaged {
				if !strings.Contains(logs.String(), "backup="+at(d)) {
					t.Errorf("no warning names damaged backup %s:\n%s", at(d), logs.String())
				}
			}
			objs, err := store.List(ctx, backup.Prefix("demo", "main")+"/")
			if err != nil || len(objs) != 2*len(want) {
				t.Errorf("%d objects left (%v), want data and meta of the %d kept backups", len(objs), err, len(want))
			}
		})
	}
}
