package commands

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/kube/kubeconfig"
	"github.com/hullproject/hull/pkg/kube/validate"
)

const (
	// validateInterval is how often --wait checks again.
	validateInterval = 5 * time.Second
	// validateRequestTimeout bounds each API request, so an unreachable
	// API fails one attempt instead of hanging it.
	validateRequestTimeout = 10 * time.Second
	// validateCredentialSlack is how much longer than --wait the in-memory
	// admin certificate of `validate` lives.
	validateCredentialSlack = 10 * time.Minute
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
	api, err := o.openClusterAPI(ctx, name, readCloud)
	if err != nil {
		return err
	}
	defer api.close()
	return o.validateWith(ctx, name, api, wait, f)
}

// validateWith validates the cluster reached through api.
func (o *rootOptions) validateWith(ctx context.Context, name string, api *clusterAPI, wait time.Duration, f output.Format) error {
	// The admin credentials stay in memory and expire soon after.
	cfg, err := kubeconfig.Admin(ctx, api.ca, name, api.server, wait+validateCredentialSlack)
	if err != nil {
		return err
	}
	rc, err := kubeconfig.RESTConfig(cfg)
	if err != nil {
		return err
	}
	rc.Timeout = validateRequestTimeout
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("cluster %s: Kubernetes client: %w", name, err)
	}
	check := func(ctx context.Context) (*validate.Result, error) {
		groups, err := api.provider.FindInstanceGroups(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: list instance groups: %w", name, err)
		}
		instances, err := api.provider.ListInstances(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: list machines: %w", name, err)
		}
		// An unreachable API is reported as a failure of the result.
		res, _ := validate.Validate(ctx, validate.Input{ClusterName: name, Groups: groups, Instances: instances, Client: client})
		return res, nil
	}
	progress := output.NewProgress(o.errOut)
	res, err := pollValidation(ctx, wait, validateInterval, check, func(r *validate.Result, err error) {
		var why string
		if err != nil {
			why = err.Error()
		} else {
			why = summary(r)
		}
		progress.Step("Cluster %s is not ready yet: %s; checking again in %s", name, why, validateInterval)
	})
	if err != nil {
		return err
	}
	return printValidation(o.out, name, res, f, wait)
}

// pollValidation runs check until the result is OK, or once when wait is
// zero, or until wait has passed, and returns the last result. Transient
// cloud errors are retried while there is time; others end the wait.
func pollValidation(ctx context.Context, wait, interval time.Duration, check func(context.Context) (*validate.Result, error), notReady func(*validate.Result, error)) (*validate.Result, error) {
	deadline := time.Now().Add(wait)
	for {
		res, err := check(ctx)
		remaining := time.Until(deadline)
		switch {
		case err != nil && (!cloud.IsTransient(err) || remaining <= 0):
			return nil, err
		case err == nil && (res.OK() || remaining <= 0):
			return res, nil
		}
		notReady(res, err)
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("validation interrupted: %w", context.Cause(ctx))
		case <-time.After(min(interval, max(remaining, 0))):
		}
	}
}

// summary is the number of failures and the first one.
func summary(r *validate.Result) string {
	if len(r.Failures) == 0 {
		return "no errors"
	}
	return fmt.Sprintf("%s, first: %s", countErrors(len(r.Failures)), r.Failures[0].Message)
}

func countErrors(n int) string {
	if n == 1 {
		return "1 error"
	}
	return strconv.Itoa(n) + " errors"
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
	msg := fmt.Sprintf("cluster %s is not ready: validation failed with %s", e.cluster, countErrors(e.errors))
	if e.wait > 0 {
		msg += " after waiting " + e.wait.String()
	}
	return msg
}

// printValidation prints the result as tables (kops style) or as one
// document, and returns the command's outcome: nil only when the cluster is
// valid, a *validationFailed otherwise.
func printValidation(w io.Writer, cluster string, r *validate.Result, f output.Format, wait time.Duration) error {
	var outcome error
	if !r.OK() {
		outcome = &validationFailed{cluster: cluster, errors: len(r.Failures), wait: wait}
	}
	if f != output.Table {
		if err := output.Structured(w, f, validationReport{Cluster: cluster, Valid: r.OK(), Result: r}); err != nil {
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
		fmt.Fprintf(w, "\nValidation failed: %s\n", countErrors(len(r.Failures)))
		return outcome
	}
	fmt.Fprintf(w, "\nYour cluster %s is ready\n", cluster)
	return nil
}

func readyString(ready bool) string {
	if ready {
		return "True"
	}
	return "False"
}
