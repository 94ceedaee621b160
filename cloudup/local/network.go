package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/cloud"
)

// bridgeName is the cluster's bridge: "hb" + 8 hex of sha256(cluster), short
// enough for the kernel's 15-byte interface names whatever the cluster name.
func bridgeName(cluster string) string {
	sum := sha256.Sum256([]byte(cluster))
	return "hb" + hex.EncodeToString(sum[:])[:8]
}

// cgroupParent is where a cluster's machines' cgroups live.
func cgroupParent(cluster string) string { return "hull/" + cluster }

func (d *daemon) findNetwork(cluster string) (*cloud.Network, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.st.Networks[cluster]
	if !ok {
		return nil, errNotFound("cluster %s has no network", cluster)
	}
	out := n.Network
	out.Subnets = slices.Clone(n.Subnets)
	return &out, nil
}

// ensureNetwork validates n, refuses overlaps with other networks on this
// host, creates or updates the bridge and records the network.
func (d *daemon) ensureNetwork(n *cloud.Network) (*cloud.Network, error) {
	cidr, err := validateNetwork(n)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for other, on := range d.st.Networks {
		if other == n.Cluster {
			continue
		}
		if p, err := netip.ParsePrefix(on.CIDR); err == nil && p.Overlaps(cidr) {
			return nil, errConflict("network %s of cluster %s overlaps network %s of cluster %s on this host; choose a CIDR that does not overlap", cidr, n.Cluster, p, other)
		}
	}
	if err := checkHostOverlap(cidr); err != nil {
		return nil, err
	}

	existing := d.st.Networks[n.Cluster]
	if existing != nil {
		if err := d.checkNetworkChangeLocked(existing, n); err != nil {
			return nil, err
		}
	}
	rec := &network{Network: cloud.Network{Cluster: n.Cluster, CIDR: cidr.String(), ID: bridgeName(n.Cluster)}, Next: map[string]string{}}
	for _, s := range n.Subnets {
		p := netip.MustParsePrefix(s.CIDR)
		s.CIDR = p.String()
		s.Gateway = p.Addr().Next().String()
		rec.Subnets = append(rec.Subnets, s)
		if existing != nil && existing.Next[s.Name] != "" {
			rec.Next[s.Name] = existing.Next[s.Name]
		}
	}
	if err := ensureBridge(&rec.Network); err != nil {
		return nil, err
	}
	d.st.Networks[n.Cluster] = rec
	if err := d.saveLocked(); err != nil {
		return nil, err
	}
	if existing == nil {
		d.log.Info("created network", "cluster", n.Cluster, "cidr", rec.CIDR, "bridge", rec.ID)
	}
	out := rec.Network
	out.Subnets = slices.Clone(rec.Subnets)
	return &out, nil
}

// validateNetwork checks the CIDRs: IPv4, subnets inside the network, no two
// subnets overlapping, each big enough for a gateway and a machine.
func validateNetwork(n *cloud.Network) (netip.Prefix, error) {
	if n.Cluster == "" {
		return netip.Prefix{}, errInvalid("network: cluster name is required")
	}
	cidr, err := netip.ParsePrefix(n.CIDR)
	if err != nil || !cidr.Addr().Is4() {
		return netip.Prefix{}, errInvalid("network of cluster %s: cidr %q is not an IPv4 CIDR", n.Cluster, n.CIDR)
	}
	cidr = cidr.Masked()
	if len(n.Subnets) == 0 {
		return netip.Prefix{}, errInvalid("network of cluster %s: at least one subnet is required", n.Cluster)
	}
	seen := map[string]netip.Prefix{}
	for _, s := range n.Subnets {
		p, err := netip.ParsePrefix(s.CIDR)
		if s.Name == "" {
			return netip.Prefix{}, errInvalid("network of cluster %s: a subnet has no name", n.Cluster)
		}
		if err != nil || !p.Addr().Is4() || p.Masked() != p {
			return netip.Prefix{}, errInvalid("subnet %s of cluster %s: cidr %q is not an IPv4 network address", s.Name, n.Cluster, s.CIDR)
		}
		if p.Bits() < cidr.Bits() || !cidr.Contains(p.Addr()) {
			return netip.Prefix{}, errInvalid("subnet %s (%s) of cluster %s is not inside the network %s", s.Name, p, n.Cluster, cidr)
		}
		if p.Bits() > 29 {
			return netip.Prefix{}, errInvalid("subnet %s (%s) of cluster %s is too small: it needs room for a gateway and machines (at most /29)", s.Name, p, n.Cluster)
		}
		if _, dup := seen[s.Name]; dup {
			return netip.Prefix{}, errInvalid("network of cluster %s: subnet %s is listed twice", n.Cluster, s.Name)
		}
		for name, q := range seen {
			if q.Overlaps(p) {
				return netip.Prefix{}, errInvalid("subnets %s (%s) and %s (%s) of cluster %s overlap", name, q, s.Name, p, n.Cluster)
			}
		}
		seen[s.Name] = p
	}
	return cidr, nil
}

// checkHostOverlap refuses a network that overlaps an address of a host
// interface other than hull's bridges: routing it to a bridge would cut the
// host off from that network.
func checkHostOverlap(cidr netip.Prefix) error {
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list host interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if strings.HasPrefix(ifc.Name, "hb") {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			p, err := netip.ParsePrefix(ipn.String())
			if err == nil && p.Addr().Is4() && p.Masked().Overlaps(cidr) {
				return errConflict("network %s overlaps %s on host interface %s; choose another CIDR", cidr, p, ifc.Name)
			}
		}
	}
	return nil
}

// checkNetworkChangeLocked allows changing a network only where no machine
// or group depends on what changes.
func (d *daemon) checkNetworkChangeLocked(old *network, n *cloud.Network) error {
	newCIDR := netip.MustParsePrefix(n.CIDR).Masked().String()
	users := d.clusterUsersLocked(n.Cluster)
	if old.CIDR != newCIDR && len(users) > 0 {
		return errConflict("network of cluster %s: cidr %s cannot change to %s while %s exist; delete them first", n.Cluster, old.CIDR, newCIDR, strings.Join(users, ", "))
	}
	for _, was := range old.Subnets {
		idx := slices.IndexFunc(n.Subnets, func(s cloud.Subnet) bool { return s.Name == was.Name })
		if idx >= 0 && netip.MustParsePrefix(n.Subnets[idx].CIDR).String() == was.CIDR {
			continue
		}
		for _, inst := range d.st.Instances {
			if inst.Cluster == n.Cluster && inst.live() && inst.Subnet == was.Name {
				return errConflict("network of cluster %s: subnet %s (%s) cannot change or go away while instance %s uses it", n.Cluster, was.Name, was.CIDR, inst.ID)
			}
		}
	}
	return nil
}

// clusterUsersLocked names the groups, live instances and load balancers of a cluster.
func (d *daemon) clusterUsersLocked(cluster string) []string {
	var users []string
	for _, g := range d.st.Groups {
		if g.Cluster == cluster {
			users = append(users, "instance group "+g.Name)
		}
	}
	for _, inst := range d.st.Instances {
		if inst.Cluster == cluster && inst.live() {
			users = append(users, "instance "+inst.ID)
		}
	}
	for _, lb := range d.st.LoadBalancers {
		if lb.Cluster == cluster {
			users = append(users, "load balancer "+lb.Name)
		}
	}
	sort.Strings(users)
	return users
}

// deleteNetwork removes the bridge and the cluster's cgroup parent once
// nothing uses the network.
func (d *daemon) deleteNetwork(cluster string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.st.Networks[cluster]
	if !ok {
		return nil // already gone: deleting is idempotent
	}
	if users := d.clusterUsersLocked(cluster); len(users) > 0 {
		return errConflict("network of cluster %s is still used by %s; delete them first", cluster, strings.Join(users, ", "))
	}
	if err := sandbox.DeleteBridge(n.ID); err != nil {
		return fmt.Errorf("delete network of cluster %s: %w", cluster, err)
	}
	if err := removeCgroupParent(cgroupParent(cluster)); err != nil {
		d.log.Warn("remove cluster cgroups", "cluster", cluster, "err", err)
	}
	delete(d.st.Networks, cluster)
	for id, inst := range d.st.Instances {
		if inst.Cluster == cluster {
			d.forgetInstanceLocked(id)
		}
	}
	d.log.Info("deleted network", "cluster", cluster, "bridge", n.ID)
	return d.saveLocked()
}

// ensureBridge creates the bridge with every subnet's gateway address.
func ensureBridge(n *cloud.Network) error {
	var addrs []netip.Prefix
	for _, s := range n.Subnets {
		p := netip.MustParsePrefix(s.CIDR)
		addrs = append(addrs, netip.PrefixFrom(netip.MustParseAddr(s.Gateway), p.Bits()))
	}
	if err := sandbox.EnsureBridge(bridgeName(n.Cluster), addrs); err != nil {
		return fmt.Errorf("network of cluster %s: bridge %s: %w", n.Cluster, bridgeName(n.Cluster), err)
	}
	return nil
}

// allocateAddressLocked picks a free address of a subnet: not the network,
// gateway or broadcast address, and not held by any live machine. The search
// starts after the last address handed out.
func (d *daemon) allocateAddressLocked(n *network, subnet string) (netip.Prefix, netip.Addr, error) {
	idx := slices.IndexFunc(n.Subnets, func(s cloud.Subnet) bool { return s.Name == subnet })
	if idx < 0 {
		return netip.Prefix{}, netip.Addr{}, errNotFound("cluster %s has no subnet %s", n.Cluster, subnet)
	}
	s := n.Subnets[idx]
	p := netip.MustParsePrefix(s.CIDR)
	gw := netip.MustParseAddr(s.Gateway)
	used := map[netip.Addr]bool{}
	for _, inst := range d.st.Instances {
		if inst.live() && inst.Address != "" {
			if a, err := netip.ParseAddr(inst.Address); err == nil {
				used[a] = true
			}
		}
	}
	first, last := gw.Next(), lastAddr(p).Prev() // skip the broadcast address
	start := first
	if next, err := netip.ParseAddr(n.Next[subnet]); err == nil && p.Contains(next) && next.Compare(first) >= 0 && next.Compare(last) <= 0 {
		start = next
	}
	for a := start; ; {
		if !used[a] {
			nx := a.Next()
			if nx.Compare(last) > 0 {
				nx = first
			}
			n.Next[subnet] = nx.String()
			return netip.PrefixFrom(a, p.Bits()), gw, nil
		}
		a = a.Next()
		if a.Compare(last) > 0 {
			a = first
		}
		if a == start {
			return netip.Prefix{}, netip.Addr{}, errConflict("subnet %s (%s) of cluster %s has no free address", subnet, p, n.Cluster)
		}
	}
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// removeCgroupParent removes the (empty) cgroup directories of a cluster in
// every hierarchy, deepest first; a cgroup that still has processes stays and
// is reported.
func removeCgroupParent(parent string) error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	var errs []error
	for _, root := range roots {
		dir := filepath.Join(root, parent)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
