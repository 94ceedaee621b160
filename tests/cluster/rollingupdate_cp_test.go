package cluster

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/tests/harness"
)

// rollControlPlanes changes the three control-plane groups and rolls them,
// the rolling update SIGKILLed right after every step of every machine
// and run again until a run finishes by itself, while a client lists pods
// through the API load balancer every 100 ms (retrying a failed request
// once at once), a workload on the control planes is guarded by its
// budget, and a sampler counts the control planes in service.
func rollControlPlanes(t *testing.T, e *harness.Env, cl *local.Client, name, kcfg string) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kcfg)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A plain client: client-go's own retries would hide failures.
	hc := &http.Client{Transport: rt, Timeout: 2 * time.Second}
	url := cfg.Host + "/api/v1/namespaces/kube-system/pods?limit=1"
	get := func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	t.Logf("client hits %s", url)

	before := roleIDs(e.Instances(name), "ControlPlane")
	if len(before) != 3 {
		t.Fatalf("control-plane machines %v, want 3", before)
	}
	var groups []string
	for _, in := range e.Instances(name) {
		if in.Role == "ControlPlane" && !slices.Contains(groups, in.Group) {
			groups = append(groups, in.Group)
		}
	}
	for _, g := range groups {
		setNodeGroup(t, e, name, g, func(ig *v1alpha1.InstanceGroup) {
			ig.Spec.NodeLabels = map[string]string{"e2e.hull.dev/roll": "cp"}
		})
	}
	e.Must("update", "cluster", name, "--yes")
	client := kubeClient(t, kcfg)
	k := &kubectl{t: t, bin: kubectlBinary(t, version), kubeconfig: kcfg}
	applyWorkload(t, e, k, ruWorkloadOnControlPlanes(ruReplicas-1))
	budget := startPDBSampler(t, client, ruReplicas-1)
	defer budget.stop()
	// One control plane at a time: the other two stay in service.
	nodes := startNodeSampler(client, isControlPlaneNode, len(before)-1)
	var mu sync.Mutex
	var requests, failed int
	var unfixed []string
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			err := get()
			var retryErr error
			if err != nil {
				retryErr = get()
			}
			mu.Lock()
			requests++
			if err != nil {
				failed++
				if retryErr != nil {
					unfixed = append(unfixed, fmt.Sprintf("%s: %v; retry: %v", time.Now().Format("15:04:05.000"), err, retryErr))
				}
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	killed, runs := killAtEveryBoundary(t, e, []string{"rolling-update", "cluster", name, "--yes", "--instance-group-roles", "ControlPlane", "--control-plane-interval", "5s"},
		len(before)*len(unavailableSteps)+2)
	elapsed := time.Since(start)
	close(stop)
	<-done
	t.Logf("FIGURE rolling-update 3 control planes, SIGKILL at each of %d step boundaries: %d runs, %s in all", len(killed), len(runs), elapsed.Round(100*time.Millisecond))
	t.Logf("FIGURE API through the LB while 3 control planes were rolled: %d requests, %d failed, %d still failed when retried once", requests, failed, len(unfixed))
	checkAvailability(t, nodes, "control planes", elapsed)
	checkBudgetWindow(t, budget, ruReplicas-1, elapsed)
	if v := budget.violations(); len(v) > 0 {
		t.Errorf("the PodDisruptionBudget of the workload on the control planes was violated:\n%s", strings.Join(v, "\n"))
	}
	var all strings.Builder
	for _, r := range runs {
		all.WriteString(r.out)
	}
	for _, g := range groups {
		if surge, unavailable := groupSettings(t, all.String(), g); surge != 0 || unavailable != 1 {
			t.Errorf("group %s rolled with maxSurge %d, maxUnavailable %d; a control plane rolls one machine at a time, never surging", g, surge, unavailable)
		}
	}
	checkChain(t, killed, runs, before, unavailableSteps)
	// A request in flight to a machine that is killed, retried once while
	// two cores also run 18 re-runs of hull, can time out twice; more than
	// one in 500 would mean the load balancer kept sending to a dead machine.
	if len(unfixed) > 0 {
		t.Logf("requests that failed twice in a row:\n%s", strings.Join(unfixed, "\n"))
	}
	if len(unfixed)*500 > requests {
		t.Errorf("%d of %d requests failed twice in a row", len(unfixed), requests)
	}
	if requests == 0 {
		t.Error("the client made no request")
	}

	// One at a time, across the runs: each machine is terminated only
	// after the cluster validated following the previous one.
	terminated, inWave := 0, 0
	for _, l := range strings.Split(all.String(), "\n") {
		switch {
		case regexp.MustCompile(`\] control-plane-\S+ i-\S+: terminate done in \S+$`).MatchString(l):
			terminated++
			if inWave++; inWave > 1 {
				t.Errorf("two control-plane machines terminated without a validation between them:\n%s", all.String())
			}
		case strings.Contains(l, "] Cluster validated"):
			inWave = 0
		}
	}
	if terminated != 3 {
		t.Errorf("%d control-plane machines terminated, want 3", terminated)
	}
	after := roleIDs(e.Instances(name), "ControlPlane")
	if len(after) != 3 || slices.ContainsFunc(after, func(id string) bool { return slices.Contains(before, id) }) {
		t.Fatalf("control-plane machines before %v, after %v: want three new ones", before, after)
	}
	e.Must("validate", "cluster", name)
	checkNodes(t, client, after, before, "cp")
	checkNoneCordoned(t, client)
	if out := e.Must("rolling-update", "cluster", name, "--yes", "--instance-group-roles", "ControlPlane"); !strings.Contains(out, "No rolling-update required.") {
		t.Errorf("another run still finds work:\n%s", out)
	}
	var newest harness.Instance
	for _, in := range e.Instances(name) {
		if in.ID == after[len(after)-1] {
			newest = in
		}
	}
	if members := etcdMembers(t, e, cl, name, newest); len(members) != 3 {
		t.Errorf("etcd main has %d members after the roll: %+v", len(members), members)
	} else {
		for _, m := range members {
			if m.Name == "" || !slices.ContainsFunc(after, func(id string) bool {
				return slices.ContainsFunc(e.Instances(name), func(in harness.Instance) bool {
					return in.ID == id && slices.ContainsFunc(m.PeerURLs, func(u string) bool { return strings.Contains(u, in.Address+":") })
				})
			}) {
				t.Errorf("etcd member %+v is not a started member on a new control-plane machine", m)
			}
		}
	}
}

func roleIDs(insts []harness.Instance, role string) []string {
	var ids []string
	for _, in := range insts {
		if in.Role == role && !in.Detached {
			ids = append(ids, in.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestPerfRollingUpdate measures, for docs/performance.md, the wall time
// and the per-machine overhead of rolling the 2 node machines of a real
// cluster with maxSurge 1 and with maxUnavailable 1, twice each,
// alternating. It runs only with HULL_PERF=1.
func TestPerfRollingUpdate(t *testing.T) {
	if os.Getenv("HULL_PERF") != "1" {
		t.Skip("performance figures: run with HULL_PERF=1")
	}
	harness.RequireRoot(t)
	e := harness.NewEnv(t, hullBin)
	const name = "ruperf.cluster.example.com"
	e.Must("image", "build", "--kubernetes-version", version)
	e.Must("create", "cluster", name, "--kubernetes-version", version, "--network-cidr", "10.222.0.0/17", "--node-count", "2")
	e.Must("update", "cluster", name, "--yes")
	e.Must("validate", "cluster", name, "--wait", "10m")
	kcfg := filepath.Join(e.Dir, "kubeconfig")
	e.Must("export", "kubeconfig", name, "--admin", "--kubeconfig", kcfg)
	client := kubeClient(t, kcfg)
	applyRUWorkload(t, e, &kubectl{t: t, bin: kubectlBinary(t, version), kubeconfig: kcfg}, ruReplicas-1)
	s := startPDBSampler(t, client, ruReplicas-1)
	defer s.stop()

	modes := []struct {
		name           string
		surge, unavail int32
	}{{"maxSurge 1", 1, 0}, {"maxUnavailable 1", 0, 1}}
	for round := 1; round <= 2; round++ {
		for _, m := range modes {
			setNodeGroup(t, e, name, "nodes-a", func(ig *v1alpha1.InstanceGroup) {
				surge, unavail := intstr.FromInt32(m.surge), intstr.FromInt32(m.unavail)
				ig.Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: &surge, MaxUnavailable: &unavail}
			})
			e.Must("update", "cluster", name, "--yes")
			r := e.Run(ruArgs(name, "--force")...)
			if r.Code != 0 {
				t.Fatalf("rolling-update (%s): exit %d\n%s%s", m.name, r.Code, r.Stdout, r.Stderr)
			}
			sum := parseSummary(t, r.Stdout)
			if sum.replaced != 2 {
				t.Fatalf("%s replaced %d machines, want 2:\n%s", m.name, sum.replaced, r.Stdout)
			}
			t.Logf("FIGURE rolling-update 2 real nodes, %s, round %d: command %s, run %s (waits %s, drains %s, replacements %s), overhead %s per machine",
				m.name, round, r.Elapsed.Round(100*time.Millisecond), sum.total, sum.waits, sum.drains, sum.replacements, sum.perMachine)
			checkWorkloadOn(t, client, groupIDs(e.Instances(name), "nodes-a"))
		}
	}
	if v := s.violations(); len(v) > 0 {
		t.Errorf("the PodDisruptionBudget was violated:\n%s", strings.Join(v, "\n"))
	}
}
