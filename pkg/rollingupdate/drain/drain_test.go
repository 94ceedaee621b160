package drain

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/pkg/kube/kubetest"
)

// TestDrain runs every drain behaviour against one real kube-apiserver with
// a real disruption controller; no kubelet runs, so the test binds pods to
// nodes and marks them Running and Ready itself.
func TestDrain(t *testing.T) {
	s := kubetest.Start(t)
	startControllerManager(t, s)
	t.Run("CordonUncordon", func(t *testing.T) { testCordon(t, s.Client()) })
	t.Run("DaemonSetIgnoredEmptyDirDeleted", func(t *testing.T) { testDaemonSet(t, s) })
	t.Run("PDBBlocksAndNamesPodAndBudget", func(t *testing.T) { testBlocked(t, s) })
	t.Run("APIRefusalNamesBudget", func(t *testing.T) { testAPIRefusal(t, s) })
	t.Run("ParallelDrainRespectsDisruptionsAllowed", func(t *testing.T) { testParallel(t, s) })
}

func testCordon(t *testing.T, c kubernetes.Interface) {
	ctx := ctxT(t, time.Minute)
	mkNode(t, c, "cordon-a")
	d := New(c, Options{}, nil)
	unschedulable := func() bool {
		n, err := c.CoreV1().Nodes().Get(ctx, "cordon-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Spec.Unschedulable
	}
	if err := d.Cordon(ctx, "cordon-a"); err != nil {
		t.Fatal(err)
	}
	if !unschedulable() {
		t.Error("after Cordon the node is schedulable")
	}
	if err := d.Cordon(ctx, "cordon-a"); err != nil {
		t.Errorf("cordoning twice: %v", err)
	}
	if err := d.Uncordon(ctx, "cordon-a"); err != nil {
		t.Fatal(err)
	}
	if unschedulable() {
		t.Error("after Uncordon the node is unschedulable")
	}
	err := d.Cordon(ctx, "no-such-node")
	if err == nil || !strings.Contains(err.Error(), "cordon node no-such-node") {
		t.Errorf("cordon of a missing node: %v, want an error naming it", err)
	}
}

func testDaemonSet(t *testing.T, s *kubetest.Server) {
	c := s.Client()
	ctx := ctxT(t, 2*time.Minute)
	ns := "ds"
	mkNamespace(t, c, ns)
	mkNode(t, c, "ds-a")
	ds, err := c.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owner := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr.To(true)}
	mkPod(t, c, ns, "agent-x", "ds-a", podSpec{labels: map[string]string{"app": "agent"}, owner: owner})
	mkPod(t, c, ns, "scratch", "ds-a", podSpec{emptyDir: true})
	mkPod(t, c, ns, "web", "ds-a", podSpec{labels: map[string]string{"app": "web"}})

	d := New(c, Options{GracePeriodSeconds: 0, Timeout: time.Minute}, nil)
	if err := d.Drain(ctx, "ds-a"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"agent-x"}, podNames(t, c, ns, "ds-a")); diff != "" {
		t.Errorf("pods left on the drained node (-want +got):\n%s", diff)
	}
}

func testBlocked(t *testing.T, s *kubetest.Server) {
	c := s.Client()
	ctx := ctxT(t, 2*time.Minute)
	ns := "blocked"
	mkNamespace(t, c, ns)
	mkNode(t, c, "blocked-a")
	sel := map[string]string{"app": "db"}
	mkPod(t, c, ns, "db-0", "blocked-a", podSpec{labels: sel})
	mkPod(t, c, ns, "db-1", "blocked-a", podSpec{labels: sel})
	mkPDB(t, c, ns, "db-all", sel, 2, 0) // minAvailable = replicas

	var rep reports
	d := New(c, Options{GracePeriodSeconds: 0, Timeout: 3 * time.Second, ReportInterval: time.Second, RetryInterval: 200 * time.Millisecond, Report: rep.add}, nil)
	start := time.Now()
	err := d.Drain(ctx, "blocked-a")
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("Drain = %v, want a *BlockedError", err)
	}
	if be.PDB != "blocked/db-all" || !strings.HasPrefix(be.Pod, "blocked/db-") || be.Node != "blocked-a" {
		t.Errorf("BlockedError = %+v, want node blocked-a, a db pod and PDB blocked/db-all", be)
	}
	if be.For < 2*time.Second || time.Since(start) > 10*time.Second {
		t.Errorf("blocked for %s (drain took %s), want about the 3s timeout", be.For, time.Since(start))
	}
	for _, want := range []string{"pod blocked/db-", "PodDisruptionBudget blocked/db-all", "for 3s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	lines := rep.all()
	// Reported at once and then every second, for each of the two pods.
	if n := countContaining(lines, "pod blocked/db-0 blocked by PodDisruptionBudget blocked/db-all for "); n < 2 || n > 5 {
		t.Errorf("db-0 reported %d times in 3s with a 1s interval:\n%s", n, strings.Join(lines, "\n"))
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "for 1s") || strings.Contains(l, "for 2s") }) {
		t.Errorf("reports never say how long the pod has been blocked:\n%s", strings.Join(lines, "\n"))
	}
	if got := podNames(t, c, ns, "blocked-a"); len(got) != 2 {
		t.Errorf("a blocked drain evicted pods: left %v", got)
	}
	// The budget allows none and nothing is in flight: the reason says
	// the first and not the second.
	if !strings.Contains(err.Error(), "it allows 0 more disruption(s) (2 healthy, 2 needed)") || strings.Contains(err.Error(), "in flight") {
		t.Errorf("error %q: want the budget's allowance and no evictions in flight", err)
	}
}

// testAPIRefusal drains a not-ready pod, which the guard leaves to the API;
// the API refuses it (429) as the budget is not met, and the drain names it.
func testAPIRefusal(t *testing.T, s *kubetest.Server) {
	c := s.Client()
	ctx := ctxT(t, 2*time.Minute)
	ns := "refused"
	mkNamespace(t, c, ns)
	mkNode(t, c, "refused-a")
	sel := map[string]string{"app": "q"}
	mkPod(t, c, ns, "q-0", "refused-a", podSpec{labels: sel})
	mkPod(t, c, ns, "q-1", "refused-a", podSpec{labels: sel, notReady: true})
	mkPDB(t, c, ns, "q-pdb", sel, 2, 0)

	rec := &evictionRecorder{groupOf: func(string) string { return "all" }}
	client := recordingClient(t, s, rec)
	var rep reports
	d := New(client, Options{GracePeriodSeconds: 0, Timeout: 2 * time.Second, RetryInterval: 300 * time.Millisecond, Report: rep.add}, nil)
	err := d.Drain(ctx, "refused-a")
	if err == nil || !strings.Contains(err.Error(), "PodDisruptionBudget refused/q-pdb") || !strings.Contains(err.Error(), "pod refused/q-1") {
		t.Fatalf("Drain = %v, want q-1 blocked by refused/q-pdb", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	refused := 0
	for _, call := range rec.calls {
		if call.Pod == "q-0" {
			t.Errorf("the guard let an eviction of the ready pod q-0 through while its budget allows none: %+v", call)
		}
		if call.Code == 429 {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("the API never refused an eviction of q-1: %+v", rec.calls)
	}
}

// testParallel drains two nodes at once whose pods share a budget allowing
// one disruption; a stand-in for a ReplicaSet replaces each evicted pod on a
// third node. The requests on the wire never evict two of the pods at once.
func testParallel(t *testing.T, s *kubetest.Server) {
	admin := s.Client()
	ctx := ctxT(t, 3*time.Minute)
	ns := "par"
	mkNamespace(t, admin, ns)
	for _, n := range []string{"par-a", "par-b", "par-spare"} {
		mkNode(t, admin, n)
	}
	sel := map[string]string{"app": "web"}
	for _, p := range []struct{ name, node string }{{"web-a0", "par-a"}, {"web-a1", "par-a"}, {"web-b0", "par-b"}, {"web-b1", "par-b"}} {
		mkPod(t, admin, ns, p.name, p.node, podSpec{labels: sel})
	}
	mkPDB(t, admin, ns, "web", sel, 3, 1)
	replaceDeletedPods(t, ctx, admin, ns, sel)

	rec := &evictionRecorder{delay: 300 * time.Millisecond, groupOf: func(pod string) string { return strings.SplitN(pod, "-", 2)[0] }}
	client := recordingClient(t, s, rec)
	guard := NewGuard()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, node := range []string{"par-a", "par-b"} {
		d := New(client, Options{GracePeriodSeconds: 0, Timeout: 2 * time.Minute, RetryInterval: 200 * time.Millisecond}, guard)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = d.Drain(ctx, node) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"par-a", "par-b"} {
		if left := podNames(t, admin, ns, n); len(left) != 0 {
			t.Errorf("node %s still has pods %v", n, left)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.peak["web"] > 1 {
		t.Errorf("%d evictions of the budget's pods were in flight at once; it allows 1: %+v", rec.peak["web"], rec.calls)
	}
	if p := guard.Peak(ns, "web"); p != 1 {
		t.Errorf("guard peak = %d, want 1", p)
	}
	evicted := map[string]bool{}
	for _, call := range rec.calls {
		if call.Code == 201 || call.Code == 200 {
			evicted[call.Pod] = true
		}
	}
	if len(evicted) != 4 {
		t.Errorf("evicted %v, want the 4 web pods: %+v", evicted, rec.calls)
	}
	t.Logf("eviction requests on the wire: %d (%d refused by the API)", len(rec.calls), len(rec.calls)-len(evicted))
}

// replaceDeletedPods stands in for a ReplicaSet: each deleted pod gets a
// Ready replacement on the spare node, so the budget frees up again.
func replaceDeletedPods(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, sel map[string]string) {
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { w.Stop(); <-done })
	go func() {
		defer close(done)
		n := 0
		for ev := range w.ResultChan() {
			if ev.Type != watch.Deleted {
				continue
			}
			n++
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web-r" + string(rune('0'+n)), Namespace: ns, Labels: sel},
				Spec:       corev1.PodSpec{NodeName: "par-spare", Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
			}
			p, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				continue
			}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			_, _ = c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
	}()
}

func countContaining(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
