package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A delete killed right after it removed the config (it removes the config
// first) leaves the cluster's other objects, private keys included. Running
// delete again removes them: a re-run after a kill converges.
func TestDeleteAgainRemovesWhatAKilledDeleteLeft(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	root := strings.TrimPrefix(e.state, "file://")
	if err := os.Remove(filepath.Join(root, demo, "config")); err != nil {
		t.Fatal(err)
	}
	left := e.storeFiles()
	if len(left) == 0 {
		t.Fatal("nothing left to test with")
	}

	out := e.must("delete", "cluster", demo)
	for _, want := range []string{"does not exist", "interrupted create or delete", demo + "/pki/private/kubernetes-ca/keyset.yaml", "Must specify --yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("delete without --yes lacks %q:\n%s", want, out)
		}
	}
	if diff := cmp.Diff(left, e.storeFiles()); diff != "" {
		t.Errorf("delete without --yes changed the store:\n%s", diff)
	}
	if out := e.must("delete", "cluster", demo, "--yes"); !strings.Contains(out, "Removed") {
		t.Errorf("delete --yes:\n%s", out)
	}
	if files := e.storeFiles(); len(files) != 0 {
		t.Errorf("after delete --yes: %v", files)
	}
	// Nothing left: the cluster simply does not exist.
	e.fails(1, []string{"not found"}, "delete", "cluster", demo, "--yes")
}
