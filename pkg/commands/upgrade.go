package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/kube/validate"
	"github.com/hullproject/hull/upgrades"
)

func newUpgradeCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade a cluster's Kubernetes version, one minor at a time",
	}
	cmd.AddCommand(newUpgradeClusterCommand(o), newUpgradePlanCommand(o))
	return cmd
}

// upgradeOptions are the flags of `hull upgrade cluster`.
type upgradeOptions struct {
	yes, skipBackup, cloudOnly bool
	kubernetesVersion, channel string
	backupTimeout              time.Duration
}

func newUpgradeClusterCommand(o *rootOptions) *cobra.Command {
	var opts upgradeOptions
	cmd := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Move a cluster's spec to the next Kubernetes version of its channel",
		Long: `Propose the next Kubernetes version for the cluster from its release channel
(spec.channel, else stable): the channel's recommended patch of the current
minor if the cluster is behind it, otherwise the next minor's recommended
version. --kubernetes-version asks for a version instead; it is refused if it
skips a minor, downgrades, is not listed by the channel or is below its
required minimum, or needs an etcd change the target does not support.

Without --yes the changes are only printed. With --yes the new version and the
instance-group images that follow it are written to the state store; nothing in
the cloud changes until 'hull update cluster' and 'hull rolling-update cluster'.

Before writing, --yes checks that the cluster validates (--cloudonly skips
that) and has the etcd managers take a backup of every etcd cluster, waiting
until each is listed by 'hull backup list' (--skip-backup skips that, loudly).
If either fails, nothing is written.`,
		Example: `  hull upgrade cluster demo.example.com
  hull upgrade cluster demo.example.com --yes
  hull upgrade cluster demo.example.com --kubernetes-version 1.37.2 --yes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.upgradeCluster(cmd.Context(), name, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.yes, "yes", "y", false, "write the new version to the state store")
	f.StringVar(&opts.kubernetesVersion, "kubernetes-version", "", "upgrade to this version instead of the channel's next step")
	f.StringVar(&opts.channel, "channel", "", "release channel to upgrade within, and to record in spec.channel (name, file:// or https://)")
	f.BoolVar(&opts.skipBackup, "skip-backup", false, "do not take an etcd backup first (there is then nothing to restore if the upgrade goes wrong)")
	f.DurationVar(&opts.backupTimeout, "backup-timeout", 10*time.Minute, "how long to wait for each etcd backup")
	f.BoolVar(&opts.cloudOnly, "cloudonly", false, "do not check that the cluster validates first")
	return cmd
}

func newUpgradePlanCommand(o *rootOptions) *cobra.Command {
	var channel string
	cmd := &cobra.Command{
		Use:   "plan NAME",
		Short: "Show every step from the cluster's version to its channel's latest",
		Long: `Print the whole upgrade path of a cluster: the latest patch of its minor first,
then each following minor, one at a time, up to the channel's latest
recommended version, with the commands each step takes. Nothing is changed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.upgradePlan(cmd.Context(), name, channel)
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "", "release channel to plan within (default spec.channel, else stable)")
	return cmd
}

func (o *rootOptions) upgradeCluster(ctx context.Context, name string, opts upgradeOptions) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	uo := cluster.UpgradeOptions{
		KubernetesVersion: opts.kubernetesVersion, Channel: opts.channel,
		CloudOnly: opts.cloudOnly, SkipBackup: opts.skipBackup, BackupTimeout: opts.backupTimeout,
		Validated: func(r *validate.Result) error { return printValidation(o.out, name, r, output.Table, 0) },
	}
	up, err := cl.PlanUpgrade(ctx, uo)
	if err != nil {
		return err
	}
	if err := o.printUpgrade(up); err != nil || up.Empty() {
		return err
	}
	if !opts.yes {
		o.printPath(name, up)
		fmt.Fprintln(o.out, "\nMust specify --yes to perform upgrade")
		return nil
	}
	written, err := cl.Upgrade(ctx, up, uo)
	if written != nil && !written.Same(up) {
		fmt.Fprintln(o.errOut, "The cluster changed while the upgrade was prepared; wrote this instead:")
		if perr := o.printUpgrade(written); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil || written.Empty() {
		return err
	}
	fmt.Fprintf(o.out, "\nWrote the new spec of cluster %s. Nothing in the cloud has changed yet; next run:\n", name)
	fmt.Fprintf(o.out, "  hull update cluster %s --yes\n", name)
	fmt.Fprintf(o.out, "  hull rolling-update cluster %s --yes\n", name)
	return nil
}

func (o *rootOptions) printUpgrade(up *cluster.Upgrade) error {
	if up.Empty() {
		fmt.Fprintln(o.out, "No upgrade required")
		return nil
	}
	t := output.NewTable(o.out, "ITEM", "PROPERTY", "OLD", "NEW")
	for _, r := range up.Rows {
		t.Row(r...)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if up.Step != nil {
		fmt.Fprintf(o.out, "\nKubernetes %s -> %s (%s), etcd %s\n", up.Step.From, up.Step.To, up.Step.Reason, etcdChange(up.Step))
	}
	for _, n := range up.Notes {
		fmt.Fprintln(o.out, n)
	}
	return nil
}

// printPath shows, after a dry run's table, every step from the cluster's
// version to the channel's latest, each with the commands that take it.
func (o *rootOptions) printPath(name string, up *cluster.Upgrade) {
	if up.Step == nil {
		return
	}
	steps, err := up.Path()
	versions := []string{up.Step.From}
	for _, s := range steps {
		versions = append(versions, s.To)
	}
	fmt.Fprintf(o.out, "\nPath to the latest of channel %s: %s\n", up.Channel.Name(), strings.Join(versions, " -> "))
	o.printSteps(name, steps, up.NewChannel)
	if err != nil {
		fmt.Fprintf(o.out, "After step %d the path is blocked: %v\n", len(steps), err)
	}
}

// printSteps prints each upgrade step and its three commands.
func (o *rootOptions) printSteps(name string, steps []upgrades.Step, channelFlag string) {
	for i, s := range steps {
		fmt.Fprintf(o.out, "\nStep %d: Kubernetes %s -> %s (%s), etcd %s\n", i+1, s.From, s.To, s.Reason, etcdChange(&s))
		upgrade := fmt.Sprintf("hull upgrade cluster %s --kubernetes-version %s", name, s.To)
		if i == 0 && channelFlag != "" {
			upgrade += " --channel " + channelFlag
		}
		fmt.Fprintf(o.out, "  %s --yes\n", upgrade)
		fmt.Fprintf(o.out, "  hull update cluster %s --yes\n", name)
		fmt.Fprintf(o.out, "  hull rolling-update cluster %s --yes\n", name)
	}
}

func (o *rootOptions) upgradePlan(ctx context.Context, name, channel string) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	p, err := cl.PlanUpgradePath(ctx, channel)
	if err != nil {
		return err
	}
	if len(p.Steps) == 0 && p.Blocked == nil {
		fmt.Fprintf(o.out, "No upgrade required: cluster %s runs Kubernetes %s; channel %s recommends at most %s.\n", name, p.Current, p.Channel.Name(), p.Channel.Latest())
		return nil
	}
	fmt.Fprintf(o.out, "Cluster %s runs Kubernetes %s; channel %s recommends %s.\n", name, p.Current, p.Channel.Name(), p.Channel.Latest())
	o.printSteps(name, p.Steps, p.NewChannel)
	if p.Blocked != nil {
		return fmt.Errorf("the upgrade path stops after %d step(s): %w", len(p.Steps), p.Blocked)
	}
	return nil
}

func etcdChange(s *upgrades.Step) string {
	switch s.EtcdFrom {
	case s.EtcdTo:
		return s.EtcdTo + " (unchanged)"
	case "":
		return s.EtcdTo
	}
	return s.EtcdFrom + " -> " + s.EtcdTo
}
