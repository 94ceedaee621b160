package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/kubectl/pkg/cmd/util/editor"

	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/state"
)

func newEditCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edit",
		Short: "Edit a cluster or an instance group in $EDITOR",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "cluster NAME",
		Short: "Edit a cluster spec in $EDITOR",
		Long: `Open the cluster spec in $EDITOR (else $VISUAL, else vi). On save the spec is
validated; if it is invalid the editor reopens with the errors as comments.
Only a valid spec is written, and only if nobody changed it meanwhile.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.editCluster(cmd.Context(), name)
		},
	})
	var cluster string
	igCmd := &cobra.Command{
		Use:     "instancegroup IG",
		Aliases: []string{"ig"},
		Short:   "Edit an instance group in $EDITOR",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(nil, cluster)
			if err != nil {
				return err
			}
			return o.editInstanceGroup(cmd.Context(), name, args[0])
		},
	}
	igCmd.Flags().StringVar(&cluster, "name", "", "cluster name (default $"+EnvClusterName+")")
	cmd.AddCommand(igCmd)
	return cmd
}

func (o *rootOptions) editCluster(ctx context.Context, name string) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	c, gen, err := reg.GetCluster(ctx, name)
	if err != nil {
		return err
	}
	return o.editLoop(ctx, name, c, "cluster "+name, func(obj any) (func(context.Context) error, error) {
		nc, ok := obj.(*v1alpha1.Cluster)
		if !ok {
			return nil, fmt.Errorf("kind: must stay %s", v1alpha1.KindCluster)
		}
		if nc.Metadata.Name != name {
			return nil, fmt.Errorf("metadata.name: cannot be changed (was %q)", name)
		}
		igs, err := reg.ListInstanceGroups(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := cluster.CheckSpec(ctx, nc, igs, reg.ConfigBase(name)); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return reg.WithLock(ctx, name, func(ctx context.Context) error {
				_, err := reg.PutCluster(ctx, nc, state.MatchGeneration(gen))
				return err
			})
		}, nil
	})
}

func (o *rootOptions) editInstanceGroup(ctx context.Context, name, igName string) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	c, igs, err := loadCluster(ctx, reg, name)
	if err != nil {
		return err
	}
	ig, gen, err := reg.GetInstanceGroup(ctx, name, igName)
	if err != nil {
		return err
	}
	return o.editLoop(ctx, name, ig, "instance group "+igName, func(obj any) (func(context.Context) error, error) {
		nig, ok := obj.(*v1alpha1.InstanceGroup)
		if !ok {
			return nil, fmt.Errorf("kind: must stay %s", v1alpha1.KindInstanceGroup)
		}
		if nig.Metadata.Name != igName {
			return nil, fmt.Errorf("metadata.name: cannot be changed (was %q)", igName)
		}
		if err := cluster.CheckSpec(ctx, c, withGroup(igs, nig), reg.ConfigBase(name)); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return reg.WithLock(ctx, name, func(ctx context.Context) error {
				_, err := reg.PutInstanceGroup(ctx, name, nig, state.MatchGeneration(gen))
				return err
			})
		}, nil
	})
}

// editLoop runs the editor until the user saves a valid object or gives up.
// check decodes nothing itself: it gets the parsed object and returns the
// write to perform, or the reason the object is refused. cluster is the
// cluster whose lock the write takes.
func (o *rootOptions) editLoop(ctx context.Context, cluster string, obj any, what string, check func(any) (func(context.Context) error, error)) error {
	original, err := codec.Encode(obj)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "hull-edit-*.yaml")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	f.Close()
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmp)
		}
	}()

	header := editHeader(what, nil)
	body := original
	var lastErr error
	for {
		if err := os.WriteFile(tmp, append([]byte(header), body...), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", tmp, err)
		}
		if err := runEditor(tmp); err != nil {
			return err
		}
		edited, err := os.ReadFile(tmp)
		if err != nil {
			return fmt.Errorf("read %s: %w", tmp, err)
		}
		edited = stripHeader(edited)
		if bytes.Equal(bytes.TrimSpace(edited), bytes.TrimSpace(body)) {
			if lastErr != nil {
				keep = true
				return fmt.Errorf("edit of %s cancelled, nothing was written; your changes are in %s: %w", what, tmp, lastErr)
			}
			fmt.Fprintf(o.out, "Edit cancelled, no changes made to %s.\n", what)
			return nil
		}
		if len(bytes.TrimSpace(edited)) == 0 {
			fmt.Fprintf(o.out, "Edit cancelled, the file was emptied; no changes made to %s.\n", what)
			return nil
		}
		body = edited
		var write func(context.Context) error
		parsed, derr := codec.Decode(edited)
		if derr == nil {
			write, derr = check(parsed)
		}
		if derr != nil {
			lastErr = derr
			header = editHeader(what, derr)
			continue
		}
		if err := write(ctx); err != nil {
			keep = true
			// Checked first: a held lock is a conflict too, but nobody
			// changed the object; the write was only kept out.
			var held *state.LeaseHeldError
			if errors.As(err, &held) {
				return fmt.Errorf("%s was not written: cluster %s is locked by %s until %s (another hull command is changing it); your version is in %s: re-run the edit after that",
					what, cluster, held.Holder, held.Expires.Format(time.RFC3339), tmp)
			}
			if errors.Is(err, state.ErrConflict) {
				return fmt.Errorf("%s was changed by someone else while you edited it; nothing was written; your version is in %s: re-run the edit: %w", what, tmp, err)
			}
			return fmt.Errorf("write %s (your version is in %s): %w", what, tmp, err)
		}
		fmt.Fprintf(o.out, "Saved %s.\n", what)
		return nil
	}
}

const headerMarker = "# hull:"

func editHeader(what string, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s Please edit %s below. Lines beginning with '%s' are ignored;\n", headerMarker, what, headerMarker)
	fmt.Fprintf(&b, "%s save an unchanged file to cancel.\n", headerMarker)
	if err != nil {
		fmt.Fprintf(&b, "%s\n%s The edited object was refused:\n", headerMarker, headerMarker)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(&b, "%s   %s\n", headerMarker, strings.TrimSpace(line))
		}
	}
	return b.String()
}

func stripHeader(data []byte) []byte {
	var out [][]byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(headerMarker)) {
			continue
		}
		out = append(out, line)
	}
	return bytes.Join(out, nil)
}

// runEditor opens path with kubectl's editor: $EDITOR, else $VISUAL, else
// vi. The variable may hold arguments ("code --wait"), quoted ones too.
func runEditor(path string) error {
	if err := editor.NewDefaultEditor([]string{"EDITOR", "VISUAL"}).Launch(path); err != nil {
		return fmt.Errorf("%w (set $EDITOR to your editor)", err)
	}
	return nil
}
