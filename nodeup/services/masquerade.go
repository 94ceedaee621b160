package services

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/hullproject/hull/nodeup/tasks"
)

// MasqueradeComment marks the NAT rule PodMasquerade keeps.
const MasqueradeComment = "hull: pod traffic leaving the pod network"

// Runner runs a host command and returns its exit error, nil on success.
type Runner func(ctx context.Context, name string, args ...string) error

// ExecRunner runs the command on the host.
func ExecRunner(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// MasqueradeRule is the iptables rule (after the chain) that gives pod
// traffic to anywhere outside the pod range the machine's address, as
// kubenet's non-masquerade CIDR does: clouds such as AWS deliver and
// translate only the instances' own addresses beyond the cluster.
func MasqueradeRule(podCIDR string) []string {
	return []string{"-s", podCIDR, "!", "-d", podCIDR, "-m", "comment", "--comment", MasqueradeComment, "-j", "MASQUERADE"}
}

// PodMasquerade keeps MasqueradeRule in the nat table's POSTROUTING
// chain. The table is not saved across reboots; nodeup runs at every boot.
func PodMasquerade(podCIDR string, run Runner) tasks.Task {
	rule := MasqueradeRule(podCIDR)
	check := append([]string{"-w", "-t", "nat", "-C", "POSTROUTING"}, rule...)
	add := append([]string{"-w", "-t", "nat", "-A", "POSTROUTING"}, rule...)
	d := []string{"iptables -t nat -A POSTROUTING " + strings.Join(rule, " ")}
	return &tasks.Func{
		TaskName:  "iptables/pod-masquerade",
		TaskPhase: tasks.PhaseServices,
		CheckFn: func(ctx context.Context) (tasks.Change, error) {
			err := run(ctx, "iptables", check...)
			var exit *exec.ExitError
			switch {
			case err == nil:
				return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
			case errors.As(err, &exit) && exit.ExitCode() == 1:
				return tasks.Change{Action: tasks.Create, Details: d}, nil
			}
			// iptables missing or not permitted: the apply says why.
			return tasks.Change{Action: tasks.Create, Reason: "cannot check: " + err.Error(), Details: d}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			if run(ctx, "iptables", check...) == nil {
				return nil
			}
			if err := run(ctx, "iptables", add...); err != nil {
				return fmt.Errorf("masquerade pod traffic leaving %s: %w", podCIDR, err)
			}
			return nil
		},
	}
}
