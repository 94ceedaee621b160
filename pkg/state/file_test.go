//go:build unix

package state_test

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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

// TestFileKilledWriterLeavesNoTruncatedObject: SIGKILL a process in the
// middle of a write; the old object must be intact and no debris listed.
func TestFileKilledWriterLeavesNoTruncatedObject(t *testing.T) {
	url := statetest.FileURL(t)
	s := openStore(t, url)
	mustPut(t, s, "demo/config", "old config", state.Unconditional())

	cmd := helperCmd(t, "slow-writer", url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "halfway\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	cmd.Process.Kill()
	cmd.Wait()

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
