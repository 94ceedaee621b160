package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Network is a cluster's private network and its subnets.
type Network struct {
	Cluster string   `json:"cluster"`
	CIDR    string   `json:"cidr"`
	Subnets []Subnet `json:"subnets"`
	// ID is the provider's identifier (a bridge name, a VPC id); output only.
	ID string `json:"id,omitempty"`
	// Adopted says the network is not the cluster's own (an existing VPC
	// the spec names): deleting it deletes only what the cluster made in
	// it, and it outlives the cluster. Output only.
	Adopted bool `json:"adopted,omitempty"`
}

// Subnet is one address range of a Network in one zone.
type Subnet struct {
	Name string `json:"name"`
	Zone string `json:"zone"`
	CIDR string `json:"cidr"`
	Type string `json:"type"` // Public, Private, Utility
	// Gateway is the address machines route through; output only.
	Gateway string `json:"gateway,omitempty"`
}

// LaunchConfig is what a group's new machines boot with. ConfigVersion is a
// hash of everything that should make a machine be replaced; a machine whose
// version differs from its group's launch config needs updating.
type LaunchConfig struct {
	Cluster       string `json:"cluster"`
	Group         string `json:"group"`
	Image         string `json:"image"`
	MachineType   string `json:"machineType"`
	UserData      []byte `json:"userData"`
	ConfigVersion string `json:"configVersion"`
}

// InstanceGroup keeps a number of identical machines running, like an
// autoscaling group.
type InstanceGroup struct {
	Cluster string   `json:"cluster"`
	Name    string   `json:"name"`
	Role    string   `json:"role"` // ControlPlane, Node, Bastion
	MinSize int      `json:"minSize"`
	MaxSize int      `json:"maxSize"`
	Subnets []string `json:"subnets"`
	// Desired is the target count; output of Find, and input only when a
	// rolling update resizes. Ensure keeps it within [MinSize, MaxSize].
	Desired int `json:"desired"`
	// ConfigVersion is the version of the group's current launch config; output only.
	ConfigVersion string `json:"configVersion,omitempty"`
}

// Instance states.
const (
	StatePending     = "Pending"
	StateRunning     = "Running"
	StateTerminating = "Terminating"
	StateTerminated  = "Terminated"
)

// Instance is one machine.
type Instance struct {
	ID            string    `json:"id"`
	Cluster       string    `json:"cluster"`
	Group         string    `json:"group"`
	Role          string    `json:"role"`
	Address       string    `json:"address"`
	State         string    `json:"state"`
	ConfigVersion string    `json:"configVersion"`
	Detached      bool      `json:"detached,omitempty"`
	LaunchTime    time.Time `json:"launchTime"`
}

// HealthCheck says when a load balancer backend may receive traffic.
type HealthCheck struct {
	Protocol string `json:"protocol"` // TCP, HTTP, HTTPS
	Path     string `json:"path,omitempty"`
}

// LoadBalancer forwards a port to the healthy machines of some groups.
type LoadBalancer struct {
	Cluster       string      `json:"cluster"`
	Name          string      `json:"name"`
	Type          string      `json:"type"` // Public, Internal
	Port          int         `json:"port"`
	BackendGroups []string    `json:"backendGroups"`
	BackendPort   int         `json:"backendPort"`
	HealthCheck   HealthCheck `json:"healthCheck"`
	// Address is how machines reach it, HostAddress how this host does
	// (host:port each); output only.
	Address     string `json:"address,omitempty"`
	HostAddress string `json:"hostAddress,omitempty"`
}

// Image is a bootable machine image.
type Image struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Networks manages cluster networks.
type Networks interface {
	FindNetwork(ctx context.Context, cluster string) (*Network, error) // nil, nil when absent
	EnsureNetwork(ctx context.Context, n *Network) (*Network, error)
	DeleteNetwork(ctx context.Context, cluster string) error
}

// Images finds machine images.
type Images interface {
	FindImage(ctx context.Context, name string) (*Image, error) // ErrNotFound when absent or broken
}

// Groups manages launch configs and instance groups. Finds return every
// object of the cluster in one call, so the number of API calls a plan makes
// does not grow with the number of groups.
type Groups interface {
	FindLaunchConfigs(ctx context.Context, cluster string) ([]*LaunchConfig, error)
	EnsureLaunchConfig(ctx context.Context, lc *LaunchConfig) error
	DeleteLaunchConfig(ctx context.Context, cluster, group string) error
	FindInstanceGroups(ctx context.Context, cluster string) ([]*InstanceGroup, error)
	EnsureInstanceGroup(ctx context.Context, g *InstanceGroup) error
	DeleteInstanceGroup(ctx context.Context, cluster, name string) error
}

// Instances operates on machines, as rolling-update needs.
type Instances interface {
	ListInstances(ctx context.Context, cluster string) ([]*Instance, error)
	// TerminateInstance stops a machine; with decrement=false its group launches a replacement.
	TerminateInstance(ctx context.Context, id string, decrement bool) error
	// DetachInstance removes a machine from its group's count without stopping it, so the group launches a replacement first (surge).
	DetachInstance(ctx context.Context, id string) error
}

// LoadBalancers manages the API load balancer.
type LoadBalancers interface {
	FindLoadBalancer(ctx context.Context, cluster, name string) (*LoadBalancer, error) // nil, nil when absent
	EnsureLoadBalancer(ctx context.Context, lb *LoadBalancer) (*LoadBalancer, error)
	DeleteLoadBalancer(ctx context.Context, cluster, name string) error
	// LoadBalancerHost is the DNS name the cloud gave the load balancer
	// when it made it, "" while it does not exist or where the cloud names
	// none (see Driver.APIHost).
	LoadBalancerHost(ctx context.Context, cluster, name string) (string, error)
}

// Provider is what a provider's client, connected for one cluster (see
// Driver.Connect), implements. Callers never take all of it: each engine
// declares the few methods it calls (cloudup.Cloud, rollingupdate.Cloud, ...).
type Provider interface {
	Name() string
	Close() error
	Networks
	Images
	Groups
	Instances
	LoadBalancers
	// FindExtras lists what else the cloud holds for the cluster beyond
	// its network, groups, launch configs and load balancers (IAM roles,
	// key pairs, DNS records, addresses, machines no group owns), as
	// "Kind/name", each kind found on its own (by the cluster tag, or by
	// the name hull gives it), so that what a failed delete left behind
	// shows even when the network is gone. DeleteNetwork deletes them.
	FindExtras(ctx context.Context, cluster string) ([]string, error)
	// DNS is the cloud's DNS service for the zone the spec names, nil
	// where the provider publishes no records.
	DNS() DNS
}

// ErrNotFound is returned (wrapped) for a missing object.
var ErrNotFound = errors.New("not found")

// TransientError marks an error worth retrying (throttling, a busy daemon).
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// DNSRecord points a DNS name at one of the cluster's load balancers.
type DNSRecord struct {
	Cluster string `json:"cluster"`
	Name    string `json:"name"`
	// LoadBalancer names the load balancer the record points at; on Find,
	// what else it points at ("elsewhere: <target>") when it is not one of
	// the cluster's.
	LoadBalancer string `json:"loadBalancer"`
}

// DNS publishes the API name in the DNS zone the spec names (AWS Route 53
// with spec.dnsZone).
type DNS interface {
	FindDNSRecord(ctx context.Context, cluster, name string) (*DNSRecord, error) // nil, nil when absent
	EnsureDNSRecord(ctx context.Context, r *DNSRecord) error
	DeleteDNSRecord(ctx context.Context, cluster, name string) error
}

// Owner is the cluster on whose behalf hull calls the cloud: its name, its
// identity (made at create and kept in its state store) and that store. A
// provider marks every resource it makes with the identity and refuses to
// change or delete a resource that carries another, so a second store that
// holds a cluster of the same name can never touch the first one's.
type Owner struct {
	Cluster string `json:"cluster"`
	ID      string `json:"id"`
	Store   string `json:"store,omitempty"`
}

// ForeignOwnerError says a resource belongs to a cluster of the same name
// that another state store (another identity) created.
type ForeignOwnerError struct {
	Resource string // "Network/demo.example.com", ...
	Owner    Owner  // the resource's owner
	Caller   Owner  // who asked
}

func (e *ForeignOwnerError) Error() string {
	owner := "cluster id " + e.Owner.ID
	way := "run hull against the state store that created it"
	if e.Owner.Store != "" {
		owner += " of state store " + e.Owner.Store
		way = "run hull against its own store (--state " + e.Owner.Store + ")"
	}
	return fmt.Sprintf("%s belongs to another cluster named %s (%s), not to the cluster of %s (id %s); hull leaves it alone. "+
		"To change or delete that cluster, %s; to create a new cluster here, pick another name",
		e.Resource, e.Owner.Cluster, owner, e.Caller.Store, e.Caller.ID, way)
}

// ErrForeignOwner is matched (errors.Is) by every *ForeignOwnerError.
var ErrForeignOwner = errors.New("owned by another cluster")

func (e *ForeignOwnerError) Is(target error) bool { return target == ErrForeignOwner }
