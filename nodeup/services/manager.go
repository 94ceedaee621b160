package services

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hullproject/hull/nodeup/supervisor"
	"github.com/hullproject/hull/nodeup/tasks"
)

// Service is a long-running program of the machine.
type Service struct {
	Name string
	Path string
	Args []string
	// Env entries added to a minimal environment.
	Env []string
	// After names services that must start first (systemd's After=).
	After []string
}

// Manager runs services.
type Manager interface {
	// Kind names the manager in a plan: "supervisor" or "systemd".
	Kind() string
	// Running reports whether the service runs with exactly this spec.
	Running(ctx context.Context, s Service) (bool, error)
	// Ensure starts the service, restarting it if its spec changed.
	Ensure(ctx context.Context, s Service) error
}

// PathEnv puts the assets' binaries first (containerd finds its shim and
// the kubelet its tools there), then the usual system directories.
func PathEnv(assetsBin string) string {
	return "PATH=" + assetsBin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// Supervised runs services under the built-in supervisor, logging to
// LogDir/<name>.log.
type Supervised struct {
	Sup    *supervisor.Supervisor
	LogDir string
}

func (m *Supervised) Kind() string { return "supervisor" }

func (m *Supervised) spec(s Service) supervisor.Spec {
	return supervisor.Spec{Name: s.Name, Path: s.Path, Args: s.Args, Env: s.Env, LogFile: filepath.Join(m.LogDir, s.Name+".log")}
}

func (m *Supervised) Running(_ context.Context, s Service) (bool, error) {
	if m.Sup == nil {
		return false, nil
	}
	// Ensure is a no-op for an identical spec; Running only asks.
	return m.Sup.Running(s.Name) && m.Sup.Has(m.spec(s)), nil
}

func (m *Supervised) Ensure(_ context.Context, s Service) error {
	_, err := m.Sup.Ensure(m.spec(s))
	return err
}

// Systemd writes a unit per service under UnitDir and starts it with
// systemctl. Root prefixes UnitDir (tests).
type Systemd struct {
	Root    string
	UnitDir string
}

func (m *Systemd) Kind() string { return "systemd" }

func (m *Systemd) unitPath(name string) string {
	return filepath.Join(m.Root, m.UnitDir, "hull-"+name+".service")
}

// Unit renders a systemd unit for a service.
func Unit(s Service) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by hull nodeup.\n[Unit]\nDescription=hull %s\n", s.Name)
	for _, a := range s.After {
		fmt.Fprintf(&b, "After=hull-%s.service\nRequires=hull-%s.service\n", a, a)
	}
	b.WriteString("\n[Service]\n")
	for _, e := range s.Env {
		fmt.Fprintf(&b, "Environment=%q\n", e)
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(append([]string{s.Path}, s.Args...), " \\\n  "))
	b.WriteString("Restart=always\nRestartSec=2\nKillMode=process\nDelegate=yes\nLimitNOFILE=1048576\n\n[Install]\nWantedBy=multi-user.target\n")
	return []byte(b.String())
}

func (m *Systemd) Running(ctx context.Context, s Service) (bool, error) {
	old, err := os.ReadFile(m.unitPath(s.Name))
	if err != nil || string(old) != string(Unit(s)) {
		return false, nil
	}
	err = exec.CommandContext(ctx, "systemctl", "is-active", "--quiet", "hull-"+s.Name).Run()
	return err == nil, nil
}

func (m *Systemd) Ensure(ctx context.Context, s Service) error {
	if err := tasks.WriteFileAtomic(m.unitPath(s.Name), Unit(s), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"daemon-reload"}, {"enable", "hull-" + s.Name}, {"restart", "hull-" + s.Name}} {
		if out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// Task starts (or restarts) a service through the manager.
func Task(m Manager, s Service) tasks.Task {
	return &tasks.Func{
		TaskName:  "service/" + s.Name,
		TaskPhase: tasks.PhaseServices,
		CheckFn: func(ctx context.Context) (tasks.Change, error) {
			d := []string{"manager " + m.Kind(), strings.Join(append([]string{s.Path}, s.Args...), " \\\n  ")}
			if len(s.Env) > 0 {
				d = append(d, "env "+strings.Join(s.Env, " "))
			}
			ok, err := m.Running(ctx, s)
			if err != nil {
				return tasks.Change{}, err
			}
			if ok {
				return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
			}
			return tasks.Change{Action: tasks.Ensure, Reason: "start", Details: d}, nil
		},
		ApplyFn: func(ctx context.Context) error { return m.Ensure(ctx, s) },
	}
}
