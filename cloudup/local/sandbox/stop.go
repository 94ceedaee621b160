package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Stop ends the machine: SIGTERM to every process in its cgroup tree (in
// every hierarchy, so daemonized and setsid'ed descendants too), up to grace
// for them to exit, then SIGKILL until the cgroups are empty. With the last
// process its mount namespace, and so its bind mounts, disappear. Then it
// deletes the network namespace, the veth, the cgroups (depth first), and the
// host mount targets and parent cgroups no other machine uses. Stopping a
// stopped machine is a no-op.
func (m *Machine) Stop(ctx context.Context, grace time.Duration) error {
	if err := validateID(m.ID); err != nil {
		return fmt.Errorf("stop machine: %w", err)
	}
	// The record may come from disk: insist its names are the ones Start
	// derives, so a corrupt record cannot make Stop kill or delete
	// something else (an empty Cgroup would mean the hierarchy root).
	if m.NetNS != netnsName(m.ID) || m.Veth != vethName(m.ID) || path.Base(m.Cgroup) != m.ID || validateCgroupParent(m.Cgroup) != nil {
		return fmt.Errorf("stop machine %s: inconsistent machine record %+v", m.ID, *m)
	}
	if err := teardown(ctx, m, grace); err != nil {
		return fmt.Errorf("stop machine %s: %w", m.ID, err)
	}
	slog.Info("sandbox: machine stopped", "machine", m.ID)
	return nil
}

// Teardown removes, best effort and idempotently, everything of the machine
// id whose cgroup parent is cgroupParent, for when its Machine record was
// lost: its processes (killed at once), network namespace, veth, cgroups and
// the host paths it alone used.
func Teardown(id, cgroupParent string) error {
	if err := errors.Join(validateID(id), validateCgroupParent(cgroupParent)); err != nil {
		return fmt.Errorf("teardown machine %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := &Machine{ID: id, NetNS: netnsName(id), Veth: vethName(id), Cgroup: path.Join(cgroupParent, id)}
	if err := teardown(ctx, m, 0); err != nil {
		return fmt.Errorf("teardown machine %s: %w", id, err)
	}
	return nil
}

// teardown is Stop and Teardown without the checks; Start uses it to undo a
// failed start. m.PID may be zero (unknown).
func teardown(ctx context.Context, m *Machine, grace time.Duration) error {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var dirs []string
	for _, h := range hierarchies {
		dirs = append(dirs, filepath.Join(h, m.Cgroup))
	}
	if err := killAll(ctx, m, dirs, grace); err != nil {
		// Processes are left: their namespaces and mounts are still in use,
		// and removing host paths could detach mounts under them.
		return err
	}
	var errs []error
	if err := deleteNetwork(ctx, m.NetNS, m.Veth); err != nil {
		errs = append(errs, err)
	}
	for _, d := range dirs {
		if err := removeCgroupTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return withHostPaths(func(hp *hostPaths) error {
		hp.release(m.ID)
		return nil
	})
}

// killAll signals the machine's processes until none is left or ctx ends.
func killAll(ctx context.Context, m *Machine, dirs []string, grace time.Duration) error {
	list := func() ([]int, error) {
		pids, err := cgroupPids(dirs)
		// The boot process belongs in the list even if something moved it
		// out of the machine's cgroups.
		if m.PID > 0 && m.Alive() {
			pids = append(pids, m.PID)
		}
		return pids, err
	}
	pids, err := list()
	if len(pids) == 0 {
		return err
	}
	if grace > 0 {
		signalAll(pids, unix.SIGTERM)
		_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, grace, false, func(context.Context) (bool, error) {
			pids, _ = list()
			return len(pids) == 0, nil
		})
	}
	for len(pids) > 0 {
		// Frozen, nobody can fork between our listing and our kill; the
		// kill takes effect on thaw.
		setFreezer(dirs, "FROZEN")
		pids, _ = list()
		signalAll(pids, unix.SIGKILL)
		setFreezer(dirs, "THAWED")
		select {
		case <-ctx.Done():
			pids, _ = list()
			return fmt.Errorf("processes %v still running: %w", pids, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		pids, err = list()
	}
	return err
}

func signalAll(pids []int, sig unix.Signal) {
	self := os.Getpid()
	for _, pid := range pids {
		if pid <= 1 || pid == self {
			continue // never ourselves or the host's init, whatever the cgroup says
		}
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			slog.Warn("sandbox: signal failed", "pid", pid, "signal", sig, "err", err)
		}
	}
}
