package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/state"
)

func newDeleteCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a cluster or an instance group",
	}
	var yes bool
	clusterCmd := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Delete a cluster's objects from the state store",
		Long:  `Delete a cluster. Without --yes, list what would be deleted and change nothing.`,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.deleteCluster(cmd.Context(), name, yes)
		},
	}
	clusterCmd.Flags().BoolVarP(&yes, "yes", "y", false, "really delete")

	var igYes bool
	var cluster string
	igCmd := &cobra.Command{
		Use:     "instancegroup IG",
		Aliases: []string{"ig"},
		Short:   "Delete an instance group",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(nil, cluster)
			if err != nil {
				return err
			}
			return o.deleteInstanceGroup(cmd.Context(), name, args[0], igYes)
		},
	}
	igCmd.Flags().StringVar(&cluster, "name", "", "cluster name (default $"+EnvClusterName+")")
	igCmd.Flags().BoolVarP(&igYes, "yes", "y", false, "really delete")
	cmd.AddCommand(clusterCmd, igCmd)
	return cmd
}

func (o *rootOptions) deleteCluster(ctx context.Context, name string, yes bool) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	d, err := cl.PlanDelete(ctx, yes)
	if errors.Is(err, state.ErrNotFound) {
		return o.deleteLeftovers(ctx, cl, yes, err)
	}
	if err != nil {
		return err
	}
	if !yes {
		fmt.Fprintf(o.out, "Will delete cluster %s.\n\nCloud resources (%s):\n", name, d.Cloud)
		if d.Resources.Empty() {
			fmt.Fprintln(o.out, "  none")
		}
		for _, k := range d.Resources.Keys() {
			fmt.Fprintf(o.out, "  %s\n", k)
		}
		fmt.Fprintf(o.out, "\nState store objects (%s):\n", d.Store)
		for _, obj := range d.Objects {
			fmt.Fprintf(o.out, "  %s\n", obj)
		}
		fmt.Fprintln(o.out, "\nMust specify --yes to delete the cluster.")
		return nil
	}
	if err := cl.Delete(ctx, d); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Deleted cluster %s\n", name)
	return nil
}

// deleteLeftovers handles a cluster whose config is gone but whose other
// objects remain: a delete killed after it removed the config (it removes
// the config first), or a create killed before it wrote it. Running delete
// again removes them, so a re-run after a kill converges. With nothing left
// the cluster simply does not exist (notFound).
func (o *rootOptions) deleteLeftovers(ctx context.Context, cl *cluster.Cluster, yes bool, notFound error) error {
	name := cl.Name
	objs, err := cl.Leftovers(ctx)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return notFound
	}
	if !yes {
		fmt.Fprintf(o.out, "Cluster %s does not exist in %s, but an interrupted create or delete left %d objects under %s/:\n", name, cl.Registry().Store().URL(), len(objs), name)
		for _, obj := range objs {
			fmt.Fprintf(o.out, "  %s\n", obj)
		}
		fmt.Fprintln(o.out, "\nMust specify --yes to remove them.")
		return nil
	}
	if err := cl.RemoveLeftovers(ctx); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Removed %d objects an interrupted create or delete of cluster %s left behind\n", len(objs), name)
	return nil
}

func (o *rootOptions) deleteInstanceGroup(ctx context.Context, name, ig string, yes bool) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	if err := cl.CheckDeleteInstanceGroup(ctx, ig); err != nil {
		return err
	}
	if !yes {
		fmt.Fprintf(o.out, "Will delete instance group %s of cluster %s.\n\nMust specify --yes to delete the instance group.\n", ig, name)
		return nil
	}
	if err := cl.DeleteInstanceGroup(ctx, ig); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Deleted instance group %s of cluster %s\n", ig, name)
	return nil
}
