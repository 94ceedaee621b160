package commands

import (
	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/cloudup/local/sandbox"
)

// EnvLocalCloudDir moves the local cloud's state (and its socket) away from
// /var/lib/hull/local-cloud, for tests and for running several side by side.
const EnvLocalCloudDir = local.EnvStateDir

func newLocalCloudCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local-cloud",
		Short: "Run the local cloud daemon (hull starts it on demand)",
	}
	def := local.Options()
	var stateDir, socket string
	daemon := &cobra.Command{
		Use:   "daemon",
		Short: "Run the local cloud daemon in the foreground",
		Long: `Run the local cloud daemon: it owns the networks, machines, instance groups
and load balancers of local clusters on this host. hull starts it on demand;
run it yourself to supervise it (for example from a systemd unit). Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sandbox.RequireRoot(); err != nil {
				return err
			}
			return local.RunDaemon(cmd.Context(), local.DaemonOptions{StateDir: stateDir, Socket: socket})
		},
	}
	daemon.Flags().StringVar(&stateDir, "state-dir", def.StateDir, "where the daemon keeps machines, images and its state ($"+EnvLocalCloudDir+")")
	daemon.Flags().StringVar(&socket, "socket", def.Socket, "unix socket of the daemon's API")
	cmd.AddCommand(daemon)
	return cmd
}
