package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	type spec struct {
		key  string
		deps []string
	}
	tests := []struct {
		name  string
		tasks []spec
		want  []string // error lines; none for a valid graph
	}{
		{
			name:  "valid",
			tasks: []spec{{"A", []string{"B", "C"}}, {"B", []string{"C"}}, {"C", nil}},
		},
		{
			name:  "cycle",
			tasks: []spec{{"A", []string{"B"}}, {"B", []string{"C"}}, {"C", []string{"A"}}, {"D", []string{"A"}}},
			want:  []string{"dependency cycle: A -> B -> C -> A"},
		},
		{
			name:  "cycle found from a task outside it",
			tasks: []spec{{"A", []string{"B"}}, {"B", []string{"C"}}, {"C", []string{"D"}}, {"D", []string{"B"}}},
			want:  []string{"dependency cycle: B -> C -> D -> B"},
		},
		{
			name:  "self dependency",
			tasks: []spec{{"A", []string{"A"}}},
			want:  []string{"dependency cycle: A -> A"},
		},
		{
			name:  "unknown dependency",
			tasks: []spec{{"Subnet/a", []string{"Network/missing"}}},
			want:  []string{"task Subnet/a depends on unknown task Network/missing"},
		},
		{
			name:  "duplicate key",
			tasks: []spec{{"A", nil}, {"A", nil}},
			want:  []string{`duplicate task key "A"`},
		},
		{
			name:  "empty key",
			tasks: []spec{{"", nil}},
			want:  []string{"task with an empty key"},
		},
		{
			name: "every problem at once",
			tasks: []spec{
				{"A", []string{"B"}}, {"B", []string{"A"}}, {"A", nil},
				{"C", []string{"Z"}}, {"D", []string{"D"}},
			},
			want: []string{
				`duplicate task key "A"`,
				"task C depends on unknown task Z",
				"dependency cycle: A -> B -> A",
				"dependency cycle: D -> D",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCloud()
			var tasks []Task
			for _, s := range tc.tasks {
				tasks = append(tasks, &fakeTask{key: s.key, deps: s.deps, cloud: c})
			}
			var got []string
			if err := Validate(tasks); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate errors (-want +got):\n%s", diff)
			}
		})
	}
}

// An invalid graph is refused before any Find or Apply runs.
func TestInvalidGraphRunsNothing(t *testing.T) {
	c := newFakeCloud()
	tasks := []Task{
		&fakeTask{key: "A", deps: []string{"B"}, cloud: c},
		&fakeTask{key: "B", deps: []string{"A"}, cloud: c},
	}
	_, err := BuildPlan(context.Background(), tasks, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "dependency cycle: A -> B -> A") {
		t.Fatalf("BuildPlan error = %v, want the cycle named", err)
	}
	plan := &Plan{Changes: []*Change{{Key: "A", Action: ActionCreate}, {Key: "B", Action: ActionCreate}}}
	if err := Apply(context.Background(), tasks, plan, false, Options{}); err == nil || !strings.Contains(err.Error(), "dependency cycle") {
		t.Fatalf("Apply error = %v, want the cycle named", err)
	}
	if c.finds != 0 || c.applyCount() != 0 {
		t.Errorf("finds = %d, applies = %d; want none", c.finds, c.applyCount())
	}
}

func TestValidateDeletions(t *testing.T) {
	c := newFakeCloud()
	tasks := []Task{&fakeTask{key: "Subnet/a", cloud: c}}
	dels := []Deletion{
		&fakeDeletion{key: "Subnet/a", cloud: c},
		&fakeDeletion{key: "X", deps: []string{"Y", "NotDeleted"}, cloud: c},
		&fakeDeletion{key: "Y", deps: []string{"X"}, cloud: c},
		&fakeDeletion{key: "Y", cloud: c},
	}
	_, err := BuildPlan(context.Background(), tasks, dels, Options{})
	want := []string{
		"invalid deletions: Subnet/a is in the spec and also listed for deletion",
		`duplicate deletion key "Y"`,
		"deletion order cycle: X -> Y -> X",
	}
	if err == nil {
		t.Fatal("BuildPlan: no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
