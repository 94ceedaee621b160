package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/cloudup/local/bake"
	"github.com/hullproject/hull/pkg/assets"
	"github.com/hullproject/hull/pkg/cli/output"
)

type assetsFlags struct {
	kubernetesVersion string
	cacheDir          string
}

func (f *assetsFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubernetesVersion, "kubernetes-version", DefaultKubernetesVersion, "Kubernetes version (1.37.2 and 1.36.3 are supported)")
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", "", "where assets and images are kept (default $XDG_CACHE_HOME/hull, else ~/.cache/hull)")
}

// build builds (or finds cached) the assets repository, printing progress.
func (f *assetsFlags) build(ctx context.Context, p *output.Progress) (string, *assets.Manifest, error) {
	return assets.Build(ctx, assets.Options{
		KubernetesVersion: strings.TrimPrefix(f.kubernetesVersion, "v"),
		CacheDir:          f.cacheDir,
		Progress:          p.Step,
		InstallPackages:   true,
	})
}

func newAssetsCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "assets",
		Short: "Build the binaries and container images a node runs",
	}
	var f assetsFlags
	build := &cobra.Command{
		Use:   "build",
		Short: "Build a verified asset repository for one Kubernetes version",
		Long: `Build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
kube-proxy and kubectl from the Go module proxy, etcd from go.etcd.io, take
containerd, runc and the CNI plugins from Debian's packages (installing them
if missing), and build the container images the cluster needs. The result is
a repository directory with a manifest of sha256 sums. Rebuilds are cached.`,
		Example: `  hull assets build --kubernetes-version 1.37.2`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := output.NewProgress(o.out)
			dir, m, err := f.build(cmd.Context(), p)
			if err != nil {
				return err
			}
			p.Step("Assets for Kubernetes %s ready in %s (%d files, %d images)", m.KubernetesVersion, dir, len(m.Files), len(m.Images))
			return nil
		},
	}
	f.add(build)
	cmd.AddCommand(build)
	return cmd
}

func newImageBuildCommand(o *rootOptions) *cobra.Command {
	var f assetsFlags
	var name, nodeup string
	var unbaked bool
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Bake a local-cloud machine image for one Kubernetes version",
		Long: `Build the assets for a Kubernetes version (cached), bake nodeup and every
asset into a machine image, and import it into the local cloud, so a machine
boots with nothing to download. With --unbaked the image holds only nodeup,
which fetches the assets at boot from the cluster's spec.assets.repository and
checks their sha256 sums.`,
		Example: `  sudo hull image build --kubernetes-version 1.37.2
  sudo hull image build --kubernetes-version 1.37.2 --unbaked --name hull-kubernetes-1.37.2-unbaked`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.buildImage(cmd.Context(), &f, name, nodeup, unbaked)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&name, "name", "", "image name (default hull-kubernetes-<version>, the name instance groups default to)")
	cmd.Flags().StringVar(&nodeup, "nodeup", "", "the nodeup binary to bake in (default: nodeup next to the hull binary)")
	cmd.Flags().BoolVar(&unbaked, "unbaked", false, "leave the assets out; nodeup fetches them at boot")
	return cmd
}

func (o *rootOptions) buildImage(ctx context.Context, f *assetsFlags, name, nodeup string, unbaked bool) error {
	if nodeup == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		nodeup = filepath.Join(filepath.Dir(self), "nodeup")
	}
	if _, err := os.Stat(nodeup); err != nil {
		return fmt.Errorf("--nodeup: %s: %w (build it with `make build`, which puts nodeup next to hull)", nodeup, err)
	}
	cl, err := local.ConnectToChange(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	p := output.NewProgress(o.out)
	repo, m, err := f.build(ctx, p)
	if err != nil {
		return err
	}
	if name == "" {
		name = bake.DefaultName(m.KubernetesVersion)
	}
	cache := f.cacheDir
	if cache == "" {
		if cache, err = assets.DefaultCacheDir(); err != nil {
			return err
		}
	}
	dir := filepath.Join(cache, "images", name)
	p.Step("Baking image %s into %s", name, dir)
	if _, err := bake.Bake(bake.Options{Name: name, Nodeup: nodeup, AssetsRepo: repo, Unbaked: unbaked, Dir: dir}); err != nil {
		return err
	}
	p.Step("Importing image %s into the local cloud", name)
	img, err := cl.ImportImage(ctx, name, dir)
	if err != nil {
		return fmt.Errorf("import image %s: %w", name, err)
	}
	p.Step("Image %s ready (%s)", img.Name, img.ID)
	if unbaked {
		fmt.Fprintf(o.out, "\nMachines booting this image fetch their assets from the cluster's assets repository;\nset it with `hull edit cluster NAME`:\n  spec:\n    assets:\n      repository: file://%s\n", repo)
	}
	return nil
}
