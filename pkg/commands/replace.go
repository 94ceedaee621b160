package commands

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

func newReplaceCommand(o *rootOptions) *cobra.Command {
	var filename string
	var force bool
	cmd := &cobra.Command{
		Use:   "replace -f FILE",
		Short: "Replace clusters and instance groups with the documents of a file",
		Long: `Replace the Cluster and InstanceGroup documents in the state store with
those in FILE. Each cluster is validated with its replaced groups before
anything is written. With --force, objects that do not exist are created.`,
		Example: `  hull get clusters demo.example.com -o yaml > c.yaml && $EDITOR c.yaml && hull replace -f c.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if filename == "" {
				return usagef("-f/--filename is required")
			}
			return o.replaceFromFile(cmd.Context(), filename, force)
		},
	}
	cmd.Flags().StringVarP(&filename, "filename", "f", "", "YAML file with Cluster and InstanceGroup documents (- for stdin)")
	cmd.Flags().BoolVar(&force, "force", false, "create objects that do not exist yet")
	return cmd
}

func (o *rootOptions) replaceFromFile(ctx context.Context, filename string, force bool) error {
	objs, err := readManifest(o, filename)
	if err != nil {
		return err
	}
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	clusters := map[string]*v1alpha1.Cluster{}
	var order []string
	note := func(name string) {
		if _, ok := clusters[name]; !ok {
			clusters[name] = nil
			order = append(order, name)
		}
	}
	for _, c := range objs.Clusters {
		note(c.Metadata.Name)
		clusters[c.Metadata.Name] = c
	}
	for _, ig := range objs.InstanceGroups {
		if ig.ClusterName() == "" {
			return fmt.Errorf("%s: InstanceGroup %q: metadata.labels[%s]: Required value: name the cluster it belongs to", filename, ig.Metadata.Name, v1alpha1.LabelCluster)
		}
		note(ig.ClusterName())
	}
	for _, name := range order {
		if err := o.replaceCluster(ctx, reg, name, clusters[name], groupsOf(objs.InstanceGroups, name), force); err != nil {
			return err
		}
	}
	return nil
}

// replaceCluster swaps in the new objects of one cluster under its lease.
func (o *rootOptions) replaceCluster(ctx context.Context, reg *registry.Registry, name string, newC *v1alpha1.Cluster, newIGs []*v1alpha1.InstanceGroup, force bool) error {
	_, _, err := reg.GetCluster(ctx, name)
	if errors.Is(err, state.ErrNotFound) && force && newC != nil {
		if err := cluster.Create(ctx, reg, newC, newIGs); err != nil {
			return err
		}
		fmt.Fprintf(o.out, "Created cluster %s\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	return reg.WithLock(ctx, name, func(ctx context.Context) error {
		c, gen, err := reg.GetCluster(ctx, name)
		if err != nil {
			return err
		}
		igs, err := reg.ListInstanceGroups(ctx, name)
		if err != nil {
			return err
		}
		if newC != nil {
			c = newC
		}
		for _, ig := range newIGs {
			if !force && !hasGroup(igs, ig.Metadata.Name) {
				return fmt.Errorf("instance group %q does not exist in cluster %s: use `hull create -f` or --force", ig.Metadata.Name, name)
			}
			igs = withGroup(igs, ig)
		}
		if err := cluster.CheckSpec(ctx, c, igs, reg.ConfigBase(name)); err != nil {
			return err
		}
		if newC != nil {
			if _, err := reg.PutCluster(ctx, newC, state.MatchGeneration(gen)); err != nil {
				return err
			}
			fmt.Fprintf(o.out, "Replaced cluster %s\n", name)
		}
		for _, ig := range newIGs {
			if _, err := reg.PutInstanceGroup(ctx, name, ig, state.Unconditional()); err != nil {
				return err
			}
			fmt.Fprintf(o.out, "Replaced instance group %s in cluster %s\n", ig.Metadata.Name, name)
		}
		return nil
	})
}

func hasGroup(igs []*v1alpha1.InstanceGroup, name string) bool {
	for _, g := range igs {
		if g.Metadata.Name == name {
			return true
		}
	}
	return false
}

func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, errors.New("no standard input")
	}
	return io.ReadAll(r)
}
