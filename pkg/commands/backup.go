package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/etcd/backup"
)

func newBackupCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "List, take and restore etcd backups",
		Long: `List, take and restore the etcd backups of a cluster.

The etcd managers on the control-plane machines back each etcd cluster (main,
events) up every 15 minutes into the state store, under
<cluster>/backups/etcd/<main|events>/<time>-<seq>/. These commands need only
the state store: they work from a laptop or a bastion.`,
	}
	cmd.AddCommand(newBackupListCommand(o), newBackupCreateCommand(o), newBackupRestoreCommand(o))
	return cmd
}

func newBackupListCommand(o *rootOptions) *cobra.Command {
	var etcd, format string
	cmd := &cobra.Command{
		Use:   "list NAME",
		Short: "List a cluster's etcd backups, newest first",
		Long: `List a cluster's etcd backups, newest first.

STATUS is ok for a backup that can be restored, and damaged for one whose
meta object (_etcd_backup.meta) cannot be read or decoded: a warning on
stderr names the object and says what is wrong with it. A damaged backup
cannot be restored; the etcd managers skip it and retention ages it by the
time in its name. In -o yaml/json output a damaged backup has a "damaged"
field with the reason.`,
		Example: `  hull backup list demo.example.com
  hull backup list demo.example.com --etcd events -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.backupList(cmd.Context(), name, etcd, f)
		},
	}
	cmd.Flags().StringVar(&etcd, "etcd", "main", "etcd cluster: main or events")
	addOutputFlag(cmd, &format)
	return cmd
}

// openBackups opens the cluster and resolves --etcd to the cluster's etcd
// cluster names (all of them for "all"). The caller closes the cluster.
func (o *rootOptions) openBackups(ctx context.Context, name, etcd string, allowAll bool) (*cluster.Cluster, []string, error) {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	known, err := cl.EtcdClusters(ctx)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case etcd == "all" && allowAll:
		return cl, known, nil
	case slices.Contains(known, etcd):
		return cl, []string{etcd}, nil
	}
	choices := strings.Join(known, ", ")
	if allowAll {
		choices += " or all"
	}
	return nil, nil, usagef("--etcd %q: cluster %s has etcd clusters %s", etcd, name, choices)
}

func (o *rootOptions) backupList(ctx context.Context, name, etcd string, f output.Format) error {
	cl, etcds, err := o.openBackups(ctx, name, etcd, false)
	if err != nil {
		return err
	}
	defer cl.Close()
	list, err := cl.Backups(ctx, etcds[0])
	if err != nil {
		return err
	}
	cluster.WarnDamagedBackups(o.errOut, etcds[0], list)
	if f != output.Table {
		if list == nil {
			list = []backup.Info{}
		}
		return output.Structured(o.out, f, list)
	}
	if len(list) == 0 {
		fmt.Fprintf(o.errOut, "No backups of etcd %s of cluster %s yet.\n", etcds[0], name)
		return nil
	}
	t := output.NewTable(o.out, "NAME", "TIME", "SIZE", "ETCD VERSION", "STATUS")
	for _, b := range list {
		// The time comes from the name, so a damaged backup has one too.
		when := b.Time.UTC().Format(time.RFC3339)
		if b.Damaged != "" {
			t.Row(b.Name, when, "-", "-", "damaged")
			continue
		}
		t.Row(b.Name, when, output.Bytes(b.Meta.SnapshotSize), b.Meta.EtcdVersion, "ok")
	}
	return t.Flush()
}

func newBackupCreateCommand(o *rootOptions) *cobra.Command {
	var etcd string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Ask the etcd backup leader for a backup now and wait until it is listed",
		Example: `  hull backup create demo.example.com
  hull backup create demo.example.com --etcd events --wait 10m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait <= 0 {
				return usagef("--wait must be positive, got %s", wait)
			}
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.backupCreate(cmd.Context(), name, etcd, wait)
		},
	}
	cmd.Flags().StringVar(&etcd, "etcd", "main", "etcd cluster: main or events")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the backup")
	return cmd
}

func (o *rootOptions) backupCreate(ctx context.Context, name, etcd string, wait time.Duration) error {
	cl, etcds, err := o.openBackups(ctx, name, etcd, false)
	if err != nil {
		return err
	}
	defer cl.Close()
	b, err := cl.Backup(ctx, etcds[0], wait)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.out, b.Name)
	return nil
}
