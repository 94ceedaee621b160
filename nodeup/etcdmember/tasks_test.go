package etcdmember

import (
	"context"
	"testing"
	"time"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/state"
)

func cluster(t *testing.T, st *state.Store, member, id, addr string, members ...string) *Cluster {
	t.Helper()
	return &Cluster{
		Registry: &Registry{Store: st, Cluster: "demo"},
		Name:     "main",
		Self:     &Member{Name: member, InstanceID: id, Address: addr, PeerURL: "https://" + addr + ":2380", ClientURL: "https://" + addr + ":2379"},
		Members:  members, DataDir: t.TempDir(), WaitTimeout: 200 * time.Millisecond, RetryEvery: 10 * time.Millisecond,
	}
}

func check(t *testing.T, task tasks.Task) tasks.Change {
	t.Helper()
	ch, err := task.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestRegisterAndInitialCluster(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	a := cluster(t, st, "a", "i-a", "10.0.1.5", "a", "b", "c")
	if ch := check(t, a.Register()); ch.Action != tasks.Create {
		t.Fatalf("first check: %v", ch.Action)
	}
	if err := a.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if ch := check(t, a.Register()); ch.Action != tasks.Unchanged {
		t.Errorf("after apply: %v", ch.Action)
	}
	// b and c have not registered: the wait is bounded and names them.
	if ch := check(t, a.WaitMembers()); ch.Action != tasks.Ensure {
		t.Errorf("members check: %v", ch.Action)
	}
	if err := a.WaitMembers().Apply(ctx); err == nil {
		t.Error("wait for missing members succeeded")
	}
	initial, st0, err := a.InitialCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a=https://10.0.1.5:2380,b=https://<pending>,c=https://<pending>"; initial != want || st0 != "new" {
		t.Errorf("InitialCluster = %q %q; want %q new", initial, st0, want)
	}
	for _, m := range []*Cluster{cluster(t, st, "b", "i-b", "10.0.1.6", "a", "b", "c"), cluster(t, st, "c", "i-c", "10.0.1.7", "a", "b", "c")} {
		if err := m.Register().Apply(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.WaitMembers().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	initial, _, _ = a.InitialCluster(ctx)
	if want := "a=https://10.0.1.5:2380,b=https://10.0.1.6:2380,c=https://10.0.1.7:2380"; initial != want {
		t.Errorf("InitialCluster = %q; want %q", initial, want)
	}
}

// A lone member replaced by a new machine founds a new cluster.
func TestReplaceLoneMember(t *testing.T) {
	ctx := context.Background()
	st, _ := state.Open(ctx, "mem://")
	old := cluster(t, st, "a", "i-old", "10.0.1.5", "a")
	if err := old.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	repl := cluster(t, st, "a", "i-new", "10.0.1.9", "a")
	if ch := check(t, repl.Register()); ch.Action != tasks.Update || ch.Reason != "replaces instance i-old" {
		t.Fatalf("check = %v %q", ch.Action, ch.Reason)
	}
	if err := repl.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	m, _, err := repl.Registry.Get(ctx, "main", "a")
	if err != nil || m.InstanceID != "i-new" || m.Existing || m.Replaced != "i-old" {
		t.Errorf("record = %+v, %v; want i-new, replacing i-old", m, err)
	}
	// A reboot of the replacement keeps the record of what it replaced, so
	// the stale Node is deleted even if the first attempt did not finish.
	if err := repl.Register().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := repl.Registry.Get(ctx, "main", "a"); m.Replaced != "i-old" {
		t.Errorf("after re-register: replaced = %q", m.Replaced)
	}
	if _, state, _ := repl.InitialCluster(ctx); state != "new" {
		t.Errorf("state = %s; want new", state)
	}
}
