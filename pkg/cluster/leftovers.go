package cluster

import (
	"context"
	"fmt"
)

// Leftovers lists the objects under the cluster's prefix; the caller asks
// when the cluster's config is gone. They are what a delete killed after
// it removed the config (it removes the config first), or a create killed
// before it wrote it, left behind: private keys among them.
func (c *Cluster) Leftovers(ctx context.Context) ([]string, error) {
	objs, err := c.reg.Store().List(ctx, c.Name+"/")
	if err != nil {
		return nil, fmt.Errorf("list the objects of cluster %s: %w", c.Name, err)
	}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys, nil
}

// RemoveLeftovers deletes them, so running delete again after a kill
// converges.
func (c *Cluster) RemoveLeftovers(ctx context.Context) error {
	return c.reg.DeleteCluster(ctx, c.Name)
}
