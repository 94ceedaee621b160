package graph

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/golden"
)

func TestPrintPlanGolden(t *testing.T) {
	const sha = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	long := "--kubeconfig=/var/lib/kubelet/kubeconfig --cloud-provider=external --node-labels=role=node"
	mixed := map[string]Fields{"InstanceGroup/nodes-a": {"configVersion": "4d5e6f", "maxSize": "1", "minSize": "1", "kubeletArgs": long}}
	tests := []struct {
		name   string
		actual map[string]Fields // the fake cloud before planning
		dels   []string
		prune  bool
	}{
		{name: "create-only"},
		{
			name: "modify-only",
			actual: map[string]Fields{
				"InstanceGroup/control-plane-a": {"configVersion": "1a2b3c", "maxSize": "1", "minSize": "1"},
				"InstanceGroup/nodes-a":         {"configVersion": "77aa88", "maxSize": "2", "minSize": "2", "kubeletArgs": "--v=2"},
				"LaunchConfig/nodes-a":          {"image": "sha256:0000", "userData": "#!/bin/sh\nexec nodeup\n"},
			},
		},
		{name: "mixed-no-prune", actual: mixed, dels: []string{"InstanceGroup/old", "Subnet/old"}},
		{name: "mixed-prune", actual: mixed, dels: []string{"InstanceGroup/old", "Subnet/old"}, prune: true},
		{name: "no-changes", actual: map[string]Fields{}},
		{name: "no-changes-one-deletion-no-prune", actual: map[string]Fields{}, dels: []string{"InstanceGroup/old"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCloud()
			task := func(key string, f Fields) Task { return &fakeTask{key: key, expected: f, cloud: c} }
			tasks := []Task{
				task("InstanceGroup/nodes-a", Fields{"configVersion": "4d5e6f", "maxSize": "2", "minSize": "2", "kubeletArgs": long}),
				task("InstanceGroup/control-plane-a", Fields{"configVersion": "4d5e6f", "maxSize": "1", "minSize": "1"}),
				task("LaunchConfig/nodes-a", Fields{"image": sha, "userData": "#!/bin/sh\nexec nodeup --conf=/etc/hull/nodeup.yaml\n"}),
			}
			if tc.actual != nil && len(tc.actual) == 0 { // everything already applied
				for _, tk := range tasks {
					c.state[tk.Key()] = tk.Expected()
				}
			}
			for k, f := range tc.actual {
				c.state[k] = f
			}
			var dels []Deletion
			for _, k := range tc.dels {
				dels = append(dels, &fakeDeletion{key: k, cloud: c})
			}
			p, err := BuildPlan(context.Background(), tasks, dels, Options{})
			if err != nil {
				t.Fatalf("BuildPlan: %v", err)
			}
			var out strings.Builder
			if err := PrintPlan(&out, p, tc.prune); err != nil {
				t.Fatalf("PrintPlan: %v", err)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".golden"), out.String())
		})
	}
}

func TestShowValue(t *testing.T) {
	hash := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct{ in, want string }{
		{"", `""`},
		{"2", "2"},
		{hash, hash},
		{"sha256:" + hash, "sha256:" + hash},
		{strings.Repeat("x", 60), strings.Repeat("x", 60)},
		{strings.Repeat("x", 61), strings.Repeat("x", 57) + "..."},
		{"a\nb", `"a\nb"`},
		{strings.Repeat("é", 40), strings.Repeat("é", 28) + "..."},
	}
	for _, tc := range tests {
		if got := showValue(tc.in); got != tc.want {
			t.Errorf("showValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
