package commands

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup"
)

func newUpdateCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Make the cloud match a cluster's spec",
	}
	var yes, prune bool
	cluster := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Make the cloud match a cluster's spec",
		Long: `Compare the cloud with the cluster's spec and print what would change.
With --yes, apply the changes: networks, images, launch configurations,
instance groups and the API load balancer. Resources that are no longer in
the spec are deleted only with --prune. Machines whose configuration changed
keep running until 'hull rolling-update cluster' replaces them.`,
		Example: `  hull update cluster demo.example.com
  hull update cluster demo.example.com --yes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.updateCluster(cmd.Context(), name, yes, prune)
		},
	}
	cluster.Flags().BoolVarP(&yes, "yes", "y", false, "apply the changes")
	cluster.Flags().BoolVar(&prune, "prune", false, "delete cloud resources that are no longer in the spec")
	cmd.AddCommand(cluster)
	return cmd
}

func (o *rootOptions) updateCluster(ctx context.Context, name string, yes, prune bool) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	c, _, err := reg.GetCluster(ctx, name)
	if err != nil {
		return err
	}
	provider, closeProvider, err := providerFor(ctx, reg, c)
	if err != nil {
		return err
	}
	defer closeProvider()
	_, err = cloudup.Update(ctx, reg, provider, name, cloudup.UpdateOptions{Yes: yes, Prune: prune, Out: o.out})
	return err
}
