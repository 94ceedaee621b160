package commands

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
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
			golden(t, filepath.Join("testdata", "validate", tc.name+".golden"), out.String())
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

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update { // the -update flag of docs_test.go
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); rerun with -update if the change is intended:\n%s", path, diff)
	}
}

func TestPollValidation(t *testing.T) {
	bad := &validate.Result{Failures: []validate.Failure{{Kind: "Machine", Name: "i-1", Message: "machine i-1 has not joined the cluster"}}}
	good := &validate.Result{}
	transient := &cloud.TransientError{Err: errors.New("daemon busy")}
	fatal := errors.New("permission denied")

	tests := []struct {
		name      string
		wait      time.Duration
		answers   []any // *validate.Result or error, the last one repeats
		want      *validate.Result
		wantErr   error
		wantCalls int
	}{
		{name: "valid at once", wait: time.Minute, answers: []any{good}, want: good, wantCalls: 1},
		{name: "no wait: one check", wait: 0, answers: []any{bad}, want: bad, wantCalls: 1},
		{name: "waits until valid", wait: time.Minute, answers: []any{bad, bad, good}, want: good, wantCalls: 3},
		{name: "transient cloud errors are retried", wait: time.Minute, answers: []any{transient, good}, want: good, wantCalls: 2},
		{name: "other errors end the wait", wait: time.Minute, answers: []any{bad, fatal}, wantErr: fatal, wantCalls: 2},
		{name: "no wait: transient error is returned", wait: 0, answers: []any{transient}, wantErr: transient, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls, notReady := 0, 0
			check := func(context.Context) (*validate.Result, error) {
				a := tc.answers[min(calls, len(tc.answers)-1)]
				calls++
				if err, ok := a.(error); ok {
					return nil, err
				}
				return a.(*validate.Result), nil
			}
			got, err := pollValidation(context.Background(), tc.wait, time.Millisecond, check, func(*validate.Result, error) { notReady++ })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("result = %+v, want %+v", got, tc.want)
			}
			if calls != tc.wantCalls {
				t.Errorf("checks = %d, want %d", calls, tc.wantCalls)
			}
			if want := max(calls-1, 0); tc.wantErr == nil && notReady != want {
				t.Errorf("progress lines = %d, want %d", notReady, want)
			}
		})
	}

	t.Run("times out with the last result", func(t *testing.T) {
		calls := 0
		start := time.Now()
		got, err := pollValidation(context.Background(), 50*time.Millisecond, 10*time.Millisecond, func(context.Context) (*validate.Result, error) {
			calls++
			return bad, nil
		}, func(*validate.Result, error) {})
		if err != nil || got != bad {
			t.Fatalf("got %v, %v; want the failing result", got, err)
		}
		if elapsed := time.Since(start); elapsed < 50*time.Millisecond || calls < 3 {
			t.Errorf("returned after %s and %d checks; want the whole wait, checking repeatedly", elapsed, calls)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := pollValidation(ctx, time.Hour, time.Hour, func(context.Context) (*validate.Result, error) { return bad, nil }, func(*validate.Result, error) { cancel() })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
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
