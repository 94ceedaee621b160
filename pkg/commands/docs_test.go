package commands

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra/doc"

	"github.com/hullproject/hull/internal/golden"
)

// TestCLIDocsAreCurrent fails when docs/cli differs from what the command
// tree generates; `make docs` rewrites it.
func TestCLIDocsAreCurrent(t *testing.T) {
	want := filepath.Join("..", "..", "docs", "cli")
	got := t.TempDir()
	root := NewRootCommand(nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err := doc.GenMarkdownTree(root, got); err != nil {
		t.Fatal(err)
	}
	if golden.Update() {
		if err := os.RemoveAll(want); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(want, os.DirFS(got)); err != nil {
			t.Fatal(err)
		}
		return
	}
	gotFiles, wantFiles := readDir(t, got), readDir(t, want)
	if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
		t.Errorf("docs/cli is stale; run `make docs` (-docs/cli +generated):\n%s", diff)
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v (run `make docs`)", dir, err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
