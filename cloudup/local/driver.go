package local

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

func init() { cloud.Register(Driver{}) }

// Defaults of a local cluster.
const (
	// MachineType is the local cloud's standard machine size.
	MachineType = "local.small"
	// DefaultZone is the zone of a cluster created without --zones.
	DefaultZone = "local-a"
)

// EnvStateDir moves the local cloud's state (and its socket) away from
// DefaultStateDir, for tests and for running several side by side.
const EnvStateDir = "HULL_LOCAL_CLOUD_DIR"

// Driver is the local cloud as hull registers it (see cloud.Driver).
type Driver struct{}

var _ cloud.Driver = Driver{}

// Name is spec.cloudProvider's local.
func (Driver) Name() string { return v1alpha1.CloudLocal }

// MachineType is MachineType for every role.
func (Driver) MachineType(v1alpha1.InstanceGroupRole) string { return MachineType }

// Image is the name itself: hull builds local images under it.
func (Driver) Image(name string) string { return name }

// DefaultZones is DefaultZone.
func (Driver) DefaultZones() []string { return []string{DefaultZone} }

// CheckZones accepts any zone name: local zones are labels.
func (Driver) CheckZones([]string) error { return nil }

// Settings is nil: the local cloud has no settings of its own.
func (Driver) Settings() []string { return nil }

// Validate adds no rule.
func (Driver) Validate(*v1alpha1.Cluster) field.ErrorList { return nil }

// Images are built on this host from no base image, and have no owner.
func (Driver) Images() cloud.ImageRules { return cloud.ImageRules{} }

// APIHost is the first subnet's gateway address, where the API load
// balancer listens: known from the spec alone, which keeps nodeup configs
// (and so config versions) stable between a dry run and the apply that
// creates the load balancer.
func (Driver) APIHost(c *v1alpha1.Cluster) (string, error) {
	if len(c.Spec.Networking.Subnets) == 0 {
		return "", fmt.Errorf("cluster %s has no subnets", c.Metadata.Name)
	}
	gw, err := GatewayAddress(c.Spec.Networking.Subnets[0].CIDR)
	if err != nil {
		return "", err
	}
	return gw.String(), nil
}

// CompleteSpec makes the local cloud's registry (on the first subnet's
// gateway, RegistryPort) the mirror of every registry host, unless the
// user named mirrors or an assets.containerRegistry of their own: images
// loaded with `hull image load` are then pulled by their usual names.
func (d Driver) CompleteSpec(c *v1alpha1.Cluster) error {
	s := &c.Spec
	if s.Assets != nil && s.Assets.ContainerRegistry != "" {
		return nil
	}
	if s.Containerd != nil && len(s.Containerd.RegistryMirrors) > 0 || len(s.Networking.Subnets) == 0 {
		return nil
	}
	gw, err := d.APIHost(c)
	if err != nil {
		return err
	}
	if s.Containerd == nil {
		s.Containerd = &v1alpha1.ContainerdSpec{}
	}
	s.Containerd.RegistryMirrors = map[string][]string{v1alpha1.RegistryMirrorsAll: {RegistryMirrorURL(gw)}}
	return nil
}

// GatewayAddress is the first usable address of a subnet, which the local
// cloud gives the bridge.
func GatewayAddress(cidr string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("subnet cidr %q: %w", cidr, err)
	}
	return p.Masked().Addr().Next(), nil
}

// Terraform is nil: Terraform has no local cloud.
func (Driver) Terraform() cloud.Terraform { return nil }

// Connect reaches the daemon for the cluster's owner: to change the cloud
// it starts the daemon when none runs (and needs root); to look, it reads
// the daemon's state file when none runs.
func (Driver) Connect(ctx context.Context, _ *v1alpha1.Cluster, o cloud.ConnectOptions) (cloud.Provider, error) {
	var cl *Client
	var err error
	if o.Change {
		cl, err = ConnectToChange(ctx)
	} else {
		cl, err = View(ctx)
	}
	if err != nil {
		return nil, err
	}
	return cl.ForCluster(o.Owner), nil
}

// Options says where this host's daemon lives: DefaultStateDir, or
// $HULL_LOCAL_CLOUD_DIR.
func Options() ClientOptions {
	o := ClientOptions{StateDir: DefaultStateDir, Socket: DefaultSocket}
	if dir := os.Getenv(EnvStateDir); dir != "" {
		o.StateDir = dir
		o.Socket = filepath.Join(dir, "daemon.sock")
	}
	return o
}

// ConnectToChange reaches the daemon, starting it (as `<this binary>
// local-cloud daemon`) when none answers.
func ConnectToChange(ctx context.Context) (*Client, error) {
	if err := sandbox.RequireRoot(); err != nil {
		return nil, err
	}
	o := Options()
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the hull binary to start the local cloud daemon: %w", err)
	}
	o.DaemonCommand = []string{self, "local-cloud", "daemon", "--state-dir", o.StateDir, "--socket", o.Socket}
	return Connect(ctx, o)
}

// View reaches a running daemon, or reads its state file when none runs:
// commands that only look never start one.
func View(ctx context.Context) (*Client, error) {
	o := Options()
	if cl, err := Connect(ctx, o); err == nil {
		return cl, nil
	}
	return OpenReadOnly(o.StateDir)
}
