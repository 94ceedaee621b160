package graph

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Validate checks the task graph before anything runs: empty and duplicate
// keys, dependencies on unknown tasks, and cycles. Every problem is
// reported; a cycle is named in order, "dependency cycle: A -> B -> C -> A",
// where "->" reads "depends on".
func Validate(tasks []Task) error {
	var errs []error
	deps := make(map[string][]string, len(tasks))
	for _, t := range tasks {
		key := t.Key()
		switch _, dup := deps[key]; {
		case key == "":
			errs = append(errs, errors.New("task with an empty key"))
			continue
		case dup:
			errs = append(errs, fmt.Errorf("duplicate task key %q", key))
			continue
		}
		deps[key] = t.Dependencies()
	}
	for _, key := range sortedKeys(deps) {
		for _, d := range deps[key] {
			if _, ok := deps[d]; !ok {
				errs = append(errs, fmt.Errorf("task %s depends on unknown task %s", key, d))
			}
		}
	}
	for _, c := range findCycles(deps) {
		errs = append(errs, fmt.Errorf("dependency cycle: %s", strings.Join(c, " -> ")))
	}
	return errors.Join(errs...)
}

// validateDeletions checks the deletions: unique keys, none also in the model,
// and no cycle in their order. Dependencies on keys that are not being
// deleted are dropped from the returned graph.
func validateDeletions(tasks []Task, deletions []Deletion) (map[string][]string, error) {
	inModel := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		inModel[t.Key()] = true
	}
	var errs []error
	deps := make(map[string][]string, len(deletions))
	for _, d := range deletions {
		key := d.Key()
		_, dup := deps[key]
		switch {
		case key == "":
			errs = append(errs, errors.New("deletion with an empty key"))
			continue
		case dup:
			errs = append(errs, fmt.Errorf("duplicate deletion key %q", key))
			continue
		case inModel[key]:
			errs = append(errs, fmt.Errorf("%s is in the spec and also listed for deletion", key))
		}
		deps[key] = d.Dependencies()
	}
	for key, ds := range deps {
		var kept []string
		for _, d := range ds {
			if _, ok := deps[d]; ok {
				kept = append(kept, d)
			}
		}
		deps[key] = kept
	}
	for _, c := range findCycles(deps) {
		errs = append(errs, fmt.Errorf("deletion order cycle: %s", strings.Join(c, " -> ")))
	}
	return deps, errors.Join(errs...)
}

// findCycles returns one cycle per back edge met by a depth-first search
// that visits keys and their dependencies in sorted order, each cycle as
// the path from its first key back to that key. Unknown keys are ignored.
func findCycles(deps map[string][]string) [][]string {
	const (
		unvisited = iota
		inProgress
		done
	)
	state := make(map[string]int, len(deps))
	var stack []string
	var cycles [][]string
	var visit func(string)
	visit = func(key string) {
		state[key] = inProgress
		stack = append(stack, key)
		next := append([]string(nil), deps[key]...)
		sort.Strings(next)
		for _, d := range next {
			if _, known := deps[d]; !known {
				continue
			}
			switch state[d] {
			case unvisited:
				visit(d)
			case inProgress:
				i := indexOf(stack, d)
				cycle := append(append([]string(nil), stack[i:]...), d)
				cycles = append(cycles, cycle)
			}
		}
		stack = stack[:len(stack)-1]
		state[key] = done
	}
	for _, key := range sortedKeys(deps) {
		if state[key] == unvisited {
			visit(key)
		}
	}
	return cycles
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
