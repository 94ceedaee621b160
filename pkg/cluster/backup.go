package cluster

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/restore"
)

// backupPollInterval is how often backups and restores re-read the store.
const backupPollInterval = time.Second

// EtcdClusters names the cluster's etcd clusters; main and events when
// the spec names none.
func (c *Cluster) EtcdClusters(ctx context.Context) ([]string, error) {
	spec, _, err := c.Spec(ctx)
	if err != nil {
		return nil, err
	}
	names := etcdClusterNames(spec)
	if len(names) == 0 {
		names = []string{"main", "events"}
	}
	return names, nil
}

// Backups lists an etcd cluster's backups, newest first, damaged ones too.
func (c *Cluster) Backups(ctx context.Context, etcd string) ([]backup.Info, error) {
	return backup.List(ctx, c.reg.Store(), c.Name, etcd)
}

// Backup asks the backup leader of an etcd cluster for a backup now and
// waits until it is listed; the etcd managers take it, so this needs only
// the state store.
func (c *Cluster) Backup(ctx context.Context, etcd string, wait time.Duration) (backup.Info, error) {
	progress := output.NewProgress(c.errOut)
	b, err := control.RequestBackup(ctx, c.reg.Store(), c.Name, etcd, control.Waiting{
		RequestedBy: requester(), Wait: wait, Poll: backupPollInterval, Progress: progress.Step})
	if err != nil {
		return backup.Info{}, err
	}
	progress.Step("Backup %s is listed (%s, etcd %s)", b.Name, output.Bytes(b.Meta.SnapshotSize), b.Meta.EtcdVersion)
	return b, nil
}

// backupAll takes a backup of each etcd cluster in turn and names each on
// Out, as `hull backup create` does.
func (c *Cluster) backupAll(ctx context.Context, etcds []string, wait time.Duration) error {
	for _, etcd := range etcds {
		b, err := c.Backup(ctx, etcd, wait)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.out, b.Name)
	}
	return nil
}

// RestoreTarget is one etcd cluster and the backup it goes back to.
type RestoreTarget struct {
	Etcd   string
	Backup backup.Info
}

// PlanRestore finds the backup each etcd cluster goes back to: backupName
// itself where it exists, else the newest intact backup no later than
// backupName's time. Damaged backups are named on ErrOut and skipped;
// backupName itself damaged is an error that names its meta object.
func (c *Cluster) PlanRestore(ctx context.Context, backupName string, etcds []string) ([]RestoreTarget, error) {
	lists := map[string][]backup.Info{}
	var at time.Time
	var firstErr error
	for _, e := range etcds {
		list, err := c.Backups(ctx, e)
		if err != nil {
			return nil, err
		}
		WarnDamagedBackups(c.errOut, e, list)
		lists[e] = list
		b, err := backup.Find(backupName, list)
		if err == nil && at.IsZero() {
			if err := b.DamageError(); err != nil {
				return nil, fmt.Errorf("etcd %s: %w", e, err)
			}
			at = b.Time
		} else if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("etcd %s: %w", e, err)
		}
	}
	if at.IsZero() {
		return nil, firstErr
	}
	var targets []RestoreTarget
	for _, e := range etcds {
		b, err := backup.Find(backupName, lists[e])
		if err != nil || b.Damaged != "" {
			intact := backup.Intact(lists[e])
			i := slices.IndexFunc(intact, func(x backup.Info) bool { return !x.Time.After(at) })
			if i < 0 {
				return nil, fmt.Errorf("etcd %s has no intact backup taken at or before %s, the time of %s", e, at.Format(time.RFC3339), backupName)
			}
			b = intact[i]
		}
		targets = append(targets, RestoreTarget{Etcd: e, Backup: b})
	}
	return targets, nil
}

// Restore puts etcd back to the planned backups: it refuses while another
// restore runs, verifies each backup's sha256 before anything is written,
// writes the restore commands the etcd managers carry out, and reports
// their steps until they are done (or wait has passed; they go on).
func (c *Cluster) Restore(ctx context.Context, targets []RestoreTarget, wait time.Duration) error {
	store := c.reg.Store()
	for _, t := range targets {
		damaged, err := control.CheckNoRestoreRunning(ctx, store, c.Name, t.Etcd)
		for _, d := range damaged {
			fmt.Fprintf(c.errOut, "WARNING: etcd %s: %v\n", t.Etcd, d)
		}
		if err != nil {
			return err
		}
	}
	progress := output.NewProgress(c.errOut)
	for _, t := range targets {
		progress.Step("Verifying backup %s of etcd %s (%s)", t.Backup.Name, t.Etcd, output.Bytes(t.Backup.Meta.SnapshotSize))
		if err := restore.Check(ctx, store, c.Name, t.Etcd, t.Backup); err != nil {
			return fmt.Errorf("etcd %s: %w; nothing was written", t.Etcd, err)
		}
	}
	var cmds []*control.Restore
	for _, t := range targets {
		cmds = append(cmds, control.NewRestore(c.Name, t.Etcd, t.Backup.Name, requester(), time.Now()))
	}
	if err := control.CreateRestores(ctx, store, cmds); err != nil {
		return err
	}
	for _, cmd := range cmds {
		progress.Step("Wrote restore command %s for etcd %s; waiting for the etcd managers", cmd.ID, cmd.EtcdCluster)
	}
	if err := control.WaitRestores(ctx, store, cmds, control.Waiting{Wait: wait, Poll: backupPollInterval, Progress: progress.Step}); err != nil {
		return err
	}
	progress.Step("Restore complete; validating cluster %s", c.Name)
	return nil
}

// WarnDamagedBackups names each damaged backup of an etcd cluster and its
// meta object on w (stderr, so that structured output stays parseable).
func WarnDamagedBackups(w io.Writer, etcd string, list []backup.Info) {
	for _, b := range list {
		if b.Damaged != "" {
			fmt.Fprintf(w, "WARNING: etcd %s: backup %s is damaged and cannot be restored: %s\n", etcd, b.Name, b.Damaged)
		}
	}
}
