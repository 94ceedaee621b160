package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/nodeup/tasks"
)

// IPForward turns on IPv4 forwarding. /proc/sys/net is per network
// namespace, so on the local cloud this touches only the machine.
func IPForward(root string) tasks.Task {
	p := filepath.Join(root, "proc/sys/net/ipv4/ip_forward")
	return &tasks.Func{
		TaskName:  "sysctl/ip-forward",
		TaskPhase: tasks.PhaseServices,
		CheckFn: func(context.Context) (tasks.Change, error) {
			d := []string{"net.ipv4.ip_forward = 1 (pods reach other nodes through this machine)"}
			data, err := os.ReadFile(p)
			if err == nil && strings.TrimSpace(string(data)) == "1" {
				return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
			}
			return tasks.Change{Action: tasks.Update, Details: d}, nil
		},
		ApplyFn: func(context.Context) error {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, []byte("1\n"), 0o644)
		},
	}
}

// Preflight checks that host programs the node needs exist. A missing one
// fails the run naming the program and how to install it.
func Preflight(progs map[string]string) tasks.Task {
	names := make([]string, 0, len(progs))
	for n := range progs {
		names = append(names, n)
	}
	slices.Sort(names)
	missing := func() []string {
		var out []string
		for _, n := range names {
			if _, err := exec.LookPath(n); err != nil {
				out = append(out, fmt.Sprintf("%s (%s)", n, progs[n]))
			}
		}
		return out
	}
	return &tasks.Func{
		TaskName:  "preflight/host-programs",
		TaskPhase: tasks.PhaseServices,
		CheckFn: func(context.Context) (tasks.Change, error) {
			// Always "ensure", so a plan reads the same on every host; a
			// missing program is named here and fails the apply.
			d := []string{"needs " + strings.Join(names, ", ")}
			reason := "checked when applied"
			if m := missing(); len(m) > 0 {
				reason = "MISSING " + strings.Join(m, "; ")
			}
			return tasks.Change{Action: tasks.Ensure, Reason: reason, Details: d}, nil
		},
		ApplyFn: func(context.Context) error {
			if m := missing(); len(m) > 0 {
				return fmt.Errorf("missing host programs: %s", strings.Join(m, "; "))
			}
			return nil
		},
	}
}

// Ctr runs containerd's ctr against a socket.
type Ctr struct {
	Path   string
	Socket string
}

func (c Ctr) run(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"-a", c.Socket, "-n", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, c.Path, full...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// WaitContainerd waits until containerd answers on its socket.
func WaitContainerd(c Ctr, socketOnHost string, timeout time.Duration) tasks.Task {
	ready := func(ctx context.Context) bool {
		if _, err := os.Stat(socketOnHost); err != nil {
			return false
		}
		_, err := c.run(ctx, "version")
		return err == nil
	}
	return &tasks.Func{
		TaskName:  "containerd/ready",
		TaskPhase: tasks.PhaseServices,
		CheckFn: func(ctx context.Context) (tasks.Change, error) {
			d := []string{"socket " + c.Socket}
			if _, err := os.Stat(socketOnHost); err == nil && ready(ctx) {
				return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
			}
			return tasks.Change{Action: tasks.Ensure, Reason: "wait for the socket", Details: d}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
				return ready(ctx), nil
			})
			switch {
			case err == nil:
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			}
			return fmt.Errorf("containerd did not answer on %s within %s", c.Socket, timeout)
		},
	}
}

// Image is an image tarball to import.
type Image struct {
	Name string // reference inside the tarball
	File string // tarball path on the machine
}

// ImportImages imports every image containerd does not have yet: no
// registry is reachable, so the assets are the only source.
func ImportImages(c Ctr, socketOnHost string, images []Image) tasks.Task {
	present := func(ctx context.Context) (map[string]bool, error) {
		if _, err := os.Stat(socketOnHost); errors.Is(err, fs.ErrNotExist) {
			return map[string]bool{}, nil
		}
		out, err := c.run(ctx, "images", "ls", "-q")
		if err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			have[l] = true
		}
		return have, nil
	}
	missing := func(ctx context.Context) ([]Image, error) {
		have, err := present(ctx)
		if err != nil {
			return nil, err
		}
		var out []Image
		for _, im := range images {
			if !have[im.Name] {
				out = append(out, im)
			}
		}
		return out, nil
	}
	return &tasks.Func{
		TaskName:  "containerd/images",
		TaskPhase: tasks.PhaseServices,
		CheckFn: func(ctx context.Context) (tasks.Change, error) {
			var d []string
			for _, im := range images {
				d = append(d, im.Name+" <- "+im.File)
			}
			m, err := missing(ctx)
			if err != nil {
				// containerd not up yet (a plan before it starts).
				return tasks.Change{Action: tasks.Ensure, Reason: "containerd not answering", Details: d}, nil
			}
			if len(m) == 0 {
				return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
			}
			return tasks.Change{Action: tasks.Create, Reason: fmt.Sprintf("%d to import", len(m)), Details: d}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			m, err := missing(ctx)
			if err != nil {
				return err
			}
			for _, im := range m {
				if _, err := c.run(ctx, "images", "import", "--all-platforms", im.File); err != nil {
					return fmt.Errorf("import image %s: %w", im.Name, err)
				}
			}
			return nil
		},
	}
}
