package commands

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/kube/validate"
)

func newValidateCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check that a cluster is up and healthy",
	}
	var wait time.Duration
	var format string
	cluster := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Check that a cluster's machines joined and its system pods are ready",
		Long: `Check that the cluster works: every instance group runs its desired number
of machines, every machine has joined as a Ready node and every node is a
machine of the cluster, the control-plane pods (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler) are ready on every control-plane
node, and every system-critical pod in kube-system is ready.

Exits 0 only when the cluster is valid. With --wait, checks every 5s until
it is, or the time is up.`,
		Example: `  hull validate cluster demo.example.com
  hull validate cluster demo.example.com --wait 10m
  hull validate cluster demo.example.com -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := output.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			if wait < 0 {
				return usagef("--wait must not be negative, got %s", wait)
			}
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.validateCluster(cmd.Context(), name, wait, f)
		},
	}
	cluster.Flags().DurationVar(&wait, "wait", 0, "keep checking until the cluster is valid or this much time has passed")
	addOutputFlag(cluster, &format)
	cmd.AddCommand(cluster)
	return cmd
}

func (o *rootOptions) validateCluster(ctx context.Context, name string, wait time.Duration, f output.Format) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.Validate(ctx, wait)
	if err != nil {
		return err
	}
	return printValidation(o.out, name, res, f, wait)
}

// validationReport is the -o json/yaml form of a result.
type validationReport struct {
	Cluster string `json:"cluster"`
	Valid   bool   `json:"valid"`
	*validate.Result
}

// validationFailed is the error of an invalid cluster: exit code 1.
type validationFailed struct {
	cluster string
	errors  int
	wait    time.Duration
}

func (e *validationFailed) Error() string {
	msg := fmt.Sprintf("cluster %s is not ready: validation failed with %s", e.cluster, cluster.CountErrors(e.errors))
	if e.wait > 0 {
		msg += " after waiting " + e.wait.String()
	}
	return msg
}

// printValidation prints the result as tables (kops style) or as one
// document, and returns the command's outcome: nil only when the cluster is
// valid, a *validationFailed otherwise.
func printValidation(w io.Writer, name string, r *validate.Result, f output.Format, wait time.Duration) error {
	var outcome error
	if !r.OK() {
		outcome = &validationFailed{cluster: name, errors: len(r.Failures), wait: wait}
	}
	if f != output.Table {
		if err := output.Structured(w, f, validationReport{Cluster: name, Valid: r.OK(), Result: r}); err != nil {
			return err
		}
		return outcome
	}

	fmt.Fprintln(w, "INSTANCE GROUPS")
	t := output.NewTable(w, "NAME", "ROLE", "MIN", "MAX", "RUNNING")
	for _, g := range r.Groups {
		t.Row(g.Name, g.Role, strconv.Itoa(g.Min), strconv.Itoa(g.Max), strconv.Itoa(g.Running))
	}
	if err := t.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nNODE STATUS")
	t = output.NewTable(w, "NAME", "ROLE", "READY", "ADDRESS", "VERSION")
	for _, n := range r.Nodes {
		t.Row(n.Name, n.Role, readyString(n.Ready), orDefault(n.InternalIP, "-"), orDefault(n.Version, "-"))
	}
	if err := t.Flush(); err != nil {
		return err
	}

	if len(r.Failures) > 0 {
		fmt.Fprintln(w, "\nVALIDATION ERRORS")
		t = output.NewTable(w, "KIND", "NAME", "MESSAGE")
		for _, fl := range r.Failures {
			t.Row(fl.Kind, fl.Name, fl.Message)
		}
		if err := t.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nValidation failed: %s\n", cluster.CountErrors(len(r.Failures)))
		return outcome
	}
	fmt.Fprintf(w, "\nYour cluster %s is ready\n", name)
	return nil
}

func readyString(ready bool) string {
	if ready {
		return "True"
	}
	return "False"
}
