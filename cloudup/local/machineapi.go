package local

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// MachineAPIPort is where a cluster's machines reach the local cloud: the
// gateway address of their subnet on the cluster's bridge, as EC2 machines
// reach their metadata service. It answers read-only questions about the
// cluster's own instances (for the node lifecycle controller on its
// control plane), and only to addresses of the cluster's network.
const MachineAPIPort = 8101

// EnvMachineAPI tells a machine where its cloud's machine API is (nodeup's
// --cloud-api flag reads it).
const EnvMachineAPI = "HULL_CLOUD_API"

// MachineInstance is one live instance as the machine API shows it.
type MachineInstance struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	Role  string `json:"role"`
	State string `json:"state"`
}

// machineAPI is one cluster's listeners (one per subnet gateway).
type machineAPI struct {
	addrs []string
	srv   *http.Server
	// registryAddrs are the registry's listeners on the same gateways.
	registryAddrs []string
	unlisten      func(addr string)
}

// syncMachineAPIsLocked runs on every reconcile pass: a listener for every
// network (re)opened after a create or a daemon restart, and closed once
// the network is gone.
func (d *daemon) syncMachineAPIsLocked() {
	if d.machineAPIs == nil {
		d.machineAPIs = map[string]*machineAPI{}
	}
	for cluster, api := range d.machineAPIs {
		if d.st.Networks[cluster] == nil {
			api.close()
			delete(d.machineAPIs, cluster)
		}
	}
	for cluster, n := range d.st.Networks {
		if d.machineAPIs[cluster] != nil {
			continue
		}
		api, err := d.openMachineAPI(cluster, n)
		if err != nil {
			d.log.Warn("machine API listener", "cluster", cluster, "err", err)
			continue
		}
		d.machineAPIs[cluster] = api
	}
}

func (d *daemon) openMachineAPI(cluster string, n *network) (*machineAPI, error) {
	allowed, err := netip.ParsePrefix(n.CIDR)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/instances", handle(func(r *http.Request) ([]MachineInstance, error) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !allowed.Contains(ap.Addr().Unmap()) {
			return nil, &Error{Status: http.StatusForbidden, Message: "only machines of the cluster may ask about its instances"}
		}
		var out []MachineInstance
		for _, inst := range d.listInstances(cluster) {
			out = append(out, MachineInstance{ID: inst.ID, Group: inst.Group, Role: inst.Role, State: inst.State})
		}
		return out, nil
	}))
	api := &machineAPI{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	if d.registry != nil {
		if api.registryAddrs, err = d.listenRegistryOnGateways(n); err != nil {
			return nil, err
		}
		api.unlisten = d.registry.Unlisten
	}
	for _, s := range n.Subnets {
		addr := net.JoinHostPort(s.Gateway, strconv.Itoa(MachineAPIPort))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			api.close()
			return nil, err
		}
		api.addrs = append(api.addrs, addr)
		go func() {
			if err := api.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Warn("machine API stopped", "cluster", cluster, "addr", addr, "err", err)
			}
		}()
	}
	return api, nil
}

// close stops the listeners at once. It runs under the daemon's lock, which
// an in-flight request may be waiting for, so it does not wait for those.
func (api *machineAPI) close() {
	_ = api.srv.Close()
	for _, a := range api.registryAddrs {
		api.unlisten(a)
	}
}

// machineAPIURL is the machine API as a machine in a subnet with gateway gw sees it.
func machineAPIURL(gw netip.Addr) string {
	return "http://" + net.JoinHostPort(gw.String(), strconv.Itoa(MachineAPIPort))
}
