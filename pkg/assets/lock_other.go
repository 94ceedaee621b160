//go:build !unix

package assets

// lockDir is a no-op where flock(2) is missing; the local cloud, the only
// user of built assets, runs on Linux.
func lockDir(string) (func(), error) { return func() {}, nil }
