package rollingupdate

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/kube/kubetest"
	"github.com/hullproject/hull/pkg/kube/validate"
)

// TestLocalCloudFlowWithAPIServer runs the whole per-machine flow against
// real machines of the local cloud and a real kube-apiserver: cordon,
// drain, terminate, wait for the replacement's node, validate twice. No
// kubelet runs, so the test registers each Running machine as a Ready node
// and removes the nodes of machines that are gone, as kubelets and the
// cloud node controller would. An earlier run's leftover (a node it
// cordoned, of a machine this run does not replace) is uncordoned.
func TestLocalCloudFlowWithAPIServer(t *testing.T) {
	cl := localCloud(t)
	s := kubetest.Start(t)
	kube := s.Client()
	ru := &v1alpha1.RollingUpdate{MaxSurge: ptrIntstr(intstr.FromInt32(0))}
	c := newLocalCluster(t, "ru-flow.local", "10.235.0.0/16", "10.235.1.0/24", ru)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// A second group, up to date, whose node an earlier run left cordoned.
	other := cloud.LaunchConfig{Cluster: c.name, Group: "other", Image: testImage, MachineType: "local", ConfigVersion: "o1"}
	if err := cl.EnsureLaunchConfig(ctx, &other); err != nil {
		t.Fatal(err)
	}
	if err := cl.EnsureInstanceGroup(ctx, &cloud.InstanceGroup{Cluster: c.name, Name: "other", Role: "Node", MinSize: 1, MaxSize: 1, Subnets: []string{"zone-a"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = cl.DeleteInstanceGroup(ctx, c.name, "other")
		_ = cl.DeleteLaunchConfig(ctx, c.name, "other")
	})
	stopKubelets := standInKubelets(t, cl, kube, c.name)
	defer stopKubelets()

	old := c.waitMachines(t, "v1")
	var otherID string
	waitUntil(t, time.Minute, "the other group's node", func() bool {
		insts, _ := cl.ListInstances(ctx, c.name)
		for _, in := range insts {
			if in.Group == "other" && in.State == cloud.StateRunning {
				otherID = in.ID
			}
		}
		return otherID != "" && nodeIsReady(ctx, kube, otherID) && nodeIsReady(ctx, kube, old[0]) && nodeIsReady(ctx, kube, old[1])
	})
	for i, id := range old {
		mkRunningPod(t, kube, "web-"+string(rune('a'+i)), id, nil)
	}
	// The leftover: a checkpoint with "other" in progress and cordoned.
	cp, _, err := loadCheckpoint(ctx, c.store, c.name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.update(ctx, otherID, func(m *MachineRecord) {
		*m = MachineRecord{Group: "other", Phase: PhaseCordoned, Steps: []string{stepCordon}, Node: otherID, Cordoned: true}
	}); err != nil {
		t.Fatal(err)
	}
	setUnschedulable(t, kube, otherID, true)

	c.bump(t, "v2")
	target := c.target(ru)
	target.Kube = kube
	target.InstanceGroups = append(target.InstanceGroups, ig("other", v1alpha1.RoleNode, nil))
	var out syncBuffer
	o := DefaultOptions()
	o.Groups = []string{"nodes"}
	o.NodeInterval, o.PostDrainDelay = 0, 0
	o.DrainTimeout, o.ValidationTimeout = 30*time.Second, 2*time.Minute
	o.GracePeriodSeconds = 0
	o.PollInterval, o.ValidateInterval = 100*time.Millisecond, 200*time.Millisecond
	o.Out = &out
	start := time.Now()
	sum, err := Run(ctx, target, o)
	wall := time.Since(start)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	now := c.waitMachines(t, "v2")
	if got := slices.Sorted(slices.Values(sum.Replaced)); !slices.Equal(got, old) {
		t.Errorf("replaced %v, want %v (now running %v)", got, old, now)
	}
	for _, want := range []string{
		"Uncordoned node " + otherID,
		"nodes " + old[0] + ": cordon done", "nodes " + old[0] + ": drain done",
		"nodes " + old[1] + ": drain done", "Cluster validated 2 time(s) in a row",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	pods, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Errorf("pods left after draining: %d", len(pods.Items))
	}
	for _, id := range old {
		if _, err := kube.CoreV1().Nodes().Get(ctx, id, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("node %s of a terminated machine: %v, want it deleted", id, err)
		}
	}
	n, err := kube.CoreV1().Nodes().Get(ctx, otherID, metav1.GetOptions{})
	if err != nil || n.Spec.Unschedulable {
		t.Errorf("node %s of the other group: %v, unschedulable=%v; want it uncordoned", otherID, err, n != nil && n.Spec.Unschedulable)
	}
	if r := c.checkpoint(t).Machines[otherID]; r == nil || r.Phase != PhaseReleased || r.Cordoned {
		t.Errorf("checkpoint of %s = %+v, want Released", otherID, r)
	}
	// A cluster that does not validate stops the next run before it
	// touches a machine.
	c.bump(t, "v3")
	failing := target
	failing.Validate = func(context.Context) (*validate.Result, error) {
		return &validate.Result{Failures: []validate.Failure{{Kind: validate.KindNode, Name: "x", Message: "node x is not ready"}}}, nil
	}
	out = syncBuffer{}
	short := o
	short.ValidationTimeout = time.Second
	if _, err := Run(ctx, failing, short); err == nil || !strings.Contains(err.Error(), "did not validate within 1s") || !strings.Contains(err.Error(), "node x is not ready") {
		t.Errorf("run on an invalid cluster = %v, want it stopped naming the failure", err)
	}
	if after := c.waitMachines(t, "v2"); !slices.Equal(after, now) {
		t.Errorf("machines changed although the cluster did not validate: %v -> %v", now, after)
	}

	t.Logf("FIGURE rolling-update local cloud + real kube-apiserver, 2 node machines, maxUnavailable 1, validate-count 2: wall %s, waits %s, drains %s, replacements %s, overhead %s (%s per machine)",
		wall.Round(100*time.Millisecond), sum.Waits.Round(100*time.Millisecond), sum.Drains.Round(100*time.Millisecond),
		sum.Replacements.Round(100*time.Millisecond), sum.Overhead.Round(100*time.Millisecond), sum.OverheadPerMachine().Round(100*time.Millisecond))
}

// standInKubelets registers every Running machine of the cluster as a
// Ready node. Like real kubelets, they leave the Node of a machine that is
// gone: hull runs no cloud node controller, the rolling update deletes it.
func standInKubelets(t *testing.T, cl Cloud, kube kubernetes.Interface, cluster string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			insts, err := cl.ListInstances(ctx, cluster)
			if err == nil {
				syncNodes(ctx, kube, insts)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return func() { cancel(); <-done }
}

func syncNodes(ctx context.Context, kube kubernetes.Interface, insts []*cloud.Instance) {
	running := map[string]bool{}
	for _, in := range insts {
		if in.State == cloud.StateRunning {
			running[in.ID] = true
		}
	}
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	have := map[string]bool{}
	for _, n := range nodes.Items {
		have[n.Name] = true
	}
	for id := range running {
		if have[id] {
			continue
		}
		n, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: id}}, metav1.CreateOptions{})
		if err != nil {
			continue
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, _ = kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	}
}

func nodeIsReady(ctx context.Context, kube kubernetes.Interface, name string) bool {
	n, err := kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	return err == nil && nodeReady(n)
}

func setUnschedulable(t *testing.T, kube kubernetes.Interface, name string, v bool) {
	t.Helper()
	n, err := kube.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = v
	if _, err := kube.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mkRunningPod(t *testing.T, kube kubernetes.Interface, name, node string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	p, err := kube.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := kube.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
