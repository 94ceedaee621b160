package commands

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
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

// instanceRow is one machine as `get instances` reports it.
type instanceRow struct {
	ID            string `json:"id"`
	Group         string `json:"group"`
	Role          string `json:"role"`
	Address       string `json:"address"`
	State         string `json:"state"`
	ConfigVersion string `json:"configVersion"`
	NeedsUpdate   bool   `json:"needsUpdate"`
	Detached      bool   `json:"detached,omitempty"`
}

func (o *rootOptions) getInstances(ctx context.Context, cluster string, f output.Format) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	c, _, err := reg.GetCluster(ctx, cluster)
	if err != nil {
		return err
	}
	provider, closeProvider, err := providerFor(ctx, reg, c, readCloud)
	if err != nil {
		return err
	}
	defer closeProvider()
	rows, err := instanceRows(ctx, provider, cluster)
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

// instanceRows joins machines with their group's current config version: a
// machine launched from another version needs replacing.
func instanceRows(ctx context.Context, p cloud.Provider, cluster string) ([]instanceRow, error) {
	groups, err := p.FindInstanceGroups(ctx, cluster)
	if err != nil {
		return nil, err
	}
	current := map[string]string{}
	for _, g := range groups {
		current[g.Name] = g.ConfigVersion
	}
	insts, err := p.ListInstances(ctx, cluster)
	if err != nil {
		return nil, err
	}
	rows := []instanceRow{}
	for _, in := range insts {
		rows = append(rows, instanceRow{
			ID: in.ID, Group: in.Group, Role: in.Role, Address: in.Address, State: in.State,
			ConfigVersion: in.ConfigVersion, Detached: in.Detached,
			NeedsUpdate: in.ConfigVersion != current[in.Group],
		})
	}
	return rows, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
