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
func Apply(backups []backup.Info, now time.Time, p Policy) (keep, drop []backup.Info) {
	sorted := append([]backup.Info(nil), backups...)
	backup.SortNewestFirst(sorted)
	// The oldest backup of each bucket: walk oldest first, first seen wins.
	oldestOfHour := map[time.Time]string{}
	oldestOfDay := map[time.Time]string{}
	for i := len(sorted) - 1; i >= 0; i-- {
		b := sorted[i]
		h := b.Time.UTC().Truncate(time.Hour)
		d := time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)
		if _, ok := oldestOfHour[h]; !ok {
			oldestOfHour[h] = b.Name
		}
		if _, ok := oldestOfDay[d]; !ok {
			oldestOfDay[d] = b.Name
		}
	}
	for i, b := range sorted {
		age := now.Sub(b.Time)
		h := b.Time.UTC().Truncate(time.Hour)
		d := time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)
		ok := i == 0 ||
			age < p.KeepAllFor ||
			age < p.HourlyFor && oldestOfHour[h] == b.Name ||
			age < p.DailyFor && oldestOfDay[d] == b.Name
		if ok {
			keep = append(keep, b)
		} else {
			drop = append(drop, b)
		}
	}
	return keep, drop
}

// Prune lists an etcd cluster's backups, deletes those the policy drops
// (each meta first, so a half-deleted backup is never listed) and removes
// directories left without meta for longer than OrphanAge. It returns the
// names it deleted.
func Prune(ctx context.Context, store *state.Store, cluster, etcdCluster string, now time.Time, p Policy, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.Default()
	}
	all, err := backup.List(ctx, store, cluster, etcdCluster)
	if err != nil {
		return nil, fmt.Errorf("prune backups: %w", err)
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
