package commands

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cluster"
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

func (o *rootOptions) backupRestore(ctx context.Context, name, backupName, etcd string, yes bool, wait time.Duration) error {
	cl, etcds, err := o.openBackups(ctx, name, etcd, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	targets, err := cl.PlanRestore(ctx, backupName, etcds)
	if err != nil {
		return err
	}
	if !yes {
		printRestorePlan(o.out, name, targets)
		return nil
	}
	return cl.Restore(ctx, targets, wait)
}

func printRestorePlan(w io.Writer, name string, targets []cluster.RestoreTarget) {
	fmt.Fprintf(w, "Restoring etcd of cluster %s would:\n", name)
	for _, t := range targets {
		age := time.Since(t.Backup.Meta.Timestamp).Round(time.Minute)
		fmt.Fprintf(w, "  - etcd %s: restore backup %s, taken %s (%s ago), etcd %s, %s\n",
			t.Etcd, t.Backup.Name, t.Backup.Meta.Timestamp.UTC().Format(time.RFC3339), age, t.Backup.Meta.EtcdVersion, output.Bytes(t.Backup.Meta.SnapshotSize))
	}
	fmt.Fprintf(w, "  - stop etcd on every control-plane machine: the Kubernetes API is DOWN until the restore completes\n")
	fmt.Fprintf(w, "  - LOSE every object created or changed after the backup's time; objects deleted since then come back\n")
	fmt.Fprintf(w, "  - restore the snapshot on one member, re-form the cluster with a fresh cluster id, restart the others\n")
	fmt.Fprintf(w, "  - take a fresh backup of the restored cluster\n")
	fmt.Fprintf(w, "Nothing was changed. Run again with --yes to restore.\n")
}
