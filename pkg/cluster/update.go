package cluster

import (
	"context"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/graph"
)

// UpdateOptions control Update.
type UpdateOptions struct {
	// Yes applies the plan; otherwise it is printed and nothing changes.
	Yes bool
	// Prune deletes cloud resources that are no longer in the spec.
	Prune bool
}

// Update makes the cloud match the spec: it prints the plan, or with Yes
// applies it, reading the spec under the cluster's lease so that the plan
// applied is the plan made.
func (c *Cluster) Update(ctx context.Context, o UpdateOptions) (*graph.Plan, error) {
	if !o.Yes {
		return c.reconcile(ctx, o)
	}
	var plan *graph.Plan
	err := c.withLock(ctx, func(ctx context.Context) error {
		var err error
		plan, err = c.reconcile(ctx, o)
		return err
	})
	return plan, err
}

func (c *Cluster) reconcile(ctx context.Context, o UpdateOptions) (*graph.Plan, error) {
	spec, groups, err := c.Completed(ctx)
	if err != nil {
		return nil, err
	}
	provider, err := c.cloud(ctx, o.Yes)
	if err != nil {
		return nil, err
	}
	return cloudup.Reconcile(ctx, c.reg, provider, spec, groups, cloudup.UpdateOptions{Yes: o.Yes, Prune: o.Prune, Out: c.out})
}

// ErrNoTerraform is returned (wrapped) by Terraform for a cluster whose
// cloud has no Terraform output.
var ErrNoTerraform = cloudup.ErrNoTerraform

// Terraform writes Terraform configuration for the cluster into dir instead
// of calling the cloud (see cloudup.Terraform). A cluster whose cloud has
// no Terraform output is refused with ErrNoTerraform.
func (c *Cluster) Terraform(ctx context.Context, dir string) error {
	return c.withLock(ctx, func(ctx context.Context) error {
		spec, groups, err := c.Completed(ctx)
		if err != nil {
			return err
		}
		return cloudup.Terraform(ctx, c.reg, spec, groups, cloudup.TerraformOptions{Dir: dir, Out: c.out})
	})
}
