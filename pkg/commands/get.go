package commands

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/pki"
)

func newGetCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "List clusters, instance groups and keypairs",
	}
	cmd.AddCommand(newGetClustersCommand(o), newGetInstanceGroupsCommand(o), newGetKeypairsCommand(o), newGetInstancesCommand(o))
	return cmd
}

func addOutputFlag(cmd *cobra.Command, out *string) {
	cmd.Flags().StringVarP(out, "output", "o", "table", "output format: table, yaml or json")
}

func newGetClustersCommand(o *rootOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "clusters [NAME...]",
		Aliases: []string{"cluster"},
		Short:   "List clusters",
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			return o.getClusters(cmd.Context(), args, f)
		},
	}
	addOutputFlag(cmd, &format)
	return cmd
}

func (o *rootOptions) getClusters(ctx context.Context, names []string, f output.Format) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	single := len(names) == 1
	if len(names) == 0 {
		if names, err = reg.ListClusters(ctx); err != nil {
			return err
		}
	}
	var clusters []*v1alpha1.Cluster
	for _, n := range names {
		c, _, err := reg.GetCluster(ctx, n)
		if err != nil {
			return err
		}
		clusters = append(clusters, c)
	}
	if f != output.Table {
		objs := make([]any, len(clusters))
		for i, c := range clusters {
			objs[i] = c
		}
		return printStructured(o, f, objs, single)
	}
	if len(clusters) == 0 {
		fmt.Fprintln(o.out, "No clusters found. Create one with `hull create cluster NAME`.")
		return nil
	}
	t := output.NewTable(o.out, "NAME", "CLOUD", "VERSION", "ZONES")
	for _, c := range clusters {
		t.Row(c.Metadata.Name, orDefault(c.Spec.CloudProvider, completion.DefaultCloudProvider), c.Spec.KubernetesVersion, strings.Join(zones(c), ","))
	}
	return t.Flush()
}

func zones(c *v1alpha1.Cluster) []string {
	seen := map[string]bool{}
	var zs []string
	for _, s := range c.Spec.Networking.Subnets {
		if !seen[s.Zone] {
			seen[s.Zone] = true
			zs = append(zs, s.Zone)
		}
	}
	return zs
}

func newGetInstanceGroupsCommand(o *rootOptions) *cobra.Command {
	var format, name string
	cmd := &cobra.Command{
		Use:     "instancegroups [IG...]",
		Aliases: []string{"instancegroup", "ig", "igs"},
		Short:   "List the instance groups of a cluster",
		Example: `  hull get instancegroups --name demo.example.com`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			cluster, err := clusterName(nil, name)
			if err != nil {
				return err
			}
			return o.getInstanceGroups(cmd.Context(), cluster, args, f)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "cluster name (default $"+EnvClusterName+")")
	addOutputFlag(cmd, &format)
	return cmd
}

func (o *rootOptions) getInstanceGroups(ctx context.Context, cluster string, names []string, f output.Format) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	if _, _, err := reg.GetCluster(ctx, cluster); err != nil {
		return err
	}
	var igs []*v1alpha1.InstanceGroup
	if len(names) == 0 {
		if igs, err = reg.ListInstanceGroups(ctx, cluster); err != nil {
			return err
		}
	}
	for _, n := range names {
		ig, _, err := reg.GetInstanceGroup(ctx, cluster, n)
		if err != nil {
			return err
		}
		igs = append(igs, ig)
	}
	if f != output.Table {
		objs := make([]any, len(igs))
		for i, ig := range igs {
			objs[i] = ig
		}
		return printStructured(o, f, objs, len(names) == 1)
	}
	t := output.NewTable(o.out, "NAME", "ROLE", "MACHINETYPE", "MIN", "MAX", "SUBNETS")
	for _, ig := range igs {
		t.Row(ig.Metadata.Name, string(ig.Spec.Role), orDefault(ig.Spec.MachineType, "-"), size(ig.Spec.MinSize), size(ig.Spec.MaxSize), strings.Join(ig.Spec.Subnets, ","))
	}
	return t.Flush()
}

func size(p *int32) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(int(*p))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newGetKeypairsCommand(o *rootOptions) *cobra.Command {
	var format, name string
	cmd := &cobra.Command{
		Use:     "keypairs [KEYSET...]",
		Aliases: []string{"keypair"},
		Short:   "List the certificate authorities and keys of a cluster",
		Example: `  hull get keypairs --name demo.example.com`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			cluster, err := clusterName(nil, name)
			if err != nil {
				return err
			}
			return o.getKeypairs(cmd.Context(), cluster, args, f)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "cluster name (default $"+EnvClusterName+")")
	addOutputFlag(cmd, &format)
	return cmd
}

func (o *rootOptions) getKeypairs(ctx context.Context, cluster string, only []string, f output.Format) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	if _, _, err := reg.GetCluster(ctx, cluster); err != nil {
		return err
	}
	sets, err := reg.ListKeysets(ctx, cluster)
	if err != nil {
		return err
	}
	var rows []pki.KeypairInfo
	found := map[string]bool{}
	var all []string
	for _, ks := range sets {
		all = append(all, ks.Name)
		if len(only) > 0 && !slices.Contains(only, ks.Name) {
			continue
		}
		found[ks.Name] = true
		rows = append(rows, ks.Info()...)
	}
	for _, n := range only {
		if !found[n] {
			return fmt.Errorf("keyset %q not found in cluster %s; existing keysets: %s", n, cluster, strings.Join(all, ", "))
		}
	}
	if f != output.Table {
		return output.Structured(o.out, f, rows)
	}
	t := output.NewTable(o.out, "NAME", "ID", "ROLE", "TYPE", "SUBJECT", "EXPIRES")
	for _, r := range rows {
		expires := "-"
		if !r.NotAfter.IsZero() {
			expires = r.NotAfter.UTC().Format("2006-01-02")
		}
		t.Row(r.Keyset, r.ID, r.Role, r.Type, orDefault(r.Subject, "-"), expires)
	}
	return t.Flush()
}

// printStructured prints one object when one was asked for by name, else a list.
func printStructured(o *rootOptions, f output.Format, objs []any, single bool) error {
	if f == output.YAML {
		return printYAMLDocs(o, objs)
	}
	if single && len(objs) == 1 {
		return output.Structured(o.out, f, objs[0])
	}
	return output.Structured(o.out, f, objs)
}

func printYAMLDocs(o *rootOptions, objs []any) error {
	for i, obj := range objs {
		if i > 0 {
			fmt.Fprintln(o.out, "---")
		}
		if err := output.Structured(o.out, output.YAML, obj); err != nil {
			return err
		}
	}
	return nil
}
