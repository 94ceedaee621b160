package cluster

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

// Options are what every operation on a Cluster shares.
type Options struct {
	// Out receives the plans and progress the engines print; ErrOut
	// progress that must not mix with a command's result, and warnings.
	Out, ErrOut io.Writer
}

// Cluster is one cluster of a state store, opened for one command. Its
// spec is read and completed at most once, and its cloud connected at most
// once, when an operation first needs them: a command that needs no cloud
// never connects to one.
type Cluster struct {
	Name   string
	reg    *registry.Registry
	out    io.Writer
	errOut io.Writer

	loaded          bool
	spec            *v1alpha1.Cluster // as the user wrote it
	gen             state.Generation
	groups          []*v1alpha1.InstanceGroup
	completed       *v1alpha1.Cluster
	completedGroups []*v1alpha1.InstanceGroup

	provider cloud.Provider
	change   bool // provider was connected to change the cloud
}

// Open returns the handle of a cluster of reg. It reads nothing yet.
func Open(reg *registry.Registry, name string, o Options) *Cluster {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.ErrOut == nil {
		o.ErrOut = io.Discard
	}
	return &Cluster{Name: name, reg: reg, out: o.Out, errOut: o.ErrOut}
}

// Registry is the store the cluster lives in.
func (c *Cluster) Registry() *registry.Registry { return c.reg }

// Close releases the cloud connection, if one was made.
func (c *Cluster) Close() error {
	if c.provider == nil {
		return nil
	}
	err := c.provider.Close()
	c.provider = nil
	return err
}

// Spec is the cluster and its groups as the user wrote them.
func (c *Cluster) Spec(ctx context.Context) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, error) {
	if err := c.load(ctx); err != nil {
		return nil, nil, err
	}
	return c.spec, c.groups, nil
}

// Completed is the completed, validated spec: what the cloud is made to match.
func (c *Cluster) Completed(ctx context.Context) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, error) {
	if err := c.load(ctx); err != nil {
		return nil, nil, err
	}
	if c.completed == nil {
		cc, cigs, err := cloudup.CompleteSpec(c.spec, c.groups, c.reg.ConfigBase(c.Name))
		if err != nil {
			return nil, nil, err
		}
		c.completed, c.completedGroups = cc, cigs
	}
	return c.completed, c.completedGroups, nil
}

func (c *Cluster) load(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	spec, gen, err := c.reg.GetCluster(ctx, c.Name)
	if err != nil {
		return err
	}
	groups, err := c.reg.ListInstanceGroups(ctx, c.Name)
	if err != nil {
		return err
	}
	c.spec, c.gen, c.groups, c.completed, c.completedGroups = spec, gen, groups, nil, nil
	c.loaded = true
	return nil
}

// reload forgets the spec read so far, so that the next use reads it
// again: an operation that writes reads under the cluster's lease.
func (c *Cluster) reload() { c.loaded = false }

// withLock runs fn under the cluster's lease, with the spec read again
// under it. A cluster that does not exist is refused before the lease, so
// that no lease object outlives it.
func (c *Cluster) withLock(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := c.load(ctx); err != nil {
		return err
	}
	return c.reg.WithLock(ctx, c.Name, func(ctx context.Context) error {
		c.reload()
		return fn(ctx)
	})
}

// cloud connects to the cluster's cloud through its registered driver,
// acting for the cluster's identity (see cloud.Owner), so the provider
// refuses resources of a same-named cluster of another store. change says
// the operation creates, changes or deletes resources; one that only
// looks starts nothing and records nothing in the store.
func (c *Cluster) cloud(ctx context.Context, change bool) (cloud.Provider, error) {
	if c.provider != nil && (c.change || !change) {
		return c.provider, nil
	}
	cc, _, err := c.Completed(ctx)
	if err != nil {
		return nil, err
	}
	owner, err := c.owner(ctx, change)
	if err != nil {
		return nil, err
	}
	d, err := cloud.Lookup(cc.Spec.CloudProvider)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: spec.cloudProvider: %w", c.Name, err)
	}
	p, err := d.Connect(ctx, cc, cloud.ConnectOptions{Owner: owner, Change: change})
	if err != nil {
		return nil, err
	}
	_ = c.Close()
	c.provider, c.change = p, change
	return p, nil
}

// owner is the identity the cluster presents to the cloud. An operation
// that changes the cloud records an identity for a cluster created before
// hull kept them; one that only looks makes one up for the call when the
// store has none, so resources another store's cluster owns still look
// foreign.
func (c *Cluster) owner(ctx context.Context, record bool) (cloud.Owner, error) {
	var id string
	var err error
	if record {
		id, err = c.reg.EnsureClusterID(ctx, c.Name)
	} else if id, err = c.reg.ClusterID(ctx, c.Name); err == nil && id == "" {
		id = registry.NewClusterID()
	}
	if err != nil {
		return cloud.Owner{}, err
	}
	return cloud.Owner{Cluster: c.Name, ID: id, Store: c.reg.Store().URL()}, nil
}

// requester names this process in the requests it leaves for the etcd managers.
func requester() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("hull on %s (pid %d)", host, os.Getpid())
}
