package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup"

	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/registry"
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
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	c, _, err := reg.GetCluster(ctx, name)
	if errors.Is(err, state.ErrNotFound) {
		return o.deleteLeftovers(ctx, reg, name, yes, err)
	}
	if err != nil {
		return err
	}
	objs, err := reg.Store().List(ctx, name+"/")
	if err != nil {
		return err
	}
	access := readCloud
	if yes {
		access = changeCloud
	}
	provider, closeProvider, err := providerFor(ctx, reg, c, access)
	if err != nil {
		return fmt.Errorf("cannot reach the cloud of %s to delete its resources (nothing was deleted): %w", name, err)
	}
	defer closeProvider()
	res, err := cloudup.FindCloudResources(ctx, provider, name)
	if err != nil {
		return err
	}
	if !yes {
		fmt.Fprintf(o.out, "Will delete cluster %s.\n\nCloud resources (%s):\n", name, provider.Name())
		if res.Empty() {
			fmt.Fprintln(o.out, "  none")
		}
		for _, k := range res.Keys() {
			fmt.Fprintf(o.out, "  %s\n", k)
		}
		fmt.Fprintf(o.out, "\nState store objects (%s):\n", reg.Store().URL())
		for _, obj := range objs {
			fmt.Fprintf(o.out, "  %s\n", obj.Key)
		}
		fmt.Fprintln(o.out, "\nMust specify --yes to delete the cluster.")
		return nil
	}
	if err := cloudup.DeleteCloudResources(ctx, provider, name, res, o.out); err != nil {
		return fmt.Errorf("%w; the cluster's spec was kept so delete can be re-run", err)
	}
	if err := reg.DeleteCluster(ctx, name); err != nil {
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
func (o *rootOptions) deleteLeftovers(ctx context.Context, reg *registry.Registry, name string, yes bool, notFound error) error {
	objs, err := reg.Store().List(ctx, name+"/")
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return notFound
	}
	if !yes {
		fmt.Fprintf(o.out, "Cluster %s does not exist in %s, but an interrupted create or delete left %d objects under %s/:\n", name, reg.Store().URL(), len(objs), name)
		for _, obj := range objs {
			fmt.Fprintf(o.out, "  %s\n", obj.Key)
		}
		fmt.Fprintln(o.out, "\nMust specify --yes to remove them.")
		return nil
	}
	if err := reg.DeleteCluster(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Removed %d objects an interrupted create or delete of cluster %s left behind\n", len(objs), name)
	return nil
}

func (o *rootOptions) deleteInstanceGroup(ctx context.Context, cluster, ig string, yes bool) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	c, igs, err := loadCluster(ctx, reg, cluster)
	if err != nil {
		return err
	}
	if _, _, err := reg.GetInstanceGroup(ctx, cluster, ig); err != nil {
		return err
	}
	if errs := validation.ValidateCluster(c, withoutGroup(igs, ig)); len(errs) > 0 {
		return &invalidError{what: fmt.Sprintf("cluster %q without instance group %q", cluster, ig), errs: errs}
	}
	if !yes {
		fmt.Fprintf(o.out, "Will delete instance group %s of cluster %s.\n\nMust specify --yes to delete the instance group.\n", ig, cluster)
		return nil
	}
	err = reg.WithLock(ctx, cluster, func(ctx context.Context) error {
		return reg.DeleteInstanceGroup(ctx, cluster, ig, state.Unconditional())
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Deleted instance group %s of cluster %s\n", ig, cluster)
	return nil
}
