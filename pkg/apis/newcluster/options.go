package newcluster

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/cloud"
)

// Options are the flags of `hull create cluster NAME`. A zero value (nil for
// the counts, where 0 is a value of its own) means the flag was not given;
// Build applies the defaults below.
type Options struct {
	// Name is the cluster name (the NAME argument).
	Name string
	// Cloud is --cloud: local (default) or aws.
	Cloud string
	// Zones is --zones. Default for local: [local-a]; required for aws.
	Zones []string
	// ControlPlaneCount is --control-plane-count, the number of etcd members
	// and control-plane groups. Default 1; must be odd, at most
	// validation.MaxEtcdMembers.
	ControlPlaneCount *int
	// NodeCount is --node-count, the total number of nodes across all node
	// groups. Default 2. Zero makes one node group of size 0, to scale later;
	// no group may exceed validation.MaxInstanceGroupSize.
	NodeCount *int
	// KubernetesVersion is --kubernetes-version; the CLI defaults it from the
	// channel, so it is required here.
	KubernetesVersion string
	// Topology is --topology: public (default) or private.
	Topology string
	// Bastion is --bastion: add a bastion group. Only with a private topology.
	Bastion bool
	// NetworkCIDR is --network-cidr. Empty leaves it to completion.
	NetworkCIDR string
	// NodeSize and ControlPlaneSize are --node-size and --control-plane-size,
	// the machine types. Empty leaves them to completion.
	NodeSize, ControlPlaneSize string
	// Channel is --channel. Empty leaves it to completion.
	Channel string
	// DNSZone is --dns-zone: the Route 53 hosted zone (id or name) of the
	// API's alias record. aws only.
	DNSZone string
	// SSHKeyName is --ssh-key-name, an existing EC2 key pair; SSHPublicKey
	// is the content of the --ssh-public-key file. aws only, one of them.
	SSHKeyName, SSHPublicKey string
}

// Flag defaults. Completion owns every other default; these only shape what
// the command writes into the user's spec.
const (
	DefaultCloud             = cloud.DefaultName
	DefaultControlPlaneCount = 1
	DefaultNodeCount         = 2
	DefaultTopology          = v1alpha1.TopologyPublic
)

// withDefaults checks o and returns it with the defaults filled in. Each
// error names the flag at fault.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		return o, fmt.Errorf("cluster NAME is required")
	}
	if o.Cloud == "" {
		o.Cloud = DefaultCloud
	}
	d, err := cloud.Lookup(o.Cloud)
	if err != nil {
		return o, fmt.Errorf("--cloud: %w", err)
	}
	zones, err := checkZones(d, o.Zones)
	if err != nil {
		return o, err
	}
	o.Zones = zones

	if err := o.checkCounts(); err != nil {
		return o, err
	}

	if o.KubernetesVersion == "" {
		return o, fmt.Errorf("--kubernetes-version is required")
	}
	if _, err := version.ParseSemantic(o.KubernetesVersion); err != nil {
		return o, fmt.Errorf("--kubernetes-version %q: %w", o.KubernetesVersion, err)
	}

	if o.Topology == "" {
		o.Topology = DefaultTopology
	}
	if o.Topology != v1alpha1.TopologyPublic && o.Topology != v1alpha1.TopologyPrivate {
		return o, fmt.Errorf("--topology: unsupported value %q, want %s or %s", o.Topology, v1alpha1.TopologyPublic, v1alpha1.TopologyPrivate)
	}
	if o.Bastion && o.Topology != v1alpha1.TopologyPrivate {
		return o, fmt.Errorf("--bastion requires --topology %s", v1alpha1.TopologyPrivate)
	}

	if err := o.checkCloudFlags(d); err != nil {
		return o, err
	}

	if o.NetworkCIDR != "" {
		p, err := netip.ParsePrefix(o.NetworkCIDR)
		if err != nil {
			return o, fmt.Errorf("--network-cidr: %w", err)
		}
		if p != p.Masked() {
			return o, fmt.Errorf("--network-cidr %s has host bits set; did you mean %s?", o.NetworkCIDR, p.Masked())
		}
	}
	return o, nil
}

// checkCounts fills in the default counts and refuses counts no cluster can
// have. The node limit is per group, and groups are per zone, so more zones
// allow more nodes.
func (o *Options) checkCounts() error {
	if o.ControlPlaneCount == nil {
		o.ControlPlaneCount = ptr(DefaultControlPlaneCount)
	}
	switch cp := *o.ControlPlaneCount; {
	case cp <= 0 || cp%2 == 0:
		return fmt.Errorf("--control-plane-count must be odd (1, 3, 5), got %d", cp)
	case cp > validation.MaxEtcdMembers:
		return fmt.Errorf("--control-plane-count %d is more than %d: each control-plane machine runs an etcd member, and etcd advises at most %d because every write waits for a majority", cp, validation.MaxEtcdMembers, validation.MaxEtcdMembers)
	}
	if o.NodeCount == nil {
		o.NodeCount = ptr(DefaultNodeCount)
	}
	n := *o.NodeCount
	if n < 0 {
		return fmt.Errorf("--node-count must be 0 or more, got %d", n)
	}
	perZone := n / len(o.Zones)
	if n%len(o.Zones) != 0 {
		perZone++
	}
	if perZone > validation.MaxInstanceGroupSize {
		return fmt.Errorf("--node-count %d over %d zone(s) puts %d nodes in one group, more than the %d an instance group may hold (%s); use more zones, or add groups with `hull create -f`",
			n, len(o.Zones), perZone, validation.MaxInstanceGroupSize, validation.MaxInstanceGroupSizeReason)
	}
	return nil
}

// checkZones applies the zone default and refuses empty, malformed and
// repeated zones; zone names become subnet and group names.
func checkZones(d cloud.Driver, zones []string) ([]string, error) {
	if len(zones) == 0 {
		if def := d.DefaultZones(); def != nil {
			return def, nil
		}
		return nil, fmt.Errorf("--zones is required for --cloud %s", d.Name())
	}
	seen := map[string]bool{}
	for _, z := range zones {
		if z == "" {
			return nil, fmt.Errorf("--zones: empty zone name")
		}
		if errs := k8svalidation.IsDNS1123Label(z); len(errs) > 0 {
			return nil, fmt.Errorf("--zones: invalid zone %q: %s", z, strings.Join(errs, "; "))
		}
		if seen[z] {
			return nil, fmt.Errorf("--zones: duplicate zone %s", z)
		}
		seen[z] = true
	}
	if err := d.CheckZones(zones); err != nil {
		return nil, fmt.Errorf("--zones: %w", err)
	}
	return zones, nil
}

// checkCloudFlags refuses the flags of settings the cloud does not use
// (see cloud.Driver.Settings) and the two SSH key flags together. The
// values themselves are checked with the spec.
func (o Options) checkCloudFlags(d cloud.Driver) error {
	for _, f := range []struct{ flag, setting, value string }{
		{"--dns-zone", "dnsZone", o.DNSZone}, {"--ssh-key-name", "sshKeyName", o.SSHKeyName}, {"--ssh-public-key", "sshPublicKey", o.SSHPublicKey},
	} {
		if f.value != "" && !slices.Contains(d.Settings(), f.setting) {
			return fmt.Errorf("%s only applies with --cloud %s", f.flag, cloud.OneOf(validation.CloudsWithSetting(f.setting)))
		}
	}
	if o.SSHKeyName != "" && o.SSHPublicKey != "" {
		return fmt.Errorf("--ssh-key-name and --ssh-public-key exclude each other: name an existing key pair or import a key")
	}
	return nil
}
