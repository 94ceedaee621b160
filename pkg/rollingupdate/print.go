package rollingupdate

import (
	"fmt"
	"io"
	"strconv"

	"github.com/hullproject/hull/pkg/cli/output"
)

// Group statuses in the plan table.
const (
	StatusReady       = "Ready"
	StatusNeedsUpdate = "NeedsUpdate"
)

// Closing lines of a dry run.
const (
	MsgMustSpecifyYes = "Must specify --yes to rolling-update."
	MsgNothingToDo    = "No rolling-update required."
)

// PrintPlan writes the kops-style table of the plan's groups and the line
// saying whether --yes would change anything. It only prints.
func PrintPlan(w io.Writer, p *Plan) error {
	if err := PrintTable(w, p); err != nil {
		return err
	}
	msg := MsgNothingToDo
	if p.NeedsUpdate() {
		msg = MsgMustSpecifyYes
	}
	_, err := fmt.Fprintf(w, "\n%s\n", msg)
	return err
}

// PrintTable writes the table alone: NAME STATUS NEEDUPDATE READY MIN
// TARGET MAX NODES, one row per selected group in the order they roll.
func PrintTable(w io.Writer, p *Plan) error {
	t := output.NewTable(w, "NAME", "STATUS", "NEEDUPDATE", "READY", "MIN", "TARGET", "MAX", "NODES")
	for _, g := range p.Groups {
		status := StatusReady
		need := len(g.NeedUpdate())
		if need > 0 {
			status = StatusNeedsUpdate
		}
		t.Row(g.Name, status, strconv.Itoa(need), strconv.Itoa(g.Ready()),
			strconv.Itoa(g.Min), strconv.Itoa(g.Target), strconv.Itoa(g.Max), strconv.Itoa(g.Nodes))
	}
	return t.Flush()
}
