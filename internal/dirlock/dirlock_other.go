//go:build !unix

package dirlock

// Lock fails where flock(2) is missing.
func Lock(string) (func(), error) { return nil, ErrUnsupported }
