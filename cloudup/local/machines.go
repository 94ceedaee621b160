package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/cloud"
)

// machineDirs are the paths a machine sees as its own: each is a directory
// under the machine's root, bind-mounted at the real path, so nodeup writes
// where it would on a cloud VM.
var machineDirs = []string{
	"/etc/kubernetes", "/etc/hull", "/var/lib/kubelet", "/var/lib/etcd",
	"/var/lib/containerd", "/run/containerd", "/var/lib/cni", "/etc/cni/net.d",
	"/var/log/pods", "/var/log/containers", "/run/netns", "/var/lib/hull",
	// containerd's registry hosts (certs.d): the host's own stay unseen.
	"/etc/containerd",
}

// Paths inside a machine.
const (
	imageMountPoint = "/opt/hull/image"
	userDataPath    = "/etc/hull/user-data.yaml"
)

// MachineInfo is an instance with its sandbox details, for debugging.
type MachineInfo struct {
	Instance cloud.Instance   `json:"instance"`
	Machine  *sandbox.Machine `json:"machine,omitempty"`
	RootDir  string           `json:"rootDir"`
	LogPath  string           `json:"logPath"`
	Reason   string           `json:"reason,omitempty"`
}

func (d *daemon) machineDir(id string) string { return filepath.Join(d.opts.StateDir, "machines", id) }

func (d *daemon) machineInfo(id string) (*MachineInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	inst := d.st.Instances[id]
	if inst == nil {
		return nil, errNotFound("instance %s does not exist", id)
	}
	info := &MachineInfo{Instance: inst.Instance, RootDir: filepath.Join(d.machineDir(id), "root"), LogPath: filepath.Join(d.machineDir(id), "boot.log"), Reason: inst.Reason}
	if inst.Machine != nil {
		m := *inst.Machine
		info.Machine = &m
	}
	return info, nil
}

// launchRequest is what a background launch needs, copied out of the state
// so the launch runs without the lock.
type launchRequest struct {
	inst        cloud.Instance
	lc          cloud.LaunchConfig
	address     netip.Prefix
	gateway     netip.Addr
	bridge      string
	networkCIDR string
	subnets     int
}

// launch starts one machine and records the result. It runs in the
// background, bounded by launchSem.
func (d *daemon) launch(req launchRequest) {
	defer d.ops.Done()
	id := req.inst.ID
	d.launchSem <- struct{}{}
	m, err := d.startMachine(req)
	<-d.launchSem

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.launching, id)
	inst := d.st.Instances[id]
	k := key(req.inst.Cluster, req.inst.Group)
	if err != nil {
		d.log.Error("launch machine failed", "instance", id, "group", req.inst.Group, "err", err)
		d.noteLaunchFailureLocked(k)
		if inst != nil {
			// Whatever Start left behind must go before the address is reused.
			if terr := d.teardown(context.Background(), inst); terr != nil {
				d.log.Error("tear down failed launch", "instance", id, "err", terr)
			}
			d.markTerminatedLocked(inst, "launch failed: "+err.Error())
		}
		_ = d.saveLocked()
		d.wake()
		return
	}
	delete(d.backoff, k)
	inst.Machine = m
	inst.BootedAt = time.Now().UTC()
	d.log.Info("launched machine", "instance", id, "group", req.inst.Group, "address", req.inst.Address, "pid", m.PID)
	if inst.State == cloud.StateTerminating {
		// Terminated (or its group deleted) while it was starting.
		d.beginTerminateLocked(inst, inst.Reason)
	} else {
		d.watchLocked(inst)
	}
	_ = d.saveLocked()
	d.wake()
}

// startMachine prepares the machine's root directory and user-data and
// starts its boot program in a sandbox.
func (d *daemon) startMachine(req launchRequest) (*sandbox.Machine, error) {
	img, err := d.verifiedImage(req.lc.Image)
	if err != nil {
		return nil, err
	}
	id := req.inst.ID
	root := filepath.Join(d.machineDir(id), "root")
	mounts := make([]sandbox.Mount, 0, len(machineDirs)+1)
	for _, dir := range machineDirs {
		src := filepath.Join(root, dir)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, fmt.Errorf("prepare machine %s: %w", id, err)
		}
		mounts = append(mounts, sandbox.Mount{Source: src, Target: dir})
	}
	mounts = append(mounts, sandbox.Mount{Source: img.Dir, Target: imageMountPoint, ReadOnly: true})
	if err := os.WriteFile(filepath.Join(root, userDataPath), req.lc.UserData, 0o600); err != nil {
		return nil, fmt.Errorf("prepare machine %s: write user-data: %w", id, err)
	}
	cmd := append([]string{filepath.Join(imageMountPoint, img.Boot[0])}, img.Boot[1:]...)
	spec := sandbox.Spec{
		ID:           id,
		Bridge:       req.bridge,
		Address:      req.address,
		Gateway:      req.gateway,
		Mounts:       mounts,
		CgroupParent: cgroupParent(req.inst.Cluster),
		Command:      cmd,
		Env:          append(machineBaseEnv(), "HULL_USER_DATA="+userDataPath, "HULL_INSTANCE_ID="+id, "HULL_CLOUD=local", EnvMachineAPI+"="+machineAPIURL(req.gateway)),
		LogPath:      filepath.Join(d.machineDir(id), "boot.log"),
	}
	m, err := sandbox.Start(d.opsCtx, spec)
	if err != nil {
		return nil, fmt.Errorf("start machine %s: %w", id, err)
	}
	if req.subnets > 1 {
		d.routeNetworkOnLink(m, req.networkCIDR)
	}
	return m, nil
}

// routeNetworkOnLink makes the whole cluster network reachable directly on
// the bridge from inside the machine, so machines in different subnets talk
// over the bridge without the host forwarding packets for them.
func (d *daemon) routeNetworkOnLink(m *sandbox.Machine, cidr string) {
	ctx, cancel := context.WithTimeout(d.opsCtx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "-n", m.NetNS, "-o", "route", "show", "default").Output()
	dev := ""
	if fields := strings.Fields(string(out)); err == nil {
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] == "dev" {
				dev = fields[i+1]
			}
		}
	}
	if dev == "" {
		d.log.Warn("cannot find the machine's interface; machines in other subnets may be unreachable", "instance", m.ID, "err", err)
		return
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", m.NetNS, "route", "replace", cidr, "dev", dev).CombinedOutput(); err != nil {
		d.log.Warn("add on-link route for the cluster network", "instance", m.ID, "err", err, "output", strings.TrimSpace(string(out)))
	}
}

// watchLocked wakes the reconciler as soon as the machine's boot process
// exits, rather than at the next tick.
func (d *daemon) watchLocked(inst *instance) {
	m, ctx := inst.Machine, d.lifeCtx
	go func() {
		if err := m.Wait(ctx); ctx.Err() == nil {
			d.log.Debug("machine exited", "instance", m.ID, "err", err)
			d.wake()
		}
	}()
}

// beginTerminateLocked marks an instance Terminating and stops its machine
// in the background; a launch still in flight stops it when it finishes.
func (d *daemon) beginTerminateLocked(inst *instance, reason string) {
	if !inst.live() {
		return
	}
	inst.State = cloud.StateTerminating
	if inst.Reason == "" {
		inst.Reason = reason
	}
	if d.launching[inst.ID] || d.stopping[inst.ID] || d.closing {
		return
	}
	d.stopping[inst.ID] = true
	d.ops.Add(1)
	go d.stop(inst.ID, *inst)
}

// stop stops a machine, removes its root directory and marks it Terminated.
func (d *daemon) stop(id string, inst instance) {
	defer d.ops.Done()
	d.stopSem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace+time.Minute)
	err := d.teardown(ctx, &inst)
	cancel()
	<-d.stopSem

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.stopping, id)
	rec := d.st.Instances[id]
	if rec == nil {
		return
	}
	if err != nil {
		d.log.Error("stop machine failed; will retry", "instance", id, "err", err)
		d.stopFailedAt[id] = time.Now()
		return
	}
	delete(d.stopFailedAt, id)
	d.markTerminatedLocked(rec, rec.Reason)
	d.log.Info("terminated machine", "instance", id, "group", rec.Group, "reason", rec.Reason)
	_ = d.saveLocked()
	d.wake()
}

// teardown stops the machine's processes and removes its netns, veth and
// cgroups, then its root directory.
func (d *daemon) teardown(ctx context.Context, inst *instance) error {
	var err error
	if inst.Machine != nil {
		err = inst.Machine.Stop(ctx, stopGrace)
	} else {
		err = sandbox.Teardown(inst.ID, inst.CgroupParent)
	}
	if err != nil {
		return fmt.Errorf("stop machine %s: %w", inst.ID, err)
	}
	return removeUnmounted(filepath.Join(d.machineDir(inst.ID), "root"))
}

func (d *daemon) markTerminatedLocked(inst *instance, reason string) {
	inst.State = cloud.StateTerminated
	inst.TerminatedAt = time.Now().UTC()
	if inst.Reason == "" {
		inst.Reason = reason
	}
}

// forgetInstanceLocked drops a terminated instance's record and directory.
func (d *daemon) forgetInstanceLocked(id string) {
	if err := removeUnmounted(d.machineDir(id)); err != nil {
		d.log.Warn("remove machine directory", "instance", id, "err", err)
	}
	delete(d.st.Instances, id)
}

// removeUnmounted deletes dir unless something is mounted beneath it in this
// mount namespace: deleting through a mount would destroy what it shows.
func removeUnmounted(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := filepath.Clean(dir) + "/"
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == filepath.Clean(dir) || strings.HasPrefix(fields[4], prefix)) {
			return fmt.Errorf("not removing %s: %s is still mounted", dir, fields[4])
		}
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// machineBaseEnv is what a cloud VM's boot program starts with: a standard
// PATH (nodeup runs ip, iptables and ctr) and a HOME, nothing from the daemon.
func machineBaseEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
}
