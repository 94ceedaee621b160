package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hullproject/hull/internal/atomicfile"
)

// File writes one file under Root. Path is the path on the machine
// ("/etc/kubernetes/pki/ca.crt"); Root is "/" on a machine and a temporary
// directory in tests.
type File struct {
	TaskName  string
	TaskPhase string
	Root      string
	Path      string
	Mode      fs.FileMode
	// Content renders the file. It is called by Check, so it must not have
	// side effects.
	Content func(ctx context.Context) ([]byte, error)
	// Secret files show no content in a plan.
	Secret bool
	// Summary replaces the content in a plan when set.
	Summary []string

	rendered []byte
}

func (f *File) Name() string  { return f.TaskName }
func (f *File) Phase() string { return f.TaskPhase }

// HostPath is where the file lands under Root.
func (f *File) HostPath() string { return filepath.Join(f.Root, f.Path) }

func (f *File) Check(ctx context.Context) (Change, error) {
	data, err := f.Content(ctx)
	if err != nil {
		return Change{}, fmt.Errorf("render %s: %w", f.Path, err)
	}
	f.rendered = data
	details := []string{fmt.Sprintf("%s mode %04o", f.Path, f.Mode.Perm())}
	switch {
	case f.Summary != nil:
		details = append(details, f.Summary...)
	case f.Secret:
		details = append(details, "(secret content not shown)")
	default:
		details = append(details, string(data))
	}
	old, err := os.ReadFile(f.HostPath())
	if errors.Is(err, fs.ErrNotExist) {
		return Change{Action: Create, Details: details}, nil
	}
	if err != nil {
		return Change{}, fmt.Errorf("read %s: %w", f.Path, err)
	}
	st, err := os.Stat(f.HostPath())
	if err != nil {
		return Change{}, fmt.Errorf("stat %s: %w", f.Path, err)
	}
	switch {
	case !bytes.Equal(old, data):
		return Change{Action: Update, Reason: "content differs", Details: details}, nil
	case st.Mode().Perm() != f.Mode.Perm():
		return Change{Action: Update, Reason: fmt.Sprintf("mode is %04o", st.Mode().Perm()), Details: details}, nil
	}
	return Change{Action: Unchanged, Details: details}, nil
}

func (f *File) Apply(ctx context.Context) error {
	data := f.rendered
	if data == nil {
		var err error
		if data, err = f.Content(ctx); err != nil {
			return fmt.Errorf("render %s: %w", f.Path, err)
		}
	}
	return WriteFileAtomic(f.HostPath(), data, f.Mode)
}

// WriteFileAtomic writes data beside p and renames it over p, so a reader
// (the kubelet watching its manifest directory, etcd reading its certs)
// never sees a torn file. Parent directories are created 0755.
func WriteFileAtomic(p string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return atomicfile.Write(p, data, mode)
}

// Dir ensures a directory exists with a mode.
type Dir struct {
	TaskName  string
	TaskPhase string
	Root      string
	Path      string
	Mode      fs.FileMode
}

func (d *Dir) Name() string  { return d.TaskName }
func (d *Dir) Phase() string { return d.TaskPhase }

func (d *Dir) Check(context.Context) (Change, error) {
	details := []string{fmt.Sprintf("%s mode %04o", d.Path, d.Mode.Perm())}
	st, err := os.Stat(filepath.Join(d.Root, d.Path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Change{Action: Create, Details: details}, nil
	case err != nil:
		return Change{}, err
	case !st.IsDir():
		return Change{}, fmt.Errorf("%s exists and is not a directory", d.Path)
	case st.Mode().Perm() != d.Mode.Perm():
		return Change{Action: Update, Reason: fmt.Sprintf("mode is %04o", st.Mode().Perm()), Details: details}, nil
	}
	return Change{Action: Unchanged, Details: details}, nil
}

func (d *Dir) Apply(context.Context) error {
	p := filepath.Join(d.Root, d.Path)
	if err := os.MkdirAll(p, d.Mode.Perm()); err != nil {
		return err
	}
	return os.Chmod(p, d.Mode.Perm())
}
