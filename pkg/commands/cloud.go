package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/cloudup/cloud"
	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/registry"
)

// EnvLocalCloudDir moves the local cloud's state (and its socket) away from
// /var/lib/hull/local-cloud, for tests and for running several side by side.
const EnvLocalCloudDir = "HULL_LOCAL_CLOUD_DIR"

// localCloudOptions says where the local cloud daemon lives.
func localCloudOptions() local.ClientOptions {
	o := local.ClientOptions{StateDir: local.DefaultStateDir, Socket: local.DefaultSocket}
	if dir := os.Getenv(EnvLocalCloudDir); dir != "" {
		o.StateDir = dir
		o.Socket = filepath.Join(dir, "daemon.sock")
	}
	return o
}

// connectLocal reaches the local cloud daemon, starting it when needed.
func connectLocal(ctx context.Context) (*local.Client, error) {
	if err := sandbox.RequireRoot(); err != nil {
		return nil, err
	}
	o := localCloudOptions()
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the hull binary to start the local cloud daemon: %w", err)
	}
	o.DaemonCommand = []string{self, "local-cloud", "daemon", "--state-dir", o.StateDir, "--socket", o.Socket}
	return local.Connect(ctx, o)
}

// cloudAccess says what a command does to a cluster's cloud.
type cloudAccess int

const (
	// readCloud: the command only looks (a plan, a listing). It starts no
	// daemon and records nothing in the store.
	readCloud cloudAccess = iota
	// changeCloud: the command creates, changes or deletes resources.
	changeCloud
)

// providerFor connects to the cloud a cluster runs on, acting for the
// cluster's identity (see cloud.Owner), so the provider refuses resources
// of a same-named cluster of another store. The aws provider is built from
// the completed spec (topology, subnets, access lists).
func providerFor(ctx context.Context, reg *registry.Registry, c *v1alpha1.Cluster, access cloudAccess) (cloud.Provider, func(), error) {
	name := c.Metadata.Name
	owner, err := ownerFor(ctx, reg, name, access == changeCloud)
	if err != nil {
		return nil, nil, err
	}
	switch c.Spec.CloudProvider {
	case v1alpha1.CloudLocal, "":
		var cl *local.Client
		if access == changeCloud {
			cl, err = connectLocal(ctx)
		} else {
			cl, err = viewLocal(ctx)
		}
		if err != nil {
			return nil, nil, err
		}
		cl = cl.ForCluster(owner)
		return cl, func() { cl.Close() }, nil
	case v1alpha1.CloudAWS:
		cc, _, err := cloudup.Complete(ctx, reg, name)
		if err != nil {
			return nil, nil, err
		}
		p, err := aws.New(ctx, cc, aws.Options{Owner: owner})
		if err != nil {
			return nil, nil, fmt.Errorf("connect to AWS for cluster %s: %w", name, err)
		}
		return p, func() {}, nil
	}
	return nil, nil, fmt.Errorf("cluster %s: unknown spec.cloudProvider %q", name, c.Spec.CloudProvider)
}

// ownerFor is the identity a command presents to the cloud. One that
// changes the cloud records an identity for a cluster created before hull
// kept them; one that only looks makes one up for the call when the store
// has none, so resources another store's cluster owns still look foreign.
func ownerFor(ctx context.Context, reg *registry.Registry, cluster string, record bool) (cloud.Owner, error) {
	var id string
	var err error
	if record {
		id, err = reg.EnsureClusterID(ctx, cluster)
	} else if id, err = reg.ClusterID(ctx, cluster); err == nil && id == "" {
		id = registry.NewClusterID()
	}
	if err != nil {
		return cloud.Owner{}, err
	}
	return cloud.Owner{Cluster: cluster, ID: id, Store: reg.Store().URL()}, nil
}

// viewLocal reaches a running local cloud daemon, or reads its state file
// when none runs: commands that only look never start one.
func viewLocal(ctx context.Context) (*local.Client, error) {
	o := localCloudOptions()
	if cl, err := local.Connect(ctx, o); err == nil {
		return cl, nil
	}
	return local.OpenReadOnly(o.StateDir)
}

func newLocalCloudCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local-cloud",
		Short: "Run the local cloud daemon (hull starts it on demand)",
	}
	def := localCloudOptions()
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
