package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/rollingupdate"
)

const (
	// rollingUpdateRequestTimeout bounds each Kubernetes API request.
	rollingUpdateRequestTimeout = 30 * time.Second
	// rollingUpdateCredentialTTL is how long the in-memory admin
	// certificate of a rolling update lives.
	rollingUpdateCredentialTTL = 24 * time.Hour
	// rollingUpdateBackupTimeout bounds each etcd backup taken before a
	// lone etcd member's machine is replaced.
	rollingUpdateBackupTimeout = 10 * time.Minute
)

// Roll is a planned rolling update.
type Roll struct {
	Plan *rollingupdate.Plan
	// Holds are the node groups `hull update` holds at an older Kubernetes
	// version until the control plane runs the new one: the plan shows
	// them up to date, yet RollingUpdate rolls them after the control plane.
	Holds []cloudup.NodeGroupHold

	target rollingupdate.Target
	opts   rollingupdate.Options
}

// PlanRollingUpdate reads the cloud (and, unless o.CloudOnly, the nodes)
// and plans which machines to replace; yes connects as RollingUpdate needs.
// A group the options name that does not exist is a
// *rollingupdate.UnknownGroupError.
func (c *Cluster) PlanRollingUpdate(ctx context.Context, o rollingupdate.Options, yes bool) (*Roll, error) {
	spec, groups, err := c.Spec(ctx)
	if err != nil {
		return nil, err
	}
	t := rollingupdate.Target{Spec: spec, InstanceGroups: groups, Store: c.reg.Store(), CanSurge: true}
	t.BackupEtcd = func(ctx context.Context) error {
		return c.backupAll(ctx, etcdClusterNames(spec), rollingUpdateBackupTimeout)
	}
	if !o.CloudOnly {
		if t.Kube, err = c.kubeClient(ctx, rollingUpdateCredentialTTL, rollingUpdateRequestTimeout, yes); err != nil {
			return nil, err
		}
	}
	p, err := c.cloud(ctx, yes)
	if err != nil {
		return nil, err
	}
	t.Cloud = p
	plan, err := rollingupdate.LoadPlan(ctx, t, o)
	if err != nil {
		return nil, err
	}
	cc, igs, err := c.Completed(ctx)
	if err != nil {
		return nil, err
	}
	holds, err := cloudup.HoldNodeGroups(ctx, p, c.reg.Store(), cc, igs)
	if err != nil {
		return nil, err
	}
	return &Roll{Plan: plan, Holds: holds, target: t, opts: o}, nil
}

// RollingUpdate replaces the planned machines. When `hull update` held
// node groups back for the control plane and the run covers the whole
// cluster, it rolls the bastions and the control plane first, applies the
// held groups' launch configs, then rolls the node groups: one run
// completes a version change in the safe order.
func (c *Cluster) RollingUpdate(ctx context.Context, r *Roll) error {
	o := r.opts
	o.Out = c.out
	if err := c.rollControlPlaneFirst(ctx, r, o); err != nil {
		return err
	}
	_, err := rollingupdate.Run(ctx, r.target, o)
	return err
}

func (c *Cluster) rollControlPlaneFirst(ctx context.Context, r *Roll, o rollingupdate.Options) error {
	if len(r.Holds) == 0 {
		return nil
	}
	for _, h := range r.Holds {
		fmt.Fprintf(c.out, "Version skew: %s.\n", h)
	}
	if len(o.Groups) > 0 || len(o.Roles) > 0 {
		fmt.Fprintf(c.out, "Only the selected groups are rolled; roll the control plane, then run 'hull update cluster %s --yes' to move the node groups.\n", c.Name)
		return nil
	}
	spec, _, err := c.Completed(ctx)
	if err != nil {
		return err
	}
	version := spec.Spec.KubernetesVersion
	progress := output.NewProgress(c.out)
	progress.Step("Rolling the control plane to Kubernetes %s before the node groups", version)
	cp := o
	cp.Roles = []string{string(v1alpha1.RoleBastion), string(v1alpha1.RoleControlPlane)}
	if _, err := rollingupdate.Run(ctx, r.target, cp); err != nil {
		return fmt.Errorf("roll the control plane before the node groups: %w", err)
	}
	progress.Step("Control plane runs Kubernetes %s; updating the held node groups' launch configurations", version)
	if _, err := c.Update(ctx, UpdateOptions{Yes: true}); err != nil {
		return fmt.Errorf("update the node groups after the control plane: %w", err)
	}
	return nil
}
