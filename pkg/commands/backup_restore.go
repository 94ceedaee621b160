package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/restore"
	"github.com/hullproject/hull/pkg/state"
)

func newBackupRestoreCommand(o *rootOptions) *cobra.Command {
	var etcd string
	var yes bool
	var wait, validation time.Duration
	cmd := &cobra.Command{
		Use:   "restore NAME BACKUP",
		Short: "Restore a cluster's etcd from a backup",
		Long: `Restore etcd from a backup listed by 'hull backup list'.

Without --yes, says what the restore would do and changes nothing. With
--yes, checks the backup's sha256 first (a damaged backup is refused before
anything is written), then writes a restore command that the etcd managers
carry out: stop etcd on every member, restore the snapshot on one, re-form
the cluster with a fresh cluster id, restart the others, take a fresh backup.
The Kubernetes API is down meanwhile, and everything written after the
backup's time is lost. The command reports each step until it is done,
then validates the cluster (--validation-timeout 0 skips that).

With --etcd all (the default), BACKUP names a backup of main; events is
restored from its newest intact backup taken no later than that one.`,
		Example: `  hull backup restore demo.example.com 2026-03-14T15:00:00Z-4
  hull backup restore demo.example.com 2026-03-14T15:00:00Z-4 --yes`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait <= 0 {
				return usagef("--wait must be positive, got %s", wait)
			}
			if validation < 0 {
				return usagef("--validation-timeout must not be negative, got %s", validation)
			}
			if err := o.backupRestore(cmd.Context(), args[0], args[1], etcd, yes, wait); err != nil || !yes || validation == 0 {
				return err
			}
			return o.validateCluster(cmd.Context(), args[0], validation, output.Table)
		},
	}
	cmd.Flags().StringVar(&etcd, "etcd", "all", "etcd cluster to restore: main, events or all")
	cmd.Flags().BoolVar(&yes, "yes", false, "restore now; without it, only say what would happen")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Minute, "how long to wait for the restore to finish")
	cmd.Flags().DurationVar(&validation, "validation-timeout", 10*time.Minute, "how long to wait for the cluster to validate after the restore; 0 skips validation")
	return cmd
}

// restoreTarget is one etcd cluster and the backup it goes back to.
type restoreTarget struct {
	etcd   string
	backup backup.Info
}

func (o *rootOptions) backupRestore(ctx context.Context, name, backupName, etcd string, yes bool, wait time.Duration) error {
	store, etcds, err := o.openBackups(ctx, name, etcd, true)
	if err != nil {
		return err
	}
	targets, err := resolveRestoreTargets(ctx, store, name, backupName, etcds, o.errOut)
	if err != nil {
		return err
	}
	if !yes {
		printRestorePlan(o.out, name, targets)
		return nil
	}
	for _, t := range targets {
		if err := ensureNoRestoreRunning(ctx, store, name, t.etcd, o.errOut); err != nil {
			return err
		}
	}
	progress := output.NewProgress(o.errOut)
	for _, t := range targets {
		progress.Step("Verifying backup %s of etcd %s (%s)", t.backup.Name, t.etcd, humanBytes(t.backup.Meta.SnapshotSize))
		if err := restore.Check(ctx, store, name, t.etcd, t.backup); err != nil {
			return fmt.Errorf("etcd %s: %w; nothing was written", t.etcd, err)
		}
	}
	var ids []string
	var cmds []*control.Restore
	for _, t := range targets {
		id := control.NewID(time.Now())
		now := time.Now().UTC()
		cmd := &control.Restore{ID: id, Cluster: name, EtcdCluster: t.etcd, Backup: t.backup.Name, RequestedBy: requester(), Created: now, Phase: control.Pending, PhaseStarted: now}
		cmd.Log(now, "restore of backup %s requested by %s", t.backup.Name, cmd.RequestedBy)
		cmds = append(cmds, cmd)
		ids = append(ids, id)
	}
	if err := control.CreateRestores(ctx, store, cmds); err != nil {
		return err
	}
	for _, cmd := range cmds {
		progress.Step("Wrote restore command %s for etcd %s; waiting for the etcd managers", cmd.ID, cmd.EtcdCluster)
	}
	return waitRestores(ctx, store, name, targets, ids, wait, progress)
}

// resolveRestoreTargets finds the backup for each etcd cluster: BACKUP
// itself where it exists, else (for --etcd all) the newest intact backup
// no later than BACKUP's time. Damaged backups are named on warn and
// skipped; BACKUP itself damaged is an error that names its meta object.
func resolveRestoreTargets(ctx context.Context, store *state.Store, name, backupName string, etcds []string, warn io.Writer) ([]restoreTarget, error) {
	lists := map[string][]backup.Info{}
	var at time.Time
	var firstErr error
	for _, e := range etcds {
		list, err := backup.List(ctx, store, name, e)
		if err != nil {
			return nil, err
		}
		warnDamagedBackups(warn, e, list)
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
	var targets []restoreTarget
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
		targets = append(targets, restoreTarget{etcd: e, backup: b})
	}
	return targets, nil
}

func printRestorePlan(w io.Writer, name string, targets []restoreTarget) {
	fmt.Fprintf(w, "Restoring etcd of cluster %s would:\n", name)
	for _, t := range targets {
		age := time.Since(t.backup.Meta.Timestamp).Round(time.Minute)
		fmt.Fprintf(w, "  - etcd %s: restore backup %s, taken %s (%s ago), etcd %s, %s\n",
			t.etcd, t.backup.Name, t.backup.Meta.Timestamp.UTC().Format(time.RFC3339), age, t.backup.Meta.EtcdVersion, humanBytes(t.backup.Meta.SnapshotSize))
	}
	fmt.Fprintf(w, "  - stop etcd on every control-plane machine: the Kubernetes API is DOWN until the restore completes\n")
	fmt.Fprintf(w, "  - LOSE every object created or changed after the backup's time; objects deleted since then come back\n")
	fmt.Fprintf(w, "  - restore the snapshot on one member, re-form the cluster with a fresh cluster id, restart the others\n")
	fmt.Fprintf(w, "  - take a fresh backup of the restored cluster\n")
	fmt.Fprintf(w, "Nothing was changed. Run again with --yes to restore.\n")
}

// ensureNoRestoreRunning refuses a second restore while one runs. A
// damaged restore command is named on warn and skipped: nobody can drive
// it, and it must not block every later restore.
func ensureNoRestoreRunning(ctx context.Context, store *state.Store, name, etcd string, warn io.Writer) error {
	running, damaged, err := control.ListRestores(ctx, store, name, etcd)
	if err != nil {
		return err
	}
	for _, d := range damaged {
		fmt.Fprintf(warn, "WARNING: etcd %s: %v\n", etcd, d)
	}
	for _, r := range running {
		if !r.Phase.Final() {
			return fmt.Errorf("etcd %s: restore %s of backup %s is already %s (requested by %s at %s); wait for it to finish",
				etcd, r.ID, r.Backup, strings.ToLower(string(r.Phase)), r.RequestedBy, r.Created.Format(time.RFC3339))
		}
	}
	return nil
}

// waitRestores prints each command's new steps until all are final.
func waitRestores(ctx context.Context, store *state.Store, name string, targets []restoreTarget, ids []string, wait time.Duration, progress *output.Progress) error {
	seen := make([]int, len(ids))
	final := make([]*control.Restore, len(ids))
	deadline := time.Now().Add(wait)
	for {
		pending := 0
		for i, id := range ids {
			if final[i] != nil {
				continue
			}
			r, err := control.GetRestore(ctx, store, name, targets[i].etcd, id)
			if err != nil {
				return err
			}
			for _, s := range r.Steps[min(seen[i], len(r.Steps)):] {
				progress.Step("etcd %s: %s", targets[i].etcd, s.Message)
			}
			seen[i] = len(r.Steps)
			if r.Phase.Final() {
				final[i] = r
			} else {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the restore did not finish within %s; it goes on: follow it in %s", wait, control.Dir(name, targets[0].etcd))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting (the restore goes on): %w", context.Cause(ctx))
		case <-time.After(backupPollInterval):
		}
	}
	var errs []error
	for i, r := range final {
		if r.Phase == control.Failed {
			errs = append(errs, fmt.Errorf("etcd %s: restore failed: %s", targets[i].etcd, r.Error))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	progress.Step("Restore complete; validating cluster %s", name)
	return nil
}
