package graph

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// BuildPlan validates the graph, runs every task's Find (in parallel, up to
// o.Parallelism at once, under the same timeout and retry rules as Apply)
// and computes each task's change. It makes no change itself.
//
// A change to an immutable field is an error naming the task, the field and
// both values; BuildPlan reports every such error, and every Find error,
// together.
func BuildPlan(ctx context.Context, tasks []Task, deletions []Deletion, o Options) (*Plan, error) {
	if err := Validate(tasks); err != nil {
		return nil, fmt.Errorf("invalid task graph: %w", err)
	}
	if _, err := validateDeletions(tasks, deletions); err != nil {
		return nil, fmt.Errorf("invalid deletions: %w", err)
	}
	o = o.withDefaults()
	rep := &reporter{fn: o.Progress}

	actual := make([]Fields, len(tasks))
	findErrs := make([]error, len(tasks))
	sem := make(chan struct{}, o.Parallelism)
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var found Fields // read only after a successful attempt returned
			findErrs[i] = call(ctx, t.Key(), PhaseFind, o, rep, func(ctx context.Context) error {
				f, err := t.Find(ctx)
				found = f
				return err
			})
			if findErrs[i] == nil {
				actual[i] = found
			}
		}()
	}
	wg.Wait()

	p := &Plan{}
	var errs []error
	for i, t := range tasks {
		if findErrs[i] != nil {
			errs = append(errs, findErrs[i])
			continue
		}
		ch, immutableErrs := diff(t.Key(), t.Expected(), actual[i], t.Immutable())
		errs = append(errs, immutableErrs...)
		p.Changes = append(p.Changes, ch)
	}
	if err := errors.Join(sortErrors(errs)...); err != nil {
		return nil, err
	}
	sort.Slice(p.Changes, func(i, j int) bool { return p.Changes[i].Key < p.Changes[j].Key })
	p.Deletions = append(p.Deletions, deletions...)
	sort.Slice(p.Deletions, func(i, j int) bool { return p.Deletions[i].Key() < p.Deletions[j].Key() })
	return p, nil
}

// diff compares expected with actual (nil: the resource does not exist).
// Only expected fields are compared; a field missing from actual counts as "".
func diff(key string, expected, actual Fields, immutable []string) (*Change, []error) {
	ch := &Change{Key: key, Action: ActionNone, Expected: copyFields(expected)}
	if actual == nil {
		ch.Action = ActionCreate
		for _, f := range sortedKeys(expected) {
			ch.Fields = append(ch.Fields, FieldChange{Field: f, New: expected[f]})
		}
		return ch, nil
	}
	fixed := make(map[string]bool, len(immutable))
	for _, f := range immutable {
		fixed[f] = true
	}
	var errs []error
	for _, f := range sortedKeys(expected) {
		old, want := actual[f], expected[f]
		if old == want {
			continue
		}
		if fixed[f] {
			errs = append(errs, fmt.Errorf("%s: field %s cannot be changed (%s -> %s); delete and recreate the resource", key, f, old, want))
		}
		ch.Fields = append(ch.Fields, FieldChange{Field: f, Old: old, New: want})
	}
	if len(ch.Fields) > 0 {
		ch.Action = ActionModify
	}
	return ch, errs
}

func copyFields(f Fields) Fields {
	if f == nil {
		return nil
	}
	c := make(Fields, len(f))
	for k, v := range f {
		c[k] = v
	}
	return c
}

// sortErrors orders errors by message so reports are stable.
func sortErrors(errs []error) []error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}
