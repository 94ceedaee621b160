package model

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/apis/nodeup"
)

// ContainerdCertsDir is containerd's registry host configuration
// (config_path): one <host>/hosts.toml per registry host, _default/ for
// every host without one. containerd 1.6.20 (Debian's) honours both; it
// reads the files at each pull, so changing them needs no restart.
const ContainerdCertsDir = "/etc/containerd/certs.d"

// defaultHostDir is the directory containerd falls back to for a host
// that has none of its own.
const defaultHostDir = "_default"

// RegistryHosts renders a hosts.toml per directory of ContainerdCertsDir
// from the config's registry mirrors ("*" becomes _default) and container
// registry. A host with mirrors tries them in order, then the host
// itself; with a container registry (kops's air-gapped meaning) every
// host, named or not, is served by it and never by the host itself.
func RegistryHosts(cfg *nodeup.Config) (map[string][]byte, error) {
	var cr *registryEndpoint
	if cfg.ContainerRegistry != "" {
		e, err := containerRegistryEndpoint(cfg.ContainerRegistry)
		if err != nil {
			return nil, err
		}
		cr = &e
	}
	hosts := slices.Sorted(maps.Keys(cfg.RegistryMirrors))
	if cr != nil && !slices.Contains(hosts, "*") {
		hosts = append(hosts, "*")
	}
	out := map[string][]byte{}
	for _, h := range hosts {
		dir := h
		if h == "*" {
			dir = defaultHostDir
		}
		var b strings.Builder
		b.WriteString("# Written by hull nodeup.\n")
		if cr != nil {
			fmt.Fprintf(&b, "server = %q\n", cr.server)
		}
		for _, m := range cfg.RegistryMirrors[h] {
			fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", m)
		}
		if cr != nil {
			fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", cr.url)
			if cr.overridePath {
				b.WriteString("  override_path = true\n")
			}
		}
		out[dir] = []byte(b.String())
	}
	return out, nil
}

// registryEndpoint is a container registry as hosts.toml names it.
type registryEndpoint struct {
	server, url  string
	overridePath bool
}

// containerRegistryEndpoint turns host[:port][/path] into URLs: https,
// except for a loopback or private address (a registry on the cluster's
// own network, say), which is plain http as go-containerregistry and
// docker assume. A path is a prefix of every repository: containerd then
// needs the full /v2/<path> and override_path.
func containerRegistryEndpoint(r string) (registryEndpoint, error) {
	host, p, _ := strings.Cut(r, "/")
	if host == "" {
		return registryEndpoint{}, fmt.Errorf("containerRegistry %q names no host", r)
	}
	scheme := "https"
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if a, err := netip.ParseAddr(h); (err == nil && (a.IsLoopback() || a.IsPrivate())) || h == "localhost" {
		scheme = "http"
	}
	e := registryEndpoint{server: scheme + "://" + host, url: scheme + "://" + host}
	if p != "" {
		e.url = scheme + "://" + host + path.Join("/v2", p)
		e.overridePath = true
	}
	return e, nil
}

// registryTasks writes ContainerdCertsDir's files.
func registryTasks(in *Input) ([]tasks.Task, error) {
	files, err := RegistryHosts(in.Config)
	if err != nil {
		return nil, err
	}
	var list []tasks.Task
	for _, dir := range slices.Sorted(maps.Keys(files)) {
		list = append(list, in.file("config/registry-hosts/"+dir, path.Join(ContainerdCertsDir, dir, "hosts.toml"), 0o644, files[dir]))
	}
	return list, nil
}
