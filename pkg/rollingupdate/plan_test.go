package rollingupdate

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

func ig(name string, role v1alpha1.InstanceGroupRole, ru *v1alpha1.RollingUpdate) *v1alpha1.InstanceGroup {
	g := &v1alpha1.InstanceGroup{Spec: v1alpha1.InstanceGroupSpec{Role: role, RollingUpdate: ru}}
	g.Metadata.Name = name
	return g
}

func ru(surge, unavail *intstr.IntOrString) *v1alpha1.RollingUpdate {
	return &v1alpha1.RollingUpdate{MaxSurge: surge, MaxUnavailable: unavail}
}

func num(n int32) *intstr.IntOrString  { v := intstr.FromInt32(n); return &v }
func pct(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
func group(name, role, version string, size int) *cloud.InstanceGroup {
	return &cloud.InstanceGroup{Name: name, Role: role, MinSize: size, MaxSize: size, Desired: size, ConfigVersion: version}
}

// sampleInput is a cluster with a bastion, a control plane, two node groups
// and one spare group: some machines out of date, one annotated, one detached.
func sampleInput() PlanInput {
	c := &v1alpha1.Cluster{}
	c.Metadata.Name = "demo.example.com"
	c.Spec.RollingUpdate = ru(nil, num(2))
	inst := func(id, grp, role, version string, detached bool) *cloud.Instance {
		return &cloud.Instance{ID: id, Group: grp, Role: role, State: cloud.StateRunning, ConfigVersion: version, Detached: detached, LaunchTime: time.Unix(0, 0)}
	}
	node := func(name string, annotated bool) corev1.Node {
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if annotated {
			n.Annotations = map[string]string{AnnotationNeedsUpdate: ""}
		}
		return n
	}
	return PlanInput{
		Cluster: c,
		InstanceGroups: []*v1alpha1.InstanceGroup{
			ig("nodes-b", v1alpha1.RoleNode, ru(pct("50%"), nil)),
			ig("nodes-a", v1alpha1.RoleNode, ru(num(0), pct("25%"))),
			ig("control-plane-a", v1alpha1.RoleControlPlane, ru(num(1), nil)),
			ig("bastions", v1alpha1.RoleBastion, nil),
			ig("spare", v1alpha1.RoleNode, nil),
		},
		Groups: []*cloud.InstanceGroup{
			group("bastions", "Bastion", "b1", 1),
			group("control-plane-a", "ControlPlane", "c2", 1),
			group("nodes-a", "Node", "a2", 3),
			group("nodes-b", "Node", "n1", 3),
			group("spare", "Node", "s1", 1),
		},
		Instances: []*cloud.Instance{
			inst("i-b1", "bastions", "Bastion", "b1", false),
			inst("i-c1", "control-plane-a", "ControlPlane", "c1", false),
			inst("i-a3", "nodes-a", "Node", "a1", false),
			inst("i-a1", "nodes-a", "Node", "a2", false),
			inst("i-a2", "nodes-a", "Node", "a1", false),
			inst("i-n1", "nodes-b", "Node", "n1", false),
			inst("i-n2", "nodes-b", "Node", "n1", true),
			inst("i-n3", "nodes-b", "Node", "n1", false),
			{ID: "i-gone", Group: "nodes-b", State: cloud.StateTerminating, ConfigVersion: "n0"},
			inst("i-s1", "spare", "Node", "s1", false),
		},
		Nodes:    []corev1.Node{node("i-c1", false), node("i-a1", true), node("i-a2", false), node("i-n1", false), node("i-n3", false), node("i-s1", false)},
		CanSurge: true,
	}
}

// groupSummary is what the table tests compare per group.
type groupSummary struct {
	Name           string
	Surge, Unavail int
	Need           map[string][]string // machine -> reasons
}

func summarize(p *Plan) []groupSummary {
	var out []groupSummary
	for _, g := range p.Groups {
		s := groupSummary{Name: g.Name, Surge: g.MaxSurge, Unavail: g.MaxUnavailable, Need: map[string][]string{}}
		for _, m := range g.NeedUpdate() {
			s.Need[m.ID] = m.Reasons
		}
		out = append(out, s)
	}
	return out
}

func TestBuildPlan(t *testing.T) {
	all := []groupSummary{
		{Name: "bastions", Surge: 1, Unavail: 2, Need: map[string][]string{}},
		{Name: "control-plane-a", Surge: 0, Unavail: 1, Need: map[string][]string{"i-c1": {ReasonConfigVersion}}},
		// 25% of 3 rounds down to 0, then up to the minimum of 1.
		{Name: "nodes-a", Surge: 0, Unavail: 1, Need: map[string][]string{"i-a1": {ReasonAnnotation}, "i-a2": {ReasonConfigVersion}, "i-a3": {ReasonConfigVersion}}},
		// 50% of 3 rounds up to 2; unavailable comes from the cluster.
		{Name: "nodes-b", Surge: 2, Unavail: 2, Need: map[string][]string{"i-n2": {ReasonDetached}}},
		{Name: "spare", Surge: 1, Unavail: 2, Need: map[string][]string{}},
	}
	tests := []struct {
		name   string
		edit   func(*PlanInput)
		sel    Selection
		want   []groupSummary
		errHas []string
	}{
		{name: "all groups, bastions then control plane then nodes", want: all},
		{name: "one group", sel: Selection{Groups: []string{"nodes-a"}}, want: all[2:3]},
		{name: "two groups keep the roll order", sel: Selection{Groups: []string{"nodes-a", "bastions"}}, want: []groupSummary{all[0], all[2]}},
		{name: "by role", sel: Selection{Roles: []string{"ControlPlane", "Bastion"}}, want: all[:2]},
		{name: "group and role", sel: Selection{Groups: []string{"nodes-a", "bastions"}, Roles: []string{"Node"}}, want: all[2:3]},
		{name: "force", sel: Selection{Groups: []string{"spare"}, Force: true},
			want: []groupSummary{{Name: "spare", Surge: 1, Unavail: 2, Need: map[string][]string{"i-s1": {ReasonForce}}}}},
		{name: "no surge where the provider cannot detach", sel: Selection{Groups: []string{"spare", "nodes-b"}},
			edit: func(in *PlanInput) { in.CanSurge = false; in.Cluster.Spec.RollingUpdate = nil },
			want: []groupSummary{{Name: "nodes-b", Surge: 0, Unavail: 1, Need: all[3].Need}, {Name: "spare", Surge: 0, Unavail: 1, Need: map[string][]string{}}}},
		{name: "defaults: surge 1, unavailable 0", sel: Selection{Groups: []string{"spare"}},
			edit: func(in *PlanInput) { in.Cluster.Spec.RollingUpdate = nil },
			want: []groupSummary{{Name: "spare", Surge: 1, Unavail: 0, Need: map[string][]string{}}}},
		{name: "both zero becomes unavailable 1", sel: Selection{Groups: []string{"spare"}},
			edit: func(in *PlanInput) { in.Cluster.Spec.RollingUpdate = ru(num(0), num(0)) },
			want: []groupSummary{{Name: "spare", Surge: 0, Unavail: 1, Need: map[string][]string{}}}},
		{name: "percent of the group's size", sel: Selection{Groups: []string{"nodes-a"}},
			edit: func(in *PlanInput) { in.InstanceGroups[1].Spec.RollingUpdate = ru(pct("34%"), pct("67%")) },
			want: []groupSummary{{Name: "nodes-a", Surge: 2, Unavail: 2, Need: all[2].Need}}},
		{name: "unknown group lists the existing ones", sel: Selection{Groups: []string{"nodes-c"}},
			errHas: []string{`no instance group "nodes-c"`, "bastions, control-plane-a, nodes-a, nodes-b, spare"}},
		{name: "unknown role", sel: Selection{Roles: []string{"Master"}}, errHas: []string{`"Master"`, "ControlPlane"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleInput()
			if tc.edit != nil {
				tc.edit(&in)
			}
			p, err := BuildPlan(in, tc.sel)
			if tc.errHas != nil {
				if err == nil {
					t.Fatalf("BuildPlan succeeded, want an error with %q", tc.errHas)
				}
				for _, w := range tc.errHas {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(p)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownGroupErrorType(t *testing.T) {
	_, err := BuildPlan(sampleInput(), Selection{Groups: []string{"nope"}})
	var ue *UnknownGroupError
	if !errors.As(err, &ue) || ue.Name != "nope" || len(ue.Existing) != 5 {
		t.Fatalf("err = %#v, want an *UnknownGroupError listing 5 groups", err)
	}
}

func TestNeedUpdateOrder(t *testing.T) {
	p, err := BuildPlan(sampleInput(), Selection{Groups: []string{"nodes-b"}, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range p.Groups[0].NeedUpdate() {
		ids = append(ids, m.ID)
	}
	// The detached machine (an interrupted surge) goes first; a
	// terminating one is not planned at all.
	if diff := cmp.Diff([]string{"i-n2", "i-n1", "i-n3"}, ids); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestPrintPlanGolden pins the dry-run output, printed from a plan alone.
func TestPrintPlanGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		sel  Selection
	}{{"dryrun-needs-update", Selection{}}, {"dryrun-nothing", Selection{Groups: []string{"spare"}}}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := BuildPlan(sampleInput(), tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := PrintPlan(&b, p); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".golden"), b.String())
		})
	}
}
