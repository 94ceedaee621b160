package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// API identity.
const (
	GroupVersion      = "hull.dev/v1alpha1"
	KindCluster       = "Cluster"
	KindInstanceGroup = "InstanceGroup"

	// LabelCluster ties an InstanceGroup document to its Cluster.
	LabelCluster = "hull.dev/cluster"
)

// Cloud providers.
const (
	CloudLocal = "local"
	CloudAWS   = "aws"
)

// Topologies.
const (
	TopologyPublic  = "public"
	TopologyPrivate = "private"
)

// SubnetType says how a subnet reaches the internet.
type SubnetType string

// Subnet types, as kops names them.
const (
	SubnetPublic  SubnetType = "Public"
	SubnetPrivate SubnetType = "Private"
	// SubnetUtility holds load balancers and bastions in a private topology.
	SubnetUtility SubnetType = "Utility"
)

// LoadBalancerType says who can reach the API load balancer.
type LoadBalancerType string

// Load balancer types.
const (
	LoadBalancerPublic   LoadBalancerType = "Public"
	LoadBalancerInternal LoadBalancerType = "Internal"
)

// InstanceGroupRole is what the machines of a group become.
type InstanceGroupRole string

// Instance group roles.
const (
	RoleControlPlane InstanceGroupRole = "ControlPlane"
	RoleNode         InstanceGroupRole = "Node"
	RoleBastion      InstanceGroupRole = "Bastion"
)

// TypeMeta names the kind and API version of a document.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ObjectMeta is the identity of a hull object. It is deliberately smaller than
// Kubernetes' ObjectMeta: generations live in the state store, not the object.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Cluster is the desired state of one Kubernetes cluster.
type Cluster struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ClusterSpec `json:"spec"`
}

// ClusterSpec is what the user asks for. Zero values mean "hull chooses";
// completion fills them into the completed spec, never into the user's copy.
type ClusterSpec struct {
	CloudProvider     string `json:"cloudProvider,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// Channel is a channel name (stable, alpha), a file:// path or an https:// URL.
	Channel string `json:"channel,omitempty"`
	// ConfigBase is the state store location of this cluster; set by completion.
	ConfigBase string `json:"configBase,omitempty"`

	Networking   NetworkingSpec    `json:"networking"`
	API          APISpec           `json:"api,omitempty"`
	EtcdClusters []EtcdClusterSpec `json:"etcdClusters,omitempty"`

	KubeAPIServer         *KubeAPIServerSpec         `json:"kubeAPIServer,omitempty"`
	KubeControllerManager *KubeControllerManagerSpec `json:"kubeControllerManager,omitempty"`
	KubeScheduler         *KubeSchedulerSpec         `json:"kubeScheduler,omitempty"`
	Kubelet               *KubeletSpec               `json:"kubelet,omitempty"`

	RollingUpdate *RollingUpdate  `json:"rollingUpdate,omitempty"`
	Assets        *AssetsSpec     `json:"assets,omitempty"`
	Containerd    *ContainerdSpec `json:"containerd,omitempty"`
	Bastion       *BastionSpec    `json:"bastion,omitempty"`

	// SSHAccess and KubernetesAPIAccess are the CIDRs allowed to reach SSH
	// (bastion or nodes) and the API load balancer.
	SSHAccess           []string `json:"sshAccess,omitempty"`
	KubernetesAPIAccess []string `json:"kubernetesAPIAccess,omitempty"`

	// DNSZone is the Route 53 hosted zone, by id (Z0123456789ABCDEFGHIJ) or
	// by name (example.com), that holds an alias record from
	// spec.api.publicName to the API load balancer; machines and
	// kubeconfigs then reach the API at that name. Without it hull makes
	// no DNS record: they reach the API at the load balancer's own DNS
	// name, which the apiserver certificate carries. aws only.
	DNSZone string `json:"dnsZone,omitempty"`
	// SSHKeyName is an existing EC2 key pair that machines accept for SSH
	// (aws only).
	SSHKeyName string `json:"sshKeyName,omitempty"`
	// SSHPublicKey is an OpenSSH public key ("ssh-ed25519 AAAA... comment")
	// that hull imports as the EC2 key pair of the cluster (aws only);
	// `hull create cluster --ssh-public-key FILE` sets it.
	SSHPublicKey string `json:"sshPublicKey,omitempty"`
}

// NetworkingSpec describes the cluster network and its subnets.
type NetworkingSpec struct {
	// NetworkID adopts an existing network (an AWS VPC id) instead of creating one.
	NetworkID             string       `json:"networkID,omitempty"`
	NetworkCIDR           string       `json:"networkCIDR,omitempty"`
	PodCIDR               string       `json:"podCIDR,omitempty"`
	ServiceClusterIPRange string       `json:"serviceClusterIPRange,omitempty"`
	Topology              string       `json:"topology,omitempty"`
	Subnets               []SubnetSpec `json:"subnets,omitempty"`
	// ClusterDNSDomain is the in-cluster DNS suffix (cluster.local).
	ClusterDNSDomain string `json:"clusterDNSDomain,omitempty"`
}

// SubnetSpec is one subnet in one zone.
type SubnetSpec struct {
	Name string     `json:"name"`
	Zone string     `json:"zone"`
	CIDR string     `json:"cidr,omitempty"`
	Type SubnetType `json:"type"`
	// ID adopts an existing subnet.
	ID string `json:"id,omitempty"`
}

// APISpec describes how clients reach the Kubernetes API.
type APISpec struct {
	LoadBalancer *LoadBalancerSpec `json:"loadBalancer,omitempty"`
	// PublicName is the DNS name clients use; completion sets api.<cluster>.
	PublicName     string   `json:"publicName,omitempty"`
	AdditionalSANs []string `json:"additionalSANs,omitempty"`
}

// LoadBalancerSpec configures the API load balancer.
type LoadBalancerSpec struct {
	Type LoadBalancerType `json:"type"`
}

// EtcdClusterSpec is one etcd cluster (main or events).
type EtcdClusterSpec struct {
	Name    string           `json:"name"`
	Version string           `json:"version,omitempty"`
	Members []EtcdMemberSpec `json:"members"`
	Backups *EtcdBackupSpec  `json:"backups,omitempty"`
}

// EtcdMemberSpec places one etcd member on one control-plane instance group.
type EtcdMemberSpec struct {
	Name          string `json:"name"`
	InstanceGroup string `json:"instanceGroup"`
}

// EtcdBackupSpec configures scheduled backups into the state store.
type EtcdBackupSpec struct {
	Interval  *metav1.Duration `json:"interval,omitempty"`
	Retention *BackupRetention `json:"retention,omitempty"`
}

// BackupRetention says which backups survive: every backup younger than
// KeepAllFor, the oldest per hour younger than HourlyFor, the oldest per day
// younger than DailyFor. The newest backup is never deleted.
type BackupRetention struct {
	KeepAllFor *metav1.Duration `json:"keepAllFor,omitempty"`
	HourlyFor  *metav1.Duration `json:"hourlyFor,omitempty"`
	DailyFor   *metav1.Duration `json:"dailyFor,omitempty"`
}

// KubeAPIServerSpec configures kube-apiserver.
type KubeAPIServerSpec struct {
	ExtraArgs map[string]string `json:"extraArgs,omitempty"`
}

// KubeControllerManagerSpec configures kube-controller-manager.
type KubeControllerManagerSpec struct {
	ExtraArgs map[string]string `json:"extraArgs,omitempty"`
}

// KubeSchedulerSpec configures kube-scheduler.
type KubeSchedulerSpec struct {
	ExtraArgs map[string]string `json:"extraArgs,omitempty"`
}

// KubeletSpec configures the kubelet on every machine.
type KubeletSpec struct {
	ExtraArgs map[string]string `json:"extraArgs,omitempty"`
	MaxPods   *int32            `json:"maxPods,omitempty"`
}

// RollingUpdate bounds how many machines a rolling update adds or removes at once.
type RollingUpdate struct {
	MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// AssetsSpec says where machines fetch binaries and images from.
type AssetsSpec struct {
	Repository string `json:"repository,omitempty"`
	// ContainerRegistry, as kops means it: every image reference is
	// rewritten to this registry (host[:port][/path], no scheme), so an
	// air-gapped cluster pulls every image from it and from nowhere else.
	ContainerRegistry string `json:"containerRegistry,omitempty"`
}

// RegistryMirrorsAll is the registryMirrors key that stands for every
// registry host not named on its own.
const RegistryMirrorsAll = "*"

// ContainerdSpec configures containerd on every machine.
type ContainerdSpec struct {
	// RegistryMirrors maps a registry host (docker.io, registry.k8s.io,
	// host:port, or "*" for every host) to the mirrors containerd tries,
	// in order, before the host itself: http:// or https:// URLs.
	RegistryMirrors map[string][]string `json:"registryMirrors,omitempty"`
}

// BastionSpec configures the bastion of a private topology.
type BastionSpec struct {
	PublicName string `json:"publicName,omitempty"`
}

// InstanceGroup is a set of identical machines, like an autoscaling group.
type InstanceGroup struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta        `json:"metadata"`
	Spec     InstanceGroupSpec `json:"spec"`
}

// InstanceGroupSpec is the desired shape of an instance group.
type InstanceGroupSpec struct {
	Role        InstanceGroupRole `json:"role"`
	MinSize     *int32            `json:"minSize,omitempty"`
	MaxSize     *int32            `json:"maxSize,omitempty"`
	MachineType string            `json:"machineType,omitempty"`
	Image       string            `json:"image,omitempty"`
	Subnets     []string          `json:"subnets,omitempty"`
	NodeLabels  map[string]string `json:"nodeLabels,omitempty"`
	// Taints are in kubectl form: key=value:Effect or key:Effect.
	Taints        []string       `json:"taints,omitempty"`
	RollingUpdate *RollingUpdate `json:"rollingUpdate,omitempty"`
}

// ClusterName is the cluster an InstanceGroup belongs to, from its label.
func (ig *InstanceGroup) ClusterName() string { return ig.Metadata.Labels[LabelCluster] }

// IsControlPlane reports whether the group runs the control plane.
func (ig *InstanceGroup) IsControlPlane() bool { return ig.Spec.Role == RoleControlPlane }
