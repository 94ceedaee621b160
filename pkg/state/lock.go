package state

import (
	"errors"
	"fmt"

	"github.com/hullproject/hull/internal/dirlock"
)

// dirLock returns a lock that excludes every process (and goroutine) using
// the same store directory, with no lock file in the store. The kernel drops
// it if the process dies, so a crash never leaves the store locked. Where
// flock(2) is missing, writes are refused rather than risk a lost update.
func dirLock(dir string) func() (func(), error) {
	return func() (func(), error) {
		unlock, err := dirlock.Lock(dir)
		if errors.Is(err, dirlock.ErrUnsupported) {
			return nil, errors.New("file:// state store writes need flock(2), which this OS lacks; use s3:// or another backend")
		}
		if err != nil {
			return nil, fmt.Errorf("lock store %s: %w", dir, err)
		}
		return unlock, nil
	}
}
