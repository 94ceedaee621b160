package codec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

const cluster = `apiVersion: hull.dev/v1alpha1
kind: Cluster
metadata:
  name: c.example.com
spec:
  kubernetesVersion: 1.37.2
  networking:
    subnets:
    - name: a
      zone: local-a
      type: Public
`

const group = `apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata:
  name: nodes
  labels:
    hull.dev/cluster: c.example.com
spec:
  role: Node
  minSize: 2
`

func TestDecodeAllSplitsDocuments(t *testing.T) {
	in := "# leading comment\n---\n" + cluster + "---\n# only a comment\n---\n" + group + "--- \n"
	objs, err := DecodeAll([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Clusters) != 1 || len(objs.InstanceGroups) != 1 {
		t.Fatalf("got %d clusters, %d groups", len(objs.Clusters), len(objs.InstanceGroups))
	}
	if got := *objs.InstanceGroups[0].Spec.MinSize; got != 2 {
		t.Errorf("minSize = %d", got)
	}
	if objs.InstanceGroups[0].ClusterName() != "c.example.com" {
		t.Errorf("cluster label lost")
	}
}

// Separators may carry a comment and may open the stream, twice; the
// documents are the same.
func TestDecodeAllSeparatorForms(t *testing.T) {
	in := "---\n--- # the cluster\n" + cluster + "---\t# the group\n" + group
	objs, err := DecodeAll([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Clusters) != 1 || len(objs.InstanceGroups) != 1 {
		t.Fatalf("got %d clusters, %d groups", len(objs.Clusters), len(objs.InstanceGroups))
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"unknown nested field", strings.Replace(cluster, "      zone: local-a", "      zone: local-a\n      zones: [x]", 1), []string{"document 1", `unknown field "spec.networking.subnets[0].zones"`}},
		{"two unknown fields", strings.Replace(cluster, "spec:\n", "spec:\n  foo: 1\n  bar: 2\n", 1), []string{`unknown field "spec.foo"`, `unknown field "spec.bar"`}},
		{"case matters", strings.Replace(cluster, "kubernetesVersion", "KubernetesVersion", 1), []string{`unknown field "spec.KubernetesVersion"`}},
		{"duplicate field", strings.Replace(cluster, "  kubernetesVersion: 1.37.2\n", "  kubernetesVersion: 1.37.2\n  kubernetesVersion: 1.36.3\n", 1), []string{"kubernetesVersion"}},
		{"wrong type", strings.Replace(group, "minSize: 2", "minSize: two", 1), []string{"InstanceGroup", "minSize"}},
		{"wrong kind", strings.Replace(cluster, "kind: Cluster", "kind: Node", 1), []string{`kind: unsupported value "Node"`, "Cluster or InstanceGroup"}},
		{"no kind", strings.Replace(cluster, "kind: Cluster\n", "", 1), []string{"kind: required"}},
		{"wrong apiVersion", strings.Replace(cluster, "hull.dev/v1alpha1", "kops.k8s.io/v1alpha2", 1), []string{`apiVersion: unsupported value "kops.k8s.io/v1alpha2"`, "hull.dev/v1alpha1"}},
		{"second document", cluster + "---\n" + strings.Replace(group, "role: Node", "rolle: Node", 1), []string{"document 2", `unknown field "spec.rolle"`}},
		{"not YAML", "apiVersion: [", []string{"document 1", "YAML"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeAll([]byte(tc.doc))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := DecodeAll([]byte("# nothing\n---\n")); err == nil || !strings.Contains(err.Error(), "no Cluster or InstanceGroup") {
		t.Errorf("empty input: %v", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	objs, err := DecodeAll([]byte(cluster + "---\n" + group))
	if err != nil {
		t.Fatal(err)
	}
	out, err := EncodeAll(objs.Clusters[0], objs.InstanceGroups[0])
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeAll(out)
	if err != nil {
		t.Fatalf("re-decode: %v\n%s", err, out)
	}
	if diff := cmp.Diff(objs, again); diff != "" {
		t.Errorf("round trip (-before +after):\n%s", diff)
	}
	if _, err := DecodeCluster([]byte(group)); err == nil {
		t.Error("DecodeCluster accepted an InstanceGroup")
	}
	if _, err := DecodeInstanceGroup([]byte(cluster)); err == nil {
		t.Error("DecodeInstanceGroup accepted a Cluster")
	}
	if _, err := Encode(&v1alpha1.TypeMeta{}); err == nil {
		t.Error("Encode accepted an unknown type")
	}
}
