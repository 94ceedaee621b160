package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RequireRoot says clearly why the local cloud cannot run without root.
func RequireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("the local cloud needs root (network namespaces, mounts, cgroups): run hull as root (sudo)")
	}
	return nil
}

// Mount presents the host directory (or file) Source at Target inside the
// machine. If Target does not exist on the host, Start creates it there (an
// empty directory, or an empty file when Source is a file): a bind mount
// needs a mount point, and a mount namespace shares the host's filesystem.
// Those created paths stay empty on the host (the machine's writes land in
// Source) and are removed when the last machine using them is stopped.
// A Target below another Mount's Target is created inside that mount's
// Source instead, by the machine itself.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Spec describes a machine to start.
type Spec struct {
	// ID is the instance id, e.g. "i-0a1b2c3d4e": "i-" then lower-case
	// letters, digits or '-', at most 14 characters. It is also the hostname,
	// names the network namespace ("hull-<ID>") and the host end of the veth
	// ("hv" + ID without "i-").
	ID string
	// Bridge is an existing bridge (see EnsureBridge) the veth is attached to.
	Bridge string
	// Address is the machine's address with its subnet's prefix length.
	Address netip.Prefix
	// Gateway is the default route inside the machine: the bridge's address
	// in that subnet.
	Gateway netip.Addr
	// Mounts are applied in order of Target, so a parent before its children.
	Mounts []Mount
	// CgroupParent is a relative cgroup path such as "hull/demo.example.com";
	// the machine's cgroup is <CgroupParent>/<ID> in every hierarchy.
	CgroupParent string
	// Command is the boot program and its arguments. A program name without a
	// slash is looked up in the PATH of Env, inside the machine.
	Command []string
	// Env is the boot program's whole environment.
	Env []string
	// LogPath is a host file receiving the boot program's stdout and stderr
	// (appended to). Empty discards them.
	LogPath string
}

// Machine is a started machine. It is plain data, so the daemon can persist
// it and re-adopt the machine after a restart: the boot process need not be
// a child of the process that calls its methods.
type Machine struct {
	ID  string `json:"id"`
	PID int    `json:"pid"` // the boot process, in the host's PID namespace
	// StartTime is field 22 of /proc/PID/stat (clock ticks since boot): with
	// PID it identifies the boot process even after the PID is reused.
	StartTime uint64 `json:"startTime"`
	NetNS     string `json:"netns"`  // name under /run/netns
	Veth      string `json:"veth"`   // host end of the veth pair
	Cgroup    string `json:"cgroup"` // relative path, the same in every hierarchy
	Bridge    string `json:"bridge"`
}

var idPattern = regexp.MustCompile(`^i-[a-z0-9][a-z0-9-]*$`)

func validateID(id string) error {
	if len(id) > 14 || !idPattern.MatchString(id) {
		return fmt.Errorf("invalid machine id %q: want \"i-\" then lower-case letters, digits or '-', at most 14 characters", id)
	}
	return nil
}

func validateCgroupParent(p string) error {
	if p == "" {
		return nil
	}
	if path.IsAbs(p) || path.Clean(p) != p || slices.Contains(strings.Split(p, "/"), "..") {
		return fmt.Errorf("invalid cgroup parent %q: want a clean relative path such as hull/demo.example.com", p)
	}
	return nil
}

func netnsName(id string) string { return "hull-" + id }
func vethName(id string) string  { return "hv" + strings.TrimPrefix(id, "i-") }

func (s Spec) validate() error {
	var errs []error
	if err := validateID(s.ID); err != nil {
		errs = append(errs, err)
	}
	if err := validLinkName(s.Bridge); err != nil {
		errs = append(errs, fmt.Errorf("bridge: %w", err))
	}
	if err := validateCgroupParent(s.CgroupParent); err != nil {
		errs = append(errs, err)
	}
	switch {
	case !s.Address.IsValid():
		errs = append(errs, errors.New("address is missing"))
	case !s.Gateway.IsValid() || !s.Address.Masked().Contains(s.Gateway) || s.Gateway == s.Address.Addr():
		errs = append(errs, fmt.Errorf("gateway %v is not another address in %v", s.Gateway, s.Address.Masked()))
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		errs = append(errs, errors.New("command is empty"))
	}
	if s.LogPath != "" && !filepath.IsAbs(s.LogPath) {
		errs = append(errs, fmt.Errorf("log path %q is not absolute", s.LogPath))
	}
	seen := map[string]bool{}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) {
			errs = append(errs, fmt.Errorf("mount source %q is not absolute", m.Source))
		} else if _, err := os.Stat(m.Source); err != nil {
			errs = append(errs, fmt.Errorf("mount source: %w", err))
		}
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) != m.Target || m.Target == "/" {
			errs = append(errs, fmt.Errorf("mount target %q is not a clean absolute path other than /", m.Target))
		}
		if seen[m.Target] {
			errs = append(errs, fmt.Errorf("mount target %q appears twice", m.Target))
		}
		seen[m.Target] = true
	}
	return errors.Join(errs...)
}

// Start creates the machine's cgroups, host mount targets and network, then
// starts its init (this binary again, see MaybeRunInit), which joins them,
// sets the hostname, bind-mounts, and execs Command. It returns once Command
// has been exec'ed, or with the init's error. On any failure it undoes what
// it created.
func Start(ctx context.Context, spec Spec) (_ *Machine, err error) {
	if err := RequireRoot(); err != nil {
		return nil, err
	}
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}
	m := &Machine{
		ID:     spec.ID,
		NetNS:  netnsName(spec.ID),
		Veth:   vethName(spec.ID),
		Cgroup: path.Join(spec.CgroupParent, spec.ID),
		Bridge: spec.Bridge,
	}
	if _, bridge := linkExists(spec.Bridge); !bridge {
		return nil, fmt.Errorf("start machine %s: bridge %s does not exist", spec.ID, spec.Bridge)
	}
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}
	// Claim the id under the host lock before creating anything, so that a
	// failure below never tears down another live machine with the same id.
	claimed := false
	err = withHostPaths(func(hp *hostPaths) error {
		if err := checkFree(m, hierarchies); err != nil {
			return err
		}
		claimed = true
		if err := createCgroups(hp, m.ID, hierarchies, m.Cgroup); err != nil {
			return err
		}
		return createTargets(hp, m.ID, spec.Mounts)
	})
	if claimed {
		defer func() {
			if err != nil {
				if terr := teardown(context.Background(), m, 0); terr != nil {
					slog.Warn("sandbox: cleanup after a failed start left something behind", "machine", m.ID, "err", terr)
				}
			}
		}()
	}
	if err != nil {
		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}
	if err := setupNetwork(ctx, spec, m); err != nil {
		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}
	if err := launch(ctx, spec, m, hierarchies); err != nil {
		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}
	slog.Info("sandbox: machine started", "machine", m.ID, "pid", m.PID, "address", spec.Address, "cgroup", m.Cgroup)
	return m, nil
}

// checkFree fails if anything of the machine already exists.
func checkFree(m *Machine, hierarchies []string) error {
	if netnsExists(m.NetNS) {
		return fmt.Errorf("network namespace %s already exists (is the machine running?)", m.NetNS)
	}
	if ok, _ := linkExists(m.Veth); ok {
		return fmt.Errorf("interface %s already exists (is the machine running?)", m.Veth)
	}
	for _, h := range hierarchies {
		if _, err := os.Lstat(filepath.Join(h, m.Cgroup)); err == nil {
			return fmt.Errorf("cgroup %s already exists (is the machine running?)", filepath.Join(h, m.Cgroup))
		}
	}
	return nil
}

// createTargets creates on the host the mount targets that do not exist
// there, except those below another mount's target (the machine creates
// them inside that mount's source).
func createTargets(hp *hostPaths, id string, mounts []Mount) error {
	for _, mnt := range mounts {
		nested := slices.ContainsFunc(mounts, func(o Mount) bool {
			return strings.HasPrefix(mnt.Target, o.Target+"/")
		})
		if nested {
			continue
		}
		fi, err := os.Stat(mnt.Source)
		if err != nil {
			return fmt.Errorf("mount source: %w", err)
		}
		if err := hp.mkdirAll("/", mnt.Target, id, !fi.IsDir()); err != nil {
			return fmt.Errorf("mount target: %w", err)
		}
	}
	return nil
}

// launch starts the machine's init and waits until it has exec'ed the boot
// command (the status pipe closes on exec) or failed (it writes why).
func launch(ctx context.Context, spec Spec, m *Machine, hierarchies []string) error {
	cfg := initConfig{Spec: spec, NetNS: filepath.Join(netnsDir, m.NetNS)}
	for _, h := range hierarchies {
		cfg.CgroupProcs = append(cfg.CgroupProcs, filepath.Join(h, m.Cgroup, "cgroup.procs"))
	}
	payload, err := cfg.encode()
	if err != nil {
		return err
	}
	out, err := openLog(spec.LogPath)
	if err != nil {
		return err
	}
	defer out.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	// /proc/self/exe, not os.Executable: it still works if the binary was
	// replaced on disk (an upgraded daemon).
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"hull-machine-init", spec.ID},
		Env:        []string{initEnv + "=" + payload},
		Dir:        "/",
		Stdout:     out,
		Stderr:     out,
		ExtraFiles: []*os.File{w}, // fd 3 in the child: statusFD
		SysProcAttr: &syscall.SysProcAttr{
			// Setsid: the machine must not get the daemon's terminal signals.
			// New mount and UTS namespaces from birth; the network namespace
			// is joined by the init (it was created by `ip netns add`).
			Setsid:     true,
			Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWUTS,
		},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start init: %w", err)
	}
	m.PID = cmd.Process.Pid
	// Read the start time before anything can reap the child: until then the
	// PID cannot be reused, even if it already exited.
	st, _, statErr := procStat(m.PID)
	m.StartTime = st
	// Reap the boot process when it exits; a daemon that restarts loses this
	// and the machine is reparented, which is fine.
	go func() {
		err := cmd.Wait()
		slog.Info("sandbox: machine boot process exited", "machine", spec.ID, "pid", m.PID, "status", err)
	}()
	if statErr != nil {
		return fmt.Errorf("read start time of pid %d: %w", m.PID, statErr)
	}

	status := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 64*1024))
		status <- b
	}()
	select {
	case b := <-status:
		if len(b) > 0 {
			return fmt.Errorf("init: %s", b)
		}
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return ctx.Err()
	}
}

func openLog(p string) (*os.File, error) {
	if p == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	return f, nil
}

// procStat returns the start time (field 22) and state (field 3) of a
// process from /proc/PID/stat.
func procStat(pid int) (startTime uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// comm (field 2) is in parentheses and may itself contain ") ".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return st, f[0][0], nil
}

// Alive reports whether the machine's boot process is running: the PID
// exists, has the recorded start time (so it was not reused) and is not a
// zombie.
func (m *Machine) Alive() bool {
	if m == nil || m.PID <= 0 {
		return false
	}
	st, state, err := procStat(m.PID)
	return err == nil && st == m.StartTime && state != 'Z' && state != 'X'
}

// Wait returns nil once the machine's boot process is gone, or ctx's error.
// The process need not be a child of this one, so it waits on a pidfd
// (readable when the process exits), falling back to polling /proc.
func (m *Machine) Wait(ctx context.Context) error {
	fd := -1
	if m.PID > 0 {
		if pfd, err := unix.PidfdOpen(m.PID, 0); err == nil {
			fd = pfd
			defer unix.Close(fd)
		}
	}
	// Checked after opening the pidfd: if the PID still has our start time
	// now, the pidfd refers to our process and not to a later reuse.
	for m.Alive() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if fd < 0 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for machine %s: %w", m.ID, err)
		}
		if n > 0 {
			return nil
		}
	}
	return nil
}

// ExecIn returns a command that runs inside the machine's network, mount and
// UTS namespaces, like `nsenter --target PID --net --mount --uts`. It also
// joins the machine's cgroups first (a tiny sh wrapper writes its own pid to
// each cgroup.procs before exec'ing nsenter), so Stop kills what it started
// and nothing outside the machine keeps its namespaces alive. args[0] is
// resolved inside the machine. If the machine is not running, the command's
// Start fails.
func ExecIn(ctx context.Context, m *Machine, args ...string) *exec.Cmd {
	if m == nil {
		cmd := exec.CommandContext(ctx, "/bin/false")
		cmd.Err = errors.New("exec in machine: no machine")
		return cmd
	}
	const join = `n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"`
	var procs []string
	hierarchies, herr := cgroupHierarchies()
	for _, h := range hierarchies {
		procs = append(procs, filepath.Join(h, m.Cgroup, "cgroup.procs"))
	}
	argv := []string{"-c", join, "sh", strconv.Itoa(len(procs))}
	argv = append(argv, procs...)
	argv = append(argv, "nsenter", "--target", strconv.Itoa(m.PID), "--net", "--mount", "--uts", "--")
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, "/bin/sh", argv...)
	switch {
	case herr != nil:
		cmd.Err = fmt.Errorf("exec in machine %s: %w", m.ID, herr)
	case len(args) == 0:
		cmd.Err = fmt.Errorf("exec in machine %s: no command", m.ID)
	case !m.Alive():
		cmd.Err = fmt.Errorf("exec in machine %s: the machine is not running", m.ID)
	}
	return cmd
}
