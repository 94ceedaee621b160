package cloudup

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

// While the control plane moves to a new version, `update --yes` keeps the
// node groups' launch configs at the old one; once every control-plane
// machine runs the new version, the next update moves them too. Real local
// cloud, real launch configs and machines.
func TestUpdateHoldsNodeGroupsUntilControlPlaneUpgraded(t *testing.T) {
	cl := startDaemon(t)
	for _, im := range []string{"hull-kubernetes-1.36.3", "hull-kubernetes-1.37.2"} {
		importImage(t, cl, im)
	}
	ctx := context.Background()
	store, err := state.Open(ctx, "mem://skew")
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(store)
	data, err := os.ReadFile("testdata/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("kubernetesVersion: 1.37.2"), []byte("kubernetesVersion: 1.36.3"), 1)
	objs, err := codec.DecodeAll(data)
	if err != nil {
		t.Fatal(err)
	}
	const name = "demo.example.com"
	if err := reg.CreateCluster(ctx, objs.Clusters[0], objs.InstanceGroups, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r, err := FindCloudResources(ctx, cl, name); err == nil {
			_ = DeleteCloudResources(ctx, cl, name, r, &bytes.Buffer{})
		}
	})
	update := func() string {
		t.Helper()
		var out bytes.Buffer
		if _, err := Update(ctx, reg, cl, name, UpdateOptions{Yes: true, Out: &out}); err != nil {
			t.Fatalf("update: %v\n%s", err, out.String())
		}
		return out.String()
	}
	lcs := func() map[string]*cloud.LaunchConfig {
		t.Helper()
		list, err := cl.FindLaunchConfigs(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*cloud.LaunchConfig{}
		for _, lc := range list {
			out[lc.Group] = lc
		}
		return out
	}
	version := func(lc *cloud.LaunchConfig) string {
		v, ok := launchConfigVersion(ctx, store, lc)
		if !ok {
			t.Fatalf("launch config of %s: no readable nodeup config", lc.Group)
		}
		return v
	}

	if out := update(); strings.Contains(out, "Version skew") {
		t.Fatalf("a new cluster held a group:\n%s", out)
	}
	waitRunning(t, cl, name, 3)
	before := lcs()

	setVersion := func(v string) {
		t.Helper()
		c, gen, err := reg.GetCluster(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		c.Spec.KubernetesVersion = v
		if _, err := reg.PutCluster(ctx, c, state.MatchGeneration(gen)); err != nil {
			t.Fatal(err)
		}
	}
	// refused checks that update, dry run and --yes alike, refuses naming
	// the rule, and changes neither launch configs nor the version record.
	refused := func(rule string) {
		t.Helper()
		lcBefore := lcs()
		rec, _, _ := store.Get(ctx, VersionRecordKey(name))
		for _, yes := range []bool{false, true} {
			var out bytes.Buffer
			_, err := Update(ctx, reg, cl, name, UpdateOptions{Yes: yes, Out: &out})
			if err == nil || !strings.Contains(err.Error(), "(rule "+rule+")") || !strings.Contains(err.Error(), "hull upgrade cluster") {
				t.Errorf("update (yes=%v) = %v, want a refusal naming rule %s\n%s", yes, err, rule, out.String())
			}
		}
		for g, lc := range lcs() {
			if lcBefore[g] == nil || lc.ConfigVersion != lcBefore[g].ConfigVersion {
				t.Errorf("a refused update changed the launch config of %s", g)
			}
		}
		if recAfter, _, _ := store.Get(ctx, VersionRecordKey(name)); !bytes.Equal(rec, recAfter) {
			t.Errorf("a refused update rewrote the version record:\n%s", recAfter)
		}
	}

	// Skipping a minor is refused before anything runs it.
	setVersion("1.38.0")
	refused("apiservers-within-one-minor")

	setVersion("1.37.2")
	out := update()
	if !strings.Contains(out, "Version skew: node group nodes-a stays at Kubernetes 1.36.3 (image hull-kubernetes-1.36.3) until every control-plane machine runs 1.37.2") {
		t.Errorf("update did not say it holds nodes-a:\n%s", out)
	}
	held := lcs()
	if got := version(held["control-plane-a"]); got != "1.37.2" {
		t.Errorf("control plane launch config at %s, want 1.37.2", got)
	}
	if held["nodes-a"].ConfigVersion != before["nodes-a"].ConfigVersion || version(held["nodes-a"]) != "1.36.3" {
		t.Errorf("nodes-a launch config moved while the control plane is at 1.36.3: %s (%s) -> %s (%s)",
			before["nodes-a"].ConfigVersion, version(before["nodes-a"]), held["nodes-a"].ConfigVersion, version(held["nodes-a"]))
	}

	// The control-plane machine still runs 1.36.3, though its group's launch
	// config says 1.37.2 now: the version record remembers, so a second
	// jump is refused as well.
	setVersion("1.38.0")
	refused("apiservers-within-one-minor")
	setVersion("1.37.2")

	// A node group added meanwhile starts at the control plane's older
	// version, with that version's image.
	nodesB := &v1alpha1.InstanceGroup{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindInstanceGroup},
		Spec: v1alpha1.InstanceGroupSpec{Role: v1alpha1.RoleNode, MinSize: new(int32(1)), MaxSize: new(int32(1)), MachineType: "local.small", Subnets: []string{"zone-a"}}}
	nodesB.Metadata.Name = "nodes-b"
	nodesB.Metadata.Labels = map[string]string{v1alpha1.LabelCluster: name}
	if _, err := reg.PutInstanceGroup(ctx, name, nodesB, state.MustNotExist()); err != nil {
		t.Fatal(err)
	}
	out = update()
	if !strings.Contains(out, "Version skew: node group nodes-b stays at Kubernetes 1.36.3 (image hull-kubernetes-1.36.3)") {
		t.Errorf("update did not hold the new group nodes-b at 1.36.3:\n%s", out)
	}
	if lc := lcs()["nodes-b"]; lc == nil || version(lc) != "1.36.3" || lc.Image != "hull-kubernetes-1.36.3" {
		t.Fatalf("new group nodes-b launch config: %+v, want 1.36.3 on hull-kubernetes-1.36.3", lc)
	}
	waitRunning(t, cl, name, 4)

	// Replace the control-plane machine: it comes back from the 1.37.2 config.
	insts, err := cl.ListInstances(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		if in.Group == "control-plane-a" {
			if err := cl.TerminateInstance(ctx, in.ID, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitRunning(t, cl, name, 4)
	out = update()
	if strings.Contains(out, "Version skew") {
		t.Errorf("nodes held although the control plane runs 1.37.2:\n%s", out)
	}
	after := lcs()
	for _, g := range []string{"nodes-a", "nodes-b"} {
		if got := version(after[g]); got != "1.37.2" || after[g].Image != "hull-kubernetes-1.37.2" {
			t.Errorf("%s after the control plane was upgraded: version %s image %s, want 1.37.2", g, got, after[g].Image)
		}
	}

	// A downgrade would put API servers behind the kubelets that run 1.36.3
	// and 1.37.2 now.
	setVersion("1.36.3")
	refused("not-newer-than-apiserver")
}

// waitRunning waits until the cluster runs n machines, all Running.
func waitRunning(t *testing.T, cl *local.Client, cluster string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		insts, err := cl.ListInstances(context.Background(), cluster)
		running := 0
		for _, in := range insts {
			if in.State == cloud.StateRunning {
				running++
			}
		}
		if err == nil && running == n && len(insts) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s: %d of %d machines running (%v)", cluster, running, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
