package commands

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestDurationArgument(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		adminGiven bool
		wantArgs   []string
		wantTTL    time.Duration
		wantUsage  bool
	}{
		{name: "name only", args: []string{"demo"}, adminGiven: true, wantArgs: []string{"demo"}, wantTTL: 18 * time.Hour},
		{name: "--admin 2h after the name", args: []string{"demo", "2h"}, adminGiven: true, wantArgs: []string{"demo"}, wantTTL: 2 * time.Hour},
		{name: "--admin 2h, name from the environment", args: []string{"2h"}, adminGiven: true, wantArgs: []string{}, wantTTL: 2 * time.Hour},
		{name: "two names", args: []string{"demo", "other"}, adminGiven: true, wantUsage: true},
		{name: "a duration without --admin", args: []string{"demo", "2h"}, adminGiven: false, wantUsage: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ttl := 18 * time.Hour
			args, err := durationArgument(tc.args, tc.adminGiven, &ttl)
			if tc.wantUsage {
				if exitCode(err) != ExitUsage {
					t.Fatalf("error = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(args, ",") != strings.Join(tc.wantArgs, ",") || ttl != tc.wantTTL {
				t.Errorf("got args %q ttl %s, want %q %s", args, ttl, tc.wantArgs, tc.wantTTL)
			}
		})
	}
}

func TestExportKubeconfigUsage(t *testing.T) {
	tests := []struct {
		args    []string
		wantMsg string
	}{
		{args: []string{"kubeconfig", "demo"}, wantMsg: "pass --admin"},
		{args: []string{"kubeconfig", "demo", "--admin=0s"}, wantMsg: "must be positive"},
		{args: []string{"kubeconfig", "demo", "other"}, wantMsg: "unexpected argument"},
	}
	for _, tc := range tests {
		cmd := newExportCommand(&rootOptions{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}})
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		_, err := cmd.ExecuteC()
		if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("export %v: error %v, want a usage error containing %q", tc.args, err, tc.wantMsg)
		}
	}
}
