package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/wait"
)

// cgroupHierarchies returns the mount point of every cgroup v1 hierarchy
// (cpu, memory, ..., name=systemd). A real kubelet with the cgroupfs driver on
// a v1 host expects its cgroupRoot in every one of them, so a machine gets a
// cgroup in each. The unified (v2) mount of a hybrid host is left out: it has
// no controllers here and nothing in a machine uses it.
func cgroupHierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	defer f.Close()
	var mounts []string
	seen := map[string]bool{} // by device: a hierarchy mounted twice counts once
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m, ok := parseMountinfo(sc.Text())
		if !ok || m.fstype != "cgroup" || m.root != "/" || seen[m.dev] {
			continue
		}
		seen[m.dev] = true
		mounts = append(mounts, m.point)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	if len(mounts) == 0 {
		return nil, errors.New("list cgroup hierarchies: no cgroup v1 hierarchy is mounted (the local cloud needs a cgroup v1 host)")
	}
	slices.Sort(mounts)
	return mounts, nil
}

// mountinfoLine is the part of a /proc/PID/mountinfo line this package uses.
type mountinfoLine struct {
	dev, root, point, fstype, source string
}

func parseMountinfo(line string) (mountinfoLine, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return mountinfoLine{}, false
	}
	a, b := strings.Fields(pre), strings.Fields(post)
	if len(a) < 5 || len(b) < 2 {
		return mountinfoLine{}, false
	}
	return mountinfoLine{dev: a[2], root: unescapeMountinfo(a[3]), point: unescapeMountinfo(a[4]), fstype: b[0], source: unescapeMountinfo(b[1])}, true
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space...).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// createCgroups creates rel (the machine's cgroup) in every hierarchy,
// registering each directory it creates for id so that the last machine to
// leave a shared parent removes it. cpuset.cpus and cpuset.mems are copied
// down each level: a new v1 cpuset cgroup starts empty and refuses tasks.
func createCgroups(hp *hostPaths, id string, hierarchies []string, rel string) error {
	for _, h := range hierarchies {
		dir := filepath.Join(h, rel)
		if err := hp.mkdirAll(h, dir, id, false); err != nil {
			return err
		}
		d := h
		for _, part := range strings.Split(rel, "/") {
			next := filepath.Join(d, part)
			if err := inheritCpuset(d, next); err != nil {
				return err
			}
			d = next
		}
	}
	return nil
}

// inheritCpuset fills an empty cpuset.cpus/cpuset.mems of child from parent.
// Files that do not exist (other hierarchies) are skipped.
func inheritCpuset(parent, child string) error {
	for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := os.ReadFile(filepath.Join(child, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(child, name), err)
		}
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		val, err := os.ReadFile(filepath.Join(parent, name))
		if err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(parent, name), err)
		}
		if err := os.WriteFile(filepath.Join(child, name), val, 0); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(child, name), err)
		}
	}
	return nil
}

// cgroupPids lists the processes in the cgroups dirs and all their
// descendants. Missing directories contribute nothing.
func cgroupPids(dirs []string) ([]int, error) {
	seen := map[int]bool{}
	var errs []error
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed under us
				}
				return err
			}
			if !d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) {
				return nil
			}
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("list processes in %s: %w", dir, err))
		}
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids, errors.Join(errs...)
}

// setFreezer writes state (FROZEN or THAWED) to the freezer cgroups among
// dirs and waits briefly for it to take. Freezing before SIGKILL means no
// process can fork a child we have not seen between listing and killing.
// It is best effort: a task stuck in the kernel may never freeze, and the
// kill loop copes without the freezer.
func setFreezer(dirs []string, state string) {
	for _, dir := range dirs {
		f := filepath.Join(dir, "freezer.state")
		if err := os.WriteFile(f, []byte(state), 0); err != nil {
			continue // not the freezer hierarchy, or already gone
		}
		_ = wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, time.Second, true, func(context.Context) (bool, error) {
			b, err := os.ReadFile(f)
			return err != nil || strings.TrimSpace(string(b)) == state, nil
		})
	}
}

// removeCgroupTree removes dir and every cgroup below it, deepest first.
// rmdir can fail with EBUSY for a moment after the last task exited, so it
// retries briefly.
func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	slices.Reverse(dirs) // WalkDir visits parents first
	for _, d := range dirs {
		var err error
		_ = wait.ExponentialBackoff(wait.Backoff{Duration: 20 * time.Millisecond, Steps: 50}, func() (bool, error) {
			if err = unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				return true, nil
			}
			if !errors.Is(err, unix.EBUSY) {
				return false, err // not transient: give up with err
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}
