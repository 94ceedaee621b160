package services

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/hullproject/hull/nodeup/tasks"
)

// fakeIPTables keeps a nat POSTROUTING chain as iptables -C/-A see it.
type fakeIPTables struct {
	rules []string
	calls []string
}

func (f *fakeIPTables) run(_ context.Context, name string, args ...string) error {
	line := strings.Join(args, " ")
	f.calls = append(f.calls, name+" "+line)
	rule := strings.Join(args[5:], " ")
	switch args[3] {
	case "-C":
		for _, r := range f.rules {
			if r == rule {
				return nil
			}
		}
		return exec.Command("false").Run() // an *exec.ExitError with code 1
	case "-A":
		f.rules = append(f.rules, rule)
		return nil
	}
	panic("unexpected iptables " + line)
}

func TestPodMasquerade(t *testing.T) {
	ctx := context.Background()
	f := &fakeIPTables{}
	task := PodMasquerade("100.96.0.0/11", f.run)
	ch, err := task.Check(ctx)
	if err != nil || ch.Action != tasks.Create {
		t.Fatalf("check on an empty chain: %+v, %v", ch, err)
	}
	if err := task.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	want := "-s 100.96.0.0/11 ! -d 100.96.0.0/11 -m comment --comment " + MasqueradeComment + " -j MASQUERADE"
	if len(f.rules) != 1 || f.rules[0] != want {
		t.Fatalf("rules %q, want %q", f.rules, want)
	}
	if ch, err := task.Check(ctx); err != nil || ch.Action != tasks.Unchanged {
		t.Errorf("check after apply: %+v, %v", ch, err)
	}
	if err := task.Apply(ctx); err != nil || len(f.rules) != 1 {
		t.Errorf("a second apply added a rule: %q, %v", f.rules, err)
	}
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "iptables -w -t nat ") {
			t.Errorf("call %q does not wait for the xtables lock in the nat table", c)
		}
	}
}
