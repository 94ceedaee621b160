package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The machine's init is this same binary, started by Start in new mount and
// UTS namespaces with initEnv set. It finishes the setup that must happen
// inside the machine, then execs the boot command in its place: the boot
// process keeps the init's PID, so Machine.PID is the boot program.

const (
	initEnv  = "_HULL_SANDBOX_INIT"
	statusFD = 3 // write end of Start's status pipe (ExtraFiles[0])
)

// initConfig is what Start hands the init, as JSON in initEnv.
type initConfig struct {
	Spec        Spec     `json:"spec"`
	NetNS       string   `json:"netns"`       // /run/netns/hull-<ID>
	CgroupProcs []string `json:"cgroupProcs"` // cgroup.procs of the machine in every hierarchy
}

func (c initConfig) encode() (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode init config: %w", err)
	}
	return string(b), nil
}

// MaybeRunInit must be the first call in main (and in TestMain of any
// package that starts machines). When this process was started by Start as
// a machine's init, it finishes setting the machine up and execs the boot
// command, never returning; otherwise it returns at once.
func MaybeRunInit() {
	payload, ok := os.LookupEnv(initEnv)
	if !ok {
		return
	}
	// Joining the network namespace affects only the calling thread; staying
	// on it until exec makes the exec'ed boot command inherit it.
	runtime.LockOSThread()
	err := runInit(payload)
	status := os.NewFile(statusFD, "status")
	fmt.Fprintf(status, "%v", err)
	os.Exit(1)
}

// runInit returns only on failure.
func runInit(payload string) error {
	var cfg initConfig
	if err := json.Unmarshal([]byte(payload), &cfg); err != nil {
		return fmt.Errorf("decode init config: %w", err)
	}
	spec := cfg.Spec
	// The status pipe must close when the boot command is exec'ed: that is
	// how Start learns it succeeded.
	syscall.CloseOnExec(statusFD)

	// Cgroups first, so that everything below (and everything the boot
	// command ever starts) is accounted to the machine and killed by Stop.
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, p := range cfg.CgroupProcs {
		if err := os.WriteFile(p, pid, 0); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	// Nothing mounted in the machine may propagate back to the host (or to
	// other machines), and host mounts made later should not leak in.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	ns, err := os.Open(cfg.NetNS)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
	ns.Close()
	if err != nil {
		return fmt.Errorf("join network namespace %s: %w", cfg.NetNS, err)
	}
	// Like `nsenter --net`, /sys is NOT remounted: the kubelet needs the
	// host's /sys/fs/cgroup mounts there.
	if err := detachNetnsMounts(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(spec.ID)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	mounts := slices.Clone(spec.Mounts)
	slices.SortStableFunc(mounts, func(a, b Mount) int { return strings.Compare(a.Target, b.Target) })
	// Open every source before the first mount: a target may cover the
	// path of a later mount's source (the local cloud keeps machine roots
	// under /var/lib/hull, itself a machine mount point). Mounting from the
	// descriptor keeps each source reachable whatever is mounted meanwhile.
	froms := make([]string, len(mounts))
	for i, m := range mounts {
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("mount %s: open source %s: %w", m.Target, m.Source, err)
		}
		defer unix.Close(fd)
		froms[i] = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	for i, m := range mounts {
		if err := bindMount(m, froms[i]); err != nil {
			return err
		}
	}
	prog, err := lookPath(spec.Command[0], spec.Env)
	if err != nil {
		return err
	}
	err = syscall.Exec(prog, spec.Command, spec.Env)
	return fmt.Errorf("exec %s: %w", prog, err)
}

// detachNetnsMounts drops this mount namespace's copies of the host's
// /run/netns/* bind mounts. Each copy holds a reference to another
// machine's network namespace; left in place, `ip netns del` of that
// machine would not free its namespace (and veth) until this machine died.
func detachNetnsMounts() error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if m, ok := parseMountinfo(sc.Text()); ok && m.fstype == "nsfs" {
			points = append(points, m.point)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	slices.Reverse(points)
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach %s: %w", p, err)
		}
	}
	return nil
}

// bindMount mounts m.Source at m.Target (recursively, so mounts below the
// source come along), read-only if asked. A missing target here lies below
// an earlier mount (Start created the others on the host), so creating it
// writes into that mount's source, not the host.
// bindMount mounts from (a descriptor path of m.Source) at m.Target; errors
// name m.Source.
func bindMount(m Mount, from string) error {
	fi, err := os.Stat(from)
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Target, err)
	}
	if _, err := os.Lstat(m.Target); errors.Is(err, fs.ErrNotExist) {
		if fi.IsDir() {
			err = os.MkdirAll(m.Target, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("mount %s: create mount point: %w", m.Target, err)
		}
	}
	if err := unix.Mount(from, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount %s at %s: %w", m.Source, m.Target, err)
	}
	if !m.ReadOnly {
		return nil
	}
	// A bind mount becomes read-only only by a remount; keep the source's
	// nosuid/nodev/noexec, which a remount would otherwise clear.
	var st unix.Statfs_t
	if err := unix.Statfs(m.Target, &st); err != nil {
		return fmt.Errorf("mount %s read-only: %w", m.Target, err)
	}
	flags := uintptr(unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY) | uintptr(st.Flags)&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	if err := unix.Mount("", m.Target, "", flags, ""); err != nil {
		return fmt.Errorf("mount %s read-only: %w", m.Target, err)
	}
	return nil
}

// lookPath finds prog in the PATH of env (the boot command's environment,
// not the init's), inside the machine's mount namespace.
func lookPath(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	dirs := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			dirs = v
		}
	}
	for _, dir := range filepath.SplitList(dirs) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("boot command %q not found in PATH %s", prog, dirs)
}
