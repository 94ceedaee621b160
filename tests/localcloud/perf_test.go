package localcloud

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/tests/harness"
)

// haClusterYAML is 3 control-plane groups (one etcd member each) and 2 nodes.
func haClusterYAML(name, img string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: hull.dev/v1alpha1
kind: Cluster
metadata: {name: %[1]s}
spec:
  cloudProvider: local
  kubernetesVersion: 1.37.2
  networking:
    networkCIDR: 10.215.0.0/16
    subnets: [{name: zone-a, zone: local-a, cidr: 10.215.32.0/19, type: Public}]
  etcdClusters:
  - name: main
    members: [{name: a, instanceGroup: control-plane-a}, {name: b, instanceGroup: control-plane-b}, {name: c, instanceGroup: control-plane-c}]
  - name: events
    members: [{name: a, instanceGroup: control-plane-a}, {name: b, instanceGroup: control-plane-b}, {name: c, instanceGroup: control-plane-c}]
---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: nodes, labels: {hull.dev/cluster: %[1]s}}
spec: {role: Node, minSize: 2, maxSize: 2, subnets: [zone-a], image: %[2]s}
`, name, img)
	for _, z := range []string{"a", "b", "c"} {
		fmt.Fprintf(&b, `---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: control-plane-%[3]s, labels: {hull.dev/cluster: %[1]s}}
spec: {role: ControlPlane, minSize: 1, maxSize: 1, subnets: [zone-a], image: %[2]s}
`, name, img, z)
	}
	return b.String()
}

// TestPerfUpdateToBooted measures, for docs/performance.md, the time from
// `hull update cluster --yes` to every machine of a 3 control-plane + 2 node
// cluster Running with the test image, and the daemon's resident memory.
// It runs only with HULL_PERF=1 (tests/perf/localcloud.sh).
func TestPerfUpdateToBooted(t *testing.T) {
	if os.Getenv("HULL_PERF") != "1" {
		t.Skip("performance figures: run with HULL_PERF=1 (tests/perf/localcloud.sh)")
	}
	harness.RequireRoot(t)
	e := harness.NewEnv(t, hullBin)
	imgDir := filepath.Join(e.Dir, image)
	if err := harness.WriteImage(imgDir, bootBin, nil); err != nil {
		t.Fatal(err)
	}
	e.Must("image", "import", imgDir, "--name", image)
	const name = "perf.local.example.com"
	var times []time.Duration
	var rss []int
	for run := 0; run < 5; run++ {
		e.Must("create", "-f", write(t, e.Dir, "ha.yaml", haClusterYAML(name, image)))
		start := time.Now()
		e.Must("update", "cluster", name, "--yes")
		e.WaitInstances(name, 2*time.Minute, "5 running machines", func(in []harness.Instance) bool { return harness.RunningCount(in) == 5 })
		times = append(times, time.Since(start))
		rss = append(rss, daemonRSSKiB(t, e.CloudDir))
		e.Must("delete", "cluster", name, "--yes")
	}
	slices.Sort(times)
	slices.Sort(rss)
	t.Logf("FIGURE update-to-booted-3cp-2nodes median=%s min=%s max=%s runs=%d", times[len(times)/2].Round(10*time.Millisecond), times[0].Round(10*time.Millisecond), times[len(times)-1].Round(10*time.Millisecond), len(times))
	t.Logf("FIGURE daemon-rss-with-5-machines median=%dMiB max=%dMiB", rss[len(rss)/2]/1024, rss[len(rss)-1]/1024)
}

// daemonRSSKiB reads the daemon's VmRSS; its pid is in its lock file.
func daemonRSSKiB(t *testing.T, cloudDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cloudDir, "daemon.lock"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("daemon pid %q: %v", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kib, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return kib
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
