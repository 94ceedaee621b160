package completion

import (
	"time"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Cluster-wide defaults. Where hull has no reason to differ, each is the value
// kops chooses, so a kops user finds the cluster shape they expect.
const (
	// DefaultCloudProvider is the embedded local cloud: a spec that names no
	// provider runs on this host and needs no cloud account.
	DefaultCloudProvider = cloud.DefaultName

	// DefaultChannel is the channel whose Kubernetes versions and images are
	// released together after testing.
	DefaultChannel = "stable"

	// DefaultNetworkCIDR is kops's default network. It sits outside the
	// 10.0.0.0/8 and 192.168.0.0/16 ranges most offices and homes use, so a
	// VPN to the cluster rarely clashes with the operator's own network.
	DefaultNetworkCIDR = "172.20.0.0/16"

	// DefaultPodCIDR comes from the carrier-grade NAT range 100.64.0.0/10,
	// which no VPC or LAN uses, so a pod address never shadows a real host.
	DefaultPodCIDR = "100.96.0.0/11"

	// DefaultServiceClusterIPRange is in the same CGNAT range, below the pod
	// range and not overlapping it.
	DefaultServiceClusterIPRange = "100.64.0.0/13"

	// DefaultTopology gives machines public addresses: the simplest cluster to
	// reach. A private topology needs utility subnets and usually a bastion.
	DefaultTopology = v1alpha1.TopologyPublic

	// DefaultClusterDNSDomain is the suffix every Kubernetes tool and manifest
	// assumes for in-cluster names.
	DefaultClusterDNSDomain = "cluster.local"

	// DefaultAPILoadBalancerType keeps the API reachable from the operator's
	// laptop. kops keeps Public even in a private topology; so does hull.
	DefaultAPILoadBalancerType = v1alpha1.LoadBalancerPublic

	// APIPublicNamePrefix makes the API name api.<cluster>, as in kops; the
	// cluster name is a DNS name the user owns.
	APIPublicNamePrefix = "api."

	// BastionPublicNamePrefix makes the bastion name bastion.<cluster>, as in kops.
	BastionPublicNamePrefix = "bastion."

	// DefaultEtcdVersion is the etcd release the probe built and ran together
	// with the Kubernetes binaries; other versions are untested.
	DefaultEtcdVersion = "3.6.16"

	// DefaultEtcdBackupInterval bounds the data lost by a restore to 15
	// minutes, at the cost of one snapshot upload per interval (DESIGN.md).
	DefaultEtcdBackupInterval = 15 * time.Minute

	// DefaultBackupKeepAllFor keeps every backup of the last hour, so a
	// mistake noticed quickly can be undone to within one interval.
	DefaultBackupKeepAllFor = time.Hour

	// DefaultBackupHourlyFor keeps one backup per hour for a week (168h).
	DefaultBackupHourlyFor = 7 * 24 * time.Hour

	// DefaultBackupDailyFor keeps one backup per day for 90 days (2160h).
	DefaultBackupDailyFor = 90 * 24 * time.Hour

	// DefaultMaxUnavailable replaces one machine at a time: the safe, kops
	// default when a group does not surge. maxSurge is left unset on purpose:
	// the rolling-update code picks it per provider.
	DefaultMaxUnavailable = 1

	// DefaultMaxUnavailableWhenSurging is kops's default when the user asked
	// for a non-zero maxSurge: surge capacity replaces machines, so none is
	// taken away first.
	DefaultMaxUnavailableWhenSurging = 0
)

// Instance group defaults.
const (
	// DefaultControlPlaneGroupSize is one machine: a control-plane group is
	// one etcd member, and etcd membership must not change with scaling.
	DefaultControlPlaneGroupSize = 1

	// DefaultBastionGroupSize is one machine: a bastion is a door, not capacity.
	DefaultBastionGroupSize = 1

	// DefaultNodeGroupSize is two machines, the smallest group that keeps a
	// replicated workload running while one node is drained.
	DefaultNodeGroupSize = 2

	// ImagePrefix starts the name of the image holding one Kubernetes
	// version; each cloud's driver makes its image name from it (the local
	// cloud builds images under exactly this name).
	ImagePrefix = "hull-kubernetes-"
)

// Subnet carving, as kops does it: the network is cut into eighths ("big"
// ranges, /19s of a /16) for Public and Private subnets; the first eighth is
// kept back and cut into eighths again ("little" ranges, /22s of a /16) for
// Utility subnets, which hold only load balancers and bastions.
const (
	bigSubnetExtraBits    = 3
	littleSubnetExtraBits = 3
)
