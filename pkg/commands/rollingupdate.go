package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/rollingupdate"
)

func newRollingUpdateCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rolling-update",
		Short: "Replace machines whose configuration is out of date",
	}
	opts := rollingupdate.DefaultOptions()
	opts.PostDrainDelay = 5 * time.Second
	var yes bool
	cluster := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Replace a cluster's out-of-date machines, one instance group at a time",
		Long: `Replace the machines that need it: those launched from an older launch
configuration (after 'hull update cluster --yes' changed it), those whose node
carries the annotation hull.dev/needs-update, or all of them with --force.

Bastions go first, then the control plane one machine at a time, then the node
groups one group at a time. Each machine is cordoned, drained (PodDisruption-
Budgets respected, DaemonSet pods left, emptyDir data deleted), terminated,
and its replacement awaited until the cluster validates. Groups with maxSurge
detach machines so their replacements start first; with maxUnavailable > 1,
machines are drained in parallel, never evicting more pods of a budget at once
than it allows.

Progress is checkpointed in the state store: an interrupted run, re-run,
continues with the same machines. Without --yes, only prints what needs
replacing.`,
		Example: `  hull rolling-update cluster demo.example.com
  hull rolling-update cluster demo.example.com --yes
  hull rolling-update cluster demo.example.com --instance-group nodes --node-interval 3m --post-drain-delay 3m --yes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			if err := checkRollingUpdateOptions(opts); err != nil {
				return err
			}
			return o.rollingUpdate(cmd.Context(), name, yes, opts)
		},
	}
	f := cluster.Flags()
	f.BoolVarP(&yes, "yes", "y", false, "replace the machines (without it, only print what needs replacing)")
	f.StringSliceVar(&opts.Groups, "instance-group", nil, "only these instance groups (repeatable)")
	f.StringSliceVar(&opts.Roles, "instance-group-roles", nil, "only groups of these roles: Bastion, ControlPlane, Node (repeatable)")
	f.BoolVar(&opts.Force, "force", false, "replace every machine of the selected groups, up to date or not")
	f.BoolVar(&opts.CloudOnly, "cloudonly", false, "do not use the Kubernetes API: no drain, no validation; terminate and wait for replacements to run")
	f.BoolVar(&opts.FailOnDrainError, "fail-on-drain-error", opts.FailOnDrainError, "stop when a drain fails; false terminates the machine anyway")
	f.BoolVar(&opts.FailOnValidateError, "fail-on-validate-error", opts.FailOnValidateError, "stop when the cluster does not validate; false warns and continues")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", opts.DrainTimeout, "longest a node's drain may take")
	f.DurationVar(&opts.PostDrainDelay, "post-drain-delay", opts.PostDrainDelay, "wait after draining a node before terminating its machine")
	f.DurationVar(&opts.NodeInterval, "node-interval", opts.NodeInterval, "wait between node machines")
	f.DurationVar(&opts.ControlPlaneInterval, "control-plane-interval", opts.ControlPlaneInterval, "wait between control-plane machines")
	f.DurationVar(&opts.BastionInterval, "bastion-interval", opts.BastionInterval, "wait between bastion machines")
	f.DurationVar(&opts.ValidationTimeout, "validation-timeout", opts.ValidationTimeout, "longest wait for the cluster to validate before the roll starts, and for each replacement to join and the cluster to validate again")
	f.IntVar(&opts.ValidateCount, "validate-count", opts.ValidateCount, "validations in a row that must pass after each replacement")
	cmd.AddCommand(cluster)
	return cmd
}

func checkRollingUpdateOptions(o rollingupdate.Options) error {
	for name, d := range map[string]time.Duration{
		"--drain-timeout": o.DrainTimeout, "--post-drain-delay": o.PostDrainDelay, "--node-interval": o.NodeInterval,
		"--control-plane-interval": o.ControlPlaneInterval, "--bastion-interval": o.BastionInterval, "--validation-timeout": o.ValidationTimeout,
	} {
		if d < 0 {
			return usagef("%s must not be negative, got %s", name, d)
		}
	}
	if o.ValidateCount < 1 {
		return usagef("--validate-count must be at least 1, got %d", o.ValidateCount)
	}
	return nil
}

func (o *rootOptions) rollingUpdate(ctx context.Context, name string, yes bool, opts rollingupdate.Options) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	roll, err := cl.PlanRollingUpdate(ctx, opts, yes)
	var unknown *rollingupdate.UnknownGroupError
	if errors.As(err, &unknown) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if !yes {
		o.printHeldNodeGroups(roll, opts)
		return rollingupdate.PrintPlan(o.out, roll.Plan)
	}
	if err := rollingupdate.PrintTable(o.out, roll.Plan); err != nil {
		return err
	}
	return cl.RollingUpdate(ctx, roll)
}

// printHeldNodeGroups tells a dry run that node groups wait for the
// control plane: the plan shows them up to date, yet --yes will roll them.
func (o *rootOptions) printHeldNodeGroups(roll *cluster.Roll, opts rollingupdate.Options) {
	if len(roll.Holds) == 0 {
		return
	}
	for _, h := range roll.Holds {
		fmt.Fprintf(o.out, "Version skew: %s.\n", h)
	}
	if len(opts.Groups) == 0 && len(opts.Roles) == 0 {
		fmt.Fprintln(o.out, "With --yes, the control plane is rolled first; then the held node groups are updated and rolled too.")
	}
	fmt.Fprintln(o.out)
}
