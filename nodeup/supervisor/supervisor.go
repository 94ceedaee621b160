package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Spec is one service.
type Spec struct {
	Name string
	Path string
	Args []string
	// Env is the whole environment; nil inherits nodeup's.
	Env []string
	// LogFile receives stdout and stderr, appended to.
	LogFile string
}

func (s Spec) equal(o Spec) bool {
	return s.Name == o.Name && s.Path == o.Path && slices.Equal(s.Args, o.Args) && slices.Equal(s.Env, o.Env) && s.LogFile == o.LogFile
}

// Backoff between restarts of a crashed service: it starts at Min, doubles
// up to Max, and resets once a run lasted longer than Reset.
type Backoff struct {
	Min, Max, Reset time.Duration
}

// DefaultBackoff suits containerd and the kubelet.
var DefaultBackoff = Backoff{Min: time.Second, Max: 30 * time.Second, Reset: time.Minute}

// Supervisor keeps services running until Stop.
type Supervisor struct {
	Backoff Backoff
	// StopGrace is how long a service has to exit after SIGTERM before it
	// is killed.
	StopGrace time.Duration
	Log       *slog.Logger

	mu       sync.Mutex
	services []*service // in start order
	stopped  bool
}

// New returns a supervisor with default settings.
func New(log *slog.Logger) *Supervisor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{Backoff: DefaultBackoff, StopGrace: 15 * time.Second, Log: log}
}

type service struct {
	spec   Spec
	stop   chan struct{} // closed to stop
	done   chan struct{} // closed when the loop ended
	mu     sync.Mutex
	cmd    *exec.Cmd
	starts int
}

// Ensure starts the service, or restarts it if it runs with another spec.
// It reports whether it started anything.
func (s *Supervisor) Ensure(spec Spec) (bool, error) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return false, errors.New("supervisor is stopping")
	}
	i := slices.IndexFunc(s.services, func(sv *service) bool { return sv.spec.Name == spec.Name })
	if i >= 0 && s.services[i].spec.equal(spec) {
		s.mu.Unlock()
		return false, nil
	}
	var old *service
	if i >= 0 {
		old = s.services[i]
		s.services = slices.Delete(s.services, i, i+1)
	}
	s.mu.Unlock()
	if old != nil {
		s.Log.Info("service spec changed; restarting", "service", spec.Name)
		s.stopOne(old)
	}
	sv := &service{spec: spec, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.startProcess(sv); err != nil {
		return false, err
	}
	s.mu.Lock()
	s.services = append(s.services, sv)
	s.mu.Unlock()
	go s.loop(sv)
	return true, nil
}

// Running reports whether a service is supervised and its process is up.
func (s *Supervisor) Running(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.services {
		if sv.spec.Name == name {
			sv.mu.Lock()
			defer sv.mu.Unlock()
			return sv.cmd != nil && sv.cmd.ProcessState == nil
		}
	}
	return false
}

// Starts is how often a service was started (1 + restarts).
func (s *Supervisor) Starts(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.services {
		if sv.spec.Name == name {
			sv.mu.Lock()
			defer sv.mu.Unlock()
			return sv.starts
		}
	}
	return 0
}

// errStopped: the service was stopped while a restart was pending.
var errStopped = errors.New("service stopped")

// startProcess holds sv.mu throughout, so stopOne either sees the new
// process or prevents it.
func (s *Supervisor) startProcess(sv *service) error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	select {
	case <-sv.stop:
		return errStopped
	default:
	}
	spec := sv.spec
	var out *os.File
	if spec.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(spec.LogFile), 0o755); err != nil {
			return fmt.Errorf("start %s: %w", spec.Name, err)
		}
		f, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("start %s: %w", spec.Name, err)
		}
		fmt.Fprintf(f, "=== hull supervisor: starting %s at %s\n", spec.Name, time.Now().UTC().Format(time.RFC3339))
		out = f
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a signal aimed at nodeup (Ctrl-C in a
	// terminal) does not reach the services behind the supervisor's back.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err := cmd.Start()
	if out != nil {
		out.Close() // the child holds its own descriptor
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", spec.Name, err)
	}
	sv.cmd = cmd
	sv.starts++
	s.Log.Info("service started", "service", spec.Name, "pid", cmd.Process.Pid)
	return nil
}

// loop waits for the process and restarts it with backoff until stopped.
func (s *Supervisor) loop(sv *service) {
	defer close(sv.done)
	delay := s.Backoff.Min
	for {
		sv.mu.Lock()
		cmd := sv.cmd
		sv.mu.Unlock()
		started := time.Now()
		err := cmd.Wait()
		select {
		case <-sv.stop:
			return
		default:
		}
		if time.Since(started) > s.Backoff.Reset {
			delay = s.Backoff.Min
		}
		s.Log.Warn("service exited; restarting", "service", sv.spec.Name, "err", err, "after", delay)
		select {
		case <-sv.stop:
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, s.Backoff.Max)
		for {
			err := s.startProcess(sv)
			if err == nil {
				break
			}
			if errors.Is(err, errStopped) {
				return
			}
			s.Log.Error("restart failed", "service", sv.spec.Name, "err", err)
			select {
			case <-sv.stop:
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, s.Backoff.Max)
		}
	}
}

// stopOne sends SIGTERM, waits StopGrace, then SIGKILL.
func (s *Supervisor) stopOne(sv *service) {
	close(sv.stop)
	sv.mu.Lock()
	cmd := sv.cmd
	sv.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-sv.done:
	case <-time.After(s.StopGrace):
		s.Log.Warn("service did not stop in time; killing", "service", sv.spec.Name)
		sv.mu.Lock()
		cmd = sv.cmd
		sv.mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		<-sv.done
	}
	s.Log.Info("service stopped", "service", sv.spec.Name)
}

// Stop stops every service in reverse start order (the kubelet before
// containerd) and refuses further starts. ctx bounds nothing per service
// (StopGrace does); it is accepted for symmetry with other managers.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	list := slices.Clone(s.services)
	s.services = nil
	s.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		s.stopOne(list[i])
	}
	return ctx.Err()
}

// Has reports whether a service with exactly this spec is supervised.
func (s *Supervisor) Has(spec Spec) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.services {
		if sv.spec.Name == spec.Name {
			return sv.spec.equal(spec)
		}
	}
	return false
}
