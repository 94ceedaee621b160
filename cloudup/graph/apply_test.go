package graph

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var errTransient = errors.New("throttled")

func isTransient(err error) bool { return errors.Is(err, errTransient) }

func planAndApply(t *testing.T, tasks []Task, dels []Deletion, prune bool, o Options) error {
	t.Helper()
	p, err := BuildPlan(context.Background(), tasks, dels, o)
	if err != nil {
		t.Fatalf("BuildPlan: %v", err)
	}
	return Apply(context.Background(), tasks, p, prune, o)
}

// Every task starts only after all its dependencies finished.
func TestApplyOrder(t *testing.T) {
	for _, par := range []int{1, 2, 3, 8} {
		for range 10 {
			c := newFakeCloud()
			tasks := clusterTasks(c)
			if err := planAndApply(t, tasks, nil, false, Options{Parallelism: par}); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			log := c.logCopy()
			at := map[string]int{}
			for i, line := range log {
				at[line] = i
			}
			for _, task := range tasks {
				start, ok := at["start "+task.Key()]
				if !ok {
					t.Fatalf("parallelism %d: %s never applied; log %v", par, task.Key(), log)
				}
				for _, d := range task.Dependencies() {
					if end := at["end "+d]; end > start {
						t.Errorf("parallelism %d: %s started before its dependency %s finished; log %v", par, task.Key(), d, log)
					}
				}
			}
			if got := c.applyCount(); got != len(tasks) {
				t.Errorf("parallelism %d: %d applies, want %d", par, got, len(tasks))
			}
		}
	}
}

// With Parallelism 2, six independent tasks that each wait for a partner
// run exactly two at a time: one at a time would never pass the barrier,
// three at a time would show in the high-water mark.
func TestBoundedParallelism(t *testing.T) {
	c := newFakeCloud()
	b := newBarrier(2)
	var mu sync.Mutex
	active, highWater := 0, 0
	var tasks []Task
	for _, k := range []string{"A", "B", "C", "D", "E", "F"} {
		tasks = append(tasks, &fakeTask{key: "Task/" + k, expected: Fields{"k": k}, cloud: c,
			onApply: func(ctx context.Context) error {
				mu.Lock()
				active++
				highWater = max(highWater, active)
				mu.Unlock()
				defer func() {
					mu.Lock()
					active--
					mu.Unlock()
				}()
				return b.wait(ctx)
			}})
	}
	if err := planAndApply(t, tasks, nil, false, Options{Parallelism: 2, TaskTimeout: 10 * time.Second, MaxAttempts: 1}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if highWater != 2 {
		t.Errorf("at most %d tasks ran at once, want exactly 2", highWater)
	}
	if got := c.applyCount(); got != 6 {
		t.Errorf("%d applies, want 6", got)
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name         string
		failures     int   // times Apply fails before succeeding
		err          error // what it fails with
		maxAttempts  int
		wantAttempts int
		wantErr      string
		wantEvents   []EventKind
	}{
		{
			name: "transient then success", failures: 2, err: errTransient, maxAttempts: 5, wantAttempts: 3,
			wantEvents: []EventKind{EventStarted, EventRetrying, EventStarted, EventRetrying, EventStarted, EventFinished},
		},
		{
			name: "transient every time", failures: 100, err: errTransient, maxAttempts: 3, wantAttempts: 3,
			wantErr:    "Task/x: apply failed after 3 attempts: throttled",
			wantEvents: []EventKind{EventStarted, EventRetrying, EventStarted, EventRetrying, EventStarted, EventFailed},
		},
		{
			name: "permanent is not retried", failures: 1, err: errors.New("quota exceeded"), maxAttempts: 5, wantAttempts: 1,
			wantErr:    "Task/x: apply: quota exceeded",
			wantEvents: []EventKind{EventStarted, EventFailed},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCloud()
			var mu sync.Mutex
			attempts := 0
			var events []EventKind
			var delays []time.Duration
			task := &fakeTask{key: "Task/x", expected: Fields{"a": "1"}, cloud: c, onApply: func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				attempts++
				if attempts <= tc.failures {
					return tc.err
				}
				return nil
			}}
			o := Options{MaxAttempts: tc.maxAttempts, Backoff: time.Millisecond, IsRetryable: isTransient,
				Progress: func(e Event) {
					if e.Phase != PhaseApply {
						return
					}
					events = append(events, e.Kind)
					if e.Kind == EventRetrying {
						delays = append(delays, e.Delay)
					}
				}}
			err := planAndApply(t, []Task{task}, nil, false, o)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr {
				t.Errorf("error = %q, want %q", gotErr, tc.wantErr)
			}
			if attempts != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", attempts, tc.wantAttempts)
			}
			if diff := cmp.Diff(tc.wantEvents, events); diff != "" {
				t.Errorf("progress events (-want +got):\n%s", diff)
			}
			for i := 1; i < len(delays); i++ {
				if delays[i] != 2*delays[i-1] {
					t.Errorf("backoff delays %v do not double", delays)
				}
			}
			wantApplied := 0
			if tc.wantErr == "" {
				wantApplied = 1
			}
			if got := c.applyCount(); got != wantApplied {
				t.Errorf("successful applies = %d, want %d", got, wantApplied)
			}
		})
	}
}

func TestBackoffSchedule(t *testing.T) {
	tests := []struct {
		base time.Duration
		want []time.Duration
	}{
		{DefaultBackoff, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{3 * time.Second, []time.Duration{3 * time.Second, 6 * time.Second, 10 * time.Second, 10 * time.Second}},
		{20 * time.Second, []time.Duration{20 * time.Second, 20 * time.Second}},
	}
	for _, tc := range tests {
		got := []time.Duration{tc.base}
		for len(got) < len(tc.want) {
			got = append(got, nextBackoff(got[len(got)-1], tc.base))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("base %v: schedule (-want +got):\n%s", tc.base, diff)
		}
	}
}

// A permanent failure stops its dependents and names them; a task already
// running when it happens is waited for.
func TestPermanentFailureStopsDependents(t *testing.T) {
	c := newFakeCloud()
	failStarted := make(chan struct{})
	tasks := []Task{
		&fakeTask{key: "A/fails", expected: Fields{"x": "1"}, cloud: c, onApply: func(context.Context) error {
			close(failStarted)
			return errors.New("no capacity in zone-a")
		}},
		&fakeTask{key: "B/child", deps: []string{"A/fails"}, expected: Fields{"x": "1"}, cloud: c},
		&fakeTask{key: "C/grandchild", deps: []string{"B/child"}, expected: Fields{"x": "1"}, cloud: c},
		&fakeTask{key: "D/running", expected: Fields{"x": "1"}, cloud: c, onApply: func(context.Context) error {
			<-failStarted
			time.Sleep(20 * time.Millisecond) // still running when A fails
			return nil
		}},
		&fakeTask{key: "E/after-d", deps: []string{"D/running"}, expected: Fields{"x": "1"}, cloud: c},
		// Up to date: it had nothing to do, so it is not reported as not run.
		&fakeTask{key: "F/unchanged", deps: []string{"A/fails"}, expected: Fields{"x": "1"}, cloud: c},
	}
	c.state["F/unchanged"] = Fields{"x": "1"}
	err := planAndApply(t, tasks, nil, false, Options{Parallelism: 2})
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want an *ApplyError", err)
	}
	if diff := cmp.Diff([]string{"B/child", "C/grandchild", "E/after-d"}, ae.NotRun); diff != "" {
		t.Errorf("NotRun (-want +got):\n%s", diff)
	}
	want := "A/fails: apply: no capacity in zone-a; not run because of the failure: B/child, C/grandchild, E/after-d"
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if got := c.logCopy(); !contains(got, "end D/running") {
		t.Errorf("Apply returned before the running task D finished; log %v", got)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestTimeout(t *testing.T) {
	blockUntilCancelled := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	release := make(chan struct{})
	defer close(release)
	ignoreCancel := func(context.Context) error { <-release; return nil }
	tests := []struct {
		name        string
		apply       func(context.Context) error
		maxAttempts int
		want        string
	}{
		{"last attempt", blockUntilCancelled, 2, "task InstanceGroup/nodes-a did not finish within 50ms (attempt 2/2)"},
		{"single attempt", blockUntilCancelled, 1, "task InstanceGroup/nodes-a did not finish within 50ms (attempt 1/1)"},
		{"ignores cancellation", ignoreCancel, 3, "task InstanceGroup/nodes-a did not finish within 50ms (attempt 1/3); it did not stop when cancelled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCloud()
			task := &fakeTask{key: "InstanceGroup/nodes-a", expected: Fields{"minSize": "2"}, cloud: c, onApply: tc.apply}
			err := planAndApply(t, []Task{task}, nil, false,
				Options{TaskTimeout: 50 * time.Millisecond, MaxAttempts: tc.maxAttempts, Backoff: time.Millisecond})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			var te *TimeoutError
			if !errors.As(err, &te) || te.Key != "InstanceGroup/nodes-a" || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not a *TimeoutError for the task wrapping context.DeadlineExceeded", err)
			}
		})
	}
}

func TestFindTimeoutIsReported(t *testing.T) {
	c := newFakeCloud()
	task := &fakeTask{key: "Subnet/zone-a", cloud: c, onFind: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	_, err := BuildPlan(context.Background(), []Task{task}, nil, Options{TaskTimeout: 20 * time.Millisecond, MaxAttempts: 1})
	want := "task Subnet/zone-a did not finish within 20ms (attempt 1/1) while finding it"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestDeletions(t *testing.T) {
	for _, prune := range []bool{false, true} {
		c := newFakeCloud()
		for _, k := range []string{"InstanceGroup/old", "LaunchConfig/old", "Subnet/old"} {
			c.state[k] = Fields{"x": "1"}
		}
		tasks := clusterTasks(c)
		// An instance group goes before its launch config and subnet.
		dels := []Deletion{
			&fakeDeletion{key: "Subnet/old", deps: []string{"InstanceGroup/old"}, cloud: c},
			&fakeDeletion{key: "LaunchConfig/old", deps: []string{"InstanceGroup/old"}, cloud: c},
			&fakeDeletion{key: "InstanceGroup/old", cloud: c},
		}
		if err := planAndApply(t, tasks, dels, prune, Options{Parallelism: 1}); err != nil {
			t.Fatalf("prune=%v: Apply: %v", prune, err)
		}
		var deleted []string
		log := c.logCopy()
		for i, line := range log {
			if k, ok := strings.CutPrefix(line, "delete "); ok {
				deleted = append(deleted, k)
				if i < 2*len(tasks) {
					t.Errorf("prune=%v: %s deleted before every task was applied; log %v", prune, k, log)
				}
			}
		}
		var want []string
		if prune {
			want = []string{"InstanceGroup/old", "LaunchConfig/old", "Subnet/old"}
		}
		if diff := cmp.Diff(want, deleted); diff != "" {
			t.Errorf("prune=%v: deletions (-want +got):\n%s", prune, diff)
		}
	}
}

// A failed apply runs no deletion and lists them as not run.
func TestFailedApplySkipsDeletions(t *testing.T) {
	c := newFakeCloud()
	tasks := []Task{&fakeTask{key: "A/x", expected: Fields{"x": "1"}, cloud: c,
		onApply: func(context.Context) error { return errors.New("boom") }}}
	dels := []Deletion{&fakeDeletion{key: "Z/old", cloud: c}}
	err := planAndApply(t, tasks, dels, true, Options{})
	if err == nil || err.Error() != "A/x: apply: boom; not run because of the failure: Z/old" {
		t.Errorf("error = %v", err)
	}
}

// A second --yes: once applied, the plan over the same cloud has no changes
// and applying it calls no task's Apply.
func TestIdempotence(t *testing.T) {
	ctx := context.Background()
	c := newFakeCloud()
	tasks := clusterTasks(c)
	first, err := BuildPlan(ctx, tasks, nil, Options{})
	if err != nil {
		t.Fatalf("BuildPlan: %v", err)
	}
	if !first.HasChanges(false) {
		t.Fatal("first plan has no changes")
	}
	if err := Apply(ctx, tasks, first, false, Options{}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	applies := c.applyCount()

	second, err := BuildPlan(ctx, tasks, nil, Options{})
	if err != nil {
		t.Fatalf("second BuildPlan: %v", err)
	}
	for _, ch := range second.Changes {
		if ch.Action != ActionNone || len(ch.Fields) != 0 {
			t.Errorf("second plan: %s: %s %v, want none", ch.Key, ch.Action, ch.Fields)
		}
	}
	if second.HasChanges(true) {
		t.Error("second plan HasChanges")
	}
	if err := Apply(ctx, tasks, second, true, Options{}); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if got := c.applyCount(); got != applies {
		t.Errorf("second apply called Apply %d times, want 0", got-applies)
	}
}

// Cancelling the context stops scheduling and says so.
func TestCancelledContext(t *testing.T) {
	c := newFakeCloud()
	tasks := clusterTasks(c)
	p, err := BuildPlan(context.Background(), tasks, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Apply(ctx, tasks, p, false, Options{})
	if !errors.Is(err, context.Canceled) || c.applyCount() != 0 {
		t.Errorf("error = %v after %d applies; want context.Canceled and none", err, c.applyCount())
	}
}
