//go:build unix

package state

import (
	"fmt"
	"os"
	"syscall"
)

// dirLock returns a lock that excludes every process (and goroutine) using
// the same store directory: flock(2) on a fresh descriptor of the directory
// itself, so no lock file appears in the store. The kernel drops the lock if
// the process dies, so a crash never leaves the store locked.
func dirLock(dir string) func() (func(), error) {
	return func() (func(), error) {
		f, err := os.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("lock store: %w", err)
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock store %s: %w", dir, err)
		}
		return func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			_ = f.Close()
		}, nil
	}
}
