package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// stateDir holds the record of host paths this package created. It is on
// /run (tmpfs) on purpose: the things it describes (netns, cgroups, machine
// processes) do not survive a reboot either.
const stateDir = "/run/hull/sandbox"

// hostPaths records every host directory (or file) that Start created and
// which machines use it: bind-mount targets such as /etc/kubernetes, and
// cgroup directories such as <hierarchy>/hull/<cluster>. Several machines
// share them, so a directory is removed only when the last machine that uses
// it is stopped. Removing one earlier would be harmful, not just untidy:
// rmdir of a directory that is a mount point in another mount namespace
// silently detaches that mount there (Linux >= 3.18).
//
// The record lives on disk, not in Machine, so that Teardown(id) can clean up
// after a lost Machine record and so that every process using this package
// (the daemon, tests) agrees; a flock on stateDir serialises them.
type hostPaths struct {
	// Users maps an absolute host path to the ids of the machines using it.
	Users map[string][]string `json:"users"`
}

// withHostPaths runs fn with the host path record locked, and saves the
// record afterwards (also when fn fails: what fn created must stay known).
func withHostPaths(fn func(*hostPaths) error) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", stateDir, err)
	}
	lock, err := os.Open(stateDir)
	if err != nil {
		return fmt.Errorf("lock %s: %w", stateDir, err)
	}
	defer lock.Close() // releases the flock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", stateDir, err)
	}
	file := filepath.Join(stateDir, "host-paths.json")
	hp := &hostPaths{Users: map[string][]string{}}
	switch b, err := os.ReadFile(file); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read %s: %w", file, err)
	default:
		if err := json.Unmarshal(b, hp); err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		if hp.Users == nil {
			hp.Users = map[string][]string{}
		}
	}
	fnErr := fn(hp)
	if len(hp.Users) == 0 {
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return errors.Join(fnErr, fmt.Errorf("remove %s: %w", file, err))
		}
		return fnErr
	}
	b, err := json.MarshalIndent(hp, "", "  ")
	if err != nil {
		return errors.Join(fnErr, err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return errors.Join(fnErr, fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, file); err != nil {
		return errors.Join(fnErr, fmt.Errorf("write %s: %w", file, err))
	}
	return fnErr
}

// mkdirAll creates path and its missing parents below base (which must
// exist), recording each one it creates as used by id. Existing levels that
// an earlier machine created are marked as used by id too, so they outlive
// the machine that created them while id still needs them. With file set,
// the last element is created as an empty regular file (a bind mount of a
// file needs a file to mount on).
func (hp *hostPaths) mkdirAll(base, path, id string, file bool) error {
	rel, err := filepath.Rel(base, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("create %s: not below %s", path, base)
	}
	parts := strings.Split(rel, string(filepath.Separator))
	cur := base
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		last := i == len(parts)-1
		switch _, err := os.Lstat(cur); {
		case err == nil:
			if _, ours := hp.Users[cur]; ours {
				hp.use(cur, id)
			}
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("create %s: %w", path, err)
		}
		if last && file {
			f, err := os.OpenFile(cur, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create %s: %w", cur, err)
			}
			f.Close()
		} else if err := os.Mkdir(cur, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", cur, err)
		}
		hp.use(cur, id)
	}
	return nil
}

func (hp *hostPaths) use(path, id string) {
	if !slices.Contains(hp.Users[path], id) {
		hp.Users[path] = append(hp.Users[path], id)
	}
}

// release drops id from every recorded path and removes the paths no machine
// uses any more, deepest first. A path that cannot be removed (someone put a
// file in a directory we created, or a process into a cgroup) is forgotten
// rather than retried forever: it is no longer only ours.
func (hp *hostPaths) release(id string) {
	var free []string
	for p, ids := range hp.Users {
		ids = slices.DeleteFunc(ids, func(s string) bool { return s == id })
		if len(ids) > 0 {
			hp.Users[p] = ids
			continue
		}
		free = append(free, p)
	}
	// A child path is longer than its parent: longest first is depth first.
	slices.SortFunc(free, func(a, b string) int { return len(b) - len(a) })
	for _, p := range free {
		delete(hp.Users, p)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("sandbox: leaving a host path it created, it is in use", "machine", id, "path", p, "err", err)
		}
	}
}
