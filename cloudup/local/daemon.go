package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hullproject/hull/cloudup/local/ociregistry"
	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/cloud"
)

// Where the local cloud lives unless told otherwise.
const (
	DefaultStateDir = "/var/lib/hull/local-cloud"
	DefaultSocket   = "/run/hull/local-cloud.sock"
)

// Tuning of the daemon's background work.
const (
	reconcileInterval = 500 * time.Millisecond
	// runningAfter is how long a boot process must live before its machine counts as Running.
	runningAfter = time.Second
	// maxParallel bounds concurrent machine launches (and, separately, stops).
	maxParallel = 4
	stopGrace   = 10 * time.Second
	// keepTerminated is how long a terminated instance stays visible to GetInstance.
	keepTerminated = time.Hour
)

// DaemonOptions says where the daemon keeps its state and serves its API.
type DaemonOptions struct {
	StateDir string
	Socket   string
	// Logger defaults to text on stderr.
	Logger *slog.Logger
}

func (o *DaemonOptions) defaults() {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Socket == "" {
		o.Socket = DefaultSocket
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// daemon owns the state and every runtime object (listeners, machines in
// flight). One mutex guards the state; slow work (starting and stopping
// machines, health checks) runs outside it.
type daemon struct {
	opts      DaemonOptions
	log       *slog.Logger
	statePath string

	mu        sync.Mutex
	st        *state
	launching map[string]bool // instance ids whose sandbox.Start is in flight
	stopping  map[string]bool // instance ids whose sandbox Stop is in flight
	lbs       map[string]*lbRuntime
	// machineAPIs are the clusters' machine API listeners, by cluster.
	machineAPIs map[string]*machineAPI
	// registry is the OCI registry of every cluster (see registry.go),
	// served on registryAddr (loopback) and on each network's gateways.
	registry     *ociregistry.Registry
	registryAddr string
	images       *imageCache
	// closing stops new background work once shutdown has begun.
	closing      bool
	stopFailedAt map[string]time.Time
	backoff      map[string]launchBackoff

	poke      chan struct{} // wakes the reconciler
	quit      chan struct{} // closed by the shutdown API
	quitOnce  sync.Once
	launchSem chan struct{}
	stopSem   chan struct{}
	// ops tracks background launches, stops and watchers so shutdown waits
	// for them and never leaves a machine half started and unrecorded.
	ops sync.WaitGroup
	// opsCtx outlives the API context: a launch that has begun is finished
	// even while the daemon shuts down.
	opsCtx    context.Context
	cancelOps context.CancelFunc
	// lifeCtx ends when the daemon stops; watchers and health checks use it.
	lifeCtx context.Context
}

// RunDaemon runs the local cloud until ctx ends or a client asks it to shut
// down. Machines keep running when it returns; the next daemon on the same
// state directory re-adopts them.
func RunDaemon(ctx context.Context, opts DaemonOptions) error {
	opts.defaults()
	if err := sandbox.RequireRoot(); err != nil {
		return fmt.Errorf("local cloud daemon: %w", err)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return fmt.Errorf("local cloud daemon: create state dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(opts.Socket), 0o755); err != nil {
		return fmt.Errorf("local cloud daemon: create socket dir: %w", err)
	}
	// Two locks: one per state dir, one per socket, so neither two daemons
	// on one state nor two daemons behind one socket can run.
	unlockState, err := lockFile(filepath.Join(opts.StateDir, "daemon.lock"))
	if err != nil {
		return err
	}
	defer unlockState()
	unlockSocket, err := lockFile(opts.Socket + ".lock")
	if err != nil {
		return err
	}
	defer unlockSocket()

	d, err := newDaemon(opts)
	if err != nil {
		return err
	}
	lifeCtx, cancelLife := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelLife()
	d.lifeCtx = lifeCtx

	if err := d.openRegistry(lifeCtx); err != nil {
		return err
	}
	defer d.registry.Close()

	d.adopt()
	d.restoreNetworks()
	d.mu.Lock()
	d.syncLoadBalancersLocked()
	d.mu.Unlock()

	_ = os.Remove(opts.Socket) // a stale socket of a dead daemon; we hold the lock
	ln, err := net.Listen("unix", opts.Socket)
	if err != nil {
		d.stopAllLoadBalancers()
		return fmt.Errorf("local cloud daemon: listen on %s: %w", opts.Socket, err)
	}
	// The API starts and stops machines as root: only root may use it.
	if err := os.Chmod(opts.Socket, 0o600); err != nil {
		ln.Close()
		d.stopAllLoadBalancers()
		return fmt.Errorf("local cloud daemon: %w", err)
	}
	srv := &http.Server{Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	reconcilerDone := make(chan struct{})
	go func() { defer close(reconcilerDone); d.reconcileLoop(lifeCtx) }()

	d.log.Info("local cloud daemon started", "stateDir", opts.StateDir, "socket", opts.Socket, "pid", os.Getpid())
	var runErr error
	select {
	case <-ctx.Done():
	case <-d.quit:
	case err := <-serveErr:
		runErr = fmt.Errorf("local cloud daemon: serve API: %w", err)
	}

	d.log.Info("local cloud daemon stopping; machines keep running")
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shutCtx)
	cancel()
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	cancelLife()
	<-reconcilerDone
	d.ops.Wait()
	d.cancelOps()
	d.stopAllLoadBalancers()
	d.mu.Lock()
	err = d.saveLocked()
	d.mu.Unlock()
	_ = os.Remove(opts.Socket)
	if runErr == nil && err != nil {
		runErr = err
	}
	d.log.Info("local cloud daemon stopped")
	return runErr
}

func newDaemon(opts DaemonOptions) (*daemon, error) {
	statePath := filepath.Join(opts.StateDir, "state.json")
	st, err := loadState(statePath)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{"images", "machines"} {
		if err := os.MkdirAll(filepath.Join(opts.StateDir, dir), 0o700); err != nil {
			return nil, fmt.Errorf("local cloud daemon: %w", err)
		}
	}
	opsCtx, cancelOps := context.WithCancel(context.Background())
	return &daemon{
		opts:         opts,
		log:          opts.Logger,
		statePath:    statePath,
		st:           st,
		launching:    map[string]bool{},
		stopping:     map[string]bool{},
		lbs:          map[string]*lbRuntime{},
		stopFailedAt: map[string]time.Time{},
		backoff:      map[string]launchBackoff{},
		images:       newImageCache(),
		poke:         make(chan struct{}, 1),
		quit:         make(chan struct{}),
		launchSem:    make(chan struct{}, maxParallel),
		stopSem:      make(chan struct{}, maxParallel),
		opsCtx:       opsCtx,
		cancelOps:    cancelOps,
		lifeCtx:      context.Background(),
	}, nil
}

// saveLocked persists the state; a failure is logged and returned, the
// in-memory state stays authoritative until the next successful save.
func (d *daemon) saveLocked() error {
	if err := d.st.save(d.statePath); err != nil {
		d.log.Error("save state", "err", err)
		return err
	}
	return nil
}

// wake asks the reconciler for a pass now.
func (d *daemon) wake() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

func (d *daemon) requestShutdown() { d.quitOnce.Do(func() { close(d.quit) }) }

// adopt runs once at start: machines still alive are kept, the rest are torn
// down and marked Terminated so their groups replace them.
func (d *daemon) adopt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, inst := range d.st.Instances {
		if !inst.live() {
			continue
		}
		if inst.Machine != nil && inst.Machine.Alive() {
			d.log.Info("re-adopted machine", "instance", id, "cluster", inst.Cluster, "group", inst.Group, "pid", inst.Machine.PID)
			d.watchLocked(inst)
			if inst.State == cloud.StateTerminating {
				d.beginTerminateLocked(inst, inst.Reason)
			}
			continue
		}
		reason := "machine was not running when the daemon started"
		if inst.State == cloud.StateTerminating {
			reason = inst.Reason
		}
		// Tear down synchronously: nothing else may use the address or the
		// netns name until the leftovers are gone.
		if err := d.teardown(context.Background(), inst); err != nil {
			d.log.Error("tear down dead machine", "instance", id, "err", err)
		}
		d.markTerminatedLocked(inst, reason)
		d.log.Info("machine gone while the daemon was away; it will be replaced", "instance", id, "group", inst.Group)
	}
	_ = d.saveLocked()
}

// restoreNetworks recreates bridges lost since the daemon last ran (a host
// reboot removes them).
func (d *daemon) restoreNetworks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for cluster, n := range d.st.Networks {
		if err := ensureBridge(&n.Network); err != nil {
			d.log.Error("restore network bridge", "cluster", cluster, "err", err)
		}
	}
}

// lockFile takes an exclusive, non-blocking flock on path and writes our pid
// into it so the error for a second daemon can name the first one.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local cloud daemon: open lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		holder := "another process"
		if data, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil {
				holder = fmt.Sprintf("pid %d", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("local cloud daemon: another daemon (%s) already holds %s; only one may run per state directory and socket", holder, path)
		}
		return nil, fmt.Errorf("local cloud daemon: lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
