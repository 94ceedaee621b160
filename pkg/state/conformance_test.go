package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// TestConformance runs the same behaviour checks against every backend.
func TestConformance(t *testing.T) {
	for name, url := range sortedBackends(t) {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				name string
				fn   func(t *testing.T, s *state.Store)
			}{
				{"GetPutDelete", testGetPutDelete},
				{"Preconditions", testPreconditions},
				{"ListAndListDirs", testList},
				{"StreamingWriter", testStreaming},
				{"StreamingAbort", testStreamingAbort},
				{"StreamingPrecondition", testStreamingPrecondition},
				{"Lease", testLease},
				{"LeaseExpiryTakeover", testLeaseExpiry},
				{"LeaseRace", testLeaseRace},
				{"LeaseReleaseAndDelete", testLeaseReleaseAndDelete},
				{"LeaseUnreadableReplaced", testLeaseUnreadable},
				{"LeaseDeadHolder", testLeaseDeadHolder},
				{"LeaseOtherHostExpiry", testLeaseOtherHostExpiry},
				{"HoldLeaseLost", testHoldLeaseLost},
				{"InvalidKeys", testInvalidKeys},
			}
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := openStore(t, url)
					// Every case gets its own prefix so they cannot see each other.
					testPrefix = fmt.Sprintf("c%d-", i)
					tc.fn(t, s)
				})
			}
		})
	}
}

// testPrefix namespaces keys per conformance case; cases run sequentially.
var testPrefix string

func k(key string) string { return testPrefix + key }

// sortedBackends yields statetest.Backends in a stable order.
func sortedBackends(t *testing.T) func(func(string, string) bool) {
	m := statetest.Backends(t)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return func(yield func(string, string) bool) {
		for _, n := range names {
			if !yield(n, m[n]) {
				return
			}
		}
	}
}

func openStore(t *testing.T, url string) *state.Store {
	t.Helper()
	s, err := state.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t *testing.T, s *state.Store, key, data string, pre state.Precondition) state.Generation {
	t.Helper()
	gen, err := s.Put(context.Background(), key, []byte(data), pre)
	if err != nil {
		t.Fatalf("Put(%s, %v): %v", key, pre, err)
	}
	if gen == "" {
		t.Fatalf("Put(%s) returned an empty generation", key)
	}
	return gen
}

func mustGet(t *testing.T, s *state.Store, key string) (string, state.Generation) {
	t.Helper()
	data, gen, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return string(data), gen
}

func wantContent(t *testing.T, s *state.Store, key, want string) {
	t.Helper()
	if got, _ := mustGet(t, s, key); got != want {
		t.Errorf("Get(%s) = %q, want %q", key, got, want)
	}
}

func wantNotFound(t *testing.T, s *state.Store, key string) {
	t.Helper()
	if _, _, err := s.Get(context.Background(), key); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get(%s) error = %v, want ErrNotFound", key, err)
	}
}

func wantConflict(t *testing.T, err error, key string) {
	t.Helper()
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("error = %v, want ErrConflict", err)
	}
	var ce *state.ConflictError
	if !errors.As(err, &ce) || ce.Key != key {
		t.Fatalf("error = %#v, want *ConflictError for %s", err, key)
	}
	if !strings.Contains(err.Error(), "retry") {
		t.Errorf("conflict error %q does not say what to do", err)
	}
}

func testGetPutDelete(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("demo/config")
	wantNotFound(t, s, key)

	g1 := mustPut(t, s, key, "one", state.Unconditional())
	got, gen := mustGet(t, s, key)
	if got != "one" || gen != g1 {
		t.Fatalf("Get = %q, %q; want %q, %q", got, gen, "one", g1)
	}
	g2 := mustPut(t, s, key, "two", state.Unconditional())
	if g2 == g1 {
		t.Errorf("generation did not change on write: %q", g2)
	}
	if _, gen := mustGet(t, s, key); gen != g2 {
		t.Errorf("Get generation = %q, want %q", gen, g2)
	}
	mustPut(t, s, k("empty"), "", state.Unconditional())
	wantContent(t, s, k("empty"), "")

	if err := s.Delete(ctx, key, state.Unconditional()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, key)
	if err := s.Delete(ctx, key, state.Unconditional()); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Delete of missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.NewReader(ctx, key); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("NewReader of missing key: %v, want ErrNotFound", err)
	}
}

func testPreconditions(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("demo/instancegroup/nodes")

	g1 := mustPut(t, s, key, "v1", state.MustNotExist())
	_, err := s.Put(ctx, key, []byte("clobber"), state.MustNotExist())
	wantConflict(t, err, key)
	wantContent(t, s, key, "v1")

	g2 := mustPut(t, s, key, "v2", state.MatchGeneration(g1))
	// Someone who read v1 now writes back: nothing must be written.
	_, err = s.Put(ctx, key, []byte("stale"), state.MatchGeneration(g1))
	wantConflict(t, err, key)
	wantContent(t, s, key, "v2")

	// MatchGeneration("") means "I saw no object".
	_, err = s.Put(ctx, key, []byte("stale"), state.MatchGeneration(""))
	wantConflict(t, err, key)

	// A stale delete fails and leaves the object.
	wantConflict(t, s.Delete(ctx, key, state.MatchGeneration(g1)), key)
	wantContent(t, s, key, "v2")
	if err := s.Delete(ctx, key, state.MustNotExist()); err == nil {
		t.Error("Delete with MustNotExist succeeded")
	}
	if err := s.Delete(ctx, key, state.MatchGeneration(g2)); err != nil {
		t.Fatalf("Delete with current generation: %v", err)
	}
	wantNotFound(t, s, key)

	// Writing back after someone deleted the object is a conflict too.
	_, err = s.Put(ctx, key, []byte("resurrect"), state.MatchGeneration(g2))
	wantConflict(t, err, key)
	wantNotFound(t, s, key)
	wantConflict(t, s.Delete(ctx, key, state.MatchGeneration(g2)), key)
}

func testList(t *testing.T, s *state.Store) {
	ctx := context.Background()
	keys := []string{
		"b.example.com/config",
		"a.example.com/instancegroup/nodes",
		"a.example.com/config",
		"a.example.com/instancegroup/control-plane-a",
		"a.example.com/pki/ca/keyset.yaml",
		"top",
	}
	gens := map[string]state.Generation{}
	for i, key := range keys {
		gens[k(key)] = mustPut(t, s, k(key), strings.Repeat("x", i), state.Unconditional())
	}

	objs, err := s.List(ctx, testPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, strings.TrimPrefix(o.Key, testPrefix))
		if o.Generation != "" && o.Generation != gens[o.Key] {
			t.Errorf("List generation of %s = %q, Put returned %q", o.Key, o.Generation, gens[o.Key])
		}
		if o.Key == k("top") && o.Size != 5 {
			t.Errorf("size of top = %d, want 5", o.Size)
		}
		if o.ModTime.IsZero() {
			t.Errorf("%s has no ModTime", o.Key)
		}
	}
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	objs, err = s.List(ctx, k("a.example.com/instancegroup/"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key != k("a.example.com/instancegroup/control-plane-a") {
		t.Errorf("List(instancegroup/) = %+v", objs)
	}

	// Keys are namespaced with a prefix that is not a directory, so list
	// directories under a per-case root instead.
	for _, key := range []string{"x.example.com/config", "y.example.com/config", "y.example.com/instancegroup/a"} {
		mustPut(t, s, k("root/"+key), "x", state.Unconditional())
	}
	dirs, err := s.ListDirs(ctx, k("root"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"x.example.com", "y.example.com"}, dirs); diff != "" {
		t.Errorf("ListDirs (-want +got):\n%s", diff)
	}
	dirs, err = s.ListDirs(ctx, k("root/y.example.com/"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"instancegroup"}, dirs); diff != "" {
		t.Errorf("ListDirs(y.example.com/) (-want +got):\n%s", diff)
	}
	dirs, err = s.ListDirs(ctx, k("nothing-here"))
	if err != nil || len(dirs) != 0 {
		t.Errorf("ListDirs(missing) = %v, %v; want empty", dirs, err)
	}
}

func testStreaming(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("demo/backups/etcd/main/2026-01-01T00:00:00Z/etcd.backup.gz")
	w, err := s.NewWriter(ctx, key, state.MustNotExist())
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	var want []byte
	for range 16 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		want = append(want, chunk...)
	}
	// Nothing is visible before Close.
	wantNotFound(t, s, key)
	if objs, err := s.List(ctx, testPrefix); err != nil || len(objs) != 0 {
		t.Errorf("List during write = %v, %v; want nothing", objs, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r, err := s.NewReader(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (err %v), want %d", len(got), err, len(want))
	}

	// Replacing with a streaming writer: the old object stays visible
	// until Close.
	_, gen := mustGet(t, s, key)
	w, err = s.NewWriter(ctx, key, state.MatchGeneration(gen))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "replacement")
	if got, _ := mustGet(t, s, key); len(got) != len(want) {
		t.Errorf("object changed before Close: %d bytes", len(got))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, s, key, "replacement")
}

func testStreamingAbort(t *testing.T, s *state.Store) {
	key := k("demo/config")
	mustPut(t, s, key, "original", state.Unconditional())
	for _, pre := range []state.Precondition{state.Unconditional(), state.MustNotExist()} {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := s.NewWriter(ctx, key, state.Unconditional())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "half a new conf")
		cancel()
		if err := w.Close(); err == nil {
			t.Errorf("Close after cancel (%v) succeeded", pre)
		}
		wantContent(t, s, key, "original")

		// A brand-new key is not created by an aborted write either.
		ctx, cancel = context.WithCancel(context.Background())
		w, err = s.NewWriter(ctx, k("new"), pre)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "partial")
		cancel()
		_ = w.Close()
		wantNotFound(t, s, k("new"))
	}
	objs, err := s.List(context.Background(), testPrefix)
	if err != nil || len(objs) != 1 {
		t.Errorf("List after aborted writes = %+v, %v; want only %s", objs, err, key)
	}
}

func testStreamingPrecondition(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("demo/cluster-completed.spec")
	g1 := mustPut(t, s, key, "v1", state.Unconditional())
	mustPut(t, s, key, "v2", state.MatchGeneration(g1))

	w, err := s.NewWriter(ctx, key, state.MatchGeneration(g1))
	if err == nil {
		io.WriteString(w, "stale")
		err = w.Close()
	}
	wantConflict(t, err, key)
	wantContent(t, s, key, "v2")

	w, err = s.NewWriter(ctx, key, state.MustNotExist())
	if err == nil {
		io.WriteString(w, "clobber")
		err = w.Close()
	}
	wantConflict(t, err, key)
	wantContent(t, s, key, "v2")
}

func testLease(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("demo/lock")
	alice, err := s.AcquireLease(ctx, key, "alice@laptop", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AcquireLease(ctx, key, "bob@bastion", time.Hour)
	var held *state.LeaseHeldError
	if !errors.Is(err, state.ErrConflict) || !errors.As(err, &held) || held.Key != key || held.Holder != "alice@laptop" {
		t.Fatalf("error = %#v, want *LeaseHeldError of alice@laptop for %s", err, key)
	}
	if !strings.Contains(err.Error(), "alice@laptop") || !strings.Contains(err.Error(), "until") {
		t.Errorf("conflict %q does not name the holder and expiry", err)
	}
	before := alice.Expires()
	time.Sleep(10 * time.Millisecond)
	if err := alice.Renew(ctx); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if !alice.Expires().After(before) {
		t.Errorf("Renew did not extend the lease")
	}
	if err := alice.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := alice.Renew(ctx); err == nil {
		t.Error("Renew after Release succeeded")
	}
	bob, err := s.AcquireLease(ctx, key, "bob@bastion", time.Hour)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if err := bob.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func testLeaseExpiry(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("demo/lock")
	alice, err := s.AcquireLease(ctx, key, "alice", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	bob, err := s.AcquireLease(ctx, key, "bob", time.Hour)
	if err != nil {
		t.Fatalf("take over expired lease: %v", err)
	}
	// Alice's lease is gone: she can neither renew nor release bob's.
	wantConflict(t, alice.Renew(ctx), key)
	wantConflict(t, alice.Release(ctx), key)
	_, err = s.AcquireLease(ctx, key, "carol", time.Hour)
	if err == nil || !strings.Contains(err.Error(), "bob") {
		t.Errorf("lease taken from bob: %v", err)
	}
	if err := bob.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// testLeaseReleaseAndDelete: the holder removes the lease object, but never
// one that someone else took over after it expired.
func testLeaseReleaseAndDelete(t *testing.T, s *state.Store) {
	ctx := context.Background()
	key := k("gone/lock")
	l, err := s.AcquireLease(ctx, key, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.ReleaseAndDelete(ctx); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, key)

	alice, err := s.AcquireLease(ctx, key, "alice", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	bob, err := s.AcquireLease(ctx, key, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantConflict(t, alice.ReleaseAndDelete(ctx), key)
	if got, _ := mustGet(t, s, key); !strings.Contains(got, "bob") {
		t.Errorf("bob's lease was removed or changed: %q", got)
	}
	if err := bob.ReleaseAndDelete(ctx); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, key)
}

// testLeaseRace: many clients grab a free lease at once; exactly one wins.
func testLeaseRace(t *testing.T, s *state.Store) {
	key := k("demo/lock")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("op%d", i)
			l, err := s.AcquireLease(context.Background(), key, holder, time.Hour)
			if err == nil {
				mu.Lock()
				winners = append(winners, holder)
				mu.Unlock()
				_ = l
			} else if !errors.Is(err, state.ErrConflict) {
				t.Errorf("%s: %v", holder, err)
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("winners = %v, want exactly one", winners)
	}
}

func testInvalidKeys(t *testing.T, s *state.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "a/", "a//b", "../x", "a/../b", "a/./b", "sp ace", "q?", "pct%", "tab\t", "x.1f2e.tmp"} {
		if _, err := s.Put(ctx, key, []byte("x"), state.Unconditional()); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if _, _, err := s.Get(ctx, key); err == nil || errors.Is(err, state.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want invalid-key error", key, err)
		}
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := state.Open(context.Background(), "ftp://x")
	want := `unsupported state store URL "ftp://x": supported schemes are file://, s3://, gs://, azblob://, mem://`
	if err == nil || err.Error() != want {
		t.Errorf("Open(ftp://x) error = %v, want %s", err, want)
	}
}
