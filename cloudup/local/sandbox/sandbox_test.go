package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTwoMachinesOnOneBridge(t *testing.T) {
	e := newEnv(t, 0)
	ctx := ctxFor(t)
	specA, srcA := e.spec(1)
	specB, srcB := e.spec(2)
	a, b := e.start(specA), e.start(specB)
	urlA, urlB := "http://"+addrOf(specA), "http://"+addrOf(specB)

	// Own address and hostname; the host reaches both over the bridge.
	if got := mustGet(t, urlA+"/hostname"); got != a.ID {
		t.Errorf("machine A hostname %q, want %q", got, a.ID)
	}
	if got := mustGet(t, urlB+"/hostname"); got != b.ID {
		t.Errorf("machine B hostname %q, want %q", got, b.ID)
	}
	if got := mustGet(t, urlA+"/pid"); got != strconv.Itoa(a.PID) {
		t.Errorf("boot process pid %s, Machine.PID %d", got, a.PID)
	}
	// Machine to machine, both ways.
	if got := mustGet(t, urlA+"/dial?addr="+addrOf(specB)); got != b.ID {
		t.Errorf("A dialing B got %q, want %q", got, b.ID)
	}
	if got := mustGet(t, urlB+"/dial?addr="+addrOf(specA)); got != a.ID {
		t.Errorf("B dialing A got %q, want %q", got, a.ID)
	}

	// A write at the mount target lands in the machine's own source only.
	target := specA.Mounts[0].Target
	mustGet(t, urlA+"/write?path="+target+"/hello&data=from-a")
	if b, err := os.ReadFile(filepath.Join(srcA, "hello")); err != nil || string(b) != "from-a" {
		t.Errorf("source of A has %q, %v; want from-a", b, err)
	}
	assertNoPath(t, filepath.Join(target, "hello"))
	if _, err := httpGet(urlB + "/read?path=" + target + "/hello"); err == nil {
		t.Errorf("machine B sees machine A's file")
	}
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		t.Errorf("Start did not create the mount target %s on the host: %v", target, err)
	}

	// ExecIn runs in the machine's namespaces.
	out, err := ExecIn(ctx, a, "hostname").Output()
	if err != nil || strings.TrimSpace(string(out)) != a.ID {
		t.Errorf("ExecIn hostname: %q, %v; want %s", out, err, a.ID)
	}
	out, err = ExecIn(ctx, a, "ip", "-o", "-4", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), specA.Address.String()) {
		t.Errorf("ExecIn ip addr: %q, %v; want %s", out, err, specA.Address)
	}
	out, err = ExecIn(ctx, a, "cat", target+"/hello").CombinedOutput()
	if err != nil || string(out) != "from-a" {
		t.Errorf("ExecIn cat: %q, %v; want from-a", out, err)
	}

	out, err = ExecIn(ctx, a, "cat", "/proc/self/cgroup").CombinedOutput()
	if err != nil || !strings.Contains(string(out), ":/"+a.Cgroup+"\n") {
		t.Errorf("ExecIn'ed process not in the machine's cgroups: %q, %v", out, err)
	}
	// Neither machine keeps another's network namespace alive through a
	// copy of its /run/netns bind mount.
	out, err = ExecIn(ctx, b, "cat", "/proc/self/mountinfo").CombinedOutput()
	if err != nil || strings.Contains(string(out), " - nsfs ") {
		t.Errorf("machine B's mount namespace holds network namespace mounts (%v):\n%s", err, out)
	}
	// Positive control for the leftover-mount check in assertGone.
	if len(mountsReferencing(t, srcA)) == 0 {
		t.Errorf("no mount of %s found while machine A runs", srcA)
	}

	// The boot process and a setsid'ed, daemonized grandchild that ignores
	// SIGTERM are in the machine's cgroup everywhere; Stop kills both.
	assertInCgroups(t, a.PID, a.Cgroup)
	sleeper, err := strconv.Atoi(mustGet(t, urlA+"/spawn"))
	if err != nil {
		t.Fatal(err)
	}
	assertInCgroups(t, sleeper, a.Cgroup)
	if sid, _ := unix.Getsid(sleeper); sid != sleeper {
		t.Errorf("sleeper %d is in session %d, want its own", sleeper, sid)
	}
	if err := a.Stop(ctx, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if a.Alive() {
		t.Error("machine A alive after Stop")
	}
	assertGone(t, a.ID, a.Cgroup, []int{a.PID, sleeper}, []string{srcA})
	if err := a.Stop(ctx, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// B still uses the shared target: it must survive A's Stop, mounted.
	if _, err := os.Stat(target); err != nil {
		t.Errorf("target %s removed while machine B uses it: %v", target, err)
	}
	mustGet(t, urlB+"/write?path="+target+"/b&data=from-b")
	if b, err := os.ReadFile(filepath.Join(srcB, "b")); err != nil || string(b) != "from-b" {
		t.Errorf("source of B has %q, %v; want from-b", b, err)
	}

	if err := b.Stop(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := DeleteBridge(e.bridge); err != nil {
		t.Fatal(err)
	}
	assertGone(t, b.ID, b.Cgroup, []int{b.PID}, []string{srcB})
	if ok, _ := linkExists(e.bridge); ok {
		t.Errorf("bridge %s left", e.bridge)
	}
	assertNoPath(t, e.targetRoot)
	assertNoCgroupParent(t, e.top)
}

func TestAliveWaitAndReadoption(t *testing.T) {
	e := newEnv(t, 1)
	ctx := ctxFor(t)
	spec, src := e.spec(1)
	// A read-only file mount, and a mount nested in the first one (its
	// target is created inside the first mount's source, not on the host).
	conf := filepath.Join(t.TempDir(), "machine.conf")
	if err := os.WriteFile(conf, []byte("ro"), 0o644); err != nil {
		t.Fatal(err)
	}
	pods := t.TempDir()
	kubelet := spec.Mounts[0].Target
	spec.Mounts = append(spec.Mounts,
		Mount{Source: pods, Target: kubelet + "/pods"},
		Mount{Source: conf, Target: e.targetRoot + "/machine.conf", ReadOnly: true})
	m := e.start(spec)
	url := "http://" + addrOf(spec)
	if got := mustGet(t, url+"/read?path="+e.targetRoot+"/machine.conf"); got != "ro" {
		t.Errorf("read-only file mount reads %q, want ro", got)
	}
	if _, err := httpGet(url + "/write?path=" + e.targetRoot + "/machine.conf&data=rw"); err == nil {
		t.Error("machine wrote to a read-only mount")
	}
	mustGet(t, url+"/write?path="+kubelet+"/pods/p&data=pod")
	if b, err := os.ReadFile(filepath.Join(pods, "p")); err != nil || string(b) != "pod" {
		t.Errorf("nested mount source has %q, %v; want pod", b, err)
	}
	if fi, err := os.Stat(filepath.Join(src, "pods")); err != nil || !fi.IsDir() {
		t.Errorf("nested mount point not created in the outer mount's source: %v", err)
	}
	assertNoPath(t, kubelet+"/pods")

	// The daemon persists the record and re-adopts the machine after a restart.
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var adopted Machine
	if err := json.Unmarshal(b, &adopted); err != nil {
		t.Fatal(err)
	}
	if adopted != *m {
		t.Errorf("JSON round trip: got %+v, want %+v", adopted, *m)
	}
	if !adopted.Alive() {
		t.Error("re-adopted machine not alive")
	}
	reused := adopted
	reused.StartTime++
	if reused.Alive() {
		t.Error("a machine whose PID now has another start time is alive")
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := adopted.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a running machine: %v, want deadline exceeded", err)
	}

	// The boot process dies: Wait returns, Alive turns false.
	if err := unix.Kill(m.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := adopted.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if m.Alive() || adopted.Alive() {
		t.Error("machine alive after its boot process died")
	}
	if err := adopted.Stop(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m.ID, m.Cgroup, []int{m.PID}, []string{src, pods, conf})
	assertNoPath(t, e.targetRoot)
	assertNoCgroupParent(t, e.top)
}

func TestTeardownByID(t *testing.T) {
	e := newEnv(t, 2)
	spec, src := e.spec(1)
	m := e.start(spec)
	sleeper, err := strconv.Atoi(mustGet(t, "http://"+addrOf(spec)+"/spawn"))
	if err != nil {
		t.Fatal(err)
	}
	id, pid := m.ID, m.PID
	m = nil // the record is lost

	if err := Teardown(id, e.parent); err != nil {
		t.Fatal(err)
	}
	if err := Teardown(id, e.parent); err != nil {
		t.Errorf("second Teardown: %v", err)
	}
	assertGone(t, id, e.parent+"/"+id, []int{pid, sleeper}, []string{src})
	assertNoPath(t, e.targetRoot)
	assertNoCgroupParent(t, e.top)
}

func TestStartFailureLeavesNothing(t *testing.T) {
	e := newEnv(t, 3)
	ctx := ctxFor(t)

	for name, breakSpec := range map[string]func(*Spec){
		"missing bridge":       func(s *Spec) { s.Bridge = "hulltstnone" },
		"missing boot program": func(s *Spec) { s.Command = []string{"/nonexistent/boot"} },
		"boot program not in PATH": func(s *Spec) {
			s.Command = []string{"hull-no-such-boot-program"}
		},
		"mount source missing": func(s *Spec) { s.Mounts[0].Source = "/nonexistent/src" },
	} {
		t.Run(name, func(t *testing.T) {
			spec, src := e.spec(1)
			breakSpec(&spec)
			m, err := Start(ctx, spec)
			if err == nil {
				m.Stop(ctx, 0)
				t.Fatal("Start succeeded")
			}
			t.Log(err)
			assertGone(t, spec.ID, spec.CgroupParent+"/"+spec.ID, nil, []string{src})
			assertNoPath(t, e.targetRoot)
			assertNoCgroupParent(t, e.top)
		})
	}

	// A second Start with a running machine's id fails and leaves the
	// running machine alone.
	spec, _ := e.spec(2)
	m := e.start(spec)
	if _, err := Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Start of a running machine's id: %v, want already exists", err)
	}
	if !m.Alive() {
		t.Fatal("the running machine died")
	}
	mustGet(t, "http://"+addrOf(spec)+"/healthz")
}

func TestEnsureBridge(t *testing.T) {
	if err := RequireRoot(); err != nil {
		t.Skip(err)
	}
	name := fmt.Sprintf("hulltst%03de", os.Getpid()%1000)
	t.Cleanup(func() { DeleteBridge(name) })
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	for _, want := range [][]netip.Prefix{
		{p("10.123.4.1/24"), p("10.123.5.1/25")},
		{p("10.123.5.1/25"), p("10.123.6.1/26")},
		{p("10.123.6.1/26")},
	} {
		if err := EnsureBridge(name, want); err != nil {
			t.Fatal(err)
		}
		have, err := linkAddrs(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		var got []netip.Prefix
		for _, a := range have {
			if !a.Addr().IsLinkLocalUnicast() {
				got = append(got, a)
			}
		}
		if fmt.Sprint(sortPrefixes(got)) != fmt.Sprint(sortPrefixes(want)) {
			t.Errorf("bridge addresses %v, want %v", got, want)
		}
	}
	for range 2 {
		if err := DeleteBridge(name); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := linkExists(name); ok {
		t.Errorf("bridge %s left", name)
	}
	if err := DeleteBridge("lo"); err == nil {
		t.Error("DeleteBridge deleted a non-bridge")
	}
	if err := EnsureBridge("lo", nil); err == nil {
		t.Error("EnsureBridge accepted a non-bridge")
	}
}

func sortPrefixes(ps []netip.Prefix) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	slices.Sort(s)
	return s
}

func TestSpecValidation(t *testing.T) {
	src := t.TempDir()
	good := Spec{
		ID:           "i-0a1b2c3d4e",
		Bridge:       "hull0",
		Address:      netip.MustParsePrefix("172.20.32.5/19"),
		Gateway:      netip.MustParseAddr("172.20.32.1"),
		Mounts:       []Mount{{Source: src, Target: "/etc/kubernetes"}},
		CgroupParent: "hull/demo.example.com",
		Command:      []string{"nodeup"},
	}
	if err := good.validate(); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	for name, mutate := range map[string]func(*Spec){
		"id too long":        func(s *Spec) { s.ID = "i-0123456789abc" },
		"id upper case":      func(s *Spec) { s.ID = "i-ABC" },
		"id without i-":      func(s *Spec) { s.ID = "abc" },
		"id with slash":      func(s *Spec) { s.ID = "i-a/b" },
		"bridge too long":    func(s *Spec) { s.Bridge = "a-very-long-bridge" },
		"cgroup parent abs":  func(s *Spec) { s.CgroupParent = "/hull" },
		"cgroup parent dots": func(s *Spec) { s.CgroupParent = "hull/../x" },
		"no address":         func(s *Spec) { s.Address = netip.Prefix{} },
		"gateway off subnet": func(s *Spec) { s.Gateway = netip.MustParseAddr("172.20.64.1") },
		"gateway is address": func(s *Spec) { s.Gateway = s.Address.Addr() },
		"no command":         func(s *Spec) { s.Command = nil },
		"relative log":       func(s *Spec) { s.LogPath = "x.log" },
		"relative source":    func(s *Spec) { s.Mounts[0].Source = "src" },
		"target is root":     func(s *Spec) { s.Mounts[0].Target = "/" },
		"target not clean":   func(s *Spec) { s.Mounts[0].Target = "/etc/../x" },
		"duplicate target":   func(s *Spec) { s.Mounts = append(s.Mounts, s.Mounts[0]) },
	} {
		s := good
		s.Mounts = slices.Clone(good.Mounts)
		mutate(&s)
		if err := s.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := Teardown("", "hull"); err == nil {
		t.Error("Teardown accepted an empty id")
	}
	bad := Machine{ID: "i-abc", NetNS: "hull-i-abc", Veth: "hvabc", Cgroup: ""}
	if err := bad.Stop(context.Background(), 0); err == nil {
		t.Error("Stop accepted a record whose cgroup is the hierarchy root")
	}
}

// A mount whose target covers another mount's source (the local cloud keeps
// machine roots under /var/lib/hull, which is also a machine mount point)
// must not hide that source from the mounts that follow.
func TestMountCoveringAnotherSource(t *testing.T) {
	e := newEnv(t, 4)
	spec, _ := e.spec(1)
	hidden := t.TempDir() // sorts before e.targetRoot, so it is mounted first
	src := filepath.Join(hidden, "kubelet-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "marker"), []byte("seen"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Mounts = []Mount{
		{Source: src, Target: e.targetRoot + "/kubelet"},
		{Source: t.TempDir(), Target: hidden},
	}
	e.start(spec)
	if got := mustGet(t, "http://"+addrOf(spec)+"/read?path="+e.targetRoot+"/kubelet/marker"); got != "seen" {
		t.Errorf("machine sees %q at the mount whose source was covered, want seen", got)
	}
}
