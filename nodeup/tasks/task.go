package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Phases group tasks the way kubeadm groups its phases, so a run can be
// limited to some of them (tests apply "files" alone: it needs no live API
// or containerd).
const (
	// PhaseFiles writes certificates, kubeconfigs, component configs and
	// static pod manifests: everything that is a pure function of the
	// config, the CAs and the machine.
	PhaseFiles = "files"
	// PhaseEtcd registers this machine's etcd members and writes the etcd
	// static pods, whose initial cluster depends on the other machines.
	PhaseEtcd = "etcd"
	// PhaseServices starts containerd and the kubelet and imports images.
	PhaseServices = "services"
	// PhaseCluster talks to the Kubernetes API: bootstrap token, RBAC,
	// add-ons, the CNI config once the node has a pod CIDR.
	PhaseCluster = "cluster"
)

// AllPhases is the order phases run in.
var AllPhases = []string{PhaseFiles, PhaseEtcd, PhaseServices, PhaseCluster}

// Task is one named, idempotent step.
type Task interface {
	// Name is unique in a task list, e.g. "certs/apiserver".
	Name() string
	// Phase is one of the Phase constants.
	Phase() string
	// Check reports what Apply would change, touching nothing.
	Check(ctx context.Context) (Change, error)
	// Apply makes the change. It is only called when Check reported one.
	Apply(ctx context.Context) error
}

// Action says what Check found.
type Action string

// Actions.
const (
	// Unchanged: already done.
	Unchanged Action = "unchanged"
	Create    Action = "create"
	Update    Action = "update"
	// Ensure: the task cannot tell without acting (it needs a live API or
	// service that a plan must not touch); Apply converges and is
	// idempotent.
	Ensure Action = "ensure"
)

// Change is what Check reports: an action and the settings that matter,
// one per line, for the plan.
type Change struct {
	Action Action
	// Reason says why, e.g. "certificate expires in 10 days".
	Reason string
	// Details are the key settings, printed under the task in a plan.
	Details []string
}

// Changed reports whether the task has work to do.
func (c Change) Changed() bool { return c.Action != Unchanged && c.Action != "" }

// Result is the outcome of one task.
type Result struct {
	Task   string
	Phase  string
	Change Change
	// Took is how long Check and Apply took together.
	Took time.Duration
}

// Runner plans or applies an ordered list of tasks.
type Runner struct {
	// DryRun prints the plan and changes nothing.
	DryRun bool
	// Phases limits the run; empty means all.
	Phases []string
	// Plan receives the plan in a dry run (and nothing otherwise).
	Plan io.Writer
	Log  *slog.Logger
}

// Run checks every task of the selected phases in order and, unless this
// is a dry run, applies those that report a change. It stops at the first
// failure, naming the task.
func (r *Runner) Run(ctx context.Context, list []Task) ([]Result, error) {
	if err := checkNames(list); err != nil {
		return nil, err
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var results []Result
	phase := ""
	for _, t := range list {
		if len(r.Phases) > 0 && !slices.Contains(r.Phases, t.Phase()) {
			continue
		}
		if t.Phase() != phase {
			phase = t.Phase()
			if r.DryRun && r.Plan != nil {
				fmt.Fprintf(r.Plan, "[%s]\n", phase)
			}
			log.Info("nodeup phase", "phase", phase)
		}
		start := time.Now()
		ch, err := t.Check(ctx)
		if err != nil {
			return results, fmt.Errorf("task %s: check: %w", t.Name(), err)
		}
		if r.DryRun {
			if r.Plan != nil {
				writePlan(r.Plan, t.Name(), ch)
			}
			results = append(results, Result{Task: t.Name(), Phase: t.Phase(), Change: ch, Took: time.Since(start)})
			continue
		}
		if ch.Changed() {
			log.Info("applying task", "task", t.Name(), "action", ch.Action, "reason", ch.Reason)
			if err := t.Apply(ctx); err != nil {
				return results, fmt.Errorf("task %s: %w", t.Name(), err)
			}
		} else {
			log.Debug("task unchanged", "task", t.Name())
		}
		results = append(results, Result{Task: t.Name(), Phase: t.Phase(), Change: ch, Took: time.Since(start)})
	}
	return results, nil
}

func checkNames(list []Task) error {
	seen := map[string]bool{}
	var errs []error
	for _, t := range list {
		if seen[t.Name()] {
			errs = append(errs, fmt.Errorf("task %s is listed twice", t.Name()))
		}
		seen[t.Name()] = true
		if !slices.Contains(AllPhases, t.Phase()) {
			errs = append(errs, fmt.Errorf("task %s has unknown phase %q", t.Name(), t.Phase()))
		}
	}
	return errors.Join(errs...)
}

// writePlan prints one task: "  name: action (reason)" then its details.
func writePlan(w io.Writer, name string, ch Change) {
	line := fmt.Sprintf("  %s: %s", name, ch.Action)
	if ch.Reason != "" {
		line += " (" + ch.Reason + ")"
	}
	fmt.Fprintln(w, line)
	for _, d := range ch.Details {
		for l := range strings.SplitSeq(strings.TrimRight(d, "\n"), "\n") {
			fmt.Fprintln(w, "      "+l)
		}
	}
}

// Func is a task made of closures, for steps too small to deserve a type.
type Func struct {
	TaskName  string
	TaskPhase string
	CheckFn   func(ctx context.Context) (Change, error)
	ApplyFn   func(ctx context.Context) error
}

func (f *Func) Name() string                              { return f.TaskName }
func (f *Func) Phase() string                             { return f.TaskPhase }
func (f *Func) Check(ctx context.Context) (Change, error) { return f.CheckFn(ctx) }
func (f *Func) Apply(ctx context.Context) error           { return f.ApplyFn(ctx) }
