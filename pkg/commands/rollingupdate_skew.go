package commands

import (
	"context"
	"fmt"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/rollingupdate"
)

// printHeldNodeGroups tells a dry run that node groups wait for the
// control plane: the plan shows them up to date, yet --yes will roll them.
func (o *rootOptions) printHeldNodeGroups(ctx context.Context, reg *registry.Registry, provider cloud.Provider, name string, opts rollingupdate.Options) error {
	_, holds, err := heldNodeGroups(ctx, reg, provider, name)
	if err != nil || len(holds) == 0 {
		return err
	}
	for _, h := range holds {
		fmt.Fprintf(o.out, "Version skew: %s.\n", h)
	}
	if len(opts.Groups) == 0 && len(opts.Roles) == 0 {
		fmt.Fprintln(o.out, "With --yes, the control plane is rolled first; then the held node groups are updated and rolled too.")
	}
	fmt.Fprintln(o.out)
	return nil
}

// rollControlPlaneFirst finishes a version change that `hull update` held
// back: node groups stay at the old version until every control-plane
// machine runs the new one (cloudup.HoldNodeGroups). When the run covers the
// whole cluster, it rolls the bastions and the control plane, applies the
// held node groups' launch configs, and leaves the node groups to the main
// run, so one `rolling-update --yes` completes the upgrade in the safe order.
func (o *rootOptions) rollControlPlaneFirst(ctx context.Context, reg *registry.Registry, provider cloud.Provider, name string, t rollingupdate.Target, opts rollingupdate.Options) error {
	c, holds, err := heldNodeGroups(ctx, reg, provider, name)
	if err != nil || len(holds) == 0 {
		return err
	}
	for _, h := range holds {
		fmt.Fprintf(o.out, "Version skew: %s.\n", h)
	}
	if len(opts.Groups) > 0 || len(opts.Roles) > 0 {
		fmt.Fprintf(o.out, "Only the selected groups are rolled; roll the control plane, then run 'hull update cluster %s --yes' to move the node groups.\n", name)
		return nil
	}
	progress := output.NewProgress(o.out)
	progress.Step("Rolling the control plane to Kubernetes %s before the node groups", c.Spec.KubernetesVersion)
	cp := opts
	cp.Roles = []string{string(v1alpha1.RoleBastion), string(v1alpha1.RoleControlPlane)}
	if _, err := rollingupdate.Run(ctx, t, cp); err != nil {
		return fmt.Errorf("roll the control plane before the node groups: %w", err)
	}
	progress.Step("Control plane runs Kubernetes %s; updating the held node groups' launch configurations", c.Spec.KubernetesVersion)
	if _, err := cloudup.Update(ctx, reg, provider, name, cloudup.UpdateOptions{Yes: true, Out: o.out}); err != nil {
		return fmt.Errorf("update the node groups after the control plane: %w", err)
	}
	return nil
}

// heldNodeGroups returns the completed cluster and the node groups
// `hull update` holds back for the control plane.
func heldNodeGroups(ctx context.Context, reg *registry.Registry, provider cloud.Provider, name string) (*v1alpha1.Cluster, []cloudup.NodeGroupHold, error) {
	c, igs, err := cloudup.Complete(ctx, reg, name)
	if err != nil {
		return nil, nil, err
	}
	holds, err := cloudup.HoldNodeGroups(ctx, provider, reg.Store(), c, igs)
	return c, holds, err
}
