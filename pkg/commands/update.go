package commands

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cluster"
)

// Update targets: apply through the cloud's API, or write Terraform.
const (
	targetDirect    = "direct"
	targetTerraform = "terraform"
)

type updateFlags struct {
	yes, prune  bool
	target, out string
}

// check refuses flag combinations that cannot mean anything, naming the flag.
func (f *updateFlags) check() error {
	switch f.target {
	case targetDirect:
		if f.out != "" {
			return usagef("--out is only used with --target %s", targetTerraform)
		}
	case targetTerraform:
		if f.out == "" {
			return usagef("--out is required with --target %s: the directory to write the *.tf.json files to", targetTerraform)
		}
		if f.prune {
			return usagef("--prune is only used with --target %s; Terraform deletes what leaves its configuration", targetDirect)
		}
	default:
		return usagef("--target must be %s or %s, got %q", targetDirect, targetTerraform, f.target)
	}
	return nil
}

func newUpdateCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Make the cloud match a cluster's spec",
	}
	f := updateFlags{target: targetDirect}
	cluster := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Make the cloud match a cluster's spec",
		Long: `Compare the cloud with the cluster's spec and print what would change.
With --yes, apply the changes: networks, images, launch configurations,
instance groups and the API load balancer. Resources that are no longer in
the spec are deleted only with --prune. Machines whose configuration changed
keep running until 'hull rolling-update cluster' replaces them.

With --target terraform (aws clusters only), write Terraform JSON
(*.tf.json, and the groups' user-data under data/) for the same resources
into --out instead, and call no cloud API. As with kops, this needs no --yes:
it changes nothing in the cloud. It does write the completed spec and the
nodeup configs to the state store, because the machines 'terraform apply'
launches read them at boot.`,
		Example: `  hull update cluster demo.example.com
  hull update cluster demo.example.com --yes
  hull update cluster demo.example.com --target terraform --out ./terraform`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			if err := f.check(); err != nil {
				return err
			}
			return o.updateCluster(cmd.Context(), name, f)
		},
	}
	cluster.Flags().BoolVarP(&f.yes, "yes", "y", false, "apply the changes (--target direct)")
	cluster.Flags().BoolVar(&f.prune, "prune", false, "delete cloud resources that are no longer in the spec")
	cluster.Flags().StringVar(&f.target, "target", f.target, "direct: call the cloud's API; terraform: write Terraform JSON to --out (aws only)")
	cluster.Flags().StringVar(&f.out, "out", "", "directory for the Terraform files (--target terraform)")
	cmd.AddCommand(cluster)
	return cmd
}

func (o *rootOptions) updateCluster(ctx context.Context, name string, f updateFlags) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	if f.target == targetTerraform {
		err := cl.Terraform(ctx, f.out)
		if errors.Is(err, cluster.ErrNoTerraform) {
			return usagef("--target %s: %v", targetTerraform, err)
		}
		return err
	}
	_, err = cl.Update(ctx, cluster.UpdateOptions{Yes: f.yes, Prune: f.prune})
	return err
}
