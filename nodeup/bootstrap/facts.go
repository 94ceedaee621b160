package bootstrap

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// Address finds the machine's address: the first global IPv4 address of
// eth0 (the local cloud's and most clouds' primary interface), else of any
// interface that is up and not loopback.
func Address() (netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list interfaces: %w", err)
	}
	var fallback netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil || !p.Addr().Is4() || !p.Addr().IsGlobalUnicast() {
				continue
			}
			if ifc.Name == "eth0" {
				return p.Addr(), nil
			}
			if !fallback.IsValid() {
				fallback = p.Addr()
			}
		}
	}
	if fallback.IsValid() {
		return fallback, nil
	}
	return netip.Addr{}, fmt.Errorf("the machine has no IPv4 address on eth0 or any other interface")
}

// CgroupPath reads the process's cgroup v1 path from /proc/self/cgroup
// content: the path of the memory controller (or the first controller
// line). On the local cloud every hierarchy has the machine's cgroup,
// /hull/<cluster>/<id>, which becomes the kubelet's cgroupRoot.
func CgroupPath(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	first := ""
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" || strings.HasPrefix(parts[1], "name=") {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return parts[2], nil
			}
		}
		if first == "" {
			first = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if first == "" {
		return "", fmt.Errorf("no cgroup v1 controller in /proc/self/cgroup")
	}
	return first, nil
}

// SelfCgroup is CgroupPath of this process.
func SelfCgroup() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return CgroupPath(f)
}
