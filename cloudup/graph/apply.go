package graph

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Apply makes the cloud match a plan from BuildPlan over the same tasks.
//
// Tasks run in dependency order: a task starts when all its dependencies
// have succeeded, and independent tasks run concurrently, up to
// o.Parallelism at once. A task whose change is ActionNone succeeds without
// its Apply being called, so applying a plan with no changes calls no Apply
// at all. Each attempt has o.TaskTimeout; timeouts and retryable errors are
// retried with backoff up to o.MaxAttempts.
//
// The first failure stops the scheduling of new tasks; Apply waits for the
// running ones and returns an *ApplyError naming the failed tasks and the
// tasks not run.
//
// With prune, the plan's deletions run after every task has been applied,
// each after the deletions it lists in Dependencies().
func Apply(ctx context.Context, tasks []Task, plan *Plan, prune bool, o Options) error {
	if plan == nil {
		return errors.New("apply: no plan")
	}
	if err := Validate(tasks); err != nil {
		return fmt.Errorf("invalid task graph: %w", err)
	}
	delDeps, err := validateDeletions(tasks, plan.Deletions)
	if err != nil {
		return fmt.Errorf("invalid deletions: %w", err)
	}
	o = o.withDefaults()
	rep := &reporter{fn: o.Progress}

	nodes, err := applyNodes(tasks, plan, o, rep)
	if err != nil {
		return err
	}
	var delNodes []node
	if prune {
		for _, d := range plan.Deletions {
			delNodes = append(delNodes, node{key: d.Key(), deps: delDeps[d.Key()], run: func(ctx context.Context) error {
				return call(ctx, d.Key(), PhaseDelete, o, rep, d.Delete)
			}})
		}
	}

	if aerr := runGraph(ctx, nodes, o.Parallelism); aerr != nil {
		for _, n := range delNodes {
			aerr.NotRun = append(aerr.NotRun, n.key)
		}
		sort.Strings(aerr.NotRun)
		return aerr
	}
	if aerr := runGraph(ctx, delNodes, o.Parallelism); aerr != nil {
		return aerr
	}
	return nil
}

// applyNodes pairs each task with its change in the plan.
func applyNodes(tasks []Task, plan *Plan, o Options, rep *reporter) ([]node, error) {
	changes := make(map[string]*Change, len(plan.Changes))
	for _, ch := range plan.Changes {
		changes[ch.Key] = ch
	}
	var errs []error
	nodes := make([]node, 0, len(tasks))
	for _, t := range tasks {
		ch, ok := changes[t.Key()]
		delete(changes, t.Key())
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("task %s has no change in the plan", t.Key()))
			continue
		case ch.Action == ActionNone:
			nodes = append(nodes, node{key: t.Key(), deps: t.Dependencies(), noop: true, run: func(context.Context) error { return nil }})
			continue
		case ch.Action != ActionCreate && ch.Action != ActionModify:
			errs = append(errs, fmt.Errorf("task %s: cannot apply action %q", t.Key(), ch.Action))
			continue
		}
		nodes = append(nodes, node{key: t.Key(), deps: t.Dependencies(), run: func(ctx context.Context) error {
			return call(ctx, t.Key(), PhaseApply, o, rep, func(ctx context.Context) error { return t.Apply(ctx, ch) })
		}})
	}
	for _, key := range sortedKeys(changes) {
		errs = append(errs, fmt.Errorf("plan has a change for %s, which is not a task", key))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("plan does not match the tasks (build the plan from the same tasks): %w", err)
	}
	return nodes, nil
}

// ApplyError reports an Apply that stopped early.
type ApplyError struct {
	// Failures holds one error per failed task or deletion (a *TaskError, a
	// *TimeoutError or an interruption), sorted by message.
	Failures []error
	// NotRun lists, sorted, the keys of the tasks with changes and the
	// deletions that were not started because of the failures.
	NotRun []string
}

func (e *ApplyError) Error() string {
	msgs := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		msgs[i] = f.Error()
	}
	s := strings.Join(msgs, "; ")
	if len(e.NotRun) > 0 {
		s += fmt.Sprintf("; not run because of the failure: %s", strings.Join(e.NotRun, ", "))
	}
	return s
}

func (e *ApplyError) Unwrap() []error { return e.Failures }

// node is one unit of work in a dependency graph already validated to be
// acyclic with known dependencies.
type node struct {
	key  string
	deps []string
	noop bool // nothing to do: not reported as "not run"
	run  func(context.Context) error
}

type result struct {
	key string
	err error
}

// runGraph runs each node after all its dependencies succeeded, up to
// parallelism at once, in key order among the ready ones. After the first
// failure (or cancellation of ctx) it starts nothing new, waits for the
// running nodes, and reports what failed and what did not run.
func runGraph(ctx context.Context, nodes []node, parallelism int) *ApplyError {
	waiting := make(map[string]int, len(nodes)) // key -> unfinished dependencies
	dependents := make(map[string][]string, len(nodes))
	byKey := make(map[string]node, len(nodes))
	var ready []string
	for _, n := range nodes {
		byKey[n.key] = n
		waiting[n.key] = len(n.deps)
		for _, d := range n.deps {
			dependents[d] = append(dependents[d], n.key)
		}
		if len(n.deps) == 0 {
			ready = append(ready, n.key)
		}
	}
	sort.Strings(ready)

	results := make(chan result)
	running := 0
	var failures []error
	finished := make(map[string]bool, len(nodes))
	for {
		for len(failures) == 0 && running < parallelism && len(ready) > 0 {
			if err := ctx.Err(); err != nil {
				failures = append(failures, fmt.Errorf("apply interrupted: %w", err))
				break
			}
			n := byKey[ready[0]]
			ready = ready[1:]
			running++
			go func() { results <- result{key: n.key, err: n.run(ctx)} }()
		}
		if running == 0 {
			break
		}
		r := <-results
		running--
		finished[r.key] = true
		if r.err != nil {
			failures = append(failures, r.err)
			continue
		}
		for _, d := range dependents[r.key] {
			if waiting[d]--; waiting[d] == 0 {
				ready = append(ready, d)
			}
		}
		sort.Strings(ready)
	}
	if len(failures) == 0 {
		return nil
	}
	e := &ApplyError{Failures: sortErrors(failures)}
	for _, n := range nodes {
		if !finished[n.key] && !n.noop {
			e.NotRun = append(e.NotRun, n.key)
		}
	}
	sort.Strings(e.NotRun)
	return e
}
