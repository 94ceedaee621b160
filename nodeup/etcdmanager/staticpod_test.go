package etcdmanager

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/pkg/etcd/manager"
)

const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: etcd-main
  namespace: kube-system
spec:
  hostNetwork: true
  containers:
  - name: etcd-main
    image: registry.k8s.io/etcd:3.6.16
    command:
    - /usr/local/bin/etcd
    - --data-dir=/var/lib/etcd/main
    - --initial-cluster=a=https://10.0.0.1:2380
    - --initial-cluster-state=new
    - --initial-cluster-token=c-main
    - --name=a
`

func command(t *testing.T, data []byte) []string {
	t.Helper()
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		t.Fatalf("manifest does not parse: %v\n%s", err, data)
	}
	return pod.Spec.Containers[0].Command
}

func TestOverrideFlags(t *testing.T) {
	out, err := OverrideFlags([]byte(manifest), map[string]string{
		"initial-cluster":       "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380",
		"initial-cluster-state": "existing",
		"initial-cluster-token": "",
		"force-new-cluster":     "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(t, out)
	for _, want := range []string{
		"--initial-cluster=a=https://10.0.0.1:2380,b=https://10.0.0.2:2380",
		"--initial-cluster-state=existing",
		"--initial-cluster-token=c-main", // empty: left alone
		"--force-new-cluster=true",       // absent: appended
		"--name=a",
	} {
		if !slices.Contains(cmd, want) {
			t.Errorf("command lacks %s: %q", want, cmd)
		}
	}
	if n := len(cmd); n != 7 {
		t.Errorf("command has %d entries, want 7: %q", n, cmd)
	}
	same, err := OverrideFlags([]byte(manifest), map[string]string{"initial-cluster": ""})
	if err != nil || string(same) != manifest {
		t.Errorf("no override changed the manifest (err %v):\n%s", err, same)
	}
	if _, err := OverrideFlags([]byte("spec: [1"), nil); err == nil {
		t.Error("a broken manifest was accepted")
	}
}

// The static pod supervisor parks and restores the manifests, holds the
// API server down while any member is stopped, and waits for the process.
func TestStaticPodStopStart(t *testing.T) {
	dir := t.TempDir()
	manifests, parked := filepath.Join(dir, "manifests"), filepath.Join(dir, "parked")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	api := filepath.Join(manifests, "kube-apiserver.yaml")
	write(api, "apiserver")
	write(filepath.Join(manifests, "etcd-main.yaml"), manifest)
	write(filepath.Join(manifests, "etcd-events.yaml"), strings.ReplaceAll(manifest, "main", "events"))
	gate := &APIServerGate{Manifest: api, Parked: filepath.Join(parked, "kube-apiserver.yaml")}

	// The members' processes exit a few polls after their manifests are gone.
	var polls atomic.Int32
	procs := func() ([]Process, error) {
		if polls.Add(1) < 3 {
			return []Process{{PID: 1, Member: "a", DataDir: "/var/lib/etcd/main"}, {PID: 3, Member: "a", DataDir: "/var/lib/etcd/events"}, {PID: 2, Member: "other"}}, nil
		}
		return []Process{{PID: 2, Member: "other"}}, nil
	}
	pod := func(name string) *StaticPod {
		return &StaticPod{
			Manifest: filepath.Join(manifests, "etcd-"+name+".yaml"), Parked: filepath.Join(parked, "etcd-"+name+".yaml"),
			Member: "a", Gate: gate, Processes: procs, StopTimeout: 10 * time.Second,
		}
	}
	main, events := pod("main"), pod("events")
	ctx := context.Background()
	for _, p := range []*StaticPod{main, events} {
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p.Manifest); !os.IsNotExist(err) {
			t.Errorf("%s still in the manifest directory after Stop", p.Manifest)
		}
	}
	if polls.Load() < 3 {
		t.Errorf("Stop returned before the process exited (%d polls)", polls.Load())
	}
	if _, err := os.Stat(api); !os.IsNotExist(err) {
		t.Error("kube-apiserver manifest stayed while etcd is stopped")
	}
	if err := main.Stop(ctx); err != nil { // stopping a stopped member succeeds
		t.Fatal(err)
	}

	opts := manager.StartOptions{InitialCluster: "a=https://10.0.0.9:2380", ClusterState: "new", ClusterToken: "hull-c-main-r1"}
	if err := main.Start(ctx, opts); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(main.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(t, data)
	for _, want := range []string{"--initial-cluster=a=https://10.0.0.9:2380", "--initial-cluster-token=hull-c-main-r1"} {
		if !slices.Contains(cmd, want) {
			t.Errorf("restarted manifest lacks %s: %q", want, cmd)
		}
	}
	if _, err := os.Stat(api); !os.IsNotExist(err) {
		t.Error("kube-apiserver came back while events is still stopped")
	}
	if err := events.Start(ctx, manager.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(api); err != nil || string(got) != "apiserver" {
		t.Errorf("kube-apiserver manifest not back after the last start: %q, %v", got, err)
	}
	if got, _ := os.ReadFile(events.Manifest); string(got) != strings.ReplaceAll(manifest, "main", "events") {
		t.Errorf("a plain start changed the manifest:\n%s", got)
	}
}

func TestStopTimesOutOnAStuckProcess(t *testing.T) {
	dir := t.TempDir()
	p := &StaticPod{
		Manifest: filepath.Join(dir, "etcd-main.yaml"), Parked: filepath.Join(dir, "parked", "etcd-main.yaml"),
		Member: "a", StopTimeout: 500 * time.Millisecond,
		Processes: func() ([]Process, error) { return []Process{{PID: 7, Member: "a"}}, nil },
	}
	err := p.Stop(context.Background())
	if err == nil || !strings.Contains(err.Error(), "etcd member a still runs") {
		t.Fatalf("Stop = %v, want a timeout naming the member", err)
	}
}

// A machine's members of main and events share their --name: stopping
// one waits for its own process only (told by --data-dir), not for the
// other member, which may run on (a roll-back restarts events first).
func TestStopWaitsForItsOwnMemberOnly(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := &StaticPod{Manifest: filepath.Join(dir, "etcd-main.yaml"), Parked: filepath.Join(dir, "parked", "etcd-main.yaml"), Member: "a", StopTimeout: 10 * time.Second}
	write(main.Manifest, manifest)
	var polls atomic.Int32
	main.Processes = func() ([]Process, error) {
		events := Process{PID: 8, Member: "a", DataDir: "/var/lib/etcd/events"}
		if polls.Add(1) < 3 {
			return []Process{{PID: 7, Member: "a", DataDir: "/var/lib/etcd/main"}, events}, nil
		}
		return []Process{events}, nil
	}
	start := time.Now()
	if err := main.Stop(context.Background()); err != nil {
		t.Fatalf("stop main while events runs: %v", err)
	}
	if polls.Load() < 3 {
		t.Errorf("Stop returned before main's process exited (%d polls)", polls.Load())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s: it waited for events' process", d)
	}
	// Stopped again, its manifest parked: the parked one names the data dir.
	polls.Store(3)
	if err := main.Stop(context.Background()); err != nil {
		t.Fatalf("stop main again: %v", err)
	}
}

// ProcProcesses finds a real process whose argv[0] is etcd by its --name.
func TestProcProcessesFindsRealProcess(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	name := "hull-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	// "; true" keeps the shell from exec'ing sleep, so argv stays etcd's.
	c := &exec.Cmd{Path: sh, Args: []string{"etcd", "-c", "sleep 30; true", "--name=" + name, "--data-dir=/var/lib/etcd/main"}}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	procs, err := ProcProcesses()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(procs, Process{PID: c.Process.Pid, Member: name, DataDir: "/var/lib/etcd/main"}) {
		t.Fatalf("process %d (--name=%s) not found in %v", c.Process.Pid, name, procs)
	}
	_ = c.Process.Kill()
	_ = c.Wait()
	procs, err = ProcProcesses()
	if err != nil {
		t.Fatal(err)
	}
	// By PID: the shell's child, between its fork and its exec of sleep,
	// still has the shell's argv.
	if slices.ContainsFunc(procs, func(p Process) bool { return p.PID == c.Process.Pid }) {
		t.Fatalf("killed process still listed: %v", procs)
	}
}
