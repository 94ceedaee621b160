package commands

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
)

func newGetInstancesCommand(o *rootOptions) *cobra.Command {
	var format, name string
	cmd := &cobra.Command{
		Use:     "instances",
		Aliases: []string{"instance"},
		Short:   "List the machines of a cluster and whether they are up to date",
		Example: `  hull get instances --name demo.example.com`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			cluster, err := clusterName(nil, name)
			if err != nil {
				return err
			}
			return o.getInstances(cmd.Context(), cluster, f)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "cluster name (default $"+EnvClusterName+")")
	addOutputFlag(cmd, &format)
	return cmd
}

func (o *rootOptions) getInstances(ctx context.Context, name string, f output.Format) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	rows, err := cl.Instances(ctx)
	if err != nil {
		return err
	}
	if f != output.Table {
		return output.Structured(o.out, f, rows)
	}
	t := output.NewTable(o.out, "ID", "GROUP", "ROLE", "ADDRESS", "STATE", "CONFIG VERSION", "NEEDS UPDATE")
	for _, r := range rows {
		state := r.State
		if r.Detached {
			state += " (detached)"
		}
		t.Row(r.ID, r.Group, r.Role, r.Address, state, r.ConfigVersion, yesNo(r.NeedsUpdate))
	}
	return t.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
