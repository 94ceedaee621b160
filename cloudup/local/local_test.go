package local

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/cloud"
)

const testCluster = "alpha"

var testNetwork = &cloud.Network{
	Cluster: testCluster,
	CIDR:    "10.124.0.0/16",
	Subnets: []cloud.Subnet{
		{Name: "a", Zone: "zone-a", CIDR: "10.124.1.0/24", Type: "Private"},
		{Name: "b", Zone: "zone-b", CIDR: "10.124.2.0/24", Type: "Private"},
	},
}

var testGroups = []*cloud.InstanceGroup{
	{Cluster: testCluster, Name: "control-plane", Role: "ControlPlane", MinSize: 1, MaxSize: 3, Subnets: []string{"a"}},
	{Cluster: testCluster, Name: "nodes-a", Role: "Node", MinSize: 2, MaxSize: 4, Subnets: []string{"a", "b"}},
	{Cluster: testCluster, Name: "nodes-b", Role: "Node", MinSize: 1, MaxSize: 3, Subnets: []string{"b"}},
}

var testLB = &cloud.LoadBalancer{
	Cluster: testCluster, Name: "api", Type: "Public", Port: 8443,
	BackendGroups: []string{"control-plane"}, BackendPort: 8080,
	HealthCheck: cloud.HealthCheck{Protocol: "HTTP", Path: "/healthz"},
}

// TestLocalCloud brings a 3-group cluster up on the local cloud and walks it
// through faults, instance operations, a daemon restart and deletion.
// Steps run in order; a failed step stops the rest.
func TestLocalCloud(t *testing.T) {
	requireRoot(t)
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"SecondDaemonRefused", testSecondDaemonRefused},
		{"Images", testImages},
		{"Network", testNetworkOverlap},
		{"ClusterUp", testClusterUp},
		{"MachinesReachEachOther", testMesh},
		{"LoadBalancerForwards", testLBForwards},
		{"LoadBalancerKeepsItsPort", testLBKeepsPort},
		{"MachineAPIListsInstances", testMachineAPI},
		{"RegistryServesMachines", testRegistry},
		{"CrashedMachineReplaced", testCrashReplaced},
		{"UnhealthyBackendGetsNoTraffic", testUnhealthyBackend},
		{"Detach", testDetach},
		{"TerminateWithoutDecrement", testTerminateReplaced},
		{"DeleteNetworkRefusedWhileUsed", testDeleteNetworkRefused},
		{"DaemonRestartReadopts", testRestart},
		{"RegistryKeepsImagesAcrossRestarts", testRegistryAfterRestart},
		{"DeleteLeavesNothing", testDeleteAll},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			return
		}
	}
}

func testSecondDaemonRefused(t *testing.T) {
	err := RunDaemon(context.Background(), DaemonOptions{StateDir: env.stateDir, Socket: filepath.Join(env.tmp, "other.sock")})
	if err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Fatalf("second daemon on the same state dir: got %v, want an error saying another daemon runs", err)
	}
	err = RunDaemon(context.Background(), DaemonOptions{StateDir: filepath.Join(env.tmp, "other-state"), Socket: env.socket})
	if err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Fatalf("second daemon on the same socket: got %v, want an error saying another daemon runs", err)
	}
}

func testImages(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	img, err := c.ImportImage(ctx, "testboot", env.imageDir)
	if err != nil {
		t.Fatal(err)
	}
	if found, err := c.FindImage(ctx, "testboot"); err != nil || found.ID != img.ID {
		t.Fatalf("FindImage(testboot) = %+v, %v; want id %s", found, err, img.ID)
	}
	_, err = c.FindImage(ctx, "no-such-image")
	wantErr(t, err, cloud.ErrNotFound, "no-such-image")
	err = c.EnsureLaunchConfig(ctx, &cloud.LaunchConfig{Cluster: testCluster, Group: "x", Image: "no-such-image", ConfigVersion: "v1"})
	wantErr(t, err, cloud.ErrNotFound, "no-such-image")

	// A source whose file does not match its manifest is refused at import.
	bad := filepath.Join(env.tmp, "bad-image")
	copyDir(t, env.imageDir, bad)
	if err := os.WriteFile(filepath.Join(bad, "VERSION"), []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.ImportImage(ctx, "bad", bad)
	wantErr(t, err, ErrInvalid, "sha256 mismatch for VERSION")

	// An imported image corrupted afterwards is caught by FindImage.
	corrupt := filepath.Join(env.tmp, "corrupt-image")
	copyDir(t, env.imageDir, corrupt)
	if _, err := c.ImportImage(ctx, "corrupt", corrupt); err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(env.stateDir, "images", "corrupt", "bin", "boot")
	flipByte(t, stored, 1000)
	_, err = c.FindImage(ctx, "corrupt")
	wantErr(t, err, cloud.ErrNotFound, "corrupt", "sha256 mismatch for bin/boot")
	if err := os.Remove(stored); err != nil {
		t.Fatal(err)
	}
	_, err = c.FindImage(ctx, "corrupt")
	wantErr(t, err, cloud.ErrNotFound, "corrupt", "missing file bin/boot")
	if err := os.Remove(filepath.Join(env.stateDir, "images", "corrupt", ManifestFile)); err != nil {
		t.Fatal(err)
	}
	_, err = c.FindImage(ctx, "corrupt")
	wantErr(t, err, cloud.ErrNotFound, "corrupt", "missing manifest.json")
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func testNetworkOverlap(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	n, err := c.EnsureNetwork(ctx, testNetwork)
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != bridgeName(testCluster) || n.Subnets[0].Gateway != "10.124.1.1" || n.Subnets[1].Gateway != "10.124.2.1" {
		t.Fatalf("EnsureNetwork = %+v; want bridge %s and gateways 10.124.1.1, 10.124.2.1", n, bridgeName(testCluster))
	}
	if again, err := c.EnsureNetwork(ctx, testNetwork); err != nil || again.ID != n.ID {
		t.Fatalf("second EnsureNetwork = %+v, %v", again, err)
	}
	if found, err := c.FindNetwork(ctx, "beta"); err != nil || found != nil {
		t.Fatalf("FindNetwork(beta) = %+v, %v; want nil, nil", found, err)
	}
	_, err = c.EnsureNetwork(ctx, &cloud.Network{Cluster: "beta", CIDR: "10.124.128.0/17", Subnets: []cloud.Subnet{{Name: "a", CIDR: "10.124.129.0/24"}}})
	wantErr(t, err, ErrConflict, "alpha", "10.124.0.0/16", "10.124.128.0/17")
	if found, _ := c.FindNetwork(ctx, "beta"); found != nil {
		t.Fatalf("refused network was recorded: %+v", found)
	}
}

func userData(group string) []byte {
	return []byte("clusterName: alpha\ninstanceGroup: " + group + "\nrole: x\nstateStore: file:///nowhere\nconfigKey: k\nconfigHash: h\n")
}

func testClusterUp(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	for _, g := range testGroups {
		lc := &cloud.LaunchConfig{Cluster: testCluster, Group: g.Name, Image: "testboot", MachineType: "local", UserData: userData(g.Name), ConfigVersion: "v1"}
		if err := c.EnsureLaunchConfig(ctx, lc); err != nil {
			t.Fatal(err)
		}
		if err := c.EnsureInstanceGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	lb, err := c.EnsureLoadBalancer(ctx, testLB)
	if err != nil {
		t.Fatal(err)
	}
	if lb.Address != "10.124.1.1:8443" || !strings.HasPrefix(lb.HostAddress, "127.0.0.1:") {
		t.Fatalf("load balancer addresses = %q, %q", lb.Address, lb.HostAddress)
	}
	groups, err := c.FindInstanceGroups(ctx, testCluster)
	if err != nil || len(groups) != 3 || groups[1].Desired != 2 || groups[1].ConfigVersion != "v1" {
		t.Fatalf("FindInstanceGroups = %+v, %v", groups, err)
	}

	got := waitGroups(t, c, map[string]int{"control-plane": 1, "nodes-a": 2, "nodes-b": 1})
	subnets := map[string]netip.Prefix{"a": netip.MustParsePrefix("10.124.1.0/24"), "b": netip.MustParsePrefix("10.124.2.0/24")}
	addrs := map[string]bool{}
	for _, g := range testGroups {
		for _, inst := range got[g.Name] {
			a := netip.MustParseAddr(inst.Address)
			in := false
			for _, s := range g.Subnets {
				in = in || subnets[s].Contains(a)
			}
			if !in || addrs[inst.Address] || a.As4()[3] <= 1 {
				t.Errorf("instance %s of %s has address %s: want a unique host address in subnets %v", inst.ID, g.Name, a, g.Subnets)
			}
			addrs[inst.Address] = true
			if inst.Role != g.Role || inst.ConfigVersion != "v1" || inst.LaunchTime.IsZero() {
				t.Errorf("instance %+v: want role %s, config version v1 and a launch time", inst, g.Role)
			}
			base := "http://" + inst.Address + ":8080"
			if h := mustGet(t, base+"/hostname"); h != inst.ID {
				t.Errorf("hostname of %s is %q", inst.ID, h)
			}
			if id := mustGet(t, base+"/env?name=HULL_INSTANCE_ID"); id != inst.ID {
				t.Errorf("HULL_INSTANCE_ID in %s is %q", inst.ID, id)
			}
			if ud := mustGet(t, base+"/file?path=/etc/hull/user-data.yaml"); ud != string(userData(g.Name)) {
				t.Errorf("user-data in %s is %q", inst.ID, ud)
			}
			if v := mustGet(t, base+"/file?path=/opt/hull/image/VERSION"); v != "test\n" {
				t.Errorf("image in %s: VERSION is %q", inst.ID, v)
			}
		}
	}
	// nodes-a spans both subnets, round-robin.
	if a, b := got["nodes-a"][0].Address, got["nodes-a"][1].Address; a[:9] == b[:9] {
		t.Errorf("nodes-a machines %s and %s are in the same subnet; want one per subnet", a, b)
	}
}

func testMesh(t *testing.T) {
	c := connect(t)
	insts, err := c.ListInstances(ctxT(t), testCluster)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range insts {
		for _, to := range insts {
			if from.ID == to.ID {
				continue
			}
			if r := mustGet(t, "http://"+from.Address+":8080/dial?addr="+to.Address+":8080"); r != "ok" {
				t.Errorf("%s (%s) cannot reach %s (%s): %s", from.ID, from.Address, to.ID, to.Address, r)
			}
		}
	}
}

func testLBForwards(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	lb, err := c.FindLoadBalancer(ctx, testCluster, "api")
	if err != nil || lb == nil {
		t.Fatalf("FindLoadBalancer = %+v, %v", lb, err)
	}
	groups, _ := byGroup(t, c)
	cp := groups["control-plane"][0].ID
	waitFor(t, 15*time.Second, "the load balancer to forward from the host", func() (bool, string) {
		h, err := get("http://" + lb.HostAddress + "/hostname")
		return h == cp, fmt.Sprint(h, err)
	})
	node := groups["nodes-b"][0]
	if h := mustGet(t, "http://"+node.Address+":8080/fetch?url=http://"+lb.Address+"/hostname"); h != cp {
		t.Errorf("from machine %s, the load balancer at %s answered %q; want %s", node.ID, lb.Address, h, cp)
	}
}

// A load balancer deleted and made again (a cluster rebuilt from nothing)
// listens on the same host port, so exported kubeconfigs keep working.
func testLBKeepsPort(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	before, err := c.FindLoadBalancer(ctx, testCluster, "api")
	if err != nil || before == nil {
		t.Fatalf("FindLoadBalancer = %+v, %v", before, err)
	}
	if err := c.DeleteLoadBalancer(ctx, testCluster, "api"); err != nil {
		t.Fatal(err)
	}
	after, err := c.EnsureLoadBalancer(ctx, testLB)
	if err != nil {
		t.Fatal(err)
	}
	if after.HostAddress != before.HostAddress {
		t.Errorf("load balancer made again on %s; it was on %s", after.HostAddress, before.HostAddress)
	}
	if want := stableHostPort(testCluster, "api", 0); !strings.HasSuffix(after.HostAddress, fmt.Sprintf(":%d", want)) {
		t.Errorf("host address %s: want the cluster's stable port %d", after.HostAddress, want)
	}
}

// Machines learn their cluster's live instances from the machine API at
// their gateway, named in their environment.
func testMachineAPI(t *testing.T) {
	c := connect(t)
	groups, _ := byGroup(t, c)
	node := groups["nodes-b"][0]
	api := mustGet(t, "http://"+node.Address+":8080/env?name="+EnvMachineAPI)
	if want := "http://10.124.2.1:8101"; api != want {
		t.Fatalf("%s in %s = %q, want %q", EnvMachineAPI, node.ID, api, want)
	}
	body := mustGet(t, "http://"+node.Address+":8080/fetch?url="+api+"/v1/instances")
	for _, g := range groups {
		for _, inst := range g {
			if !strings.Contains(body, `"id":"`+inst.ID+`"`) {
				t.Errorf("machine API lacks instance %s:\n%s", inst.ID, body)
			}
		}
	}
}

func testCrashReplaced(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	groups, _ := byGroup(t, c)
	victim := groups["nodes-b"][0]
	info, err := c.Machine(ctx, victim.ID)
	if err != nil || info.Machine == nil {
		t.Fatalf("Machine(%s) = %+v, %v", victim.ID, info, err)
	}
	if err := syscall.Kill(info.Machine.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the crashed machine to be terminated", func() (bool, string) {
		inst, err := c.GetInstance(ctx, victim.ID)
		return err == nil && inst.State == cloud.StateTerminated, fmt.Sprint(inst, err)
	})
	after := waitGroups(t, c, map[string]int{"control-plane": 1, "nodes-a": 2, "nodes-b": 1})
	if after["nodes-b"][0].ID == victim.ID {
		t.Fatalf("nodes-b still has %s", victim.ID)
	}
}

func testUnhealthyBackend(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	cpGroup := *testGroups[0]
	cpGroup.Desired = 2
	if err := c.EnsureInstanceGroup(ctx, &cpGroup); err != nil {
		t.Fatal(err)
	}
	groups := waitGroups(t, c, map[string]int{"control-plane": 2, "nodes-a": 2, "nodes-b": 1})
	lb, _ := c.FindLoadBalancer(ctx, testCluster, "api")
	cp := groups["control-plane"]
	sick, well := cp[0], cp[1]
	waitFor(t, 15*time.Second, "both control-plane machines to receive traffic", func() (bool, string) {
		got := map[string]bool{}
		for range 6 {
			h, _ := get("http://" + lb.HostAddress + "/hostname")
			got[h] = true
		}
		return got[sick.ID] && got[well.ID], fmt.Sprint(got)
	})
	mustGet(t, "http://"+sick.Address+":8080/sick")
	waitFor(t, 15*time.Second, "the sick backend to leave", func() (bool, string) {
		for range 10 {
			if h, err := get("http://" + lb.HostAddress + "/hostname"); h != well.ID {
				return false, fmt.Sprint(h, err)
			}
		}
		return true, ""
	})
	for range 10 {
		if h := mustGet(t, "http://"+lb.HostAddress+"/hostname"); h != well.ID {
			t.Fatalf("traffic reached %q, want only the healthy %s", h, well.ID)
		}
	}
	// The sick machine is still Running: LB health is not instance health.
	if inst, err := c.GetInstance(ctx, sick.ID); err != nil || inst.State != cloud.StateRunning {
		t.Fatalf("sick instance = %+v, %v; want Running", inst, err)
	}

	// Terminating with decrement shrinks the group; not below its minimum.
	if err := c.TerminateInstance(ctx, sick.ID, true); err != nil {
		t.Fatal(err)
	}
	err := c.TerminateInstance(ctx, well.ID, true)
	wantErr(t, err, ErrConflict, "control-plane", "minimum size 1")
	groups = waitGroups(t, c, map[string]int{"control-plane": 1, "nodes-a": 2, "nodes-b": 1})
	if groups["control-plane"][0].ID != well.ID {
		t.Fatalf("control-plane = %v, want only %s", ids(groups["control-plane"]), well.ID)
	}

	// With no healthy backend, connections are closed at once.
	mustGet(t, "http://"+well.Address+":8080/sick")
	waitFor(t, 15*time.Second, "the load balancer to have no healthy backend", func() (bool, string) {
		start := time.Now()
		_, err := get("http://" + lb.HostAddress + "/hostname")
		return err != nil && time.Since(start) < time.Second, fmt.Sprint(err, time.Since(start))
	})
	mustGet(t, "http://"+well.Address+":8080/sick")
	waitFor(t, 15*time.Second, "the backend to recover", func() (bool, string) {
		h, err := get("http://" + lb.HostAddress + "/hostname")
		return h == well.ID, fmt.Sprint(h, err)
	})
}

func testDetach(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	groups, _ := byGroup(t, c)
	old := groups["nodes-a"][0]
	if err := c.DetachInstance(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	groups = waitGroups(t, c, map[string]int{"control-plane": 1, "nodes-a": 2, "nodes-b": 1})
	i := slices.IndexFunc(groups["nodes-a"], func(i *cloud.Instance) bool { return i.ID == old.ID })
	if i < 0 || !groups["nodes-a"][i].Detached || groups["nodes-a"][i].State != cloud.StateRunning {
		t.Fatalf("nodes-a = %v; want %s listed, detached and Running", ids(groups["nodes-a"]), old.ID)
	}
	if slices.Contains(ids(attached(groups["nodes-a"])), old.ID) {
		t.Fatalf("detached %s still counts toward nodes-a", old.ID)
	}
	mustGet(t, "http://"+old.Address+":8080/healthz")
	if err := c.TerminateInstance(ctx, old.ID, false); err != nil {
		t.Fatal(err)
	}
	groups = waitGroups(t, c, map[string]int{"control-plane": 1, "nodes-a": 2, "nodes-b": 1})
	if len(groups["nodes-a"]) != 2 || slices.Contains(ids(groups["nodes-a"]), old.ID) {
		t.Fatalf("after terminating the detached %s, nodes-a = %v", old.ID, ids(groups["nodes-a"]))
	}
}

func testTerminateReplaced(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	groups, _ := byGroup(t, c)
	old := groups["nodes-a"][0]
	if err := c.TerminateInstance(ctx, old.ID, false); err != nil {
		t.Fatal(err)
	}
	if inst, err := c.GetInstance(ctx, old.ID); err != nil || inst.State != cloud.StateTerminated {
		t.Fatalf("after TerminateInstance, %s = %+v, %v", old.ID, inst, err)
	}
	groups = waitGroups(t, c, map[string]int{"control-plane": 1, "nodes-a": 2, "nodes-b": 1})
	if slices.Contains(ids(groups["nodes-a"]), old.ID) {
		t.Fatalf("nodes-a still lists %s", old.ID)
	}
	g, _ := c.FindInstanceGroups(ctx, testCluster)
	if g[1].Desired != 2 {
		t.Fatalf("terminate without decrement changed desired to %d", g[1].Desired)
	}
}

func testDeleteNetworkRefused(t *testing.T) {
	c := connect(t)
	err := c.DeleteNetwork(ctxT(t), testCluster)
	wantErr(t, err, ErrConflict, "instance group control-plane", "load balancer api")
}

func testRestart(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	before, _ := byGroup(t, c)
	lb, _ := c.FindLoadBalancer(ctx, testCluster, "api")
	pids := map[string]int{}
	for _, insts := range before {
		for _, inst := range insts {
			pids[inst.ID] = seen[inst.ID].PID
		}
	}
	if err := stopTestDaemon(); err != nil {
		t.Fatalf("daemon shutdown: %v", err)
	}
	for id := range pids {
		if !seen[id].Alive() {
			t.Errorf("machine %s died with the daemon", id)
		}
	}
	if err := startTestDaemon(); err != nil {
		t.Fatal(err)
	}
	c = connect(t)
	after := waitGroups(t, c, map[string]int{"control-plane": 1, "nodes-a": 2, "nodes-b": 1})
	for _, insts := range after {
		for _, inst := range insts {
			info, err := c.Machine(ctx, inst.ID)
			if err != nil || info.Machine == nil || pids[inst.ID] != info.Machine.PID {
				t.Errorf("after restart %s has machine %+v (%v); want the re-adopted pid %d", inst.ID, info, err, pids[inst.ID])
			}
		}
	}
	lb2, _ := c.FindLoadBalancer(ctx, testCluster, "api")
	if lb2 == nil || lb2.HostAddress != lb.HostAddress {
		t.Fatalf("load balancer after restart = %+v; want host address %s", lb2, lb.HostAddress)
	}
	cp := after["control-plane"][0].ID
	waitFor(t, 15*time.Second, "the load balancer to forward after the restart", func() (bool, string) {
		h, err := get("http://" + lb.HostAddress + "/hostname")
		return h == cp, fmt.Sprint(h, err)
	})
}

func testDeleteAll(t *testing.T) {
	c := connect(t)
	ctx := ctxT(t)
	byGroup(t, c)
	if err := c.DeleteLoadBalancer(ctx, testCluster, "api"); err != nil {
		t.Fatal(err)
	}
	for _, g := range testGroups {
		if err := c.DeleteInstanceGroup(ctx, testCluster, g.Name); err != nil {
			t.Fatal(err)
		}
	}
	if insts, err := c.ListInstances(ctx, testCluster); err != nil || len(insts) != 0 {
		t.Fatalf("after deleting the groups, instances = %v, %v", insts, err)
	}
	if lcs, err := c.FindLaunchConfigs(ctx, testCluster); err != nil || len(lcs) != 0 {
		t.Fatalf("after deleting the groups, launch configs = %v, %v", lcs, err)
	}
	if err := c.DeleteNetwork(ctx, testCluster); err != nil {
		t.Fatal(err)
	}
	if n, err := c.FindNetwork(ctx, testCluster); n != nil || err != nil {
		t.Fatalf("network after delete = %+v, %v", n, err)
	}
	assertNothingLeft(t)
}
