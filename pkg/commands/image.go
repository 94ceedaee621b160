package commands

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup/local"
)

func newImageCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage machine images, and workload images in a cluster's registry",
	}
	var name string
	imp := &cobra.Command{
		Use:   "import DIR --name NAME",
		Short: "Import a machine image directory into the local cloud",
		Long: `Import a directory holding a boot program and a manifest.json (its files
with their sha256 sums) as a local-cloud machine image. Every file is
verified; instance groups refer to the image by NAME (spec.image).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usagef("--name is required")
			}
			return o.importImage(cmd.Context(), args[0], name)
		},
	}
	imp.Flags().StringVar(&name, "name", "", "image name")
	build := newImageBuildCommand(o)
	addAWSImageBuild(o, build)
	cmd.AddCommand(imp, build)
	addImageRegistryCommands(o, cmd)
	return cmd
}

func (o *rootOptions) importImage(ctx context.Context, dir, name string) error {
	cl, err := local.ConnectToChange(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	img, err := cl.ImportImage(ctx, name, dir)
	if err != nil {
		return fmt.Errorf("import image %s from %s: %w", name, dir, err)
	}
	fmt.Fprintf(o.out, "Imported image %s (%s)\n", img.Name, img.ID)
	return nil
}
