package local

import (
	"context"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/hullproject/hull/cloudup/local/ociregistry"
)

// RegistryPort is where machines reach the local cloud's OCI registry: the
// gateway address of each subnet of their cluster's network.
const RegistryPort = 5000

// registryDir is the registry's data under the state directory; it
// survives daemon restarts.
const registryDir = "registry"

// RegistryInfo is where the local cloud's registry is served.
type RegistryInfo struct {
	// Address is host:port on this host's loopback, where `hull image
	// load` pushes; it may change when the daemon restarts.
	Address string `json:"address"`
	// Dir holds the registry's blobs and manifests.
	Dir string `json:"dir"`
	// Machines lists, per cluster, the addresses its machines pull from.
	Machines map[string][]string `json:"machines,omitempty"`
}

// RegistryMirrorURL is the registry as a machine whose first subnet's
// gateway is gw reaches it.
func RegistryMirrorURL(gw string) string {
	return "http://" + net.JoinHostPort(gw, strconv.Itoa(RegistryPort))
}

// openRegistry opens the registry over the state directory and serves it
// on a loopback port for this host.
func (d *daemon) openRegistry(ctx context.Context) error {
	reg, err := ociregistry.New(ctx, filepath.Join(d.opts.StateDir, registryDir))
	if err != nil {
		return fmt.Errorf("local cloud daemon: %w", err)
	}
	addr, err := reg.Listen("127.0.0.1:0")
	if err != nil {
		reg.Close()
		return fmt.Errorf("local cloud daemon: %w", err)
	}
	d.registry, d.registryAddr = reg, addr
	return nil
}

// listenRegistryOnGateways serves the registry on every subnet gateway of
// a cluster's network and returns the addresses; the machine API's
// listeners and these open and close together.
func (d *daemon) listenRegistryOnGateways(n *network) ([]string, error) {
	var addrs []string
	for _, s := range n.Subnets {
		addr, err := d.registry.Listen(net.JoinHostPort(s.Gateway, strconv.Itoa(RegistryPort)))
		if err != nil {
			for _, a := range addrs {
				d.registry.Unlisten(a)
			}
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

func (d *daemon) registryInfo() *RegistryInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	info := &RegistryInfo{Address: d.registryAddr, Dir: d.registry.Dir(), Machines: map[string][]string{}}
	for _, cluster := range slices.Sorted(maps.Keys(d.machineAPIs)) {
		info.Machines[cluster] = slices.Clone(d.machineAPIs[cluster].registryAddrs)
	}
	return info
}

// Registry says where the local cloud's registry is served.
func (c *Client) Registry(ctx context.Context) (*RegistryInfo, error) {
	var out RegistryInfo
	if err := c.do(ctx, "GET", "/v1/registry", nil, &out); err != nil {
		return nil, fmt.Errorf("local cloud registry: %w", err)
	}
	return &out, nil
}

// ImageRegistry is the registry's loopback address, for `hull image load`.
func (c *Client) ImageRegistry(ctx context.Context) (string, error) {
	info, err := c.Registry(ctx)
	if err != nil {
		return "", err
	}
	return info.Address, nil
}
