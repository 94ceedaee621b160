// Package dirlock takes an exclusive, crash-safe lock on a directory with flock(2).
package dirlock
