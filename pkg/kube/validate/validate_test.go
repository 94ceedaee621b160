package validate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/kube/kubetest"
	"github.com/hullproject/hull/pkg/kube/validate"
)

const cluster = "demo.example.com"

// world is a cluster as the cloud and the API see it. Scenarios change a
// healthy world, which is then written to a real apiserver.
type world struct {
	groups    []*cloud.InstanceGroup
	instances []*cloud.Instance
	nodes     []*nodeSpec
	pods      []*podSpec
}

type nodeSpec struct {
	name, ip        string
	ready           corev1.ConditionStatus
	reason, message string
}

type podSpec struct {
	name, node, priorityClass string
	phase                     corev1.PodPhase
	ready                     bool
	// container is the one container's status; nil means running and ready
	// when the pod is ready, running and not ready otherwise.
	container *corev1.ContainerStatus
}

func healthy() *world {
	w := &world{
		groups: []*cloud.InstanceGroup{
			{Cluster: cluster, Name: "nodes-a", Role: "Node", MinSize: 2, MaxSize: 2, Desired: 2},
			{Cluster: cluster, Name: "control-plane-a", Role: "ControlPlane", MinSize: 1, MaxSize: 1, Desired: 1},
			{Cluster: cluster, Name: "bastions", Role: "Bastion", MinSize: 1, MaxSize: 1, Desired: 1},
		},
		instances: []*cloud.Instance{
			{ID: "i-cp1", Cluster: cluster, Group: "control-plane-a", Role: "ControlPlane", Address: "10.0.0.10", State: cloud.StateRunning},
			{ID: "i-n1", Cluster: cluster, Group: "nodes-a", Role: "Node", Address: "10.0.0.11", State: cloud.StateRunning},
			{ID: "i-n2", Cluster: cluster, Group: "nodes-a", Role: "Node", Address: "10.0.0.12", State: cloud.StateRunning},
			// Bastions never join the cluster.
			{ID: "i-b1", Cluster: cluster, Group: "bastions", Role: "Bastion", Address: "10.0.0.5", State: cloud.StateRunning},
		},
		nodes: []*nodeSpec{
			{name: "i-cp1", ip: "10.0.0.10", ready: corev1.ConditionTrue},
			{name: "i-n1", ip: "10.0.0.11", ready: corev1.ConditionTrue},
			{name: "i-n2", ip: "10.0.0.12", ready: corev1.ConditionTrue},
		},
		pods: []*podSpec{
			{name: "coredns-abc", node: "i-n1", priorityClass: "system-cluster-critical", ready: true},
			{name: "kube-proxy-x1", node: "i-n1", priorityClass: "system-node-critical", ready: true},
			// Not critical: its state does not matter.
			{name: "debug-tools", node: "i-n2", ready: false},
			// A critical job that finished is not expected to be ready.
			{name: "addon-installer-1", node: "i-n2", priorityClass: "system-cluster-critical", phase: corev1.PodSucceeded,
				container: &corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}},
		},
	}
	for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		w.pods = append(w.pods, &podSpec{name: c + "-i-cp1", node: "i-cp1", priorityClass: "system-node-critical", ready: true})
	}
	return w
}

func (w *world) node(name string) *nodeSpec {
	for _, n := range w.nodes {
		if n.name == name {
			return n
		}
	}
	panic("no node " + name)
}

func (w *world) pod(name string) *podSpec {
	for _, p := range w.pods {
		if p.name == name {
			return p
		}
	}
	panic("no pod " + name)
}

func (w *world) removeNode(name string) {
	w.nodes = remove(w.nodes, func(n *nodeSpec) bool { return n.name == name })
}

func remove[T any](s []T, match func(T) bool) []T {
	var out []T
	for _, v := range s {
		if !match(v) {
			out = append(out, v)
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	server := kubetest.Start(t)
	client := server.Client()

	tests := []struct {
		name   string
		change func(w *world)
		want   []validate.Failure
	}{
		{name: "all good", change: func(*world) {}},
		{
			name: "group short of machines",
			change: func(w *world) {
				w.instances = remove(w.instances, func(i *cloud.Instance) bool { return i.ID == "i-n2" })
				w.removeNode("i-n2")
			},
			want: []validate.Failure{{Kind: "InstanceGroup", Name: "nodes-a", Message: "InstanceGroup nodes-a did not have enough nodes 1 vs 2"}},
		},
		{
			name: "pending machine is short too, but not yet expected to join",
			change: func(w *world) {
				w.instances[2].State = cloud.StatePending
				w.removeNode("i-n2")
			},
			want: []validate.Failure{{Kind: "InstanceGroup", Name: "nodes-a", Message: "InstanceGroup nodes-a did not have enough nodes 1 vs 2"}},
		},
		{
			name:   "machine not joined",
			change: func(w *world) { w.removeNode("i-n2") },
			want:   []validate.Failure{{Kind: "Machine", Name: "i-n2", Message: "machine i-n2 has not joined the cluster"}},
		},
		{
			name: "node NotReady with its reason",
			change: func(w *world) {
				n := w.node("i-n1")
				n.ready, n.reason, n.message = corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready: NetworkReady=false"
			},
			want: []validate.Failure{{Kind: "Node", Name: "i-n1", Message: "node i-n1 is not ready: KubeletNotReady: container runtime network not ready: NetworkReady=false"}},
		},
		{
			name: "control-plane pod not ready, another missing",
			change: func(w *world) {
				w.pod("kube-scheduler-i-cp1").ready = false
				w.pods = remove(w.pods, func(p *podSpec) bool { return p.name == "etcd-i-cp1" })
			},
			want: []validate.Failure{
				{Kind: "Pod", Name: "kube-system/etcd-i-cp1", Message: "control-plane pod etcd is missing on node i-cp1"},
				{Kind: "Pod", Name: "kube-system/kube-scheduler-i-cp1", Message: "control-plane pod kube-system/kube-scheduler-i-cp1 on node i-cp1 is not ready: kube-scheduler-i-cp1: running, not ready"},
			},
		},
		{
			name: "critical pod crashlooping",
			change: func(w *world) {
				p := w.pod("coredns-abc")
				p.ready = false
				p.container = &corev1.ContainerStatus{
					RestartCount: 6,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
						Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container",
					}},
				}
			},
			want: []validate.Failure{{Kind: "Pod", Name: "kube-system/coredns-abc", Message: "system-cluster-critical pod kube-system/coredns-abc is not ready: coredns-abc: CrashLoopBackOff: back-off 5m0s restarting failed container (6 restarts)"}},
		},
		{
			name: "stray node",
			change: func(w *world) {
				w.nodes = append(w.nodes, &nodeSpec{name: "i-stray", ip: "10.0.0.99", ready: corev1.ConditionTrue})
			},
			want: []validate.Failure{{Kind: "Node", Name: "i-stray", Message: "node i-stray is not a machine of any instance group"}},
		},
		{
			name: "detached machine of a rolling update is neither counted nor a stranger",
			change: func(w *world) {
				w.instances = append(w.instances, &cloud.Instance{ID: "i-old", Cluster: cluster, Group: "nodes-a", Role: "Node", State: cloud.StateRunning, Detached: true})
				w.nodes = append(w.nodes, &nodeSpec{name: "i-old", ip: "10.0.0.13", ready: corev1.ConditionTrue})
			},
		},
		{
			name: "several failures, in a stable order",
			change: func(w *world) {
				w.groups[0].Desired, w.groups[0].MaxSize = 3, 3
				w.removeNode("i-n2")
				w.node("i-cp1").ready = corev1.ConditionUnknown
				w.node("i-cp1").reason = "NodeStatusUnknown"
				w.node("i-cp1").message = "Kubelet stopped posting node status."
			},
			want: []validate.Failure{
				{Kind: "InstanceGroup", Name: "nodes-a", Message: "InstanceGroup nodes-a did not have enough nodes 2 vs 3"},
				{Kind: "Node", Name: "i-cp1", Message: "node i-cp1 is not ready: NodeStatusUnknown: Kubelet stopped posting node status."},
				{Kind: "Machine", Name: "i-n2", Message: "machine i-n2 has not joined the cluster"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := healthy()
			tc.change(w)
			apply(t, client, w)
			res, err := validate.Validate(context.Background(), validate.Input{ClusterName: cluster, Groups: w.groups, Instances: w.instances, Client: client})
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if diff := cmp.Diff(tc.want, res.Failures, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("failures (-want +got):\n%s", diff)
			}
			if got, want := res.OK(), len(tc.want) == 0; got != want {
				t.Errorf("OK() = %v, want %v", got, want)
			}
		})
	}

	t.Run("statuses of groups and nodes", func(t *testing.T) {
		w := healthy()
		w.node("i-n1").ready = corev1.ConditionFalse
		apply(t, client, w)
		res, err := validate.Validate(context.Background(), validate.Input{ClusterName: cluster, Groups: w.groups, Instances: w.instances, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		wantGroups := []validate.GroupStatus{
			{Name: "bastions", Role: "Bastion", Min: 1, Max: 1, Desired: 1, Running: 1},
			{Name: "control-plane-a", Role: "ControlPlane", Min: 1, Max: 1, Desired: 1, Running: 1},
			{Name: "nodes-a", Role: "Node", Min: 2, Max: 2, Desired: 2, Running: 2},
		}
		wantNodes := []validate.NodeStatus{
			{Name: "i-cp1", Role: "control-plane", InternalIP: "10.0.0.10", Version: "v1.37.2", Ready: true, InstanceGroup: "control-plane-a"},
			{Name: "i-n1", Role: "node", InternalIP: "10.0.0.11", Version: "v1.37.2", Ready: false, InstanceGroup: "nodes-a"},
			{Name: "i-n2", Role: "node", InternalIP: "10.0.0.12", Version: "v1.37.2", Ready: true, InstanceGroup: "nodes-a"},
		}
		if diff := cmp.Diff(wantGroups, res.Groups); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantNodes, res.Nodes); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
	})

	t.Run("API unreachable", func(t *testing.T) {
		w := healthy()
		server.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := validate.Validate(ctx, validate.Input{ClusterName: cluster, Groups: w.groups, Instances: w.instances, Client: client})
		if err == nil {
			t.Fatal("Validate succeeded with the apiserver stopped")
		}
		if res == nil || len(res.Failures) != 1 || res.Failures[0].Kind != validate.KindAPI || !strings.Contains(res.Failures[0].Message, "cannot reach the Kubernetes API") {
			t.Fatalf("result = %+v, want one API failure", res)
		}
		if len(res.Groups) != 3 {
			t.Errorf("groups = %+v, want the three groups checked from the cloud alone", res.Groups)
		}
	})
}

// apply makes the apiserver hold exactly w's nodes and kube-system pods.
func apply(t *testing.T, client kubernetes.Interface, w *world) {
	t.Helper()
	ctx := context.Background()
	now := metav1.Now()
	force := metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
	if err := client.CoreV1().Nodes().DeleteCollection(ctx, force, metav1.ListOptions{}); err != nil {
		t.Fatalf("delete nodes: %v", err)
	}
	if err := client.CoreV1().Pods("kube-system").DeleteCollection(ctx, force, metav1.ListOptions{}); err != nil {
		t.Fatalf("delete pods: %v", err)
	}
	for _, n := range w.nodes {
		node, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create node %s: %v", n.name, err)
		}
		node.Status = corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip}, {Type: corev1.NodeHostName, Address: n.name}},
			NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.37.2"},
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: n.ready, Reason: n.reason, Message: n.message,
				LastHeartbeatTime: now, LastTransitionTime: now,
			}},
		}
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status of node %s: %v", n.name, err)
		}
	}
	for _, p := range w.pods {
		pod, err := client.CoreV1().Pods("kube-system").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "kube-system"},
			Spec: corev1.PodSpec{
				NodeName:          p.node,
				PriorityClassName: p.priorityClass,
				Containers:        []corev1.Container{{Name: p.name, Image: "registry.k8s.io/" + p.name + ":test"}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s: %v", p.name, err)
		}
		pod.Status = podStatus(p, now)
		if _, err := client.CoreV1().Pods("kube-system").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status of pod %s: %v", p.name, err)
		}
	}
}

func podStatus(p *podSpec, now metav1.Time) corev1.PodStatus {
	ready := corev1.ConditionFalse
	if p.ready {
		ready = corev1.ConditionTrue
	}
	cs := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}
	if p.container != nil {
		cs = *p.container
	}
	cs.Name, cs.Image, cs.Ready = p.name, "registry.k8s.io/"+p.name+":test", p.ready
	phase := p.phase
	if phase == "" {
		phase = corev1.PodRunning
	}
	return corev1.PodStatus{
		Phase: phase,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{cs},
	}
}
