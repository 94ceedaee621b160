// Package tasks defines nodeup's idempotent host tasks and the runner that plans or applies an ordered list of them.
package tasks
