package cluster

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/kube/validate"
)

const (
	// validateInterval is how often Validate checks again while it waits.
	validateInterval = 5 * time.Second
	// validateRequestTimeout bounds each API request, so an unreachable
	// API fails one attempt instead of hanging it.
	validateRequestTimeout = 10 * time.Second
	// validateCredentialSlack is how much longer than the wait the
	// in-memory admin certificate of Validate lives.
	validateCredentialSlack = 10 * time.Minute
)

// Validate checks that the cluster works (see validate.Validate): once, or
// with wait > 0 every few seconds until it does or the time is up, noting
// each failed check on ErrOut. An invalid cluster is a result, not an
// error: the error says the check itself could not run.
func (c *Cluster) Validate(ctx context.Context, wait time.Duration) (*validate.Result, error) {
	// The admin credentials stay in memory and expire soon after.
	client, err := c.kubeClient(ctx, wait+validateCredentialSlack, validateRequestTimeout, false)
	if err != nil {
		return nil, err
	}
	p, err := c.cloud(ctx, false)
	if err != nil {
		return nil, err
	}
	check := func(ctx context.Context) (*validate.Result, error) {
		groups, err := p.FindInstanceGroups(ctx, c.Name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: list instance groups: %w", c.Name, err)
		}
		instances, err := p.ListInstances(ctx, c.Name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: list machines: %w", c.Name, err)
		}
		// An unreachable API is reported as a failure of the result.
		res, _ := validate.Validate(ctx, validate.Input{ClusterName: c.Name, Groups: groups, Instances: instances, Client: client})
		return res, nil
	}
	progress := output.NewProgress(c.errOut)
	return pollValidation(ctx, wait, validateInterval, check, func(r *validate.Result, err error) {
		var why string
		if err != nil {
			why = err.Error()
		} else {
			why = Summary(r)
		}
		progress.Step("Cluster %s is not ready yet: %s; checking again in %s", c.Name, why, validateInterval)
	})
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

// Summary is the number of failures and the first one.
func Summary(r *validate.Result) string {
	if len(r.Failures) == 0 {
		return "no errors"
	}
	return fmt.Sprintf("%s, first: %s", CountErrors(len(r.Failures)), r.Failures[0].Message)
}

// CountErrors says "1 error", "2 errors".
func CountErrors(n int) string {
	if n == 1 {
		return "1 error"
	}
	return strconv.Itoa(n) + " errors"
}
