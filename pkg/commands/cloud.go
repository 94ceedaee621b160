package commands

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
)

// EnvLocalCloudDir moves the local cloud's state (and its socket) away from
// /var/lib/hull/local-cloud, for tests and for running several side by side.
const EnvLocalCloudDir = local.EnvStateDir

// cloudAccess says what a command does to a cluster's cloud.
type cloudAccess int

const (
	// readCloud: the command only looks (a plan, a listing). It starts no
	// daemon and records nothing in the store.
	readCloud cloudAccess = iota
	// changeCloud: the command creates, changes or deletes resources.
	changeCloud
)

// providerFor connects to the cloud a cluster runs on, through the cloud's
// registered driver, acting for the cluster's identity (see cloud.Owner),
// so the provider refuses resources of a same-named cluster of another
// store. The driver builds its client from the completed spec.
func providerFor(ctx context.Context, reg *registry.Registry, c *v1alpha1.Cluster, access cloudAccess) (cloud.Provider, func(), error) {
	name := c.Metadata.Name
	owner, err := ownerFor(ctx, reg, name, access == changeCloud)
	if err != nil {
		return nil, nil, err
	}
	cc, _, err := cloudup.Complete(ctx, reg, name)
	if err != nil {
		return nil, nil, err
	}
	d, err := cloud.Lookup(cc.Spec.CloudProvider)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: spec.cloudProvider: %w", name, err)
	}
	p, err := d.Connect(ctx, cc, cloud.ConnectOptions{Owner: owner, Change: access == changeCloud})
	if err != nil {
		return nil, nil, err
	}
	return p, func() { p.Close() }, nil
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
