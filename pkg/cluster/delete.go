package cluster

import (
	"context"
	"fmt"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/state"
)

// Deletion is what deleting the cluster deletes.
type Deletion struct {
	// Cloud names the provider; Resources are what the cluster owns there.
	Cloud     string
	Resources *cloudup.CloudResources
	// Store is the state store's URL; Objects its keys under the cluster.
	Store   string
	Objects []string
}

// PlanDelete finds what the cluster owns in the cloud and the store.
// change connects to the cloud as Delete needs it.
func (c *Cluster) PlanDelete(ctx context.Context, change bool) (*Deletion, error) {
	if _, _, err := c.Spec(ctx); err != nil {
		return nil, err
	}
	objs, err := c.reg.Store().List(ctx, c.Name+"/")
	if err != nil {
		return nil, err
	}
	p, err := c.cloud(ctx, change)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the cloud of %s to delete its resources (nothing was deleted): %w", c.Name, err)
	}
	res, err := cloudup.FindCloudResources(ctx, p, c.Name)
	if err != nil {
		return nil, err
	}
	d := &Deletion{Cloud: p.Name(), Resources: res, Store: c.reg.Store().URL()}
	for _, o := range objs {
		d.Objects = append(d.Objects, o.Key)
	}
	return d, nil
}

// Delete deletes the planned cloud resources, then the cluster's objects
// in the store; when the cloud keeps some, the spec is kept so that
// delete can run again.
func (c *Cluster) Delete(ctx context.Context, d *Deletion) error {
	p, err := c.cloud(ctx, true)
	if err != nil {
		return fmt.Errorf("cannot reach the cloud of %s to delete its resources (nothing was deleted): %w", c.Name, err)
	}
	if err := cloudup.DeleteCloudResources(ctx, p, c.Name, d.Resources, c.out); err != nil {
		return fmt.Errorf("%w; the cluster's spec was kept so delete can be re-run", err)
	}
	return c.reg.DeleteCluster(ctx, c.Name)
}

// CheckDeleteInstanceGroup refuses to delete a group the cluster cannot
// do without (its last ControlPlane or Node group, an etcd member's).
func (c *Cluster) CheckDeleteInstanceGroup(ctx context.Context, group string) error {
	spec, groups, err := c.Spec(ctx)
	if err != nil {
		return err
	}
	if _, _, err := c.reg.GetInstanceGroup(ctx, c.Name, group); err != nil {
		return err
	}
	if errs := validation.ValidateCluster(spec, withoutGroup(groups, group)); len(errs) > 0 {
		return &InvalidError{What: fmt.Sprintf("cluster %q without instance group %q", c.Name, group), Errs: errs}
	}
	return nil
}

// DeleteInstanceGroup deletes a group from the store, under the cluster's
// lease; `hull update cluster --prune` removes it from the cloud.
func (c *Cluster) DeleteInstanceGroup(ctx context.Context, group string) error {
	return c.withLock(ctx, func(ctx context.Context) error {
		return c.reg.DeleteInstanceGroup(ctx, c.Name, group, state.Unconditional())
	})
}
