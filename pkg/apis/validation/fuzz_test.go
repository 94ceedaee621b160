package validation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/apis/codec"
)

// FuzzDecodeAndValidate feeds arbitrary YAML through the codec and the
// validator: whatever decodes must validate without panicking, and every
// error must name its field.
func FuzzDecodeAndValidate(f *testing.F) {
	sample, err := os.ReadFile(filepath.Join("testdata", "sample.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	completed, err := os.ReadFile(filepath.Join("testdata", "completed.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add(completed)
	// Mutations that null or empty the optional pointers and lists.
	s := string(sample)
	for _, m := range [][2]string{
		{"  api:\n    loadBalancer:\n      type: Public\n", "  api:\n    loadBalancer: null\n  kubelet: {}\n  rollingUpdate: {maxSurge: abc, maxUnavailable: null}\n"},
		{"  - name: main\n", "  - name: main\n    backups: {interval: 0s, retention: {keepAllFor: null, dailyFor: -1h}}\n"},
		{"  minSize: 1\n  maxSize: 1\n", "  minSize: null\n  maxSize: -1\n  rollingUpdate: {maxSurge: \"100%\"}\n"},
		{"    subnets:\n    - name: zone-a", "    subnets: []\n    oldSubnets:\n    - name: zone-a"},
		{"members:\n    - name: a\n      instanceGroup: control-plane-a\n", "members: []\n"},
		{"role: Node", "role: Bastion\n  taints: [\":\", \"=:NoSchedule\", \"a=b=c:NoExecute\"]"},
		{"metadata:\n  name: nodes-a\n  labels:\n    hull.dev/cluster: demo.example.com\n", "metadata: {}\n"},
		{"cidr: 172.20.32.0/19", "cidr: \"::ffff:172.20.32.0/120\""},
	} {
		f.Add([]byte(strings.Replace(s, m[0], m[1], 1)))
	}
	f.Add([]byte("apiVersion: hull.dev/v1alpha1\nkind: Cluster\n"))
	f.Add([]byte("apiVersion: hull.dev/v1alpha1\nkind: InstanceGroup\nspec: {}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := codec.DecodeAll(data)
		if err != nil {
			return
		}
		for _, c := range objs.Clusters {
			for _, e := range ValidateCluster(c, objs.InstanceGroups) {
				if e.Field == "" {
					t.Errorf("error without a field path: %v", e)
				}
				_ = e.Error()
			}
			for _, ig := range objs.InstanceGroups {
				_ = ValidateInstanceGroup(ig, c)
			}
		}
		for _, ig := range objs.InstanceGroups {
			_ = ValidateInstanceGroup(ig, nil)
		}
	})
}
