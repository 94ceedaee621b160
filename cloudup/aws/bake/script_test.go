package bake

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

var goodSum = strings.Repeat("ab", 32)

// TestScriptIsValidBash renders a script and has bash parse it.
func TestScriptIsValidBash(t *testing.T) {
	s, err := Script(ScriptInput{Image: "hull-kubernetes-1.37.2-amd64-20261125-120000", KubernetesVersion: "1.37.2",
		Downloads: []Download{{URL: "https://assets.example.com/1.37.2/bin/kubelet", Path: ImageDir + "/assets/bin/kubelet", SHA256: goodSum, Mode: "0755"}}})
	if err != nil {
		t.Fatal(err)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("WARNING: no bash to check the builder script's syntax")
	}
	cmd := exec.Command(bash, "-n")
	cmd.Stdin = bytes.NewReader(s)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s\n%s", err, out, s)
	}
	for _, want := range []string{"fetch 'https://assets.example.com/1.37.2/bin/kubelet' '/opt/hull/image/assets/bin/kubelet' '" + goodSum + "' '0755'",
		"ExecStart=" + NodeupPath, "\npoweroff\n"} {
		if !strings.Contains(string(s), want) {
			t.Errorf("script lacks %q", want)
		}
	}
}

// TestScriptRefusesUnsafeValues: values go into a shell script, so any
// that could escape its quoting, and sums that are not sha256, are refused.
func TestScriptRefusesUnsafeValues(t *testing.T) {
	for name, d := range map[string]Download{
		"quote in url":   {URL: "https://x/a'; rm -rf /", Path: ImageDir + "/a", SHA256: goodSum},
		"dollar in path": {URL: "https://x/a", Path: ImageDir + "/$(id)", SHA256: goodSum},
		"dotdot in path": {URL: "https://x/a", Path: ImageDir + "/../etc/passwd", SHA256: goodSum},
		"short sum":      {URL: "https://x/a", Path: ImageDir + "/a", SHA256: "abc"},
	} {
		if _, err := Script(ScriptInput{Image: "img", KubernetesVersion: "1.37.2", Downloads: []Download{d}}); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
	var many []Download
	for i := 0; i < 200; i++ {
		many = append(many, Download{URL: "https://assets.example.com/" + strings.Repeat("x", 40), Path: ImageDir + "/a", SHA256: goodSum})
	}
	if _, err := Script(ScriptInput{Image: "img", KubernetesVersion: "1.37.2", Downloads: many}); err == nil || !strings.Contains(err.Error(), "user-data limit") {
		t.Errorf("oversized script: %v", err)
	}
}
