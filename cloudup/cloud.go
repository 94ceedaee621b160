package cloudup

import (
	"context"

	"github.com/hullproject/hull/pkg/cloud"
)

// Cloud is what an update does to a cloud: the model's tasks find and
// ensure the network, images, launch configs, groups and the API load
// balancer (and its DNS record); the version-skew rules list machines;
// pruning deletes groups and launch configs. A provider's connected client
// (cloud.Provider) has these methods and more.
type Cloud interface {
	Name() string
	FindNetwork(ctx context.Context, cluster string) (*cloud.Network, error)
	EnsureNetwork(ctx context.Context, n *cloud.Network) (*cloud.Network, error)
	FindImage(ctx context.Context, name string) (*cloud.Image, error)
	FindLaunchConfigs(ctx context.Context, cluster string) ([]*cloud.LaunchConfig, error)
	EnsureLaunchConfig(ctx context.Context, lc *cloud.LaunchConfig) error
	DeleteLaunchConfig(ctx context.Context, cluster, group string) error
	FindInstanceGroups(ctx context.Context, cluster string) ([]*cloud.InstanceGroup, error)
	EnsureInstanceGroup(ctx context.Context, g *cloud.InstanceGroup) error
	DeleteInstanceGroup(ctx context.Context, cluster, name string) error
	ListInstances(ctx context.Context, cluster string) ([]*cloud.Instance, error)
	FindLoadBalancer(ctx context.Context, cluster, name string) (*cloud.LoadBalancer, error)
	EnsureLoadBalancer(ctx context.Context, lb *cloud.LoadBalancer) (*cloud.LoadBalancer, error)
	LoadBalancerHost(ctx context.Context, cluster, name string) (string, error)
	DNS() cloud.DNS
}

// DeleteCloud is what deleting a cluster's cloud resources needs: find
// each kind, delete each kind.
type DeleteCloud interface {
	FindNetwork(ctx context.Context, cluster string) (*cloud.Network, error)
	DeleteNetwork(ctx context.Context, cluster string) error
	FindLaunchConfigs(ctx context.Context, cluster string) ([]*cloud.LaunchConfig, error)
	DeleteLaunchConfig(ctx context.Context, cluster, group string) error
	FindInstanceGroups(ctx context.Context, cluster string) ([]*cloud.InstanceGroup, error)
	DeleteInstanceGroup(ctx context.Context, cluster, name string) error
	FindLoadBalancer(ctx context.Context, cluster, name string) (*cloud.LoadBalancer, error)
	DeleteLoadBalancer(ctx context.Context, cluster, name string) error
	FindExtras(ctx context.Context, cluster string) ([]string, error)
}
