package cluster

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hullproject/hull/pkg/images"
)

// imageRegistry is a cloud that runs an OCI registry for its clusters
// (the local cloud does), which machines use as every host's mirror.
type imageRegistry interface {
	// ImageRegistry is the registry's host:port as this host reaches it.
	ImageRegistry(ctx context.Context) (string, error)
}

// ImageRegistry is the registry of the cluster's cloud, as this host
// reaches it; it starts the cloud's daemon where one is needed.
func (c *Cluster) ImageRegistry(ctx context.Context) (string, error) {
	p, err := c.cloud(ctx, true)
	if err != nil {
		return "", err
	}
	r, ok := p.(imageRegistry)
	if !ok {
		return "", fmt.Errorf("cluster %s: cloud %s runs no image registry of its own; push images to the registry spec.assets.containerRegistry or spec.containerd.registryMirrors name", c.Name, p.Name())
	}
	addr, err := r.ImageRegistry(ctx)
	if err != nil {
		return "", fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return addr, nil
}

// LoadImages pushes every image of the tarballs into the cluster's
// registry under its own name; nothing is pushed unless every image
// reads back whole.
func (c *Cluster) LoadImages(ctx context.Context, tarballs []string, progress images.Progress) ([]images.Result, error) {
	reg, err := c.ImageRegistry(ctx)
	if err != nil {
		return nil, err
	}
	return images.LoadTarballs(ctx, reg, tarballs, progress)
}

// PushImage pushes the image of an OCI layout directory named ref (or
// its only image) into the cluster's registry as ref.
func (c *Cluster) PushImage(ctx context.Context, ref, layoutDir string, progress images.Progress) ([]images.Result, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	srcs, err := images.ReadLayout(layoutDir, r)
	if err != nil {
		return nil, err
	}
	reg, err := c.ImageRegistry(ctx)
	if err != nil {
		return nil, err
	}
	return images.PushAll(ctx, reg, srcs, progress)
}
