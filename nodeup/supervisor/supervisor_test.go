package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
)

// script is a service that records its start and its SIGTERM in events.
func script(t *testing.T, dir, name, body string) Spec {
	t.Helper()
	events := filepath.Join(dir, "events")
	return Spec{
		Name:    name,
		Path:    "/bin/sh",
		Args:    []string{"-c", body},
		Env:     []string{"NAME=" + name, "EVENTS=" + events, "PATH=/usr/bin:/bin"},
		LogFile: filepath.Join(dir, "log", name+".log"),
	}
}

const longRunning = `echo "start $NAME" >> "$EVENTS"; trap 'echo "stop $NAME" >> "$EVENTS"; exit 0' TERM; echo "hello from $NAME"; while :; do sleep 0.05; done`

func events(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "events"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(data), " ", "_"))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestStartIsIdempotentAndLogs(t *testing.T) {
	dir := t.TempDir()
	s := New(nil)
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	spec := script(t, dir, "containerd", longRunning)
	started, err := s.Ensure(spec)
	if err != nil || !started {
		t.Fatalf("Ensure = %v, %v; want started", started, err)
	}
	waitFor(t, "the service to start", func() bool { return len(events(t, dir)) == 1 })
	if started, err := s.Ensure(spec); err != nil || started {
		t.Errorf("second Ensure with the same spec = %v, %v; want nothing started", started, err)
	}
	if !s.Running("containerd") || s.Starts("containerd") != 1 {
		t.Errorf("Running = %v, Starts = %d; want true, 1", s.Running("containerd"), s.Starts("containerd"))
	}
	waitFor(t, "the log", func() bool {
		data, _ := os.ReadFile(spec.LogFile)
		return strings.Contains(string(data), "hello from containerd")
	})
}

func TestCrashedServiceIsRestarted(t *testing.T) {
	dir := t.TempDir()
	s := New(nil)
	s.Backoff = Backoff{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, Reset: time.Minute}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if _, err := s.Ensure(script(t, dir, "crashy", `echo "start $NAME" >> "$EVENTS"; exit 3`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three starts", func() bool { return len(events(t, dir)) >= 3 })
	if n := s.Starts("crashy"); n < 3 {
		t.Errorf("Starts = %d, want >= 3", n)
	}
}

func TestStopInReverseOrder(t *testing.T) {
	dir := t.TempDir()
	s := New(nil)
	for _, name := range []string{"containerd", "kubelet"} {
		if _, err := s.Ensure(script(t, dir, name, longRunning)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, name+" to start", func() bool { return strings.Contains(strings.Join(events(t, dir), " "), "start_"+name) })
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"start_containerd", "start_kubelet", "stop_kubelet", "stop_containerd"}
	if diff := cmp.Diff(want, events(t, dir)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, err := s.Ensure(script(t, dir, "late", longRunning)); err == nil {
		t.Error("Ensure after Stop succeeded; want an error")
	}
}

func TestStubbornServiceIsKilled(t *testing.T) {
	dir := t.TempDir()
	s := New(nil)
	s.StopGrace = 100 * time.Millisecond
	if _, err := s.Ensure(script(t, dir, "stubborn", `echo "start $NAME" >> "$EVENTS"; trap '' TERM; while :; do sleep 0.05; done`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "start", func() bool { return len(events(t, dir)) == 1 })
	start := time.Now()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Stop took %s", took)
	}
}

func TestChangedSpecRestarts(t *testing.T) {
	dir := t.TempDir()
	s := New(nil)
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	spec := script(t, dir, "kubelet", longRunning)
	if _, err := s.Ensure(spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "start", func() bool { return len(events(t, dir)) == 1 })
	spec.Args = append(spec.Args, "x") // $0 of sh -c: harmless, but a new spec
	if started, err := s.Ensure(spec); err != nil || !started {
		t.Fatalf("Ensure with a changed spec = %v, %v; want a restart", started, err)
	}
	waitFor(t, "restart", func() bool { return len(events(t, dir)) == 3 })
	if diff := cmp.Diff([]string{"start_kubelet", "stop_kubelet", "start_kubelet"}, events(t, dir)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
