package rollingupdate

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/kube/kubetest"
	"github.com/hullproject/hull/pkg/kube/validate"
)

// blockedDrain is a two-machine group on stand-in kubelets whose first
// node runs a pod that a budget allows no eviction of, with the group's
// launch config bumped to v2: every run must drain that pod.
type blockedDrain struct {
	c      *localCluster
	kube   kubernetes.Interface
	old    []string
	target Target
	o      Options
}

func newBlockedDrain(t *testing.T, ctx context.Context, name, cidr, subnet string, ru *v1alpha1.RollingUpdate) *blockedDrain {
	t.Helper()
	cl := localCloud(t)
	kube := kubetest.Start(t).Client()
	c := newLocalCluster(t, name, cidr, subnet, ru)
	t.Cleanup(standInKubelets(t, cl, kube, c.name))

	old := c.waitMachines(t, "v1")
	waitUntil(t, time.Minute, "the nodes", func() bool { return nodeIsReady(ctx, kube, old[0]) && nodeIsReady(ctx, kube, old[1]) })
	mkRunningPod(t, kube, "db-0", old[0], map[string]string{"app": "db"})
	// No disruption controller runs, so the budget's status allows nothing.
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptrIntstr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	if _, err := kube.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	c.bump(t, "v2")
	target := c.target(ru)
	target.Kube = kube
	o := DefaultOptions()
	o.NodeInterval, o.PostDrainDelay, o.GracePeriodSeconds = 0, 0, 0
	o.DrainTimeout, o.ValidationTimeout = 3*time.Second, 2*time.Minute
	o.PollInterval, o.ValidateInterval = 100*time.Millisecond, 200*time.Millisecond
	return &blockedDrain{c: c, kube: kube, old: old, target: target, o: o}
}

// TestLocalCloudSurgeDrainBlocked: a surged machine whose drain a budget
// blocks is given back uncordoned, and says so; the re-run cordons it
// again before draining it (the checkpoint must not remember a cordon that
// was undone, or evicted pods could land back on the node), and every
// terminated machine's Node is deleted, as no cloud node controller runs.
func TestLocalCloudSurgeDrainBlocked(t *testing.T) {
	ru := &v1alpha1.RollingUpdate{MaxSurge: ptrIntstr(intstr.FromInt32(1)), MaxUnavailable: ptrIntstr(intstr.FromInt32(0))}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newBlockedDrain(t, ctx, "ru-blocked.local", "10.222.128.0/18", "10.222.129.0/24", ru)
	c, kube, old, target, o := f.c, f.kube, f.old, f.target, f.o
	var out1 syncBuffer
	o.Out = &out1
	_, err := Run(ctx, target, o)
	t.Logf("first run (%v):\n%s", err, out1.String())
	if err == nil || !strings.Contains(err.Error(), "blocked by PodDisruptionBudget default/db") {
		t.Fatalf("first run = %v, want the drain blocked by default/db", err)
	}
	if !strings.Contains(out1.String(), "Uncordoned node "+old[0]+": its drain failed") {
		t.Errorf("the output does not say node %s was uncordoned", old[0])
	}
	if n, err := kube.CoreV1().Nodes().Get(ctx, old[0], metav1.GetOptions{}); err != nil || n.Spec.Unschedulable {
		t.Errorf("node %s after the blocked drain: %v, unschedulable %v; want it uncordoned", old[0], err, err == nil && n.Spec.Unschedulable)
	}
	rec := c.checkpoint(t).Machines[old[0]]
	if rec == nil || !rec.Surge || !rec.InProgress() || rec.Cordoned || slices.Contains(rec.Steps, stepCordon) {
		t.Fatalf("checkpoint of %s = %+v, want a surge in progress, neither cordoned nor remembering a cordon", old[0], rec)
	}

	if err := kube.PolicyV1().PodDisruptionBudgets("default").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var out2 syncBuffer
	o.Out = &out2
	sum, err := Run(ctx, target, o)
	t.Logf("re-run (%v):\n%s", err, out2.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(sum.Replaced)); !slices.Equal(got, old) {
		t.Errorf("replaced %v, want %v", got, old)
	}
	if !strings.Contains(out2.String(), "nodes "+old[0]+": cordon done") {
		t.Errorf("the re-run did not cordon %s again before draining it", old[0])
	}
	for _, id := range old {
		if _, err := kube.CoreV1().Nodes().Get(ctx, id, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("node %s of a terminated machine: %v, want it deleted", id, err)
		}
	}
}

// TestLocalCloudDrainErrorIgnored: with --fail-on-drain-error=false a
// drain that a budget blocks is reported and the machine is replaced all
// the same: terminated, its Node deleted, its replacement awaited. Nothing
// is left running, cordoned or counted as replaced without being so.
func TestLocalCloudDrainErrorIgnored(t *testing.T) {
	ru := &v1alpha1.RollingUpdate{MaxSurge: ptrIntstr(intstr.FromInt32(0)), MaxUnavailable: ptrIntstr(intstr.FromInt32(1))}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newBlockedDrain(t, ctx, "ru-ignore.local", "10.237.0.0/16", "10.237.1.0/24", ru)
	c, kube, old, target, o := f.c, f.kube, f.old, f.target, f.o
	o.DrainTimeout = 2 * time.Second
	o.FailOnDrainError = false
	var out syncBuffer
	o.Out = &out
	sum, err := Run(ctx, target, o)
	t.Logf("run (%v):\n%s", err, out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "blocked by PodDisruptionBudget default/db") || !strings.Contains(out.String(), "terminating it anyway") {
		t.Errorf("the output does not warn that the drain of %s was blocked and the machine terminated anyway", old[0])
	}
	if got := slices.Sorted(slices.Values(sum.Replaced)); !slices.Equal(got, old) {
		t.Errorf("replaced %v, want %v", got, old)
	}
	now := c.waitMachines(t, "v2")
	for _, id := range old {
		if slices.Contains(now, id) {
			t.Errorf("machine %s still runs after a run that counts it replaced", id)
		}
		if _, err := kube.CoreV1().Nodes().Get(ctx, id, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("node %s of a terminated machine: %v, want it deleted", id, err)
		}
	}
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			t.Errorf("node %s is left cordoned", n.Name)
		}
	}
}

// TestLocalCloudResumeBeforeValidating: a run killed while a replacement
// boots leaves a cluster that does not validate yet; the re-run must not
// refuse to start for that (it would never finish the machine), but finish
// the machine in progress and validate after it.
func TestLocalCloudResumeBeforeValidating(t *testing.T) {
	cl := localCloud(t)
	s := kubetest.Start(t)
	kube := s.Client()
	ru := &v1alpha1.RollingUpdate{MaxSurge: ptrIntstr(intstr.FromInt32(0))}
	c := newLocalCluster(t, "ru-revalidate.local", "10.222.192.0/18", "10.222.193.0/24", ru)
	stopKubelets := standInKubelets(t, cl, kube, c.name)
	defer stopKubelets()
	old := c.waitMachines(t, "v1")
	waitUntil(t, time.Minute, "the nodes", func() bool {
		return nodeIsReady(context.Background(), kube, old[0]) && nodeIsReady(context.Background(), kube, old[1])
	})
	c.bump(t, "v2")
	target := c.target(ru)
	target.Kube = kube
	o := DefaultOptions()
	o.NodeInterval, o.PostDrainDelay, o.GracePeriodSeconds = 0, 0, 0
	o.DrainTimeout, o.ValidationTimeout = 30*time.Second, 2*time.Minute
	o.PollInterval, o.ValidateInterval = 100*time.Millisecond, 200*time.Millisecond
	var out1 syncBuffer
	o.Out = &out1

	// Kill the first run once its first machine is terminated.
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	done := make(chan error, 1)
	go func() { _, err := Run(ctx, target, o); done <- err }()
	waitUntil(t, 2*time.Minute, "a machine terminated", func() bool {
		cp, ok := tryCheckpoint(c)
		return ok && countPhase(cp, PhaseTerminated) == 1
	})
	kill()
	if err := <-done; err == nil {
		t.Fatalf("the killed run succeeded:\n%s", out1.String())
	}

	// The replacement is not a node yet when the re-run starts: the
	// validator says so on its first call, as a real cluster would.
	calls := 0
	real := defaultValidator(target)
	target.Validate = func(ctx context.Context) (*validate.Result, error) {
		if calls++; calls == 1 {
			return &validate.Result{Failures: []validate.Failure{{Kind: validate.KindMachine, Name: "i-new", Message: "machine i-new has not joined the cluster"}}}, nil
		}
		return real(ctx)
	}
	var out2 syncBuffer
	o.Out = &out2
	sum, err := Run(context.Background(), target, o)
	t.Logf("re-run (%v):\n%s", err, out2.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(sum.Replaced)); !slices.Equal(got, old) {
		t.Errorf("replaced %v, want %v", got, old)
	}
	if !strings.Contains(out2.String(), "Not validating before resuming") {
		t.Errorf("the re-run does not say why it did not validate first")
	}
}
