package assets

import (
	"errors"
	"fmt"

	"github.com/hullproject/hull/internal/dirlock"
)

// lockDir keeps two builds of one repository apart. Where flock(2) is
// missing it is a no-op: the local cloud, the only user of built assets,
// runs on Linux.
func lockDir(dir string) (func(), error) {
	unlock, err := dirlock.Lock(dir)
	if errors.Is(err, dirlock.ErrUnsupported) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock asset repository %s: %w", dir, err)
	}
	return unlock, nil
}
