package rollingupdate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// AnnotationNeedsUpdate on a node asks for its machine to be replaced.
const AnnotationNeedsUpdate = "hull.dev/needs-update"

// Why a machine needs replacing.
const (
	ReasonConfigVersion = "ConfigVersion"
	ReasonAnnotation    = "Annotation"
	ReasonForce         = "Force"
	// ReasonDetached marks a machine an interrupted surge already detached.
	ReasonDetached = "Detached"
)

// PlanInput is everything the planner looks at; it calls nothing.
type PlanInput struct {
	// Cluster and InstanceGroups are the user's spec (rollingUpdate settings, roles).
	Cluster        *v1alpha1.Cluster
	InstanceGroups []*v1alpha1.InstanceGroup
	// Groups and Instances are the cloud's view.
	Groups    []*cloud.InstanceGroup
	Instances []*cloud.Instance
	// Nodes are the cluster's nodes, named after their machines; nil with --cloudonly.
	Nodes []corev1.Node
	// CanSurge says the provider can detach machines.
	CanSurge bool
}

// Selection narrows and widens what a run replaces.
type Selection struct {
	// Groups are instance group names (--instance-group); empty means all.
	Groups []string
	// Roles are group roles (--instance-group-roles); empty means all.
	Roles []string
	// Force replaces every machine of the selected groups.
	Force bool
}

// Plan is the ordered work of a rolling update.
type Plan struct {
	Cluster string
	Groups  []*GroupPlan
}

// GroupPlan is one instance group: its machines and how many may be
// replaced at once.
type GroupPlan struct {
	Name string
	Role v1alpha1.InstanceGroupRole
	Min  int
	Max  int
	// Target is the number of machines the group keeps running.
	Target int
	// MaxSurge machines are detached (replacement first); MaxUnavailable are
	// taken down before their replacement exists.
	MaxSurge       int
	MaxUnavailable int
	// Nodes counts the group's machines registered as nodes.
	Nodes    int
	Machines []*Machine
}

// Machine is one instance and whether it needs replacing.
type Machine struct {
	ID       string
	Group    string
	Role     string
	State    string
	Detached bool
	// Node is the machine's node name, empty when it has none (yet).
	Node string
	// Reasons is empty for an up-to-date machine.
	Reasons []string
}

// NeedsUpdate reports whether the machine is to be replaced.
func (m *Machine) NeedsUpdate() bool { return len(m.Reasons) > 0 }

// NeedUpdate lists the group's machines to replace, detached ones first
// (a surge interrupted before it finished), then by ID.
func (g *GroupPlan) NeedUpdate() []*Machine {
	var out []*Machine
	for _, m := range g.Machines {
		if m.NeedsUpdate() {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b *Machine) int {
		if a.Detached != b.Detached {
			if a.Detached {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Ready counts the machines that are up to date.
func (g *GroupPlan) Ready() int { return len(g.Machines) - len(g.NeedUpdate()) }

// Concurrency is how many machines the group replaces at once.
func (g *GroupPlan) Concurrency() int { return max(1, g.MaxSurge+g.MaxUnavailable) }

// NeedsUpdate reports whether any selected machine is to be replaced.
func (p *Plan) NeedsUpdate() bool {
	for _, g := range p.Groups {
		if len(g.NeedUpdate()) > 0 {
			return true
		}
	}
	return false
}

// UnknownGroupError names a group that does not exist and lists those that do.
type UnknownGroupError struct {
	Cluster  string
	Name     string
	Existing []string
}

func (e *UnknownGroupError) Error() string {
	return fmt.Sprintf("cluster %s has no instance group %q; it has: %s", e.Cluster, e.Name, strings.Join(e.Existing, ", "))
}

// roleOrder is the order groups are rolled in.
var roleOrder = map[v1alpha1.InstanceGroupRole]int{v1alpha1.RoleBastion: 0, v1alpha1.RoleControlPlane: 1, v1alpha1.RoleNode: 2}

// BuildPlan orders the selected groups (bastions, control plane, nodes) and
// marks each machine that needs replacing and why.
func BuildPlan(in PlanInput, sel Selection) (*Plan, error) {
	name := in.Cluster.Metadata.Name
	specs := map[string]*v1alpha1.InstanceGroup{}
	var existing []string
	for _, ig := range in.InstanceGroups {
		specs[ig.Metadata.Name] = ig
		existing = append(existing, ig.Metadata.Name)
	}
	slices.Sort(existing)
	for _, g := range sel.Groups {
		if specs[g] == nil {
			return nil, &UnknownGroupError{Cluster: name, Name: g, Existing: existing}
		}
	}
	for _, r := range sel.Roles {
		if _, ok := roleOrder[v1alpha1.InstanceGroupRole(r)]; !ok {
			return nil, fmt.Errorf("unknown instance group role %q; choose from %s, %s, %s", r, v1alpha1.RoleBastion, v1alpha1.RoleControlPlane, v1alpha1.RoleNode)
		}
	}
	nodes := map[string]*corev1.Node{}
	for i := range in.Nodes {
		nodes[in.Nodes[i].Name] = &in.Nodes[i]
	}
	byGroup := map[string][]*cloud.Instance{}
	for _, inst := range in.Instances {
		if inst.State == cloud.StateTerminating || inst.State == cloud.StateTerminated {
			continue
		}
		byGroup[inst.Group] = append(byGroup[inst.Group], inst)
	}

	p := &Plan{Cluster: name}
	for _, g := range in.Groups {
		ig := specs[g.Name]
		if ig == nil || !selected(sel, ig) {
			continue
		}
		gp := &GroupPlan{Name: g.Name, Role: ig.Spec.Role, Min: g.MinSize, Max: g.MaxSize, Target: g.Desired}
		gp.MaxSurge, gp.MaxUnavailable = resolveSettings(in.Cluster, ig, g.Desired, in.CanSurge)
		for _, inst := range byGroup[g.Name] {
			m := &Machine{ID: inst.ID, Group: inst.Group, Role: inst.Role, State: inst.State, Detached: inst.Detached}
			node := nodes[inst.ID]
			if node != nil {
				m.Node = node.Name
				gp.Nodes++
			}
			m.Reasons = reasons(inst, g, node, sel.Force)
			gp.Machines = append(gp.Machines, m)
		}
		slices.SortFunc(gp.Machines, func(a, b *Machine) int { return cmp.Compare(a.ID, b.ID) })
		p.Groups = append(p.Groups, gp)
	}
	slices.SortStableFunc(p.Groups, func(a, b *GroupPlan) int {
		return cmp.Or(cmp.Compare(roleOrder[a.Role], roleOrder[b.Role]), cmp.Compare(a.Name, b.Name))
	})
	return p, nil
}

func selected(sel Selection, ig *v1alpha1.InstanceGroup) bool {
	if len(sel.Groups) > 0 && !slices.Contains(sel.Groups, ig.Metadata.Name) {
		return false
	}
	return len(sel.Roles) == 0 || slices.Contains(sel.Roles, string(ig.Spec.Role))
}

func reasons(inst *cloud.Instance, g *cloud.InstanceGroup, node *corev1.Node, force bool) []string {
	var out []string
	if inst.ConfigVersion != g.ConfigVersion {
		out = append(out, ReasonConfigVersion)
	}
	if node != nil {
		if _, ok := node.Annotations[AnnotationNeedsUpdate]; ok {
			out = append(out, ReasonAnnotation)
		}
	}
	if inst.Detached && len(out) == 0 {
		// A detached machine is on its way out whatever its version.
		out = append(out, ReasonDetached)
	}
	if force {
		out = append(out, ReasonForce)
	}
	return out
}
