package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestWriteRefusedWhileLocked: another operator's command holds the
// cluster's lock. An edit or replace is refused with who holds the lock and
// until when (not "changed by someone else": nobody changed the cluster),
// and nothing is written.
func TestWriteRefusedWhileLocked(t *testing.T) {
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	locked := "is locked by bob@bastion pid 7 until " + until.Format(time.RFC3339)
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"edit cluster", []string{"edit", "cluster", demo}, []string{"cluster " + demo + " was not written: cluster " + demo + " " + locked, "your version is in"}},
		{"edit instance group", []string{"edit", "ig", "nodes-a", "--name", demo}, []string{"instance group nodes-a was not written: cluster " + demo + " " + locked}},
		{"replace", []string{"replace", "-f", "theirs.yaml"}, []string{locked}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
			before := e.must("get", "clusters", demo, "-o", "yaml") + e.must("get", "ig", "--name", demo, "-o", "yaml")
			writeFile(t, e.dir, "theirs.yaml", strings.ReplaceAll(sampleYAML(t), "1.37.2", "1.37.9"))
			lock := fmt.Sprintf(`{"holder":"bob@bastion pid 7","token":"t","acquired":%q,"expires":%q}`,
				time.Now().UTC().Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
			writeFile(t, filepath.Join(strings.TrimPrefix(e.state, "file://"), demo), "lock", lock)
			e.extra = append(e.extra, "EDITOR="+editorScript(t, e.dir, `sed -i 's/1.37.2/1.37.9/; s/minSize: 2/minSize: 1/' "$1"`))

			args := slices.Clone(tc.args)
			if i := slices.Index(args, "theirs.yaml"); i >= 0 {
				args[i] = filepath.Join(e.dir, "theirs.yaml")
			}
			r := e.fails(1, tc.wants, args...)
			if strings.Contains(r.stderr, "changed by someone else") {
				t.Errorf("refusal blames a change nobody made:\n%s", r.stderr)
			}
			if after := e.must("get", "clusters", demo, "-o", "yaml") + e.must("get", "ig", "--name", demo, "-o", "yaml"); after != before {
				t.Errorf("store changed while locked:\n%s", after)
			}
		})
	}
}
