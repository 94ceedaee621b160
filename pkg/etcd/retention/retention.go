package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/state"
)

// Policy says which backups survive. A backup younger than KeepAllFor is
// kept; one younger than HourlyFor is kept if it is the oldest of its UTC
// hour; one younger than DailyFor if it is the oldest of its UTC day. The
// newest backup is always kept, whatever its age.
type Policy struct {
	KeepAllFor time.Duration
	HourlyFor  time.Duration
	DailyFor   time.Duration
}

// Defaults: everything for an hour, hourly for a week, daily for 90 days.
const (
	DefaultKeepAllFor = time.Hour
	DefaultHourlyFor  = 7 * 24 * time.Hour
	DefaultDailyFor   = 90 * 24 * time.Hour
)

// DefaultPolicy is the policy of a cluster that configures none.
func DefaultPolicy() Policy {
	return Policy{KeepAllFor: DefaultKeepAllFor, HourlyFor: DefaultHourlyFor, DailyFor: DefaultDailyFor}
}

// OrphanAge is how old a backup directory without meta must be before
// Prune removes it: older than any backup still being written.
const OrphanAge = 6 * time.Hour

// Apply splits backups into those the policy keeps and those it drops,
// each newest first. It is pure and stable: applying it again to keep,
// later, drops only what has aged out since.
//
// A damaged backup (its meta cannot be read) ages by the time in its name,
// which is always parseable, like any other: it is kept while younger than
// KeepAllFor and dropped after, unless it is all that is left of its hour
// or day. An hour or a day is held by its oldest intact backup, so a
// damaged one never displaces a restorable one; and the newest intact
// backup is kept besides the newest of all, so a damaged newest backup
// cannot leave the cluster without a restorable one.
func Apply(backups []backup.Info, now time.Time, p Policy) (keep, drop []backup.Info) {
	sorted := append([]backup.Info(nil), backups...)
	backup.SortNewestFirst(sorted)
	// The oldest backup of each bucket, intact ones first: walk oldest
	// first; the first seen wins unless it is damaged and an intact one
	// comes later.
	oldestOfHour := map[time.Time]backup.Info{}
	oldestOfDay := map[time.Time]backup.Info{}
	claim := func(m map[time.Time]backup.Info, at time.Time, b backup.Info) {
		if cur, ok := m[at]; !ok || cur.Damaged != "" && b.Damaged == "" {
			m[at] = b
		}
	}
	newestIntact := ""
	for i := len(sorted) - 1; i >= 0; i-- {
		b := sorted[i]
		h, d := buckets(b.Time)
		claim(oldestOfHour, h, b)
		claim(oldestOfDay, d, b)
		if b.Damaged == "" {
			newestIntact = b.Name
		}
	}
	for i, b := range sorted {
		age := now.Sub(b.Time)
		h, d := buckets(b.Time)
		ok := i == 0 || b.Name == newestIntact ||
			age < p.KeepAllFor ||
			age < p.HourlyFor && oldestOfHour[h].Name == b.Name ||
			age < p.DailyFor && oldestOfDay[d].Name == b.Name
		if ok {
			keep = append(keep, b)
		} else {
			drop = append(drop, b)
		}
	}
	return keep, drop
}

// buckets returns the UTC hour and day a backup taken at t falls in.
func buckets(t time.Time) (hour, day time.Time) {
	hour = t.UTC().Truncate(time.Hour)
	return hour, time.Date(hour.Year(), hour.Month(), hour.Day(), 0, 0, 0, 0, time.UTC)
}

// Prune lists an etcd cluster's backups, deletes those the policy drops
// (each meta first, so a half-deleted backup is never listed) and removes
// directories left without meta for longer than OrphanAge. It returns the
// names it deleted. A damaged backup is logged and handled as Apply says.
func Prune(ctx context.Context, store *state.Store, cluster, etcdCluster string, now time.Time, p Policy, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.Default()
	}
	all, err := backup.List(ctx, store, cluster, etcdCluster)
	if err != nil {
		return nil, fmt.Errorf("prune backups: %w", err)
	}
	for _, b := range all {
		if b.Damaged != "" {
			log.Warn("etcd backup is damaged; retention ages it by the time in its name", "cluster", cluster, "etcd", etcdCluster, "backup", b.Name, "damage", b.Damaged)
		}
	}
	_, drop := Apply(all, now, p)
	var deleted []string
	var errs []error
	for _, b := range drop {
		if err := backup.Delete(ctx, store, cluster, etcdCluster, b.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("deleted etcd backup by retention policy", "cluster", cluster, "etcd", etcdCluster, "backup", b.Name)
		deleted = append(deleted, b.Name)
	}
	orphans, err := backup.Orphans(ctx, store, cluster, etcdCluster, now.Add(-OrphanAge))
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range orphans {
		if err := backup.Delete(ctx, store, cluster, etcdCluster, name); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("deleted incomplete etcd backup", "cluster", cluster, "etcd", etcdCluster, "backup", name)
		deleted = append(deleted, name)
	}
	if err := errors.Join(errs...); err != nil {
		return deleted, fmt.Errorf("prune backups of etcd %s: %w", etcdCluster, err)
	}
	return deleted, nil
}

// Validate checks that the durations make sense together.
func (p Policy) Validate() error {
	if p.KeepAllFor < 0 || p.HourlyFor < 0 || p.DailyFor < 0 {
		return errors.New("backup retention durations must not be negative")
	}
	return nil
}
