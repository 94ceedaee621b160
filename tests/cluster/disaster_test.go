package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/tests/harness"
)

// recoverFromLosingEveryMachine is issue #15's finding B: every machine,
// group, launch config and the API load balancer are deleted through the
// cloud (not through hull); `update --yes` rebuilds them, the new control
// plane restores etcd from the newest backup, the dead machines' Nodes are
// removed by the node lifecycle controller, `validate` passes with no manual
// step, and a kubeconfig exported before the loss still works.
func recoverFromLosingEveryMachine(t *testing.T, e *harness.Env, cl *local.Client, k *kubectl, name string) {
	ctx := context.Background()
	before, err := cl.FindLoadBalancer(ctx, name, "api")
	if err != nil || before == nil {
		t.Fatalf("API load balancer: %+v, %v", before, err)
	}
	k.must("create", "configmap", "disaster-marker", "--from-literal=v=kept")
	e.Must("backup", "create", name)
	old := e.Instances(name)

	groups, err := cl.FindInstanceGroups(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteLoadBalancer(ctx, name, "api"); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := cl.DeleteInstanceGroup(ctx, name, g.Name); err != nil {
			t.Fatal(err)
		}
		if err := cl.DeleteLaunchConfig(ctx, name, g.Name); err != nil {
			t.Fatal(err)
		}
	}
	if left := e.Instances(name); len(left) != 0 {
		t.Fatalf("machines left after deleting every group through the cloud: %+v", left)
	}

	start := time.Now()
	e.Must("update", "cluster", name, "--yes")
	out := e.Must("validate", "cluster", name, "--wait", "10m")
	t.Logf("FIGURE every machine lost: update --yes to validated: %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out, "Your cluster "+name+" is ready") {
		t.Fatalf("validate after the rebuild:\n%s", out)
	}

	after, err := cl.FindLoadBalancer(ctx, name, "api")
	if err != nil || after == nil || after.HostAddress != before.HostAddress {
		t.Errorf("API load balancer after the rebuild: %+v, %v; want it back on %s", after, err, before.HostAddress)
	}
	// k holds the kubeconfig exported before the loss.
	if v, err := k.run("get", "configmap", "disaster-marker", "-o", "jsonpath={.data.v}"); err != nil || v != "kept" {
		t.Errorf("ConfigMap made before the loss: %q, %v; want it restored from the backup", v, err)
	}
	var nodes struct {
		Items []struct {
			Metadata struct{ Name string }
		}
	}
	if err := json.Unmarshal([]byte(k.must("get", "nodes", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if slices.ContainsFunc(old, func(in harness.Instance) bool { return in.ID == n.Metadata.Name }) {
			t.Errorf("node %s of a lost machine is still registered", n.Metadata.Name)
		}
	}
}
