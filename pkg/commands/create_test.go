package commands

import (
	"fmt"
	"strings"
	"testing"
)

// Counts, names and versions `create cluster` must refuse before writing
// anything, each with a message that names the flag or field and the way out.
func TestCreateClusterRefusesWhatItCannotBuild(t *testing.T) {
	e := newEnv(t)
	longLabel := strings.Repeat("a", 64) + ".example.com"
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--control-plane-count", "0"}, 2, []string{"--control-plane-count must be odd (1, 3, 5), got 0"}},
		{[]string{"--control-plane-count", "-1"}, 2, []string{"--control-plane-count must be odd (1, 3, 5), got -1"}},
		{[]string{"--control-plane-count", "9"}, 2, []string{"--control-plane-count 9 is more than 7", "etcd"}},
		{[]string{"--node-count", "-1"}, 2, []string{"--node-count must be 0 or more, got -1"}},
		{[]string{"--node-count", "100000000"}, 2, []string{"--node-count 100000000", "more than the 1000 an instance group may hold", "use more zones"}},
		{[]string{"--kubernetes-version", "1.30.0"}, 1, []string{`spec.kubernetesVersion: Invalid value: "1.30.0": channel stable does not list this version`, "1.37.2"}},
		{[]string{"--kubernetes-version", "1.39.0"}, 1, []string{`"1.39.0": channel stable does not list this version`, "1.35.x, 1.36.x, 1.37.x"}},
		{[]string{"--kubernetes-version", "9.99.0"}, 1, []string{`"9.99.0": channel stable does not list this version`}},
		{[]string{"--channel", "alpha", "--kubernetes-version", "1.39.0"}, 1, []string{"channel alpha does not list this version", "1.38.x"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			e.fails(tc.code, tc.want, append([]string{"create", "cluster", demo}, tc.args...)...)
			e.fails(tc.code, tc.want, append([]string{"create", "cluster", demo, "--dry-run"}, tc.args...)...)
		})
	}
	t.Run("64-character DNS label", func(t *testing.T) {
		e.fails(1, []string{"metadata.name", "(64 characters): must be no more than 63 characters"}, "create", "cluster", longLabel)
	})
	if files := e.storeFiles(); len(files) != 0 {
		t.Errorf("refused creates wrote %v", files)
	}
	// What the channels do list is accepted.
	e.must("create", "cluster", demo, "--channel", "alpha", "--kubernetes-version", "1.38.0", "--dry-run")
	e.must("create", "cluster", demo, "--kubernetes-version", "1.36.3", "--control-plane-count", "7", "--zones", "local-a,local-b,local-c", "--node-count", "3000")
}

// --node-count 0 is honoured (one empty group to scale later), while
// leaving the flag out still means the default 2.
func TestCreateClusterNodeCountZero(t *testing.T) {
	e := newEnv(t)
	e.must("create", "cluster", demo, "--node-count", "0")
	got := e.must("get", "ig", "nodes-a", "--name", demo, "-o", "yaml")
	if !strings.Contains(got, "minSize: 0\n") || !strings.Contains(got, "maxSize: 0\n") {
		t.Errorf("--node-count 0 made:\n%s", got)
	}
	e.must("create", "cluster", "other.example.com")
	if got := e.must("get", "ig", "nodes-a", "--name", "other.example.com", "-o", "yaml"); !strings.Contains(got, "maxSize: 2\n") {
		t.Errorf("no --node-count made:\n%s", got)
	}
}

// Limits hold for specs from files and edits too, not only for flags.
func TestCreateFileAndEditRefuseWhatTheyCannotBuild(t *testing.T) {
	e := newEnv(t)
	var labels strings.Builder
	labels.WriteString("  nodeLabels:\n")
	for i := range 6000 {
		fmt.Fprintf(&labels, "    label-%d: value\n", i)
	}
	big := strings.Replace(sampleYAML(t), "  role: Node\n", "  role: Node\n"+labels.String(), 1)
	e.fails(1, []string{"instanceGroups[nodes-a].spec.nodeLabels: Too long", "--node-labels"}, "create", "-f", writeFile(t, e.dir, "big.yaml", big))
	old := strings.Replace(sampleYAML(t), "kubernetesVersion: 1.37.2", "kubernetesVersion: 1.30.0", 1)
	e.fails(1, []string{`"1.30.0": channel stable does not list this version`}, "create", "-f", writeFile(t, e.dir, "old.yaml", old))
	if files := e.storeFiles(); len(files) != 0 {
		t.Errorf("refused creates wrote %v", files)
	}

	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	// Session 1 asks for an unknown version; session 2 gives up.
	e.extra = append(e.extra, "EDITOR="+editorScript(t, e.dir, `if [ $N = 1 ]; then sed -i 's/kubernetesVersion: 1.37.2/kubernetesVersion: 1.39.0/' "$1"; fi`))
	e.fails(1, []string{"nothing was written", `"1.39.0": channel stable does not list this version`}, "edit", "cluster", demo)
	if got := e.must("get", "clusters", demo, "-o", "yaml"); !strings.Contains(got, "kubernetesVersion: 1.37.2") {
		t.Errorf("refused edit changed the cluster:\n%s", got)
	}
}
