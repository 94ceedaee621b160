package commands

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRollingUpdateFlags(t *testing.T) {
	var out bytes.Buffer
	cmd := newRollingUpdateCommand(&rootOptions{out: &out, errOut: &out})
	cluster, _, err := cmd.Find([]string{"cluster"})
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{
		"yes": "false", "force": "false", "cloudonly": "false",
		"fail-on-drain-error": "true", "fail-on-validate-error": "true",
		"drain-timeout": "15m0s", "post-drain-delay": "5s", "node-interval": "15s",
		"control-plane-interval": "15s", "bastion-interval": "15s",
		"validation-timeout": "15m0s", "validate-count": "2",
		"instance-group": "[]", "instance-group-roles": "[]",
	}
	for name, want := range defaults {
		f := cluster.Flags().Lookup(name)
		if f == nil {
			t.Errorf("no --%s", name)
			continue
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %q, want %q", name, f.DefValue, want)
		}
	}
}

func TestRollingUpdateBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--validate-count", "0"}, "--validate-count must be at least 1"},
		{[]string{"--drain-timeout", "-1s"}, "--drain-timeout must not be negative"},
	} {
		var out bytes.Buffer
		cmd := newRollingUpdateCommand(&rootOptions{out: &out, errOut: &out})
		cmd.SetArgs(append([]string{"cluster", "demo.example.com"}, tc.args...))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}
