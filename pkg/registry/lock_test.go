package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// leaseRecord is a lock object as another hull process writes it.
func leaseRecord(holder string, expires time.Time) []byte {
	return fmt.Appendf(nil, `{"holder":%q,"token":"theirs","acquired":%q,"expires":%q}`,
		holder, time.Now().UTC().Format(time.RFC3339Nano), expires.UTC().Format(time.RFC3339Nano))
}

// steal takes the cluster's lock for thief with a conditional write, as a
// process that judged our lease expired would.
func steal(t *testing.T, s *state.Store, key, thief string) {
	t.Helper()
	for range 10 {
		_, gen, err := s.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Put(context.Background(), key, leaseRecord(thief, time.Now().Add(time.Hour)), state.MatchGeneration(gen))
		if err == nil {
			return
		}
		if !errors.Is(err, state.ErrConflict) {
			t.Fatal(err)
		}
	}
	t.Fatalf("could not steal %s", key)
}

// TestLockLostStopsCommand: while a command holds the cluster's lock,
// someone else takes it. The command's context is cancelled, its next
// write fails and writes nothing, and WithLock's error names the lost lock
// and its new holder, also for a command that finished regardless.
func TestLockLostStopsCommand(t *testing.T) {
	const thief = "bob@bastion pid 7"
	for _, tc := range []struct {
		name  string
		write bool // whether fn writes after losing the lock, or just returns
	}{
		{"next write fails", true},
		{"finished regardless", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, r *Registry) {
				r.leaseTTL = 400 * time.Millisecond
				c, _ := sample(t)
				name := c.Metadata.Name
				var cancelled bool
				err := r.WithLock(context.Background(), name, func(ctx context.Context) error {
					steal(t, r.Store(), LockKey(name), thief)
					select {
					case <-ctx.Done():
						cancelled = true
					case <-time.After(5 * time.Second):
					}
					if !tc.write {
						return nil
					}
					_, err := r.PutCluster(ctx, c, state.MustNotExist())
					return err
				})
				if !cancelled {
					t.Error("the command's context was not cancelled when its lock was lost")
				}
				var lost *state.LeaseLostError
				if !errors.As(err, &lost) || !strings.Contains(err.Error(), LockKey(name)) || !strings.Contains(err.Error(), thief) {
					t.Fatalf("WithLock = %v, want a *LeaseLostError naming %s and %s", err, LockKey(name), thief)
				}
				if _, _, err := r.Store().Get(context.Background(), ConfigKey(name)); !errors.Is(err, state.ErrNotFound) {
					t.Errorf("the command wrote after losing its lock: %v", err)
				}
				if data, _, _ := r.Store().Get(context.Background(), LockKey(name)); !strings.Contains(string(data), thief) {
					t.Errorf("%s's lock was changed: %s", thief, data)
				}
			})
		})
	}
}

// TestLockTakeover: which lock left behind keeps a command out. A dead
// process of this host and an unreadable lock object do not; another
// host's holder does until its lease expires.
func TestLockTakeover(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("no `true` to get a dead pid: %v", err)
	}
	host, _ := os.Hostname()
	future := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name    string
		lock    []byte
		refused string // "" if the command runs
	}{
		{"dead process of this host", leaseRecord(fmt.Sprintf("alice@%s pid %d", host, dead.Process.Pid), future), ""},
		{"unreadable lock object", []byte("\x00garbage"), ""},
		{"expired lease of another host", leaseRecord("bob@bastion pid 7", time.Now().Add(-time.Second)), ""},
		{"live lease of another host", leaseRecord("bob@bastion pid 7", future),
			"is locked by bob@bastion pid 7 until " + future.UTC().Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, r *Registry) {
				ctx := context.Background()
				if _, err := r.Store().Put(ctx, LockKey("demo"), tc.lock, state.Unconditional()); err != nil {
					t.Fatal(err)
				}
				ran := false
				err := r.WithLock(ctx, "demo", func(context.Context) error { ran = true; return nil })
				if tc.refused == "" {
					if err != nil || !ran {
						t.Fatalf("WithLock = %v (ran %v), want the lock taken over", err, ran)
					}
					return
				}
				if ran || !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("WithLock = %v (ran %v), want a refusal saying %q", err, ran, tc.refused)
				}
			})
		})
	}
}

// TestDeleteClusterRemovesStaleTemporaries: what interrupted writes left in
// the cluster (hidden from listings, here a private keyset) goes with it,
// while a young temporary of a write in flight stays.
func TestDeleteClusterRemovesStaleTemporaries(t *testing.T) {
	url := statetest.FileURL(t)
	dir := strings.TrimPrefix(url, "file://")
	s, err := state.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := New(s)
	ctx := context.Background()
	c, igs := sample(t)
	name := c.Metadata.Name
	if err := r.CreateCluster(ctx, c, igs, keysets(t, c)); err != nil {
		t.Fatal(err)
	}
	keyset := filepath.Join(dir, filepath.FromSlash(PrivateKeysetKey(name, "kubernetes-ca")))
	stale, young := keyset+".18c2d1e0f3a4b5c6.tmp", keyset+".18c2d1e0f3a4b5c7.tmp"
	for _, p := range []string{stale, young} {
		if err := os.WriteFile(p, []byte("-----BEGIN PRIVATE KEY-----"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteCluster(ctx, name); err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if diff := cmp.Diff([]string{young}, left); diff != "" {
		t.Errorf("files left after delete (-want +got):\n%s", diff)
	}
}
