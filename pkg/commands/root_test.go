package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The real CLI refuses mem://: the cluster would vanish with the process.
func TestMemStateRefused(t *testing.T) {
	e := newEnv(t)
	e.state = "mem://demo"
	e.fails(1, []string{"mem:// lives only inside one process", "file://", "s3://"}, "create", "cluster", demo)
	e.fails(1, []string{"mem:// lives only inside one process"}, "get", "clusters")
}

// Tests that run commands in process may still use mem://, across commands.
func TestMemStateInProcess(t *testing.T) {
	var out, errOut bytes.Buffer
	o := &rootOptions{stateURL: "mem://" + strings.ToLower(t.Name()), memStateOK: true, out: &out, errOut: &errOut}
	run := func(args ...string) {
		t.Helper()
		root := &cobra.Command{Use: "hull", SilenceErrors: true, SilenceUsage: true}
		root.AddCommand(newCreateCommand(o), newGetCommand(o))
		root.SetArgs(args)
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	}
	run("create", "cluster", demo)
	out.Reset()
	run("get", "clusters")
	if !strings.Contains(out.String(), demo) {
		t.Errorf("get clusters after create in process:\n%s", out.String())
	}
}
