package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/assets"
	"github.com/hullproject/hull/tests/harness"
)

// joinClusterYAML: one control plane, a node group booting the baked image
// and one booting the unbaked image, which fetches assets at boot.
func joinClusterYAML(name, repo string, nodes int) string {
	return fmt.Sprintf(`apiVersion: hull.dev/v1alpha1
kind: Cluster
metadata: {name: %[1]s}
spec:
  cloudProvider: local
  kubernetesVersion: %[3]s
  assets: {repository: "file://%[2]s"}
  networking:
    networkCIDR: 10.218.0.0/16
    subnets: [{name: zone-a, zone: local-a, type: Public}]
  etcdClusters:
  - {name: main, members: [{name: a, instanceGroup: control-plane-a}]}
  - {name: events, members: [{name: a, instanceGroup: control-plane-a}]}
---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: control-plane-a, labels: {hull.dev/cluster: %[1]s}}
spec: {role: ControlPlane, minSize: 1, maxSize: 1, subnets: [zone-a]}
---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: nodes-baked, labels: {hull.dev/cluster: %[1]s}}
spec: {role: Node, minSize: %[4]d, maxSize: %[4]d, subnets: [zone-a], image: hull-kubernetes-%[3]s}
---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: nodes-unbaked, labels: {hull.dev/cluster: %[1]s}}
spec: {role: Node, minSize: %[4]d, maxSize: %[4]d, subnets: [zone-a], image: hull-kubernetes-%[3]s-unbaked}
`, name, repo, version, nodes)
}

// TestPerfNodeJoin measures, for docs/performance.md, how long a worker
// takes from launch to a Ready node with a baked and with an unbaked image.
// It runs only with HULL_PERF=1.
func TestPerfNodeJoin(t *testing.T) {
	if os.Getenv("HULL_PERF") != "1" {
		t.Skip("performance figures: run with HULL_PERF=1")
	}
	harness.RequireRoot(t)
	e := harness.NewEnv(t, hullBin)
	e.Must("image", "build", "--kubernetes-version", version)
	e.Must("image", "build", "--kubernetes-version", version, "--unbaked", "--name", "hull-kubernetes-"+version+"-unbaked")
	cache, err := assets.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	repo, err := assets.RepositoryDir(cache, version)
	if err != nil {
		t.Fatal(err)
	}
	const name = "join.cluster.example.com"
	manifest := filepath.Join(e.Dir, "join.yaml")
	if err := os.WriteFile(manifest, []byte(joinClusterYAML(name, repo, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Must("create", "-f", manifest)
	e.Must("update", "cluster", name, "--yes")
	e.Must("validate", "cluster", name, "--wait", "10m")
	// Join time proper: a worker added to each group of a running cluster.
	grown := time.Now()
	if err := os.WriteFile(manifest, []byte(joinClusterYAML(name, repo, 2)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Must("replace", "-f", manifest)
	e.Must("update", "cluster", name, "--yes")
	e.Must("validate", "cluster", name, "--wait", "10m")

	kcfg := filepath.Join(e.Dir, "kubeconfig")
	e.Must("export", "kubeconfig", name, "--admin", "--kubeconfig", kcfg)
	k := &kubectl{t: t, bin: kubectlBinary(t, version), kubeconfig: kcfg}
	ctx := context.Background()
	cl, err := e.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	insts, err := cl.ListInstances(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		if in.Role != "Node" || in.LaunchTime.Before(grown) {
			continue
		}
		var node struct {
			Status struct {
				Conditions []struct {
					Type, Status       string
					LastTransitionTime time.Time
				}
			}
		}
		k.json(&node, "get", "node", in.ID)
		for _, c := range node.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				t.Logf("FIGURE node join %s (launch to Ready): %s", in.Group, c.LastTransitionTime.Sub(in.LaunchTime).Round(time.Second))
			}
		}
	}
}
