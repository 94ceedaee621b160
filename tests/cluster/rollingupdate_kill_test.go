package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/tests/harness"
)

// A rolling update is checkpointed after every step, so a run killed at
// any step boundary must resume where it stopped. killAtEveryBoundary
// chains the kills: each run is SIGKILLed as soon as it reports a step
// done, and the next run resumes after that step, until a run has no step
// left and finishes by itself. The whole chain costs one roll plus a
// process start per step, and hits every boundary of the plan once.

// stepDoneLine is the progress line of a finished step: "[  12.3s] GROUP
// MACHINE: STEP done in 1.2s".
var stepDoneLine = regexp.MustCompile(`\] \S+ (i-\S+): (\S+) done in \S+$`)

// boundary is the point right after a machine's step.
type boundary struct{ Machine, Step string }

// killedRun is one run of the chain.
type killedRun struct {
	at       boundary // where it was killed
	finished bool     // it exited by itself, having finished no step
	code     int      // its exit code when finished
	out      string   // stdout, then stderr
	elapsed  time.Duration
}

// runUntilStepDone starts a rolling update and SIGKILLs it the moment it
// reports a step done.
func runUntilStepDone(t *testing.T, e *harness.Env, args []string) killedRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := e.Command(ctx, args...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var r killedRun
	var lines []string
	var unblock *time.Timer
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if m := stepDoneLine.FindStringSubmatch(sc.Text()); m != nil && r.at.Step == "" {
			r.at = boundary{Machine: m[1], Step: m[2]}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill hull: %v", err)
			}
			// Read on to the end, so what it printed before it died is
			// logged too, unless something it started holds the pipe.
			unblock = time.AfterFunc(30*time.Second, func() { stdout.Close() })
		}
	}
	if unblock != nil {
		unblock.Stop()
	}
	err = cmd.Wait()
	r.elapsed = time.Since(start)
	r.out = strings.Join(lines, "\n") + "\n" + errOut.String()
	if r.at.Step == "" {
		r.finished, r.code = true, cmd.ProcessState.ExitCode()
		if r.code == 0 && err != nil {
			t.Fatalf("rolling-update: %v", err)
		}
	}
	return r
}

// killAtEveryBoundary runs args until a run finishes by itself, each
// other run killed right after the first step it finishes. It gives up
// after maxKills kills.
func killAtEveryBoundary(t *testing.T, e *harness.Env, args []string, maxKills int) (killed []boundary, runs []killedRun) {
	t.Helper()
	for {
		r := runUntilStepDone(t, e, args)
		runs = append(runs, r)
		if r.finished {
			t.Logf("run %d finished by itself after %s (exit %d):\n%s", len(runs), r.elapsed.Round(100*time.Millisecond), r.code, r.out)
			return killed, runs
		}
		killed = append(killed, r.at)
		t.Logf("run %d: SIGKILL after %s, right after %s of %s", len(runs), r.elapsed.Round(100*time.Millisecond), r.at.Step, r.at.Machine)
		if len(killed) > maxKills {
			for i, r := range runs {
				t.Logf("run %d:\n%s", i+1, r.out)
			}
			t.Fatalf("still not finished after %d kills; killed at %v", len(killed), killed)
		}
	}
}

// The steps of replacing a machine with a node, in order, as pkg/rollingupdate
// plans them: a surged machine is detached and replaced first.
var (
	surgeSteps       = []string{"detach", "wait-for-replacement", "cordon", "drain", "post-drain-delay", "terminate", "delete-node"}
	unavailableSteps = []string{"cordon", "drain", "post-drain-delay", "terminate", "delete-node", "wait-for-replacement"}
)

// groupLine is the first progress line of a group's roll.
var groupLine = regexp.MustCompile(`Instance group (\S+): replacing (\d+) machine\(s\), maxSurge (\d+), maxUnavailable (\d+)`)

// groupSettings reads a group's maxSurge and maxUnavailable from the
// first run's output.
func groupSettings(t *testing.T, out, group string) (surge, unavailable int) {
	t.Helper()
	for _, m := range groupLine.FindAllStringSubmatch(out, -1) {
		if m[1] == group {
			surge, _ = strconv.Atoi(m[3])
			unavailable, _ = strconv.Atoi(m[4])
			return surge, unavailable
		}
	}
	t.Fatalf("the run does not say how it rolls group %s:\n%s", group, out)
	return 0, 0
}

// checkChain checks a kill chain over machines replaced one at a time:
// it was killed exactly once after every step of every machine, in the
// plan's order, and every run after the first resumed the interrupted
// one; the last one finished by itself with exit 0.
func checkChain(t *testing.T, killed []boundary, runs []killedRun, machines, steps []string) {
	t.Helper()
	var order []string // machines in the order the chain reached them
	for _, b := range killed {
		if !slices.Contains(order, b.Machine) {
			order = append(order, b.Machine)
		}
	}
	var want []boundary
	for _, m := range order {
		for _, s := range steps {
			want = append(want, boundary{m, s})
		}
	}
	if diff := cmp.Diff(want, killed); diff != "" {
		t.Errorf("the boundaries killed at are not every step of the plan, once each (-plan +killed):\n%s", diff)
	}
	if got := slices.Sorted(slices.Values(order)); !slices.Equal(got, machines) {
		t.Errorf("the chain replaced machines %v, want the group's %v", got, machines)
	}
	for i, r := range runs[1:] {
		if !strings.Contains(r.out, "Resuming the rolling update") {
			t.Errorf("run %d did not resume the one killed before it:\n%s", i+2, r.out)
		}
	}
	if last := runs[len(runs)-1]; !last.finished || last.code != 0 {
		t.Fatalf("the last run: exit %d:\n%s", last.code, last.out)
	}
}

// nodeSampler lists the nodes every 250 ms and counts those of one role
// that are in service: Ready and schedulable. A cordoned node, one not
// Ready and one not registered yet are all out of service.
type nodeSampler struct {
	floor  int
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	n, failed int
	low       int
	bad       []string
}

// startNodeSampler samples the nodes for which member is true; fewer
// than floor in service is a violation.
func startNodeSampler(client kubernetes.Interface, member func(*corev1.Node) bool, floor int) *nodeSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &nodeSampler{floor: floor, cancel: cancel, done: make(chan struct{}), low: 1 << 30}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
			nodes, err := client.CoreV1().Nodes().List(lctx, metav1.ListOptions{})
			lcancel()
			s.record(nodes, err, member)
		}
	}()
	return s
}

func (s *nodeSampler) record(nodes *corev1.NodeList, err error, member func(*corev1.Node) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++ // the API did not answer (a control plane going away)
		return
	}
	var in, out []string
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if !member(n) {
			continue
		}
		if nodeReady(n) && !n.Spec.Unschedulable {
			in = append(in, n.Name)
		} else {
			out = append(out, n.Name)
		}
	}
	s.n++
	s.low = min(s.low, len(in))
	if len(in) < s.floor {
		s.bad = append(s.bad, fmt.Sprintf("%s: in service %v, out of service %v", time.Now().Format("15:04:05.000"), in, out))
	}
}

// stop ends the sampling and returns the samples taken, the lists that
// failed, the lowest count in service and the violations.
func (s *nodeSampler) stop() (samples, failed, lowest int, violations []string) {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.failed, s.low, slices.Clone(s.bad)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func isControlPlaneNode(n *corev1.Node) bool {
	_, ok := n.Labels["node-role.kubernetes.io/control-plane"]
	return ok
}

// checkAvailability: the sampler watched the whole roll (at least one
// sample per second of it) and never saw fewer of the group's machines in
// service than its size less maxUnavailable.
func checkAvailability(t *testing.T, s *nodeSampler, what string, elapsed time.Duration) {
	t.Helper()
	n, failed, low, bad := s.stop()
	t.Logf("FIGURE %s in service during the roll: %d samples at 250 ms (%d lists failed), lowest %d (floor %d)", what, n, failed, low, s.floor)
	if minN := int(elapsed / time.Second); n < minN {
		t.Errorf("the node sampler took %d samples in %s, want at least %d", n, elapsed.Round(time.Second), minN)
	}
	if len(bad) > 0 {
		t.Errorf("fewer %s in service than the group's size less maxUnavailable (%d):\n%s", what, s.floor, strings.Join(bad, "\n"))
	}
}

// checkBudgetWindow: the workload's sampler sampled throughout the roll
// (at least two of its 200 ms ticks per second) and never saw fewer
// healthy pods than floor.
func checkBudgetWindow(t *testing.T, s *pdbSampler, floor int, elapsed time.Duration) {
	t.Helper()
	low, n := s.window()
	t.Logf("budget sampler during the roll: %d samples in %s, lowest healthy count %d", n, elapsed.Round(100*time.Millisecond), low)
	if minN := int(elapsed / (500 * time.Millisecond)); n < minN {
		t.Errorf("the budget sampler took %d samples in %s, want at least %d", n, elapsed.Round(time.Second), minN)
	}
	if low < floor {
		t.Errorf("during the roll: lowest healthy count %d, want >= %d", low, floor)
	}
}
