//go:build !unix

package state

import "errors"

// dirLock: hull's file:// store needs flock(2) to be safe across processes;
// refuse to write rather than risk a lost update.
func dirLock(string) func() (func(), error) {
	return func() (func(), error) {
		return nil, errors.New("file:// state store writes need flock(2), which this OS lacks; use s3:// or another backend")
	}
}
