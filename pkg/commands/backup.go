package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/state"
)

// backupPollInterval is how often create and restore re-read the store.
const backupPollInterval = time.Second

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

// openBackups opens the store, checks the cluster exists and resolves
// --etcd to the cluster's etcd cluster names (all of them for "all").
func (o *rootOptions) openBackups(ctx context.Context, name, etcd string, allowAll bool) (*state.Store, []string, error) {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, _, err := reg.GetCluster(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	var known []string
	for _, e := range c.Spec.EtcdClusters {
		known = append(known, e.Name)
	}
	if len(known) == 0 {
		known = []string{"main", "events"}
	}
	switch {
	case etcd == "all" && allowAll:
		return reg.Store(), known, nil
	case slices.Contains(known, etcd):
		return reg.Store(), []string{etcd}, nil
	}
	choices := strings.Join(known, ", ")
	if allowAll {
		choices += " or all"
	}
	return nil, nil, usagef("--etcd %q: cluster %s has etcd clusters %s", etcd, name, choices)
}

func (o *rootOptions) backupList(ctx context.Context, name, etcd string, f output.Format) error {
	store, etcds, err := o.openBackups(ctx, name, etcd, false)
	if err != nil {
		return err
	}
	list, err := backup.List(ctx, store, name, etcds[0])
	if err != nil {
		return err
	}
	warnDamagedBackups(o.errOut, etcds[0], list)
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
		t.Row(b.Name, when, humanBytes(b.Meta.SnapshotSize), b.Meta.EtcdVersion, "ok")
	}
	return t.Flush()
}

// warnDamagedBackups names each damaged backup of an etcd cluster and its
// meta object, on w (stderr, so that structured output stays parseable).
func warnDamagedBackups(w io.Writer, etcd string, list []backup.Info) {
	for _, b := range list {
		if b.Damaged != "" {
			fmt.Fprintf(w, "WARNING: etcd %s: backup %s is damaged and cannot be restored: %s\n", etcd, b.Name, b.Damaged)
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
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

func requester() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("hull on %s (pid %d)", host, os.Getpid())
}

func (o *rootOptions) backupCreate(ctx context.Context, name, etcd string, wait time.Duration) error {
	store, etcds, err := o.openBackups(ctx, name, etcd, false)
	if err != nil {
		return err
	}
	etcd = etcds[0]
	id := control.NewID(time.Now())
	key := control.BackupRequestKey(name, etcd, id)
	req := &control.BackupRequest{ID: id, RequestedBy: requester(), Created: time.Now().UTC(), Phase: control.RequestPending}
	if err := control.Create(ctx, store, key, req); err != nil {
		return fmt.Errorf("request a backup: %w", err)
	}
	progress := output.NewProgress(o.errOut)
	progress.Step("Asked the backup leader of etcd %s for a backup (request %s)", etcd, id)
	withdraw := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = store.Delete(dctx, key, state.Unconditional())
	}
	deadline := time.Now().Add(wait)
	lastNote := time.Now()
	for {
		r, _, err := control.Get[control.BackupRequest](ctx, store, key)
		if err != nil {
			return fmt.Errorf("read backup request %s: %w", id, err)
		}
		switch r.Phase {
		case control.RequestFailed:
			withdraw()
			return fmt.Errorf("the backup leader of etcd %s could not take the backup: %s", etcd, r.Error)
		case control.RequestSucceeded:
			list, err := backup.List(ctx, store, name, etcd)
			if err != nil {
				return err
			}
			if b, err := backup.Find(r.Backup, list); err == nil {
				withdraw()
				progress.Step("Backup %s is listed (%s, etcd %s)", b.Name, humanBytes(b.Meta.SnapshotSize), b.Meta.EtcdVersion)
				fmt.Fprintln(o.out, b.Name)
				return nil
			}
		}
		if time.Now().After(deadline) {
			withdraw()
			return fmt.Errorf("no backup of etcd %s was listed within %s: no etcd manager took the request; check that the control plane runs (request withdrawn)", etcd, wait)
		}
		if time.Since(lastNote) >= 15*time.Second {
			progress.Step("Still waiting for the backup leader of etcd %s", etcd)
			lastNote = time.Now()
		}
		select {
		case <-ctx.Done():
			withdraw()
			return fmt.Errorf("interrupted; backup request withdrawn: %w", context.Cause(ctx))
		case <-time.After(backupPollInterval):
		}
	}
}
