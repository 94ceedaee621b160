package statetest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hullproject/hull/pkg/state"
)

// ErrInjected is what the faults below return (wrapped).
var ErrInjected = errors.New("injected fault")

// FailPut is a state.Fault that fails every write of key.
func FailPut(key string) state.Fault {
	return func(op state.Op, k string) error {
		if op == state.OpPut && k == key {
			return fmt.Errorf("put %s: %w", k, ErrInjected)
		}
		return nil
	}
}

// Death is a state.Fault that lets the first N writes and deletes through
// and then fails every operation, as if the process had died there: no
// clean-up after that point reaches the store. Keys for which Spare says
// true always pass (a lease, so that a re-run need not wait for it to
// expire). Calls counts the writes and deletes seen so far.
type Death struct {
	N     int
	Spare func(key string) bool

	mu    sync.Mutex
	calls int
}

// Fault is the state.Fault to pass to Store.WithFault.
func (d *Death) Fault(op state.Op, key string) error {
	if d.Spare != nil && d.Spare(key) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if op != state.OpGet {
		d.calls++
	}
	if d.calls > d.N {
		return fmt.Errorf("%s %s after %d writes: %w", op, key, d.N, ErrInjected)
	}
	return nil
}

// Calls is how many writes and deletes the fault has seen.
func (d *Death) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}
