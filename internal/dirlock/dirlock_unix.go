//go:build unix

package dirlock

import (
	"os"
	"syscall"
)

// Lock takes an exclusive flock(2) on a fresh descriptor of dir itself, so no
// lock file appears beside the data; it excludes other processes and other
// goroutines alike, and the kernel drops it if the process dies. unlock
// releases it.
func Lock(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
