package aws_test

import (
	"context"
	"slices"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/state"
)

func byGroup(insts []*cloud.Instance, group string) []*cloud.Instance {
	var out []*cloud.Instance
	for _, i := range insts {
		if i.Group == group {
			out = append(out, i)
		}
	}
	return out
}

func groupOf(t *testing.T, p cloud.Provider, cluster, name string) *cloud.InstanceGroup {
	t.Helper()
	gs, err := p.FindInstanceGroups(context.Background(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no group %s", name)
	return nil
}

// TestRollingPrimitives drives what rolling-update needs against the
// emulator's scripted machines: NeedsUpdate from the launch template
// version, terminate without decrement (a replacement appears on the next
// reconcile), surge by detaching, and control-plane deregistration.
func TestRollingPrimitives(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "roll.example.com", Zones: []string{"us-east-1a"}, NodeCount: ptr.To(2)},
		awstest.Options{ManualReconcile: true})
	ctx := context.Background()
	e.update(true)
	e.srv.Reconcile() // launch
	e.srv.Reconcile() // pending -> running
	p := e.provider()
	insts, err := p.ListInstances(ctx, e.name)
	if err != nil {
		t.Fatal(err)
	}
	nodes := byGroup(insts, "nodes-a")
	if len(nodes) != 2 || len(byGroup(insts, "control-plane-a")) != 1 {
		t.Fatalf("instances: %+v", insts)
	}
	for _, i := range insts {
		if i.State != cloud.StateRunning || i.ConfigVersion != "1" || i.Detached || i.Address == "" {
			t.Errorf("instance %+v: want Running at version 1 with an address", i)
		}
	}
	cpID := byGroup(insts, "control-plane-a")[0].ID
	lbName := awsmodel.LoadBalancerName(e.name)
	if got := e.srv.Targets(lbName); !slices.Equal(got, []string{cpID}) {
		t.Errorf("API targets %v, want [%s]", got, cpID)
	}

	// A new machine type makes a new launch template version: the group's
	// version moves on, the machines' do not, so they need updating.
	ig, gen, err := e.reg.GetInstanceGroup(ctx, e.name, "nodes-a")
	if err != nil {
		t.Fatal(err)
	}
	ig.Spec.MachineType = "t3.large"
	if _, err := e.reg.PutInstanceGroup(ctx, e.name, ig, state.MatchGeneration(gen)); err != nil {
		t.Fatal(err)
	}
	e.complete()
	e.update(true)
	p = e.provider()
	if g := groupOf(t, p, e.name, "nodes-a"); g.ConfigVersion != "2" {
		t.Fatalf("group version %q after the change, want 2", g.ConfigVersion)
	}
	if g := groupOf(t, p, e.name, "control-plane-a"); g.ConfigVersion != "1" {
		t.Errorf("control plane version %q, want 1 (unchanged)", g.ConfigVersion)
	}
	insts, _ = p.ListInstances(ctx, e.name)
	for _, i := range byGroup(insts, "nodes-a") {
		if i.ConfigVersion != "1" {
			t.Errorf("%s: version %s, want 1: running machines keep the version they launched with", i.ID, i.ConfigVersion)
		}
	}

	// Terminate without decrement: the group keeps its size and launches a
	// replacement at the new version on the next reconcile.
	old := nodes[0].ID
	if err := p.TerminateInstance(ctx, old, false); err != nil {
		t.Fatal(err)
	}
	insts, _ = p.ListInstances(ctx, e.name)
	if i := find(insts, old); i == nil || i.State != cloud.StateTerminating {
		t.Errorf("terminated machine: %+v, want Terminating", i)
	}
	e.srv.Reconcile()
	insts, _ = p.ListInstances(ctx, e.name)
	ns := byGroup(insts, "nodes-a")
	if find(ns, old) != nil || len(ns) != 2 {
		t.Fatalf("after reconcile: %+v, want the old machine gone and a replacement", ns)
	}
	var fresh *cloud.Instance
	for _, i := range ns {
		if i.ID != nodes[1].ID {
			fresh = i
		}
	}
	if fresh == nil || fresh.ConfigVersion != "2" || fresh.State != cloud.StatePending {
		t.Errorf("replacement %+v, want Pending at version 2", fresh)
	}
	if g := groupOf(t, p, e.name, "nodes-a"); g.Desired != 2 {
		t.Errorf("desired %d after terminate without decrement, want 2", g.Desired)
	}

	// Surge: detach keeps the machine running outside the group and the
	// group launches its replacement first.
	e.srv.Reconcile()
	surge := nodes[1].ID
	if err := p.DetachInstance(ctx, surge); err != nil {
		t.Fatal(err)
	}
	e.srv.Reconcile()
	insts, _ = p.ListInstances(ctx, e.name)
	ns = byGroup(insts, "nodes-a")
	if d := find(ns, surge); d == nil || !d.Detached || d.State != cloud.StateRunning || len(ns) != 3 {
		t.Fatalf("after detach: %+v, want the detached machine running beside 2 in the group", ns)
	}
	if err := p.TerminateInstance(ctx, surge, false); err != nil {
		t.Fatal(err)
	}
	e.srv.Reconcile()
	insts, _ = p.ListInstances(ctx, e.name)
	if ns = byGroup(insts, "nodes-a"); len(ns) != 2 || find(ns, surge) != nil {
		t.Errorf("after terminating the detached machine: %+v", ns)
	}

	// A control-plane machine leaves the API target group before it stops.
	if err := p.TerminateInstance(ctx, cpID, false); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Targets(lbName); slices.Contains(got, cpID) {
		t.Errorf("API targets %v still hold %s after terminate", got, cpID)
	}
	// Decrementing below the group's minimum is refused by Auto Scaling.
	e.srv.Reconcile()
	e.srv.Reconcile()
	insts, _ = p.ListInstances(ctx, e.name)
	if err := p.TerminateInstance(ctx, byGroup(insts, "nodes-a")[0].ID, true); err == nil {
		t.Error("terminate with decrement below minSize: want an error")
	}
	if err := p.TerminateInstance(ctx, "i-00000000000000000", false); err == nil {
		t.Error("terminate of an unknown machine: want an error")
	}
	e.srv.SetManualReconcile(false)
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func find(insts []*cloud.Instance, id string) *cloud.Instance {
	for _, i := range insts {
		if i.ID == id {
			return i
		}
	}
	return nil
}
