package local

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/cloud"
)

// seen remembers every machine the test met, for the leak checks at the end.
var seen = map[string]*sandbox.Machine{}

func connect(t *testing.T) *Client {
	t.Helper()
	c, err := Connect(context.Background(), ClientOptions{StateDir: env.stateDir, Socket: env.socket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, state := cond()
		last = cmp.Or(state, last)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
	}
}

var httpClient = &http.Client{Timeout: 4 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(url string) (string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), err
}

func mustGet(t *testing.T, url string) string {
	t.Helper()
	body, err := get(url)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// byGroup lists the cluster's instances and groups them, recording machines.
func byGroup(t *testing.T, c *Client) (map[string][]*cloud.Instance, string) {
	t.Helper()
	insts, err := c.ListInstances(ctxT(t), testCluster)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*cloud.Instance{}
	var desc []string
	for _, inst := range insts {
		out[inst.Group] = append(out[inst.Group], inst)
		desc = append(desc, fmt.Sprintf("%s/%s:%s@%s detached=%t", inst.Group, inst.ID, inst.State, inst.Address, inst.Detached))
		if _, ok := seen[inst.ID]; !ok {
			if info, err := c.Machine(ctxT(t), inst.ID); err == nil && info.Machine != nil {
				seen[inst.ID] = info.Machine
			}
		}
	}
	return out, strings.Join(desc, " ")
}

// attachedRunning returns the group's attached instances if all of them are
// Running and there are want of them.
func waitGroups(t *testing.T, c *Client, want map[string]int) map[string][]*cloud.Instance {
	t.Helper()
	var groups map[string][]*cloud.Instance
	waitFor(t, 60*time.Second, fmt.Sprintf("groups at %v, all Running", want), func() (bool, string) {
		var desc string
		groups, desc = byGroup(t, c)
		for g, n := range want {
			running := 0
			for _, inst := range groups[g] {
				if inst.Detached {
					continue
				}
				if inst.State != cloud.StateRunning {
					return false, desc
				}
				running++
			}
			if running != n {
				return false, desc
			}
		}
		return true, desc
	})
	return groups
}

func attached(insts []*cloud.Instance) []*cloud.Instance {
	return slices.DeleteFunc(slices.Clone(insts), func(i *cloud.Instance) bool { return i.Detached })
}

func ids(insts []*cloud.Instance) []string {
	var out []string
	for _, i := range insts {
		out = append(out, i.ID)
	}
	return out
}

func wantErr(t *testing.T, err error, kind error, substrings ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one wrapping %v containing %q", kind, substrings)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", err, kind)
	}
	for _, s := range substrings {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// assertNothingLeft checks the host for any trace of the test's machines.
func assertNothingLeft(t *testing.T) {
	t.Helper()
	if len(seen) < 8 {
		t.Errorf("the test met only %d machines; the leak checks below would prove little", len(seen))
	}
	netns, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	links, _ := exec.Command("ip", "-o", "link").CombinedOutput()
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(links), bridgeName(testCluster)) {
		t.Errorf("bridge %s is left:\n%s", bridgeName(testCluster), links)
	}
	if strings.Contains(string(mounts), env.stateDir) {
		t.Errorf("mounts under %s are left", env.stateDir)
	}
	for id, m := range seen {
		if strings.Contains(string(netns), m.NetNS) {
			t.Errorf("network namespace %s of %s is left", m.NetNS, id)
		}
		if strings.Contains(string(links), m.Veth) {
			t.Errorf("veth %s of %s is left", m.Veth, id)
		}
		if m.Alive() {
			t.Errorf("boot process %d of %s is still running", m.PID, id)
		}
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent(testCluster))
	if root := "/sys/fs/cgroup/" + cgroupParent(testCluster); exists(root) {
		cgroups = append(cgroups, root)
	}
	if len(cgroups) > 0 {
		t.Errorf("cgroups are left: %v", cgroups)
	}
	// No process anywhere is still in one of the cluster's cgroups.
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "/"+cgroupParent(testCluster)+"/") {
				t.Errorf("process %s is still in %s", filepath.Dir(p), sc.Text())
				break
			}
		}
		f.Close()
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
