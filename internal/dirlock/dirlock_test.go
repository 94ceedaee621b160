package dirlock

import (
	"sync/atomic"
	"testing"
	"time"
)

// A second Lock of the same directory waits until the first is released.
func TestLockExcludes(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		u, err := Lock(dir)
		if err != nil {
			t.Error(err)
			return
		}
		got.Store(true)
		u()
	}()
	time.Sleep(100 * time.Millisecond)
	if got.Load() {
		t.Fatal("second lock taken while the first was held")
	}
	unlock()
	<-done
	if !got.Load() {
		t.Fatal("second lock never taken")
	}
	if _, err := Lock(dir + "/missing"); err == nil {
		t.Error("locked a missing directory")
	}
}
