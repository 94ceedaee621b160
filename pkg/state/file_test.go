//go:build unix

package state_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// TestFilePermissions: everything a file:// store writes is owner-only,
// even with a permissive umask, and no .attrs sidecars appear.
func TestFilePermissions(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	dir := filepath.Join(t.TempDir(), "state")
	s := openStore(t, "file://"+dir)
	ctx := context.Background()
	mustPut(t, s, "demo/pki/private/ca/keyset.yaml", "secret", state.MustNotExist())
	w, err := s.NewWriter(ctx, "demo/backups/etcd/main/x/etcd.backup.gz", state.Unconditional())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "backup")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "demo/lock", "me", 60e9); err != nil {
		t.Fatal(err)
	}

	var files int
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		if strings.HasSuffix(path, ".attrs") || strings.HasSuffix(path, ".tmp") {
			t.Errorf("unexpected file %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 3 {
		t.Errorf("found %d files, want 3", files)
	}
}

func TestDefaultURL(t *testing.T) {
	t.Setenv("HULL_STATE", "s3://bucket")
	if got, err := state.DefaultURL(); err != nil || got != "s3://bucket" {
		t.Errorf("with HULL_STATE: %q, %v", got, err)
	}
	if got, _ := state.ResolveURL("mem://flag"); got != "mem://flag" {
		t.Errorf("ResolveURL(flag) = %q", got)
	}

	t.Setenv("HULL_STATE", "")
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	got, err := state.ResolveURL("")
	if want := "file://" + xdg + "/hull/state"; err != nil || got != want {
		t.Errorf("with XDG_DATA_HOME: %q, %v; want %q", got, err, want)
	}
	if fi, err := os.Stat(filepath.Join(xdg, "hull", "state")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v, %v", fi, err)
	}

	t.Setenv("XDG_DATA_HOME", "")
	home := t.TempDir()
	t.Setenv("HOME", home)
	got, err = state.DefaultURL()
	if want := "file://" + home + "/.local/share/hull/state"; err != nil || got != want {
		t.Errorf("with HOME only: %q, %v; want %q", got, err, want)
	}
	s := openStore(t, got)
	mustPut(t, s, "demo/config", "x", state.MustNotExist())
}

// slowWriterHelper starts a streaming write, reports that half of it is
// written, and waits to be killed.
func slowWriterHelper() int {
	ctx := context.Background()
	s, err := state.Open(ctx, os.Getenv(envURL))
	if err != nil {
		return 1
	}
	w, err := s.NewWriter(ctx, "demo/config", state.Unconditional())
	if err != nil {
		return 1
	}
	io.WriteString(w, strings.Repeat("new config ", 100000))
	os.Stdout.WriteString("halfway\n")
	select {} // killed here
}

// killWriterHalfway SIGKILLs a process in the middle of its write of
// demo/config, leaving what such a write leaves.
func killWriterHalfway(t *testing.T, url string) {
	t.Helper()
	cmd := helperCmd(t, "slow-writer", url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill()
	cmd.Wait()
	if line != "halfway\n" {
		t.Fatalf("helper said %q", line)
	}
}

// TestFileKilledWriterLeavesNoTruncatedObject: SIGKILL a process in the
// middle of a write; the old object must be intact and no debris listed.
func TestFileKilledWriterLeavesNoTruncatedObject(t *testing.T) {
	url := statetest.FileURL(t)
	s := openStore(t, url)
	mustPut(t, s, "demo/config", "old config", state.Unconditional())
	killWriterHalfway(t, url)

	wantContent(t, s, "demo/config", "old config")
	objs, err := s.List(context.Background(), "")
	if err != nil || len(objs) != 1 || objs[0].Key != "demo/config" {
		t.Errorf("List after killed write = %+v, %v; want only demo/config", objs, err)
	}
	dirs, err := s.ListDirs(context.Background(), "")
	if err != nil || len(dirs) != 1 || dirs[0] != "demo" {
		t.Errorf("ListDirs = %v, %v", dirs, err)
	}
}

// tempFiles lists the in-flight-write temporaries under the store at dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// age sets the modification time of the store file rel to d ago.
func age(t *testing.T, dir, rel string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	if err := os.Chtimes(filepath.Join(dir, rel), old, old); err != nil {
		t.Fatal(err)
	}
}

// TestFileStaleTemporaryRemovedByNextWrite: the temporary file of a killed
// write (hidden from listings, possibly holding private keys) is removed by
// the next write into its directory once it is stale; the temporary file
// of a write still in flight stays, and that write still commits.
func TestFileStaleTemporaryRemovedByNextWrite(t *testing.T) {
	url := statetest.FileURL(t)
	dir := strings.TrimPrefix(url, "file://")
	s := openStore(t, url)
	ctx := context.Background()
	mustPut(t, s, "demo/config", "old config", state.Unconditional())
	killWriterHalfway(t, url)
	killed := tempFiles(t, dir)
	if len(killed) != 1 {
		t.Fatalf("temporaries after the killed write = %v, want one", killed)
	}

	inFlight, err := s.NewWriter(ctx, "demo/secret", state.MustNotExist())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(inFlight, "in flight")
	var young []string
	for _, f := range tempFiles(t, dir) {
		if f != killed[0] {
			young = append(young, f)
		}
	}
	if len(young) != 1 {
		t.Fatalf("no temporary for the write in flight: %v", tempFiles(t, dir))
	}

	age(t, dir, killed[0], time.Hour)
	mustPut(t, s, "demo/other", "next write", state.Unconditional())
	if diff := cmp.Diff(young, tempFiles(t, dir)); diff != "" {
		t.Errorf("temporaries after the next write (-want +got):\n%s", diff)
	}
	if err := inFlight.Close(); err != nil {
		t.Fatalf("the write in flight failed: %v", err)
	}
	wantContent(t, s, "demo/secret", "in flight")
	wantContent(t, s, "demo/config", "old config")
}

// TestFileRemoveStaleTemporaries: stale temporaries anywhere under the
// prefix go; young ones, and any outside the prefix, stay.
func TestFileRemoveStaleTemporaries(t *testing.T) {
	url := statetest.FileURL(t)
	dir := strings.TrimPrefix(url, "file://")
	s := openStore(t, url)
	files := []struct {
		key string
		old bool
	}{
		{"demo/pki/private/ca/keyset.yaml.18c2d1e0f3a4b5c6.tmp", true},
		{"demo/pki/private/ca/keyset.yaml.18c2d1e0f3a4b5c7.tmp", false},
		{"demo/config.18c2d1e0f3a4b5c8.tmp", true},
		{"demo2/config.18c2d1e0f3a4b5c9.tmp", true},
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.key))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("-----BEGIN PRIVATE KEY-----"), 0o600); err != nil {
			t.Fatal(err)
		}
		if f.old {
			age(t, dir, f.key, 11*time.Minute)
		}
	}
	if err := s.RemoveStaleTemporaries(context.Background(), "demo/"); err != nil {
		t.Fatal(err)
	}
	want := []string{"demo/pki/private/ca/keyset.yaml.18c2d1e0f3a4b5c7.tmp", "demo2/config.18c2d1e0f3a4b5c9.tmp"}
	if diff := cmp.Diff(want, tempFiles(t, dir)); diff != "" {
		t.Errorf("temporaries left (-want +got):\n%s", diff)
	}
}

// TestFileHeldLeaseExpiresWhenRenewalsFail: when renewals keep failing (here
// the store's directory is replaced by a file, as if its disk went away)
// the holder's context ends once the lease expires, since from then on
// anyone may take it.
func TestFileHeldLeaseExpiresWhenRenewalsFail(t *testing.T) {
	url := statetest.FileURL(t)
	dir := strings.TrimPrefix(url, "file://")
	s := openStore(t, url)
	h, err := s.HoldLease(context.Background(), "demo/lock", "alice@laptop pid 1", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder's context outlived its lease")
	}
	var lost *state.LeaseLostError
	if cause := context.Cause(h.Context()); !errors.As(cause, &lost) || !strings.Contains(cause.Error(), "expired") {
		t.Errorf("cause = %v, want a *LeaseLostError saying the lease expired", cause)
	}
}
