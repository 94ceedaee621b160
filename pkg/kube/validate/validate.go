package validate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Failure kinds.
const (
	KindInstanceGroup = "InstanceGroup"
	KindMachine       = "Machine"
	KindNode          = "Node"
	KindPod           = "Pod"
	// KindAPI is the one failure when the Kubernetes API cannot be reached.
	KindAPI = "API"
)

// Node roles as NodeStatus reports them (the kubectl/kops spelling).
const (
	NodeRoleControlPlane = "control-plane"
	NodeRoleNode         = "node"
)

// labelControlPlane marks control-plane nodes.
const labelControlPlane = "node-role.kubernetes.io/control-plane"

// controlPlaneComponents run as static pods named <component>-<node> on every
// control-plane machine.
var controlPlaneComponents = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// criticalPriorityClasses mark the pods a cluster cannot work without.
var criticalPriorityClasses = []string{"system-cluster-critical", "system-node-critical"}

// Input is what Validate checks: the cloud's view (groups and their
// machines) and a client of the cluster's API.
type Input struct {
	ClusterName string
	Groups      []*cloud.InstanceGroup
	Instances   []*cloud.Instance
	Client      kubernetes.Interface
}

// Result is the state of the cluster and everything wrong with it.
type Result struct {
	Groups   []GroupStatus `json:"groups"`
	Nodes    []NodeStatus  `json:"nodes"`
	Failures []Failure     `json:"failures"`
}

// GroupStatus is one instance group's size.
type GroupStatus struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	MachineType string `json:"machineType,omitempty"`
	Min         int    `json:"min"`
	Max         int    `json:"max"`
	Desired     int    `json:"desired"`
	// Running counts the group's attached machines in state Running.
	Running int `json:"running"`
}

// NodeStatus is one registered Kubernetes node.
type NodeStatus struct {
	Name          string `json:"name"`
	Role          string `json:"role"`
	InternalIP    string `json:"internalIP"`
	Version       string `json:"version"`
	Ready         bool   `json:"ready"`
	InstanceGroup string `json:"instanceGroup,omitempty"`
}

// Failure is one reason the cluster is not valid.
type Failure struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// OK reports whether the cluster passed validation.
func (r *Result) OK() bool { return r != nil && len(r.Failures) == 0 }

// Validate checks that every group runs its desired number of machines,
// every running machine has joined as a Ready node and no node is a
// stranger, the control-plane pods run on every control-plane node, and
// every system-critical pod in kube-system is ready.
//
// It returns an error only when the API cannot be reached or answer; the
// Result is then still returned, with the group checks (which need only
// the cloud) and a Failure of KindAPI, so callers can print it as is.
func Validate(ctx context.Context, in Input) (*Result, error) {
	r := &Result{Groups: []GroupStatus{}, Nodes: []NodeStatus{}, Failures: []Failure{}}
	r.checkGroups(in.Groups, in.Instances)

	nodes, err := in.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return r.apiFailure(in.ClusterName, "list nodes", err)
	}
	pods, err := in.Client.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil {
		return r.apiFailure(in.ClusterName, "list kube-system pods", err)
	}
	slices.SortFunc(nodes.Items, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })

	controlPlane := r.checkNodes(in.Instances, nodes.Items)
	r.checkPods(controlPlane, pods.Items)
	return r, nil
}

func (r *Result) fail(kind, name, format string, args ...any) {
	r.Failures = append(r.Failures, Failure{Kind: kind, Name: name, Message: fmt.Sprintf(format, args...)})
}

func (r *Result) apiFailure(cluster, what string, err error) (*Result, error) {
	err = fmt.Errorf("cluster %s: cannot reach the Kubernetes API to %s: %w", cluster, what, err)
	r.fail(KindAPI, cluster, "%v", err)
	return r, err
}

// checkGroups compares each group's running, attached machines with its
// desired size. Detached machines (a rolling update's old ones) no longer
// count towards their group.
func (r *Result) checkGroups(groups []*cloud.InstanceGroup, instances []*cloud.Instance) {
	running := map[string]int{}
	for _, in := range instances {
		if in.State == cloud.StateRunning && !in.Detached {
			running[in.Group]++
		}
	}
	sorted := slices.Clone(groups)
	slices.SortFunc(sorted, func(a, b *cloud.InstanceGroup) int { return strings.Compare(a.Name, b.Name) })
	for _, g := range sorted {
		n := running[g.Name]
		r.Groups = append(r.Groups, GroupStatus{Name: g.Name, Role: g.Role, Min: g.MinSize, Max: g.MaxSize, Desired: g.Desired, Running: n})
		switch want := max(g.Desired, g.MinSize); {
		case n < want:
			r.fail(KindInstanceGroup, g.Name, "InstanceGroup %s did not have enough nodes %d vs %d", g.Name, n, want)
		case n > g.Desired:
			r.fail(KindInstanceGroup, g.Name, "InstanceGroup %s had more nodes than desired %d vs %d", g.Name, n, g.Desired)
		}
	}
}

// checkNodes matches machines with nodes by name (a node is named after
// its machine's instance ID) and returns the control-plane nodes.
func (r *Result) checkNodes(instances []*cloud.Instance, nodes []corev1.Node) []string {
	byID := map[string]*cloud.Instance{}
	for _, in := range instances {
		byID[in.ID] = in
	}
	registered := map[string]bool{}
	var controlPlane []string
	for i := range nodes {
		node := &nodes[i]
		registered[node.Name] = true
		inst := byID[node.Name]
		st := NodeStatus{
			Name:       node.Name,
			Role:       nodeRole(node, inst),
			InternalIP: internalIP(node),
			Version:    node.Status.NodeInfo.KubeletVersion,
		}
		if inst != nil {
			st.InstanceGroup = inst.Group
		}
		ready, why := nodeReady(node)
		st.Ready = ready
		r.Nodes = append(r.Nodes, st)
		if st.Role == NodeRoleControlPlane {
			controlPlane = append(controlPlane, node.Name)
		}
		// A node of a machine that is still starting or already going away
		// belongs to the cluster; any other node does not.
		if inst == nil {
			r.fail(KindNode, node.Name, "node %s is not a machine of any instance group", node.Name)
			continue
		}
		if !ready && inst.State == cloud.StateRunning {
			r.fail(KindNode, node.Name, "node %s is not ready: %s", node.Name, why)
		}
	}
	ids := make([]string, 0, len(instances))
	for _, in := range instances {
		// Bastions never join; machines not yet or no longer running are
		// counted by the group check instead.
		if in.State == cloud.StateRunning && in.Role != string(v1alpha1.RoleBastion) && !registered[in.ID] {
			ids = append(ids, in.ID)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		r.fail(KindMachine, id, "machine %s has not joined the cluster", id)
	}
	return controlPlane
}

// nodeRole is the role of the node's machine, else what its labels say.
func nodeRole(node *corev1.Node, inst *cloud.Instance) string {
	if inst != nil {
		if inst.Role == string(v1alpha1.RoleControlPlane) {
			return NodeRoleControlPlane
		}
		return NodeRoleNode
	}
	if _, ok := node.Labels[labelControlPlane]; ok {
		return NodeRoleControlPlane
	}
	return NodeRoleNode
}

func internalIP(node *corev1.Node) string {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// nodeReady reads the Ready condition; why is its reason and message.
func nodeReady(node *corev1.Node) (ready bool, why string) {
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return true, ""
		}
		return false, joinNonEmpty(": ", orDefault(c.Reason, "Ready="+string(c.Status)), c.Message)
	}
	return false, "the kubelet has not reported a Ready condition"
}
