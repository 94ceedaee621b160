package nodelifecycle

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/pkg/kube/kubetest"
)

// machineAPI serves the local cloud's machine API format with a fixed
// instance list and counts requests.
func machineAPI(t *testing.T, ids ...string) (MachineAPI, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v1/instances" {
			http.NotFound(w, r)
			return
		}
		var out []map[string]string
		for _, id := range ids {
			out = append(out, map[string]string{"id": id, "state": "Running"})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return MachineAPI{URL: srv.URL}, &calls
}

// node registers a Node whose Ready condition has had status since at.
func node(t *testing.T, kube kubernetes.Interface, name string, status corev1.ConditionStatus, at time.Time) {
	t.Helper()
	ctx := context.Background()
	n, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status,
		LastTransitionTime: metav1.NewTime(at), LastHeartbeatTime: metav1.NewTime(at)}}
	if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// lease records the node's kubelet Lease as last renewed at at.
func lease(t *testing.T, kube kubernetes.Interface, name string, at time.Time) {
	t.Helper()
	renew := metav1.NewMicroTime(at)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &name, RenewTime: &renew}}
	if _, err := kube.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(context.Background(), l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func nodeNames(t *testing.T, kube kubernetes.Interface) []string {
	t.Helper()
	list, err := kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names
}

func TestSyncDeletesOnlyNodesOfGoneMachines(t *testing.T) {
	kube := kubetest.Start(t).Client()
	now := time.Now()
	old := now.Add(-5 * time.Minute)
	node(t, kube, "i-self", corev1.ConditionTrue, now)
	node(t, kube, "i-gone", corev1.ConditionUnknown, old)        // dead long enough, machine gone: deleted
	node(t, kube, "i-rebooting", corev1.ConditionUnknown, old)   // dead long enough, machine listed: kept
	node(t, kube, "i-just-died", corev1.ConditionFalse, now)     // machine gone but within the grace: kept
	node(t, kube, "i-ready-but-gone", corev1.ConditionTrue, old) // Ready, Lease fresh: kept
	lease(t, kube, "i-ready-but-gone", now)
	node(t, kube, "i-restored", corev1.ConditionTrue, old) // status says Ready (restored from a backup) but its Lease is stale: deleted
	lease(t, kube, "i-restored", old)

	api, calls := machineAPI(t, "i-self", "i-rebooting")
	c := &Controller{Kube: kube, Instances: api, Self: "i-self", Grace: time.Minute}
	deleted, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(deleted)
	if diff := cmp.Diff([]string{"i-gone", "i-restored"}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	want := []string{"i-just-died", "i-ready-but-gone", "i-rebooting", "i-self"}
	if diff := cmp.Diff(want, nodeNames(t, kube)); diff != "" {
		t.Errorf("nodes left (-want +got):\n%s", diff)
	}
	if calls.Load() != 1 {
		t.Errorf("machine API asked %d times, want once", calls.Load())
	}

	// Past the grace, i-just-died goes too, and so does i-ready-but-gone,
	// whose kubelet stopped renewing its Lease.
	c.Now = func() time.Time { return now.Add(2 * time.Minute) }
	deleted, err = c.Sync(context.Background())
	sort.Strings(deleted)
	if want := []string{"i-just-died", "i-ready-but-gone"}; err != nil || !cmp.Equal(deleted, want) {
		t.Errorf("second sync deleted %v, %v; want %v", deleted, err, want)
	}
}

func TestSyncAsksTheCloudOnlyAboutDeadNodes(t *testing.T) {
	kube := kubetest.Start(t).Client()
	node(t, kube, "i-self", corev1.ConditionTrue, time.Now())
	node(t, kube, "i-other", corev1.ConditionTrue, time.Now())
	lease(t, kube, "i-other", time.Now())
	api, calls := machineAPI(t)
	c := &Controller{Kube: kube, Instances: api, Self: "i-self"}
	if deleted, err := c.Sync(context.Background()); err != nil || len(deleted) != 0 {
		t.Fatalf("Sync = %v, %v", deleted, err)
	}
	if calls.Load() != 0 {
		t.Errorf("machine API asked %d times with every Node Ready, want 0", calls.Load())
	}
}

// A cloud answer that does not list this very machine is wrong (another
// cluster's API, a daemon that lost its state): nothing is deleted.
func TestSyncDistrustsAnAnswerWithoutItself(t *testing.T) {
	kube := kubetest.Start(t).Client()
	node(t, kube, "i-self", corev1.ConditionTrue, time.Now())
	node(t, kube, "i-gone", corev1.ConditionUnknown, time.Now().Add(-time.Hour))
	api, _ := machineAPI(t, "i-somebody-else")
	c := &Controller{Kube: kube, Instances: api, Self: "i-self"}
	if _, err := c.Sync(context.Background()); err == nil {
		t.Fatal("Sync trusted a cloud answer that does not list this machine")
	}
	if diff := cmp.Diff([]string{"i-gone", "i-self"}, nodeNames(t, kube)); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}
