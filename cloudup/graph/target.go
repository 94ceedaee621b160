package graph

import (
	"context"
	"fmt"
	"io"
)

// Target decides what happens to a plan: DryRun prints it, ApplyChanges
// makes it so.
type Target interface {
	Execute(ctx context.Context, tasks []Task, p *Plan, o Options) error
}

// Run builds the plan for tasks and deletions and hands it to target. It
// returns the plan so a caller can report on it.
//
//	hull update cluster NAME        -> Run(ctx, tasks, dels, o, graph.DryRun{Out: os.Stdout})
//	hull update cluster NAME --yes  -> Run(ctx, tasks, dels, o, graph.ApplyChanges{Out: os.Stdout})
//
// Running --yes twice on an unchanged spec finds every task up to date the
// second time: the plan has only ActionNone changes, no task's Apply is
// called, and ApplyChanges says "No changes need to be applied".
func Run(ctx context.Context, tasks []Task, deletions []Deletion, o Options, target Target) (*Plan, error) {
	p, err := BuildPlan(ctx, tasks, deletions, o)
	if err != nil {
		return nil, err
	}
	if err := target.Execute(ctx, tasks, p, o); err != nil {
		return p, err
	}
	return p, nil
}

// DryRun prints the plan with PrintPlan and changes nothing.
type DryRun struct {
	Out   io.Writer
	Prune bool
}

// Execute implements Target.
func (t DryRun) Execute(_ context.Context, _ []Task, p *Plan, _ Options) error {
	return PrintPlan(t.Out, p, t.Prune)
}

// ApplyChanges applies the plan with Apply and, if Out is set, writes one
// summary line.
type ApplyChanges struct {
	Out   io.Writer
	Prune bool
}

// Execute implements Target.
func (t ApplyChanges) Execute(ctx context.Context, tasks []Task, p *Plan, o Options) error {
	if !p.HasChanges(t.Prune) {
		return t.say("No changes need to be applied")
	}
	if err := Apply(ctx, tasks, p, t.Prune, o); err != nil {
		return err
	}
	var created, modified, deleted int
	for _, ch := range p.Changes {
		switch ch.Action {
		case ActionCreate:
			created++
		case ActionModify:
			modified++
		}
	}
	if t.Prune {
		deleted = len(p.Deletions)
	}
	return t.say(fmt.Sprintf("Changes applied: %d created, %d modified, %d deleted", created, modified, deleted))
}

func (t ApplyChanges) say(line string) error {
	if t.Out == nil {
		return nil
	}
	if _, err := fmt.Fprintln(t.Out, line); err != nil {
		return fmt.Errorf("writing apply summary: %w", err)
	}
	return nil
}
