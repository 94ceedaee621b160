package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/registry"
)

// The sequence: a three-zone create dies after writing its groups
// and keys but before its config; a one-zone create must not adopt them,
// and later edits must not trip over them.
func TestCreateAfterKilledCreateAdoptsNothing(t *testing.T) {
	e := newEnv(t)
	e.must("create", "cluster", demo, "--zones", "local-a,local-b,local-c", "--node-count", "3")
	root := strings.TrimPrefix(e.state, "file://")
	if err := os.Remove(filepath.Join(root, registry.ConfigKey(demo))); err != nil {
		t.Fatal(err) // what a create killed before its last write leaves
	}
	r := e.run("", "create", "cluster", demo, "--zones", "local-a")
	if r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "removed the leftovers") || !strings.Contains(r.stderr, "nodes-b") {
		t.Errorf("re-run does not say what it removed:\n%s", r.stderr)
	}
	got := e.must("get", "ig", "--name", demo)
	if strings.Contains(got, "nodes-b") || strings.Contains(got, "local-b") {
		t.Errorf("groups of the killed create were adopted:\n%s", got)
	}
	e.extra = append(e.extra, "EDITOR="+editorScript(t, e.dir, `sed -i 's/kubernetesVersion: 1.37.2/kubernetesVersion: 1.37.1/' "$1"`))
	e.must("edit", "cluster", demo)
}
