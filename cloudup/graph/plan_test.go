package graph

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildPlan(t *testing.T) {
	c := newFakeCloud()
	c.state["Subnet/same"] = Fields{"cidr": "10.0.0.0/24", "id": "br-1"} // id is output only
	c.state["InstanceGroup/bigger"] = Fields{"minSize": "1", "maxSize": "1", "image": "base"}
	c.state["Image/empty"] = Fields{}
	tasks := []Task{
		&fakeTask{key: "Subnet/same", expected: Fields{"cidr": "10.0.0.0/24"}, immutable: []string{"cidr"}, cloud: c},
		&fakeTask{key: "InstanceGroup/new", expected: Fields{"minSize": "2", "maxSize": "3"}, cloud: c},
		&fakeTask{key: "InstanceGroup/bigger", expected: Fields{"minSize": "2", "maxSize": "3", "image": "base"},
			immutable: []string{"image"}, cloud: c},
		&fakeTask{key: "Image/empty", expected: Fields{"path": "/img"}, cloud: c}, // exists, field missing
	}
	got, err := BuildPlan(context.Background(), tasks, nil, Options{})
	if err != nil {
		t.Fatalf("BuildPlan: %v", err)
	}
	want := []*Change{
		{Key: "Image/empty", Action: ActionModify, Fields: []FieldChange{{Field: "path", Old: "", New: "/img"}},
			Expected: Fields{"path": "/img"}},
		{Key: "InstanceGroup/bigger", Action: ActionModify,
			Fields:   []FieldChange{{Field: "maxSize", Old: "1", New: "3"}, {Field: "minSize", Old: "1", New: "2"}},
			Expected: Fields{"minSize": "2", "maxSize": "3", "image": "base"}},
		{Key: "InstanceGroup/new", Action: ActionCreate,
			Fields:   []FieldChange{{Field: "maxSize", New: "3"}, {Field: "minSize", New: "2"}},
			Expected: Fields{"minSize": "2", "maxSize": "3"}},
		{Key: "Subnet/same", Action: ActionNone, Expected: Fields{"cidr": "10.0.0.0/24"}},
	}
	if diff := cmp.Diff(want, got.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// Every immutable change, across all tasks, is reported at once.
func TestBuildPlanImmutable(t *testing.T) {
	c := newFakeCloud()
	c.state["Subnet/zone-a"] = Fields{"cidr": "172.20.32.0/19", "zone": "a"}
	c.state["Subnet/zone-b"] = Fields{"cidr": "172.20.64.0/19", "zone": "b"}
	c.state["Network/k8s"] = Fields{"cidr": "172.20.0.0/16"}
	tasks := []Task{
		&fakeTask{key: "Subnet/zone-a", expected: Fields{"cidr": "172.20.64.0/19", "zone": "a"}, immutable: []string{"cidr", "zone"}, cloud: c},
		&fakeTask{key: "Subnet/zone-b", expected: Fields{"cidr": "172.20.96.0/19", "zone": "c"}, immutable: []string{"cidr", "zone"}, cloud: c},
		&fakeTask{key: "Network/k8s", expected: Fields{"cidr": "172.20.0.0/16"}, immutable: []string{"cidr"}, cloud: c},
	}
	p, err := BuildPlan(context.Background(), tasks, nil, Options{})
	if p != nil {
		t.Errorf("BuildPlan returned a plan with an error")
	}
	want := []string{
		"Subnet/zone-a: field cidr cannot be changed (172.20.32.0/19 -> 172.20.64.0/19); delete and recreate the resource",
		"Subnet/zone-b: field cidr cannot be changed (172.20.64.0/19 -> 172.20.96.0/19); delete and recreate the resource",
		"Subnet/zone-b: field zone cannot be changed (b -> c); delete and recreate the resource",
	}
	if err == nil {
		t.Fatal("BuildPlan: no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestBuildPlanFindErrors(t *testing.T) {
	c := newFakeCloud()
	fail := func(msg string) func(context.Context) error {
		return func(context.Context) error { return errors.New(msg) }
	}
	tasks := []Task{
		&fakeTask{key: "B/x", cloud: c, onFind: fail("permission denied")},
		&fakeTask{key: "A/x", cloud: c, onFind: fail("socket closed")},
		&fakeTask{key: "C/x", cloud: c},
	}
	_, err := BuildPlan(context.Background(), tasks, nil, Options{})
	want := []string{"A/x: find: socket closed", "B/x: find: permission denied"}
	if err == nil {
		t.Fatal("BuildPlan: no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestHasChanges(t *testing.T) {
	none := &Change{Key: "A", Action: ActionNone}
	tests := []struct {
		name           string
		plan           Plan
		noPrune, prune bool
	}{
		{"empty", Plan{}, false, false},
		{"all none", Plan{Changes: []*Change{none}}, false, false},
		{"create", Plan{Changes: []*Change{none, {Key: "B", Action: ActionCreate}}}, true, true},
		{"modify", Plan{Changes: []*Change{{Key: "B", Action: ActionModify}}}, true, true},
		{"deletions only", Plan{Changes: []*Change{none}, Deletions: []Deletion{&fakeDeletion{key: "Z"}}}, false, true},
	}
	for _, tc := range tests {
		if got := tc.plan.HasChanges(false); got != tc.noPrune {
			t.Errorf("%s: HasChanges(false) = %v", tc.name, got)
		}
		if got := tc.plan.HasChanges(true); got != tc.prune {
			t.Errorf("%s: HasChanges(true) = %v", tc.name, got)
		}
	}
}
