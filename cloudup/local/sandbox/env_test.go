package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// testEnv is one test's bridge, subnet, cgroup parent and mount target root,
// all named after the test process so parallel runs do not collide. Only
// addresses in 10.123.<n>.0/24, on the bridge the test created, are used.
type testEnv struct {
	t          *testing.T
	n          int
	bridge     string
	gw         netip.Addr
	top        string // first level of the cgroup parent, created by Start
	parent     string
	targetRoot string // a host path that does not exist before the test
	logDir     string
	hosts      byte
}

func newEnv(t *testing.T, n int) *testEnv {
	t.Helper()
	// make test sets HULL_REQUIRE_ROOT=1: there a missing prerequisite is a
	// failure, not a quiet skip.
	skip := t.Skip
	if os.Getenv("HULL_REQUIRE_ROOT") == "1" {
		skip = t.Fatal
	}
	if err := RequireRoot(); err != nil {
		skip(err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip("iproute2 is not installed")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		skip("nsenter is not installed")
	}
	tag := fmt.Sprintf("%03d%c", os.Getpid()%1000, 'a'+n)
	e := &testEnv{
		t:          t,
		n:          n,
		bridge:     "hulltst" + tag,
		gw:         netip.AddrFrom4([4]byte{10, 123, byte(n), 1}),
		top:        "hulltest-" + tag,
		targetRoot: "/var/lib/hulltest-" + tag,
		logDir:     t.TempDir(),
		hosts:      10,
	}
	e.parent = e.top + "/cluster"
	if _, err := os.Lstat(e.targetRoot); err == nil {
		t.Fatalf("%s exists before the test", e.targetRoot)
	}
	if err := EnsureBridge(e.bridge, []netip.Prefix{netip.PrefixFrom(e.gw, 24)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteBridge(e.bridge); err != nil {
			t.Error(err)
		}
	})
	return e
}

// spec returns a spec for a new machine serving HTTP on its address, with
// its own source directory mounted at <targetRoot>/kubelet.
func (e *testEnv) spec(k int) (Spec, string) {
	exe, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	id := fmt.Sprintf("i-t%03d%c%d", os.Getpid()%1000, 'a'+e.n, k)
	addr := netip.AddrFrom4([4]byte{10, 123, byte(e.n), e.hosts})
	e.hosts++
	src := e.t.TempDir()
	return Spec{
		ID:           id,
		Bridge:       e.bridge,
		Address:      netip.PrefixFrom(addr, 24),
		Gateway:      e.gw,
		Mounts:       []Mount{{Source: src, Target: e.targetRoot + "/kubelet"}},
		CgroupParent: e.parent,
		Command:      []string{exe, "-test.run=^$"},
		Env:          []string{helperEnv + "=serve", helperAddrEnv + "=" + addr.String()},
		LogPath:      filepath.Join(e.logDir, id+".log"),
	}, src
}

// start starts a machine, stops it when the test ends, and waits until it
// serves HTTP.
func (e *testEnv) start(spec Spec) *Machine {
	e.t.Helper()
	ctx := ctxFor(e.t)
	m, err := Start(ctx, spec)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := m.Stop(context.Background(), 0); err != nil {
			e.t.Error(err)
		}
	})
	base := "http://" + spec.Address.Addr().String() + ":8080"
	var healthErr error
	if wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		_, healthErr = httpGet(base + "/healthz")
		return healthErr == nil, nil
	}) != nil {
		log, _ := os.ReadFile(spec.LogPath)
		e.t.Fatalf("machine %s never became healthy: %v\nlog:\n%s", m.ID, healthErr, log)
	}
	return m
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func httpGet(url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b), err
}

func mustGet(t *testing.T, url string) string {
	t.Helper()
	s, err := httpGet(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func addrOf(s Spec) string { return s.Address.Addr().String() + ":8080" }

// assertInCgroups checks that pid is in the cgroup rel in every v1 hierarchy.
func assertInCgroups(t *testing.T, pid int, rel string) {
	t.Helper()
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	v1 := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[0] == "0" {
			continue // the unified hierarchy
		}
		v1++
		if f[2] != "/"+rel {
			t.Errorf("pid %d: hierarchy %q: cgroup %s, want /%s", pid, f[1], f[2], rel)
		}
	}
	if v1 != len(hierarchies) {
		t.Errorf("pid %d is in %d v1 hierarchies, want %d", pid, v1, len(hierarchies))
	}
}

// processGone reports whether pid has exited (a zombie waiting for the
// host's init to reap it counts as gone).
func processGone(pid int) bool {
	_, state, err := procStat(pid)
	return err != nil || state == 'Z' || state == 'X'
}

// assertGone checks that nothing of the machine id is left on the host:
// network namespace, veth, cgroup, process, mounts of its source anywhere.
func assertGone(t *testing.T, id, cgroup string, pids []int, sources []string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), netnsName(id)) {
		t.Errorf("network namespace %s left:\n%s", netnsName(id), out)
	}
	if netnsExists(netnsName(id)) {
		t.Errorf("%s/%s left", netnsDir, netnsName(id))
	}
	out, err = exec.Command("ip", "link").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	if strings.Contains(string(out), vethName(id)) {
		t.Errorf("veth %s left:\n%s", vethName(id), out)
	}
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hierarchies {
		if _, err := os.Lstat(filepath.Join(h, cgroup)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cgroup %s left (%v)", filepath.Join(h, cgroup), err)
		}
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("process %d of machine %s still running", pid, id)
		}
	}
	for _, src := range sources {
		if p := mountsReferencing(t, src); len(p) > 0 {
			t.Errorf("mounts of %s left: %v", src, p)
		}
	}
}

// mountsReferencing lists mount points, in any mount namespace on the host
// (one process of each), whose mount source path is src.
func mountsReferencing(t *testing.T, src string) []string {
	t.Helper()
	var found []string
	seen := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	procs = append([]string{"/proc/self"}, procs...)
	for _, p := range procs {
		ns, err := os.Readlink(p + "/ns/mnt")
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		f, err := os.Open(p + "/mountinfo")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// A bind mount shows its source as its root within the source's
			// filesystem: src itself, or its tail if src is below a mount.
			if m, ok := parseMountinfo(sc.Text()); ok && m.root != "/" && strings.HasSuffix(src, m.root) {
				found = append(found, p+":"+m.point)
			}
		}
		f.Close()
	}
	return found
}

func assertNoPath(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s left on the host (%v)", p, err)
	}
}

func assertNoCgroupParent(t *testing.T, top string) {
	t.Helper()
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hierarchies {
		assertNoPath(t, filepath.Join(h, top))
	}
}
