package cluster

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/pkg/kube/kubeconfig"
	"github.com/hullproject/hull/pkg/pki"
)

// AdminKubeconfig issues admin credentials (user hull-admin in group
// system:masters) valid for ttl from the cluster's Kubernetes CA, for the
// API load balancer as this host reaches it. They live only in the
// returned config.
func (c *Cluster) AdminKubeconfig(ctx context.Context, ttl time.Duration) (*clientcmdapi.Config, error) {
	return c.adminKubeconfig(ctx, ttl, false)
}

func (c *Cluster) adminKubeconfig(ctx context.Context, ttl time.Duration, change bool) (*clientcmdapi.Config, error) {
	if _, _, err := c.Completed(ctx); err != nil {
		return nil, err
	}
	ca, err := c.reg.GetPrivateKeyset(ctx, c.Name, pki.KubernetesCA)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: read the Kubernetes CA: %w", c.Name, err)
	}
	server, err := c.apiServer(ctx, change)
	if err != nil {
		return nil, err
	}
	return kubeconfig.Admin(ctx, ca, c.Name, server, ttl)
}

// apiServer is the API load balancer as this host reaches it (host:port).
func (c *Cluster) apiServer(ctx context.Context, change bool) (string, error) {
	p, err := c.cloud(ctx, change)
	if err != nil {
		return "", err
	}
	lb, err := p.FindLoadBalancer(ctx, c.Name, cloudup.APILoadBalancerName)
	if err != nil {
		return "", fmt.Errorf("cluster %s: find the API load balancer: %w", c.Name, err)
	}
	if lb == nil || lb.HostAddress == "" {
		return "", fmt.Errorf("cluster %s has no API load balancer yet; create it with `hull update cluster %s --yes`", c.Name, c.Name)
	}
	return lb.HostAddress, nil
}

// kubeClient is a client of the cluster's API with in-memory admin
// credentials that expire after ttl; each request is bounded by timeout.
func (c *Cluster) kubeClient(ctx context.Context, ttl, timeout time.Duration, change bool) (kubernetes.Interface, error) {
	cfg, err := c.adminKubeconfig(ctx, ttl, change)
	if err != nil {
		return nil, err
	}
	rc, err := kubeconfig.RESTConfig(cfg)
	if err != nil {
		return nil, err
	}
	rc.Timeout = timeout
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: Kubernetes client: %w", c.Name, err)
	}
	return client, nil
}
