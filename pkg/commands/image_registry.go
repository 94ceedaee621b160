package commands

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/images"
)

// addImageRegistryCommands adds `image load` and `image push`, which put
// workload images into a cluster's registry.
func addImageRegistryCommands(o *rootOptions, cmd *cobra.Command) {
	var format string
	load := &cobra.Command{
		Use:   "load CLUSTER IMAGE.tar...",
		Short: "Load images from tarballs into the cluster's registry",
		Long: `Load every image of each tarball into the registry of the cluster's cloud
(the local cloud runs one; see docs/local-cloud.md), under the image's own
name: nodes then pull docker.io/library/web:v1 by that name. A tarball is
a docker-archive as "docker save" writes it, or an OCI image layout in a
tar (crane, ko, "docker save" of recent docker, buildkit's oci exporter).

Every image is read back and checked against its digests before anything
is pushed, so a damaged tarball leaves the registry as it was; each
image's manifest is pushed after its blobs.`,
		Example: `  docker save nginx:1.27 -o nginx.tar
  hull image load demo.example.com nginx.tar
  hull image load demo.example.com web.tar db.tar -o json`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			return o.pushImages(cmd.Context(), args[0], f, func(cl *cluster.Cluster, p images.Progress) ([]images.Result, error) {
				return cl.LoadImages(cmd.Context(), args[1:], p)
			})
		},
	}
	addOutputFlag(load, &format)

	var from, pushFormat string
	push := &cobra.Command{
		Use:   "push CLUSTER REF --from OCI-LAYOUT-DIR",
		Short: "Push an image from an OCI layout directory into the cluster's registry",
		Long: `Push the image REF of an OCI image layout directory (the one the layout's
index names REF or REF's tag, or its only image) into the registry of the
cluster's cloud as REF. The image is checked against its digests before
it is pushed; its manifest goes last.`,
		Example: `  crane pull --format oci nginx:1.27 ./nginx
  hull image push demo.example.com docker.io/library/nginx:1.27 --from ./nginx`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return usagef("--from is required: an OCI image layout directory")
			}
			f, err := output.ParseFormat(pushFormat)
			if err != nil {
				return usageError{err}
			}
			return o.pushImages(cmd.Context(), args[0], f, func(cl *cluster.Cluster, p images.Progress) ([]images.Result, error) {
				return cl.PushImage(cmd.Context(), args[1], from, p)
			})
		},
	}
	push.Flags().StringVar(&from, "from", "", "OCI image layout directory holding the image")
	addOutputFlag(push, &pushFormat)
	cmd.AddCommand(load, push)
}

// pushImages runs a push with progress lines (to stderr when the result
// is structured) and prints the result.
func (o *rootOptions) pushImages(ctx context.Context, name string, f output.Format, run func(*cluster.Cluster, images.Progress) ([]images.Result, error)) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	w := o.out
	if f != output.Table {
		w = o.errOut
	}
	pr := newPushProgress(w)
	res, err := run(cl, pr.report)
	if err != nil {
		return err
	}
	if f != output.Table {
		if res == nil {
			res = []images.Result{}
		}
		return output.Structured(o.out, f, res)
	}
	t := output.NewTable(o.out, "IMAGE", "DIGEST", "SIZE", "ELAPSED")
	for _, r := range res {
		t.Row(r.Image, r.Digest, output.Bytes(r.Bytes), r.Elapsed.Round(time.Millisecond).String())
	}
	return t.Flush()
}

// pushProgress prints a line when an image starts, at most one a second
// while it goes, and one when its last byte is sent.
type pushProgress struct {
	p    *output.Progress
	mu   sync.Mutex
	last map[string]time.Time
	done map[string]bool
}

func newPushProgress(w io.Writer) *pushProgress {
	return &pushProgress{p: output.NewProgress(w), last: map[string]time.Time{}, done: map[string]bool{}}
}

func (pp *pushProgress) report(s images.Source, sent, total int64, elapsed time.Duration) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	ref := s.Ref.String()
	now := time.Now()
	switch {
	case pp.done[ref]:
		return
	case total > 0 && sent >= total:
		pp.done[ref] = true
		pp.p.Step("%s: sent %s in %s", ref, output.Bytes(total), elapsed.Round(time.Millisecond))
	case pp.last[ref].IsZero() || now.Sub(pp.last[ref]) >= time.Second:
		pp.last[ref] = now
		pp.p.Step("%s: %s of %s", ref, output.Bytes(sent), output.Bytes(total))
	}
}
