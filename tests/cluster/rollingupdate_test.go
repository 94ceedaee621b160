package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/tests/harness"
)

// ruReplicas pods of the rolling-update workload; its budget allows one
// disruption (minAvailable replicas-1) unless a test tightens it.
const ruReplicas = 4

// ruWorkload runs the pause image every machine imports at boot, so the
// pods an eviction recreates can start on a replacement machine without
// importing anything into it. The budget's minAvailable is a parameter.
// It runs on the workers.
func ruWorkload(minAvailable int) string {
	return ruWorkloadOn(minAvailable, "DoesNotExist", "")
}

// ruWorkloadOnControlPlanes is the workload on the control planes only,
// where a control-plane roll drains it.
func ruWorkloadOnControlPlanes(minAvailable int) string {
	return ruWorkloadOn(minAvailable, "Exists", `
      tolerations:
      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}`)
}

// ruWorkloadOn places the workload on the nodes whose control-plane role
// label matches operator (Exists or DoesNotExist), with extra pod spec
// lines.
func ruWorkloadOn(minAvailable int, operator, extra string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: ru}
spec:
  replicas: %d
  selector: {matchLabels: {app: ru}}
  template:
    metadata: {labels: {app: ru}}
    spec:
      terminationGracePeriodSeconds: 2
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: node-role.kubernetes.io/control-plane, operator: %s}]%s
      containers:
      - {name: pause, image: "registry.k8s.io/pause:3.10", imagePullPolicy: Never}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: ru}
spec:
  minAvailable: %d
  selector: {matchLabels: {app: ru}}
`, ruReplicas, operator, extra, minAvailable)
}

// ruArgs are the flags for rolling the worker group.
func ruArgs(cluster string, extra ...string) []string {
	return append([]string{"rolling-update", "cluster", cluster, "--yes", "--instance-group", "nodes-a",
		"--node-interval", "5s", "--post-drain-delay", "2s"}, extra...)
}

// TestRollingUpdate rolls the workers of a real 1 control-plane + 2 node
// cluster three times: a changed group, runs killed with SIGKILL at every
// step boundary, and a budget that blocks the drain. One sampler watches
// the workload's budget through all three.
func TestRollingUpdate(t *testing.T) {
	harness.RequireRoot(t)
	if testing.Short() {
		t.Skip("slow: replaces real machines")
	}
	e := harness.NewEnv(t, hullBin)
	const name = "ru.cluster.example.com"
	e.Must("image", "build", "--kubernetes-version", version)
	e.Must("create", "cluster", name, "--kubernetes-version", version, "--network-cidr", "10.220.0.0/16", "--node-count", "2")
	e.Must("update", "cluster", name, "--yes")
	e.Must("validate", "cluster", name, "--wait", "10m")
	kcfg := filepath.Join(e.Dir, "kubeconfig")
	e.Must("export", "kubeconfig", name, "--admin", "--kubeconfig", kcfg)
	client := kubeClient(t, kcfg)
	k := &kubectl{t: t, bin: kubectlBinary(t, version), kubeconfig: kcfg}

	applyRUWorkload(t, e, k, ruReplicas-1)
	s := startPDBSampler(t, client, ruReplicas-1)
	defer func() {
		s.stop()
		t.Logf("FIGURE budget sampler: %d samples at 200 ms, lowest healthy count %d (floor %d)", s.samples(), s.lowest(), ruReplicas-1)
		if v := s.violations(); len(v) > 0 {
			t.Errorf("the PodDisruptionBudget was violated (healthy < %d):\n%s", ruReplicas-1, strings.Join(v, "\n"))
		}
	}()

	ok := t.Run("a changed node group is replaced machine by machine within the budget", func(t *testing.T) {
		before := groupIDs(e.Instances(name), "nodes-a")
		setNodeGroup(t, e, name, "nodes-a", func(ig *v1alpha1.InstanceGroup) {
			ig.Spec.NodeLabels = map[string]string{"e2e.hull.dev/roll": "one"}
		})
		e.Must("update", "cluster", name, "--yes")
		for _, in := range e.Instances(name) {
			if in.NeedsUpdate != (in.Group == "nodes-a") {
				t.Fatalf("after update --yes, instance %s of %s: needsUpdate %v", in.ID, in.Group, in.NeedsUpdate)
			}
		}
		s.window()
		r := e.Run(ruArgs(name)...)
		t.Logf("rolling-update took %s:\n%s%s", r.Elapsed.Round(100*time.Millisecond), r.Stdout, r.Stderr)
		if r.Code != 0 {
			t.Fatalf("rolling-update: exit %d", r.Code)
		}
		sum := parseSummary(t, r.Stdout)
		t.Logf("FIGURE rolling-update 2 real nodes, surge 1: total %s, overhead %s per machine (waits %s, drains %s, replacements %s)",
			sum.total, sum.perMachine, sum.waits, sum.drains, sum.replacements)
		if sum.replaced != 2 {
			t.Errorf("summary says %d machines replaced, want 2", sum.replaced)
		}
		if min, n := s.window(); n == 0 || min < ruReplicas-1 {
			t.Errorf("during the roll: lowest healthy count %d over %d samples, want >= %d", min, n, ruReplicas-1)
		}
		after := groupIDs(e.Instances(name), "nodes-a")
		if len(after) != 2 || slices.ContainsFunc(after, func(id string) bool { return slices.Contains(before, id) }) {
			t.Errorf("nodes-a machines before %v, after %v: want two new ones", before, after)
		}
		checkNodes(t, client, after, before, "one")
		checkWorkloadOn(t, client, after)
		e.Must("validate", "cluster", name)
	})
	if !ok {
		t.FailNow()
	}

	t.Run("killed with SIGKILL at every step boundary, re-runs complete the update", func(t *testing.T) {
		before := groupIDs(e.Instances(name), "nodes-a")
		setNodeGroup(t, e, name, "nodes-a", func(ig *v1alpha1.InstanceGroup) {
			ig.Spec.NodeLabels = map[string]string{"e2e.hull.dev/roll": "two"}
		})
		e.Must("update", "cluster", name, "--yes")
		s.window()
		// The roll of maxSurge 1 keeps both workers in service throughout.
		nodes := startNodeSampler(client, func(n *corev1.Node) bool { return !isControlPlaneNode(n) }, len(before))
		start := time.Now()
		killed, runs := killAtEveryBoundary(t, e, ruArgs(name), 2*len(surgeSteps)+2)
		elapsed := time.Since(start)
		checkAvailability(t, nodes, "workers", elapsed)
		checkBudgetWindow(t, s, ruReplicas-1, elapsed)
		t.Logf("FIGURE rolling-update 2 real nodes, SIGKILL at each of %d step boundaries: %d runs, %s in all",
			len(killed), len(runs), elapsed.Round(100*time.Millisecond))
		surge, unavailable := groupSettings(t, runs[0].out, "nodes-a")
		if surge != 1 || unavailable != 0 {
			t.Fatalf("nodes-a rolled with maxSurge %d, maxUnavailable %d; the test expects the default 1 and 0", surge, unavailable)
		}
		checkChain(t, killed, runs, before, surgeSteps)
		insts := e.Instances(name)
		for _, in := range insts {
			if in.NeedsUpdate || in.Detached || in.State != "Running" {
				t.Errorf("after the update: %+v", in)
			}
		}
		ids := groupIDs(insts, "nodes-a")
		if len(ids) != 2 || slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(before, id) }) {
			t.Errorf("nodes-a machines before %v, after %v: want two new ones", before, ids)
		}
		checkNodes(t, client, ids, before, "two")
		checkNoneCordoned(t, client)
		checkWorkloadOn(t, client, ids)
		if out := e.Must(ruArgs(name)...); !strings.Contains(out, "No rolling-update required.") {
			t.Errorf("another run still finds work:\n%s", out)
		}
		e.Must("validate", "cluster", name)
	})

	t.Run("a budget that allows no disruption stops the drain, naming the pod and the budget", func(t *testing.T) {
		setMinAvailable(t, client, ruReplicas)
		setNodeGroup(t, e, name, "nodes-a", func(ig *v1alpha1.InstanceGroup) {
			ig.Spec.NodeLabels = map[string]string{"e2e.hull.dev/roll": "three"}
		})
		e.Must("update", "cluster", name, "--yes")
		s.window()
		r := e.Run(ruArgs(name, "--drain-timeout", "20s")...)
		out := r.Stdout + r.Stderr
		t.Logf("rolling-update exited %d after %s:\n%s", r.Code, r.Elapsed.Round(100*time.Millisecond), out)
		if r.Code == 0 {
			t.Fatal("rolling-update succeeded although the budget allows no eviction")
		}
		m := regexp.MustCompile(`pod (default/ru-\S+) blocked by PodDisruptionBudget default/ru for (\d+)s`).FindAllStringSubmatch(r.Stderr, -1)
		if len(m) == 0 {
			t.Fatalf("the error does not name the blocked pod and the budget:\n%s", r.Stderr)
		}
		if blocked, _ := strconv.Atoi(m[len(m)-1][2]); blocked < 15 || blocked > 25 {
			t.Errorf("blocked for %ds, want about the 20s drain timeout", blocked)
		}
		// While blocked, the run reports the pod and budget every 10 s.
		progress := regexp.MustCompile(`pod default/ru-\S+ blocked by PodDisruptionBudget default/ru for (\d+)s`).FindAllStringSubmatch(r.Stdout, -1)
		if len(progress) < 2 {
			t.Errorf("the run reported the blocked drain %d times in 20 s, want it every 10 s:\n%s", len(progress), r.Stdout)
		} else if first, _ := strconv.Atoi(progress[0][1]); first > 2 {
			t.Errorf("the first report of the blocked drain came after %ds, want at once", first)
		}
		pod, err := client.CoreV1().Pods("default").Get(context.Background(), strings.TrimPrefix(m[0][1], "default/"), metav1.GetOptions{})
		if err != nil || pod.DeletionTimestamp != nil {
			t.Errorf("the pod the error names, %s, should still run: %v", m[0][1], err)
		}
		if !strings.Contains(out, "Uncordoned node") {
			t.Errorf("the output does not say the node whose drain failed was uncordoned")
		}
		checkNoneCordoned(t, client)
		if min, n := s.window(); n == 0 || min < ruReplicas {
			t.Errorf("lowest healthy count %d over %d samples, want %d: nothing may be evicted", min, n, ruReplicas)
		}
	})
}

// pdbSampler counts the workload's pods that its budget counts as healthy
// (Ready and not being deleted) from a watch of them: every 200 ms and on
// every change the watch delivers. (client-go's informers would pull a
// module go.mod does not list; a list and a watch are all this needs.)
type pdbSampler struct {
	floor  int
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	pods       map[string]*corev1.Pod
	n, winN    int
	low, winLo int
	bad        []string
}

func startPDBSampler(t *testing.T, client kubernetes.Interface, floor int) *pdbSampler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &pdbSampler{floor: floor, cancel: cancel, done: make(chan struct{}), low: 1 << 30, winLo: 1 << 30}
	rv, err := s.relist(ctx, client)
	if err != nil {
		cancel()
		t.Fatalf("list the workload's pods: %v", err)
	}
	go s.watch(ctx, client, rv)
	return s
}

// relist replaces the sampler's pods with a fresh list.
func (s *pdbSampler) relist(ctx context.Context, client kubernetes.Interface) (string, error) {
	l, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=ru"})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.pods = map[string]*corev1.Pod{}
	for i := range l.Items {
		s.pods[l.Items[i].Name] = &l.Items[i]
	}
	s.mu.Unlock()
	return l.ResourceVersion, nil
}

// watch keeps the pods current, relisting when the watch ends, and
// samples every 200 ms until the sampler is stopped.
func (s *pdbSampler) watch(ctx context.Context, client kubernetes.Interface, rv string) {
	defer close(s.done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=ru", ResourceVersion: rv})
		if err != nil {
			rv, _ = s.relistAfter(ctx, client, tick)
			continue
		}
	events:
		for {
			select {
			case <-ctx.Done():
				w.Stop()
				return
			case <-tick.C:
				s.sample(true)
			case ev, ok := <-w.ResultChan():
				if !ok {
					break events
				}
				pod, isPod := ev.Object.(*corev1.Pod)
				if !isPod {
					break events // an error event: the resource version is gone
				}
				s.mu.Lock()
				if ev.Type == watch.Deleted {
					delete(s.pods, pod.Name)
				} else {
					s.pods[pod.Name] = pod
				}
				rv = pod.ResourceVersion
				s.mu.Unlock()
				s.sample(false)
			}
		}
		w.Stop()
		rv, _ = s.relistAfter(ctx, client, tick)
	}
}

// relistAfter relists, sampling what it has while the API does not answer.
func (s *pdbSampler) relistAfter(ctx context.Context, client kubernetes.Interface, tick *time.Ticker) (string, error) {
	for {
		rv, err := s.relist(ctx, client)
		if err == nil || ctx.Err() != nil {
			return rv, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
			s.sample(true)
		}
	}
}

func (s *pdbSampler) sample(tick bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	healthy := 0
	for _, p := range s.pods {
		if p.DeletionTimestamp == nil && podReady(p) {
			healthy++
		}
	}
	if tick {
		s.n++
		s.winN++
	}
	s.low, s.winLo = min(s.low, healthy), min(s.winLo, healthy)
	if healthy < s.floor {
		s.bad = append(s.bad, fmt.Sprintf("%s: %d healthy of %d pods", time.Now().Format("15:04:05.000"), healthy, len(s.pods)))
	}
}

// window returns the lowest count and the number of samples since the
// previous call.
func (s *pdbSampler) window() (lowest, samples int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lowest, samples = s.winLo, s.winN
	s.winLo, s.winN = 1<<30, 0
	return lowest, samples
}

func (s *pdbSampler) samples() int { s.mu.Lock(); defer s.mu.Unlock(); return s.n }
func (s *pdbSampler) lowest() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.low }
func (s *pdbSampler) violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bad)
}
func (s *pdbSampler) stop() { s.cancel(); <-s.done }

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func kubeClient(t testing.TB, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applyRUWorkload starts the workload and waits until all its pods are Ready.
func applyRUWorkload(t *testing.T, e *harness.Env, k *kubectl, minAvailable int) {
	t.Helper()
	applyWorkload(t, e, k, ruWorkload(minAvailable))
}

// applyWorkload applies a manifest of the ru workload and waits until all
// its pods are Ready.
func applyWorkload(t *testing.T, e *harness.Env, k *kubectl, manifestYAML string) {
	t.Helper()
	manifest := filepath.Join(e.Dir, "ru-workload.yaml")
	if err := os.WriteFile(manifest, []byte(manifestYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	k.must("apply", "-f", manifest)
	k.must("rollout", "status", "deployment/ru", "--timeout", "3m")
}

// setMinAvailable changes the budget and waits until its status reflects it.
func setMinAvailable(t *testing.T, client kubernetes.Interface, n int) {
	t.Helper()
	ctx := context.Background()
	patch := fmt.Appendf(nil, `{"spec":{"minAvailable":%d}}`, n)
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").Patch(ctx, "ru", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, time.Minute, "the budget's status to follow its spec", func() error {
		p, err := client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "ru", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if want := int32(ruReplicas - n); p.Status.ObservedGeneration != p.Generation || p.Status.DisruptionsAllowed != want {
			return fmt.Errorf("generation %d observed %d, disruptionsAllowed %d (want %d)", p.Generation, p.Status.ObservedGeneration, p.Status.DisruptionsAllowed, want)
		}
		return nil
	})
}

// setNodeGroup changes an instance group's spec the way a user would:
// get it as JSON, edit, replace.
func setNodeGroup(t *testing.T, e *harness.Env, cluster, group string, edit func(*v1alpha1.InstanceGroup)) {
	t.Helper()
	var ig v1alpha1.InstanceGroup
	if err := json.Unmarshal([]byte(e.Must("get", "instancegroups", group, "--name", cluster, "-o", "json")), &ig); err != nil {
		t.Fatal(err)
	}
	edit(&ig)
	data, err := yaml.Marshal(&ig)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(e.Dir, group+".yaml")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.Must("replace", "-f", f)
}

func groupIDs(insts []harness.Instance, group string) []string {
	var ids []string
	for _, in := range insts {
		if in.Group == group && !in.Detached {
			ids = append(ids, in.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// checkNodes: each machine in ids is a Ready, schedulable node with the
// group's label at value; no node of a machine in gone is left.
func checkNodes(t *testing.T, client kubernetes.Interface, ids, gone []string, value string) {
	t.Helper()
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]corev1.Node{}
	for _, n := range nodes.Items {
		byName[n.Name] = n
	}
	for _, id := range ids {
		n, ok := byName[id]
		switch {
		case !ok:
			t.Errorf("machine %s has no node", id)
		case n.Labels["e2e.hull.dev/roll"] != value:
			t.Errorf("node %s: label e2e.hull.dev/roll=%q, want %q", id, n.Labels["e2e.hull.dev/roll"], value)
		case n.Spec.Unschedulable:
			t.Errorf("node %s is cordoned", id)
		}
	}
	for _, id := range gone {
		if _, ok := byName[id]; ok {
			t.Errorf("the node of replaced machine %s is still registered", id)
		}
	}
}

func checkNoneCordoned(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			t.Errorf("node %s is left cordoned", n.Name)
		}
	}
}

// checkWorkloadOn waits until every pod of the workload is Ready on one
// of the nodes in ids.
func checkWorkloadOn(t *testing.T, client kubernetes.Interface, ids []string) {
	t.Helper()
	harness.Eventually(t, 2*time.Minute, "the workload to run on the new machines", func() error {
		pods, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=ru"})
		if err != nil {
			return err
		}
		var where []string
		ready := 0
		for _, p := range pods.Items {
			where = append(where, p.Name+"@"+p.Spec.NodeName)
			if p.DeletionTimestamp == nil && podReady(&p) && slices.Contains(ids, p.Spec.NodeName) {
				ready++
			}
		}
		if ready != ruReplicas || len(pods.Items) != ruReplicas {
			return fmt.Errorf("%d of %d pods Ready on %v: %v", ready, ruReplicas, ids, where)
		}
		return nil
	})
}

// ruSummary is the closing summary of `hull rolling-update cluster --yes`.
type ruSummary struct {
	replaced                                                 int
	total, waits, drains, replacements, overhead, perMachine time.Duration
}

func parseSummary(t testing.TB, out string) ruSummary {
	t.Helper()
	var s ruSummary
	head := regexp.MustCompile(`Rolling update of cluster \S+ finished after (\S+): (\d+) machines? replaced`).FindStringSubmatch(out)
	if head == nil {
		t.Fatalf("no summary in:\n%s", out)
	}
	s.total = mustDuration(t, head[1])
	s.replaced, _ = strconv.Atoi(head[2])
	for label, d := range map[string]*time.Duration{"configured waits": &s.waits, "waiting for drains": &s.drains, "waiting for replacements": &s.replacements} {
		m := regexp.MustCompile(regexp.QuoteMeta(label) + `:\s+(\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("summary lacks %q:\n%s", label, out)
		}
		*d = mustDuration(t, m[1])
	}
	m := regexp.MustCompile(`overhead:\s+(\S+) \((\S+) per machine\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary lacks the overhead:\n%s", out)
	}
	s.overhead, s.perMachine = mustDuration(t, m[1]), mustDuration(t, m[2])
	return s
}

func mustDuration(t testing.TB, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
