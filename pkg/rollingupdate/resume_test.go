package rollingupdate

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// TestLocalCloudResume kills a run (cancels its context) and re-runs it:
// the re-run replaces exactly the machines the first did not finish, and
// the checkpoint ends consistent. While the first run holds the lease, a
// second run is refused.
func TestLocalCloudResume(t *testing.T) {
	ru := &v1alpha1.RollingUpdate{MaxSurge: ptrIntstr(intstr.FromInt32(0))}
	cases := []struct {
		name, cluster, cidr, subnet string
		interval                    time.Duration
		// killWhen says when to kill the first run, given the checkpoint.
		killWhen func(cp *Checkpoint, old []string) bool
	}{
		{"BetweenMachines", "ru-resume-a.local", "10.233.0.0/16", "10.233.1.0/24", time.Minute,
			func(cp *Checkpoint, _ []string) bool { return countPhase(cp, PhaseDone) == 1 }},
		{"WhileReplacing", "ru-resume-b.local", "10.234.0.0/16", "10.234.1.0/24", 0,
			func(cp *Checkpoint, _ []string) bool {
				return countPhase(cp, PhaseDone) == 1 && countPhase(cp, PhaseTerminated) == 1
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newLocalCluster(t, tc.cluster, tc.cidr, tc.subnet, ru)
			old := c.waitMachines(t, "v1")
			c.bump(t, "v2")
			target := c.target(ru)

			var out1 syncBuffer
			o := cloudOnlyOptions(&out1)
			o.NodeInterval = tc.interval
			ctx, kill := context.WithCancel(context.Background())
			defer kill()
			type result struct {
				sum *Summary
				err error
			}
			done := make(chan result, 1)
			go func() { sum, err := Run(ctx, target, o); done <- result{sum, err} }()

			var killedAt *Checkpoint
			err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
				if cp, ok := tryCheckpoint(c); ok && tc.killWhen(cp, old) {
					killedAt = cp
				}
				return killedAt != nil, nil
			})
			if err != nil {
				t.Fatalf("the first run never reached the kill point; output:\n%s", out1.String())
			}
			// The lease keeps a second run out while the first holds it.
			var out2 syncBuffer
			if _, err := Run(context.Background(), target, cloudOnlyOptions(&out2)); err == nil || !strings.Contains(err.Error(), "another rolling update of cluster "+tc.cluster) {
				t.Errorf("a concurrent run = %v, want it refused by the lease", err)
			}
			kill()
			first := <-done
			if first.err == nil {
				t.Fatalf("the killed run succeeded; output:\n%s", out1.String())
			}
			t.Logf("first run (killed: %v):\n%s", first.err, out1.String())
			if len(first.sum.Replaced) != 1 {
				t.Fatalf("the killed run replaced %v, want exactly one machine", first.sum.Replaced)
			}
			remaining := slices.DeleteFunc(slices.Clone(old), func(id string) bool { return id == first.sum.Replaced[0] })

			var out3 syncBuffer
			sum, err := Run(context.Background(), target, cloudOnlyOptions(&out3))
			t.Logf("re-run:\n%s", out3.String())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sum.Replaced, remaining) {
				t.Errorf("the re-run replaced %v, want exactly %v", sum.Replaced, remaining)
			}
			if !strings.Contains(out3.String(), "Resuming the rolling update") {
				t.Errorf("the re-run does not say it resumes:\n%s", out3.String())
			}
			now := c.waitMachines(t, "v2")
			cp := c.checkpoint(t)
			if cp.Finished == nil {
				t.Error("checkpoint not finished")
			}
			var repl []string
			for _, id := range old {
				r := cp.Machines[id]
				if r == nil || r.Phase != PhaseDone || r.Cordoned {
					t.Errorf("checkpoint of %s = %+v, want Done and not cordoned", id, r)
					continue
				}
				repl = append(repl, r.Replacement)
			}
			slices.Sort(repl)
			if !slices.Equal(repl, now) {
				t.Errorf("checkpoint replacements %v, want the running machines %v", repl, now)
			}
			if len(cp.Machines) != 2 {
				t.Errorf("checkpoint has %d machines, want 2: %+v", len(cp.Machines), cp.Machines)
			}
		})
	}
}

func countPhase(cp *Checkpoint, phase string) int {
	n := 0
	for _, r := range cp.Machines {
		if r.Phase == phase {
			n++
		}
	}
	return n
}

func tryCheckpoint(c *localCluster) (*Checkpoint, bool) {
	data, _, err := c.store.Get(context.Background(), CheckpointKey(c.name))
	if err != nil {
		return nil, false
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, false
	}
	return &cp, true
}
