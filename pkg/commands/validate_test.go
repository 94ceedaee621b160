package commands

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/kube/validate"
)

// exitCode is what Main returns for a command's error.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

func sampleGroups() []validate.GroupStatus {
	return []validate.GroupStatus{
		{Name: "control-plane-a", Role: "ControlPlane", Min: 1, Max: 1, Desired: 1, Running: 1},
		{Name: "nodes-a", Role: "Node", Min: 2, Max: 2, Desired: 2, Running: 2},
	}
}

func sampleNodes() []validate.NodeStatus {
	return []validate.NodeStatus{
		{Name: "i-0a1b2c", Role: "control-plane", InternalIP: "10.213.0.10", Version: "v1.37.2", Ready: true, InstanceGroup: "control-plane-a"},
		{Name: "i-0d4e5f", Role: "node", InternalIP: "10.213.0.11", Version: "v1.37.2", Ready: true, InstanceGroup: "nodes-a"},
		{Name: "i-0g7h8i", Role: "node", InternalIP: "10.213.0.12", Version: "v1.37.2", Ready: false, InstanceGroup: "nodes-a"},
	}
}

func TestPrintValidation(t *testing.T) {
	const cluster = "demo.example.com"
	invalid := &validate.Result{
		Groups: []validate.GroupStatus{sampleGroups()[0], {Name: "nodes-a", Role: "Node", Min: 3, Max: 3, Desired: 3, Running: 2}},
		Nodes:  sampleNodes(),
		Failures: []validate.Failure{
			{Kind: "InstanceGroup", Name: "nodes-a", Message: "InstanceGroup nodes-a did not have enough nodes 2 vs 3"},
			{Kind: "Node", Name: "i-0g7h8i", Message: "node i-0g7h8i is not ready: KubeletNotReady: container runtime network not ready"},
			{Kind: "Pod", Name: "kube-system/coredns-7c9d", Message: "system-cluster-critical pod kube-system/coredns-7c9d is not ready: coredns: CrashLoopBackOff (4 restarts)"},
		},
	}
	tests := []struct {
		name     string
		result   *validate.Result
		format   output.Format
		wait     time.Duration
		wantCode int
	}{
		{name: "valid", result: &validate.Result{Groups: sampleGroups(), Nodes: sampleNodes()[:2], Failures: []validate.Failure{}}, format: output.Table, wantCode: ExitOK},
		{name: "invalid", result: invalid, format: output.Table, wantCode: ExitFailure},
		{name: "unreachable", result: &validate.Result{
			Groups:   sampleGroups(),
			Nodes:    []validate.NodeStatus{},
			Failures: []validate.Failure{{Kind: "API", Name: cluster, Message: "cluster demo.example.com: cannot reach the Kubernetes API to list nodes: connection refused"}},
		}, format: output.Table, wait: 10 * time.Minute, wantCode: ExitFailure},
		{name: "invalid-json", result: invalid, format: output.JSON, wantCode: ExitFailure},
		{name: "valid-yaml", result: &validate.Result{Groups: sampleGroups(), Nodes: sampleNodes()[:2], Failures: []validate.Failure{}}, format: output.YAML, wantCode: ExitOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := printValidation(&out, cluster, tc.result, tc.format, tc.wait)
			if got := exitCode(err); got != tc.wantCode {
				t.Errorf("exit code = %d (error %v), want %d", got, err, tc.wantCode)
			}
			var vf *validationFailed
			if tc.wantCode != ExitOK && !errors.As(err, &vf) {
				t.Errorf("error = %v, want a *validationFailed", err)
			}
			golden.Check(t, filepath.Join("testdata", "validate", tc.name+".golden"), out.String())
		})
	}

	t.Run("error message", func(t *testing.T) {
		err := printValidation(&bytes.Buffer{}, cluster, invalid, output.Table, 10*time.Minute)
		want := "cluster demo.example.com is not ready: validation failed with 3 errors after waiting 10m0s"
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %q", err, want)
		}
	})
}

func TestValidateCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"cluster", "demo", "-o", "xml"},
		{"cluster", "demo", "--wait", "-1s"},
	} {
		cmd := newValidateCommand(&rootOptions{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}})
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if _, err := cmd.ExecuteC(); exitCode(err) != ExitUsage {
			t.Errorf("validate %v: error %v, want a usage error", args, err)
		}
	}
}
