package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

// Exit codes, as documented in docs/cli.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// EnvClusterName names the cluster when a command is given none.
const EnvClusterName = "HULL_CLUSTER_NAME"

// Version is stamped by the Makefile: -ldflags "-X github.com/hullproject/hull/pkg/commands.Version=...".
var Version = "dev"

// usageError marks a mistake in how the command was called (exit 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Main runs hull with args and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCommand(in, out, errOut)
	root.SetArgs(args)
	if _, err := root.ExecuteContextC(ctx); err != nil {
		fmt.Fprintf(errOut, "Error: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(errOut, "Run '%s --help' for usage.\n", commandPath(root, args))
			return ExitUsage
		}
		return ExitFailure
	}
	return ExitOK
}

// commandPath finds the subcommand the user meant, for the usage hint.
func commandPath(root *cobra.Command, args []string) string {
	if c, _, err := root.Find(args); err == nil {
		return c.CommandPath()
	}
	return root.Name()
}

// rootOptions are the global flags every command sees.
type rootOptions struct {
	stateURL string
	// memStateOK lets a test that runs commands in process use a mem://
	// store, which the real CLI refuses. There is no flag for it.
	memStateOK bool
	in         io.Reader
	out        io.Writer
	errOut     io.Writer
}

// NewRootCommand builds the whole command tree.
func NewRootCommand(in io.Reader, out, errOut io.Writer) *cobra.Command {
	o := &rootOptions{in: in, out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   "hull",
		Short: "hull creates, upgrades and repairs production Kubernetes clusters",
		Long: `hull creates, upgrades and repairs production Kubernetes clusters.

The desired cluster lives in a state store (--state, else $HULL_STATE, else a
directory under $XDG_DATA_HOME/hull/state). hull update makes the cloud match it.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().StringVar(&o.stateURL, "state", "", "state store URL (file://, s3://, gs://, azblob://); default $HULL_STATE, else file://$XDG_DATA_HOME/hull/state")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		newVersionCommand(o),
		newCreateCommand(o),
		newReplaceCommand(o),
		newGetCommand(o),
		newEditCommand(o),
		newDeleteCommand(o),
		newUpdateCommand(o),
		newImageCommand(o),
		newAssetsCommand(o),
		newValidateCommand(o),
		newExportCommand(o),
		newUpgradeCommand(o),
		newRollingUpdateCommand(o),
		newBackupCommand(o),
		newLocalCloudCommand(),
	)
	// Added now rather than at Execute so docs/cli documents them too.
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	markUsageErrors(root)
	disableAutoGenTag(root)
	return root
}

// disableAutoGenTag keeps the generation date out of docs/cli, so the docs
// test compares content only.
func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}

// markUsageErrors makes argument-count errors exit 2 like flag errors do.
func markUsageErrors(c *cobra.Command) {
	if c.Args != nil {
		args := c.Args
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
		// A bare group like `hull get` with an unknown noun is a usage error.
		c.Args = func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usagef("unknown command %q for %q; choose one of: %s", a[0], cmd.CommandPath(), strings.Join(subcommandNames(cmd), ", "))
			}
			return nil
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			return usagef("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(subcommandNames(cmd), ", "))
		}
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}

func subcommandNames(c *cobra.Command) []string {
	var names []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	return names
}

// openRegistry opens the state store named by --state or its defaults.
func (o *rootOptions) openRegistry(ctx context.Context) (*registry.Registry, error) {
	url, err := state.ResolveURL(o.stateURL)
	if err != nil {
		return nil, err
	}
	if u, err := neturl.Parse(url); err == nil && u.Scheme == "mem" && !o.memStateOK {
		return nil, fmt.Errorf("state store %q: mem:// lives only inside one process, so whatever this command wrote would vanish when it exits; use file:///path or s3://bucket (set by --state or $HULL_STATE)", url)
	}
	store, err := state.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return registry.New(store), nil
}

// openCluster opens the store and the named cluster for one command; the
// caller closes it.
func (o *rootOptions) openCluster(ctx context.Context, name string) (*cluster.Cluster, error) {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return nil, err
	}
	return cluster.Open(reg, name, cluster.Options{Out: o.out, ErrOut: o.errOut}), nil
}

// clusterName takes the name from a positional argument, --name, or $HULL_CLUSTER_NAME.
func clusterName(args []string, flag string) (string, error) {
	switch {
	case len(args) > 0 && args[0] != "":
		if flag != "" && flag != args[0] {
			return "", usagef("cluster name given twice: argument %q and --name %q", args[0], flag)
		}
		return args[0], nil
	case flag != "":
		return flag, nil
	case os.Getenv(EnvClusterName) != "":
		return os.Getenv(EnvClusterName), nil
	}
	return "", usagef("cluster name required: pass it as an argument or --name, or set %s", EnvClusterName)
}

func newVersionCommand(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the hull version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(o.out, "hull %s\n", Version)
			return err
		},
	}
}
