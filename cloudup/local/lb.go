package local

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/cloud"
)

// Health checking, as the load balancer's contract promises.
const (
	healthInterval = time.Second
	healthTimeout  = time.Second
	healthyAfter   = 1 // successes before a backend receives traffic
	unhealthyAfter = 2 // failures before it stops receiving traffic
	backendDial    = 2 * time.Second
)

func (d *daemon) findLoadBalancer(cluster, name string) (*cloud.LoadBalancer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	lb := d.st.LoadBalancers[key(cluster, name)]
	if lb == nil {
		return nil, errNotFound("cluster %s has no load balancer %s", cluster, name)
	}
	return d.lbViewLocked(lb), nil
}

// lbViewLocked fills the output addresses: the gateway of the cluster's first
// subnet for machines, loopback for this host.
func (d *daemon) lbViewLocked(lb *loadBalancer) *cloud.LoadBalancer {
	out := lb.LoadBalancer
	out.BackendGroups = slices.Clone(lb.BackendGroups)
	if addr := d.lbBridgeAddrLocked(lb); addr != "" {
		out.Address = addr
	}
	out.HostAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(lb.HostPort))
	return &out
}

func (d *daemon) lbBridgeAddrLocked(lb *loadBalancer) string {
	n := d.st.Networks[lb.Cluster]
	if n == nil || len(n.Subnets) == 0 {
		return ""
	}
	return net.JoinHostPort(n.Subnets[0].Gateway, strconv.Itoa(lb.Port))
}

// ensureLoadBalancer records the load balancer and opens its listeners at
// once, so errors such as a port in use reach the caller.
func (d *daemon) ensureLoadBalancer(lb *cloud.LoadBalancer) (*cloud.LoadBalancer, error) {
	if lb.HealthCheck.Protocol == "" {
		lb.HealthCheck.Protocol = "TCP"
	}
	switch {
	case lb.Cluster == "" || lb.Name == "":
		return nil, errInvalid("load balancer: cluster and name are required")
	case lb.Port <= 0 || lb.Port > 65535 || lb.BackendPort <= 0 || lb.BackendPort > 65535:
		return nil, errInvalid("load balancer %s: port %d and backendPort %d must be in 1-65535", lb.Name, lb.Port, lb.BackendPort)
	case len(lb.BackendGroups) == 0:
		return nil, errInvalid("load balancer %s: at least one backend group is required", lb.Name)
	case !slices.Contains([]string{"TCP", "HTTP", "HTTPS"}, lb.HealthCheck.Protocol):
		return nil, errInvalid("load balancer %s: health check protocol %q must be TCP, HTTP or HTTPS", lb.Name, lb.HealthCheck.Protocol)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.Networks[lb.Cluster] == nil {
		return nil, errNotFound("load balancer %s: cluster %s has no network; create it first", lb.Name, lb.Cluster)
	}
	k := key(lb.Cluster, lb.Name)
	for ok, other := range d.st.LoadBalancers {
		if ok != k && other.Cluster == lb.Cluster && other.Port == lb.Port {
			return nil, errConflict("load balancer %s: port %d is already used by load balancer %s", lb.Name, lb.Port, other.Name)
		}
	}
	rec := &loadBalancer{LoadBalancer: *lb}
	rec.BackendGroups = slices.Clone(lb.BackendGroups)
	rec.Address, rec.HostAddress = "", ""
	old := d.st.LoadBalancers[k]
	if old != nil {
		rec.HostPort = old.HostPort
	} else {
		rec.HostPort = freeStableHostPort(lb.Cluster, lb.Name)
	}
	rt, err := d.applyLoadBalancerLocked(k, rec)
	if err != nil {
		return nil, err
	}
	rec.HostPort = rt.hostPort
	d.st.LoadBalancers[k] = rec
	if err := d.saveLocked(); err != nil {
		return nil, err
	}
	if old == nil {
		d.log.Info("created load balancer", "cluster", lb.Cluster, "name", lb.Name, "address", d.lbBridgeAddrLocked(rec), "hostPort", rec.HostPort)
	}
	return d.lbViewLocked(rec), nil
}

func (d *daemon) deleteLoadBalancer(cluster, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := key(cluster, name)
	if rt := d.lbs[k]; rt != nil {
		rt.stop()
		delete(d.lbs, k)
	}
	if _, ok := d.st.LoadBalancers[k]; !ok {
		return nil
	}
	delete(d.st.LoadBalancers, k)
	d.log.Info("deleted load balancer", "cluster", cluster, "name", name)
	return d.saveLocked()
}

// applyLoadBalancerLocked makes the runtime match rec: a new listen address
// restarts it; anything else is updated in place.
func (d *daemon) applyLoadBalancerLocked(k string, rec *loadBalancer) (*lbRuntime, error) {
	bridgeAddr := d.lbBridgeAddrLocked(rec)
	rt := d.lbs[k]
	if rt != nil && (rt.bridgeAddr != bridgeAddr || (rec.HostPort != 0 && rt.hostPort != rec.HostPort)) {
		rt.stop()
		delete(d.lbs, k)
		rt = nil
	}
	if rt == nil {
		rt = newLBRuntime(d, rec.Cluster+"/"+rec.Name, bridgeAddr, rec.HostPort)
		d.lbs[k] = rt
	}
	rt.setConfig(rec.LoadBalancer)
	if err := rt.listen(); err != nil {
		if _, known := d.st.LoadBalancers[k]; !known {
			// A brand-new load balancer that cannot listen is not created.
			rt.stop()
			delete(d.lbs, k)
		}
		return nil, errConflict("load balancer %s: %v", rec.Name, err)
	}
	return rt, nil
}

// syncLoadBalancersLocked runs on every reconcile pass: it (re)opens
// listeners, drops runtimes of deleted load balancers and hands each the
// current backend candidates.
func (d *daemon) syncLoadBalancersLocked() {
	for k, rt := range d.lbs {
		if _, ok := d.st.LoadBalancers[k]; !ok {
			rt.stop()
			delete(d.lbs, k)
		}
	}
	for k, rec := range d.st.LoadBalancers {
		rt, err := d.applyLoadBalancerLocked(k, rec)
		if err != nil {
			d.log.Warn("load balancer listener", "lb", k, "err", err)
			if rt = d.lbs[k]; rt == nil {
				continue
			}
		}
		candidates := map[string]string{}
		for _, inst := range d.st.Instances {
			if inst.Cluster == rec.Cluster && inst.State == cloud.StateRunning && !inst.Detached && slices.Contains(rec.BackendGroups, inst.Group) {
				candidates[inst.ID] = net.JoinHostPort(inst.Address, strconv.Itoa(rec.BackendPort))
			}
		}
		rt.setBackends(candidates)
	}
}

func (d *daemon) stopAllLoadBalancers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, rt := range d.lbs {
		rt.stop()
		delete(d.lbs, k)
	}
	for cluster, api := range d.machineAPIs {
		api.close()
		delete(d.machineAPIs, cluster)
	}
}

// lbRuntime is a running load balancer: two listeners (loopback and bridge),
// a health checker and the connections it proxies.
type lbRuntime struct {
	d          *daemon
	name       string
	bridgeAddr string
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu        sync.Mutex
	cfg       cloud.LoadBalancer
	hostPort  int
	hostLn    net.Listener
	bridgeLn  net.Listener
	backends  map[string]*backend // by instance id
	next      int                 // round-robin position
	conns     map[net.Conn]struct{}
	checkerOn bool
}

type backend struct {
	addr             string
	healthy          bool
	successes, fails int
	lastErr          error
}

func newLBRuntime(d *daemon, name, bridgeAddr string, hostPort int) *lbRuntime {
	ctx, cancel := context.WithCancel(d.lifeCtx)
	return &lbRuntime{d: d, name: name, bridgeAddr: bridgeAddr, hostPort: hostPort, ctx: ctx, cancel: cancel,
		backends: map[string]*backend{}, conns: map[net.Conn]struct{}{}}
}

func (rt *lbRuntime) setConfig(cfg cloud.LoadBalancer) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.cfg = cfg
}

// listen opens whichever listener is not open yet and starts the checker.
// The host port is chosen once (port 0) and then always reused.
func (rt *lbRuntime) listen() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var errs []error
	if rt.hostLn == nil {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(rt.hostPort)))
		if err != nil {
			errs = append(errs, fmt.Errorf("listen on 127.0.0.1:%d: %w", rt.hostPort, err))
		} else {
			rt.hostLn = ln
			rt.hostPort = ln.Addr().(*net.TCPAddr).Port
			rt.serve(ln)
		}
	}
	if rt.bridgeLn == nil && rt.bridgeAddr != "" {
		ln, err := net.Listen("tcp", rt.bridgeAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen on %s: %w", rt.bridgeAddr, err))
		} else {
			rt.bridgeLn = ln
			rt.serve(ln)
		}
	}
	if !rt.checkerOn {
		rt.checkerOn = true
		rt.wg.Add(1)
		go rt.checkLoop()
	}
	return errors.Join(errs...)
}

func (rt *lbRuntime) serve(ln net.Listener) {
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if rt.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(50 * time.Millisecond) // e.g. out of descriptors: do not spin
				continue
			}
			rt.wg.Add(1)
			go func() { defer rt.wg.Done(); rt.proxy(c) }()
		}
	}()
}

// stop closes the listeners and every proxied connection and waits for the
// goroutines.
func (rt *lbRuntime) stop() {
	rt.cancel()
	rt.mu.Lock()
	for _, ln := range []net.Listener{rt.hostLn, rt.bridgeLn} {
		if ln != nil {
			ln.Close()
		}
	}
	for c := range rt.conns {
		c.Close()
	}
	rt.mu.Unlock()
	rt.wg.Wait()
}

// setBackends replaces the candidate set; a new candidate starts unhealthy
// and joins after its first successful check.
func (rt *lbRuntime) setBackends(candidates map[string]string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for id, b := range rt.backends {
		if addr, ok := candidates[id]; !ok || addr != b.addr {
			delete(rt.backends, id)
		}
	}
	for id, addr := range candidates {
		if _, ok := rt.backends[id]; !ok {
			rt.backends[id] = &backend{addr: addr}
		}
	}
}

// pick returns the healthy backends' addresses in round-robin order.
func (rt *lbRuntime) pick() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var ids []string
	for id, b := range rt.backends {
		if b.healthy {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	start := rt.next % len(ids)
	rt.next++
	out := make([]string, 0, len(ids))
	for i := range ids {
		out = append(out, rt.backends[ids[(start+i)%len(ids)]].addr)
	}
	return out
}

// proxy forwards one connection to the first healthy backend that answers;
// with no healthy backend the connection is closed at once.
func (rt *lbRuntime) proxy(c net.Conn) {
	defer c.Close()
	var up net.Conn
	for _, addr := range rt.pick() {
		conn, err := (&net.Dialer{Timeout: backendDial}).DialContext(rt.ctx, "tcp", addr)
		if err == nil {
			up = conn
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	if !rt.track(c, up) {
		return
	}
	defer rt.untrack(c, up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // pass the half-close on
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

func (rt *lbRuntime) track(conns ...net.Conn) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.ctx.Err() != nil {
		return false
	}
	for _, c := range conns {
		rt.conns[c] = struct{}{}
	}
	return true
}

func (rt *lbRuntime) untrack(conns ...net.Conn) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, c := range conns {
		delete(rt.conns, c)
	}
}

// checkLoop checks every backend each interval, in parallel.
func (rt *lbRuntime) checkLoop() {
	defer rt.wg.Done()
	wait.NonSlidingUntilWithContext(rt.ctx, func(context.Context) { rt.checkAll() }, healthInterval)
}

func (rt *lbRuntime) checkAll() {
	rt.mu.Lock()
	hc := rt.cfg.HealthCheck
	targets := map[string]string{}
	for id, b := range rt.backends {
		targets[id] = b.addr
	}
	rt.mu.Unlock()

	var wg sync.WaitGroup
	results := make(map[string]error, len(targets))
	var rmu sync.Mutex
	for id, addr := range targets {
		wg.Go(func() {
			err := checkBackend(rt.ctx, hc, addr)
			rmu.Lock()
			results[id] = err
			rmu.Unlock()
		})
	}
	wg.Wait()
	if rt.ctx.Err() != nil {
		return
	}

	rt.mu.Lock()
	defer rt.mu.Unlock()
	for id, err := range results {
		b := rt.backends[id]
		if b == nil || b.addr != targets[id] {
			continue
		}
		b.lastErr = err
		if err == nil {
			b.successes, b.fails = b.successes+1, 0
			if !b.healthy && b.successes >= healthyAfter {
				b.healthy = true
				rt.d.log.Info("backend healthy", "lb", rt.name, "instance", id, "address", b.addr)
			}
			continue
		}
		b.successes, b.fails = 0, b.fails+1
		if b.healthy && b.fails >= unhealthyAfter {
			b.healthy = false
			rt.d.log.Warn("backend unhealthy", "lb", rt.name, "instance", id, "address", b.addr, "err", err)
		}
	}
}

// checkBackend is one health check: a TCP connect, or a GET of the path
// expecting 2xx. HTTPS skips verification: it checks liveness over the
// bridge, not identity.
func checkBackend(ctx context.Context, hc cloud.HealthCheck, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if hc.Protocol == "TCP" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	scheme := "http"
	transport := &http.Transport{DisableKeepAlives: true}
	if hc.Protocol == "HTTPS" {
		scheme = "https"
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	defer transport.CloseIdleConnections()
	path := hc.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

// Host ports of new load balancers come from this range, below Linux's
// ephemeral ports (32768 and up) so that no client socket holds one.
const (
	stablePortBase  = 20000
	stablePortRange = 10000
	stablePortTries = 64
)

// freeStableHostPort picks the host port of a new load balancer: the first
// free one of a sequence that depends only on the cluster and load balancer
// names. A cluster rebuilt from nothing (every machine and the load
// balancer gone) gets its old port back, so the kubeconfigs exported for it
// keep working. 0 (any port) when the whole sequence is taken.
func freeStableHostPort(cluster, name string) int {
	for i := range stablePortTries {
		port := stableHostPort(cluster, name, i)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			ln.Close()
			return port
		}
	}
	return 0
}

// stableHostPort is the i-th port of the sequence freeStableHostPort tries.
func stableHostPort(cluster, name string, i int) int {
	sum := sha256.Sum256([]byte(cluster + "/" + name))
	first := int(binary.BigEndian.Uint32(sum[:4]) % stablePortRange)
	return stablePortBase + (first+i)%stablePortRange
}
