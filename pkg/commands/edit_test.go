package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editorScript writes an $EDITOR that runs body with $1 the file and $N the
// 1-based call count, so one test can script several editor sessions.
func editorScript(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "editor.sh")
	script := "#!/bin/sh\nset -e\nN=$(( $(cat " + dir + "/calls 2>/dev/null || echo 0) + 1 ))\necho $N > " + dir + "/calls\n" + body + "\n"
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEditCluster(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	e.extra = append(e.extra, "EDITOR="+editorScript(t, e.dir, `sed -i 's/kubernetesVersion: 1.37.2/kubernetesVersion: 1.37.3/' "$1"`))
	if out := e.must("edit", "cluster", demo); !strings.Contains(out, "Saved cluster "+demo) {
		t.Errorf("edit output: %s", out)
	}
	if got := e.must("get", "clusters", demo, "-o", "yaml"); !strings.Contains(got, "kubernetesVersion: 1.37.3") {
		t.Errorf("edit not saved:\n%s", got)
	}
}

func TestEditReopensWithErrors(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	// Session 1 breaks the subnet CIDR; session 2 records what it was shown and fixes it.
	ed := editorScript(t, e.dir, `
if [ $N = 1 ]; then sed -i 's#cidr: 172.20.32.0/19#cidr: 10.9.0.0/24#' "$1"; fi
if [ $N = 2 ]; then cp "$1" `+e.dir+`/shown; sed -i 's#cidr: 10.9.0.0/24#cidr: 172.20.64.0/19#' "$1"; fi`)
	e.extra = append(e.extra, "EDITOR="+ed)
	e.must("edit", "cluster", demo)
	shown, err := os.ReadFile(filepath.Join(e.dir, "shown"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# hull:", "spec.networking.subnets[0].cidr", "not inside networkCIDR"} {
		if !strings.Contains(string(shown), want) {
			t.Errorf("reopened file lacks %q:\n%s", want, shown)
		}
	}
	if got := e.must("get", "clusters", demo, "-o", "yaml"); !strings.Contains(got, "172.20.64.0/19") {
		t.Errorf("fixed edit not saved:\n%s", got)
	}
}

func TestEditGivingUpWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	before := e.must("get", "ig", "nodes-a", "--name", demo, "-o", "yaml")
	// Session 1 makes the group invalid; session 2 saves it unchanged: the user gives up.
	e.extra = append(e.extra, "EDITOR="+editorScript(t, e.dir, `if [ $N = 1 ]; then sed -i 's/minSize: 2/minSize: 9/' "$1"; fi`))
	e.fails(1, []string{"cancelled", "instanceGroups[nodes-a].spec.maxSize"}, "edit", "ig", "nodes-a", "--name", demo)
	if after := e.must("get", "ig", "nodes-a", "--name", demo, "-o", "yaml"); after != before {
		t.Errorf("store changed:\n%s", after)
	}
	e.extra = append(e.extra, "EDITOR=true")
	if out := e.must("edit", "cluster", demo); !strings.Contains(out, "no changes made") {
		t.Errorf("unchanged edit: %s", out)
	}
}

func TestEditConflictWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	theirs := writeFile(t, e.dir, "theirs.yaml", strings.Replace(sampleYAML(t), "kubernetesVersion: 1.37.2", "kubernetesVersion: 1.36.3", 1))
	// While "we" edit, another operator replaces the cluster.
	ed := editorScript(t, e.dir, hullBin+` replace -f `+theirs+` --state `+e.state+` >/dev/null
sed -i 's/kubernetesVersion: 1.37.2/kubernetesVersion: 1.37.9/' "$1"`)
	e.extra = append(e.extra, "EDITOR="+ed)
	e.fails(1, []string{"changed by someone else", "nothing was written"}, "edit", "cluster", demo)
	if got := e.must("get", "clusters", demo, "-o", "yaml"); !strings.Contains(got, "kubernetesVersion: 1.36.3") {
		t.Errorf("the other operator's write was lost:\n%s", got)
	}
}
