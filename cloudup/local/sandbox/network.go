package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The network is set up with iproute2's `ip` rather than raw netlink: each
// step reads like the shell an operator would type to inspect or repair it,
// and `ip netns add` gives the standard /run/netns/<name> bind mount that
// `ip netns list`, `nsenter --net=` and CNI all understand. Nothing here
// touches iptables or sysctls: machines talk to each other over the bridge,
// and the host reaches them because it owns the bridge (gateway) addresses.

const netnsDir = "/run/netns"

// ip runs `ip args...` and returns its error with ip's own message.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// linkExists reports whether a network interface exists in the host network
// namespace, and whether it is a bridge. /sys/class/net is the host's view
// because the sysfs of this (host) mount namespace was mounted there.
func linkExists(name string) (exists, bridge bool) {
	if _, err := os.Lstat(filepath.Join("/sys/class/net", name)); err != nil {
		return false, false
	}
	_, err := os.Stat(filepath.Join("/sys/class/net", name, "bridge"))
	return true, err == nil
}

func netnsExists(name string) bool {
	_, err := os.Lstat(filepath.Join(netnsDir, name))
	return err == nil
}

// setupNetwork creates the machine's network namespace and a veth pair: the
// host end (m.Veth) on the bridge, the other end as eth0 inside with the
// machine's address and a default route through the gateway.
func setupNetwork(ctx context.Context, spec Spec, m *Machine) error {
	ns := m.NetNS
	steps := [][]string{
		{"netns", "add", ns},
		// Creating the peer directly inside the namespace lets it be called
		// eth0 without clashing with the host's own eth0.
		{"link", "add", m.Veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "add", spec.Address.String(), "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "route", "add", "default", "via", spec.Gateway.String(), "dev", "eth0"},
		{"link", "set", m.Veth, "master", spec.Bridge},
		{"link", "set", m.Veth, "up"},
	}
	for _, args := range steps {
		if err := ip(ctx, args...); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	return nil
}

// deleteNetwork removes the machine's network namespace and host veth. Once
// the namespace's last user is gone the kernel destroys it, and its eth0 and
// with it the veth pair, but asynchronously; deleting the host end
// explicitly makes the pair disappear now.
func deleteNetwork(ctx context.Context, netns, veth string) error {
	var errs []error
	if netnsExists(netns) {
		if err := ip(ctx, "netns", "del", netns); err != nil && netnsExists(netns) {
			errs = append(errs, err)
		}
	}
	if ok, _ := linkExists(veth); ok {
		if err := ip(ctx, "link", "del", veth); err != nil {
			if ok, _ := linkExists(veth); ok {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// EnsureBridge makes name a bridge that is up and has exactly addrs (the
// gateway address of each subnet, with the subnet's prefix length). It
// creates the bridge if absent, and refuses to touch an interface of that
// name that is not a bridge. The kernel's own IPv6 link-local address is
// left alone.
func EnsureBridge(name string, addrs []netip.Prefix) error {
	if err := validLinkName(name); err != nil {
		return fmt.Errorf("ensure bridge: %w", err)
	}
	want := map[netip.Prefix]bool{}
	for _, a := range addrs {
		if !a.IsValid() {
			return fmt.Errorf("ensure bridge %s: invalid address %v", name, a)
		}
		want[a] = true
	}
	ctx := context.Background()
	switch exists, bridge := linkExists(name); {
	case !exists:
		if err := ip(ctx, "link", "add", name, "type", "bridge"); err != nil {
			return fmt.Errorf("ensure bridge %s: %w", name, err)
		}
	case !bridge:
		return fmt.Errorf("ensure bridge %s: an interface of that name exists and is not a bridge", name)
	}
	have, err := linkAddrs(ctx, name)
	if err != nil {
		return fmt.Errorf("ensure bridge %s: %w", name, err)
	}
	for _, a := range have {
		if want[a] {
			delete(want, a)
			continue
		}
		if a.Addr().Is6() && a.Addr().IsLinkLocalUnicast() {
			continue
		}
		if err := ip(ctx, "addr", "del", a.String(), "dev", name); err != nil {
			return fmt.Errorf("ensure bridge %s: %w", name, err)
		}
	}
	for _, a := range addrs {
		if want[a] {
			if err := ip(ctx, "addr", "add", a.String(), "dev", name); err != nil {
				return fmt.Errorf("ensure bridge %s: %w", name, err)
			}
		}
	}
	if err := ip(ctx, "link", "set", name, "up"); err != nil {
		return fmt.Errorf("ensure bridge %s: %w", name, err)
	}
	return nil
}

// linkAddrs lists the addresses of a host interface.
func linkAddrs(ctx context.Context, name string) ([]netip.Prefix, error) {
	out, err := exec.CommandContext(ctx, "ip", "-j", "addr", "show", "dev", name).Output()
	if err != nil {
		return nil, fmt.Errorf("ip -j addr show dev %s: %w", name, err)
	}
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &links); err != nil {
		return nil, fmt.Errorf("parse ip -j addr show dev %s: %w", name, err)
	}
	var addrs []netip.Prefix
	for _, l := range links {
		for _, a := range l.AddrInfo {
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				continue
			}
			addrs = append(addrs, netip.PrefixFrom(addr, a.PrefixLen))
		}
	}
	return addrs, nil
}

// DeleteBridge deletes the bridge name if it exists. Veths of machines still
// attached to it are detached, not deleted. It refuses to delete an
// interface that is not a bridge.
func DeleteBridge(name string) error {
	if err := validLinkName(name); err != nil {
		return fmt.Errorf("delete bridge: %w", err)
	}
	exists, bridge := linkExists(name)
	switch {
	case !exists:
		return nil
	case !bridge:
		return fmt.Errorf("delete bridge %s: the interface is not a bridge; refusing to delete it", name)
	}
	if err := ip(context.Background(), "link", "del", name); err != nil {
		if ok, _ := linkExists(name); ok {
			return fmt.Errorf("delete bridge %s: %w", name, err)
		}
	}
	return nil
}

// validLinkName checks an interface name as the kernel does: 1-15 bytes,
// no slash, no whitespace, not "." or "..".
func validLinkName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("invalid interface name %q (1-15 characters, no '/', ':' or spaces)", name)
	}
	return nil
}
