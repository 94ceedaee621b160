package etcdmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/etcd/manager"
)

// StaticPod starts and stops one etcd member through the kubelet: a
// stopped member's manifest is parked outside the manifest directory, and
// starting it puts the manifest back, with the restore's flags if any.
// It implements manager.Supervisor.
type StaticPod struct {
	// Manifest is the member's static pod file in the kubelet's directory.
	Manifest string
	// Parked is where the manifest waits while the member is stopped.
	Parked string
	// Member is etcd's --name; with the manifest's --data-dir it finds
	// the member's process. The name alone does not: a machine's members
	// of main and events share it.
	Member string
	// Gate keeps the API server down while any member here is stopped.
	Gate *APIServerGate
	// StopTimeout bounds the wait for the process to exit.
	StopTimeout time.Duration
	// Processes lists etcd processes of this machine; ProcProcesses by default.
	Processes func() ([]Process, error)
	Log       *slog.Logger
}

var _ manager.Supervisor = (*StaticPod)(nil)

// Stop parks the manifest and waits until the kubelet has stopped etcd.
func (s *StaticPod) Stop(ctx context.Context) error {
	dataDir, err := s.dataDir()
	if err != nil {
		return err
	}
	if s.Gate != nil {
		if err := s.Gate.Hold(s.Manifest); err != nil {
			return err
		}
	}
	if _, err := os.Stat(s.Manifest); err == nil {
		if err := os.MkdirAll(filepath.Dir(s.Parked), 0o700); err != nil {
			return fmt.Errorf("park etcd manifest: %w", err)
		}
		if err := os.Rename(s.Manifest, s.Parked); err != nil {
			return fmt.Errorf("park etcd manifest: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("etcd manifest: %w", err)
	}
	return s.waitExited(ctx, dataDir)
}

// dataDir is the member's --data-dir, from its manifest wherever it is;
// empty if there is no manifest at all.
func (s *StaticPod) dataDir() (string, error) {
	data, err := os.ReadFile(s.Manifest)
	if errors.Is(err, os.ErrNotExist) {
		data, err = os.ReadFile(s.Parked)
	}
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read etcd manifest: %w", err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		return "", fmt.Errorf("parse etcd manifest %s: %w", s.Manifest, err)
	}
	for _, c := range pod.Spec.Containers {
		for _, a := range c.Command {
			if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
				return v, nil
			}
		}
	}
	return "", nil
}

// waitExited returns once no process of this member (its name and, when
// known, its data dir) runs: the data dir is then free to be moved.
func (s *StaticPod) waitExited(ctx context.Context, dataDir string) error {
	timeout := s.StopTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	list := s.Processes
	if list == nil {
		list = ProcProcesses
	}
	var listErr error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		procs, err := list()
		if err != nil {
			listErr = err
			return false, err
		}
		return !slices.ContainsFunc(procs, func(p Process) bool { return p.Member == s.Member && (dataDir == "" || p.DataDir == dataDir) }), nil
	})
	switch {
	case err == nil:
		return nil
	case listErr != nil:
		return listErr
	}
	return fmt.Errorf("etcd member %s still runs %s after its manifest was removed", s.Member, timeout)
}

// Start puts the manifest back, overriding the initial-cluster flags with
// opts when set. The kubelet notices the file within a second (inotify).
func (s *StaticPod) Start(_ context.Context, opts manager.StartOptions) error {
	data, err := os.ReadFile(s.Parked)
	if errors.Is(err, os.ErrNotExist) {
		data, err = os.ReadFile(s.Manifest) // never stopped
	}
	if err != nil {
		return fmt.Errorf("read etcd manifest: %w", err)
	}
	data, err = OverrideFlags(data, map[string]string{
		"initial-cluster":       opts.InitialCluster,
		"initial-cluster-state": opts.ClusterState,
		"initial-cluster-token": opts.ClusterToken,
	})
	if err != nil {
		return err
	}
	if err := tasks.WriteFileAtomic(s.Manifest, data, 0o644); err != nil {
		return fmt.Errorf("write etcd manifest: %w", err)
	}
	if err := os.Remove(s.Parked); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove parked etcd manifest: %w", err)
	}
	if s.Gate != nil {
		return s.Gate.Release(s.Manifest)
	}
	return nil
}

// OverrideFlags sets the given --flag=value arguments of a static pod's
// only container; empty values leave a flag alone.
func OverrideFlags(manifest []byte, flags map[string]string) ([]byte, error) {
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(manifest, &pod); err != nil {
		return nil, fmt.Errorf("parse etcd manifest: %w", err)
	}
	if len(pod.Spec.Containers) != 1 {
		return nil, fmt.Errorf("etcd manifest has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := &pod.Spec.Containers[0]
	changed := false
	for name, v := range flags {
		if v == "" {
			continue
		}
		flag, found := "--"+name+"=", false
		for i, a := range c.Command {
			if strings.HasPrefix(a, flag) {
				c.Command[i], found = flag+v, true
			}
		}
		if !found {
			c.Command = append(c.Command, flag+v)
		}
		changed = true
	}
	if !changed {
		return manifest, nil
	}
	out, err := yaml.Marshal(&pod)
	if err != nil {
		return nil, fmt.Errorf("render etcd manifest: %w", err)
	}
	return out, nil
}

// APIServerGate parks the kube-apiserver manifest while any etcd member of
// this machine is stopped for a restore. An API server that kept running
// would serve from a watch cache newer than the restored data; one started
// afresh reads the restored data and its clients relist.
type APIServerGate struct {
	Manifest string
	Parked   string
	Log      *slog.Logger

	mu    sync.Mutex
	holds map[string]bool
}

// Hold stops the API server (if it runs) on behalf of holder.
func (g *APIServerGate) Hold(holder string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds == nil {
		g.holds = map[string]bool{}
	}
	g.holds[holder] = true
	if _, err := os.Stat(g.Manifest); err != nil {
		return nil // parked already, or not a control-plane machine yet
	}
	if err := os.MkdirAll(filepath.Dir(g.Parked), 0o700); err != nil {
		return fmt.Errorf("park kube-apiserver manifest: %w", err)
	}
	if err := os.Rename(g.Manifest, g.Parked); err != nil {
		return fmt.Errorf("park kube-apiserver manifest: %w", err)
	}
	g.log().Info("kube-apiserver stopped while etcd is restored", "for", holder)
	return nil
}

// Release starts the API server again once nothing holds it.
func (g *APIServerGate) Release(holder string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.holds, holder)
	if len(g.holds) > 0 {
		return nil
	}
	if _, err := os.Stat(g.Parked); err != nil {
		return nil
	}
	if err := os.Rename(g.Parked, g.Manifest); err != nil {
		return fmt.Errorf("restore kube-apiserver manifest: %w", err)
	}
	g.log().Info("kube-apiserver started again", "for", holder)
	return nil
}

func (g *APIServerGate) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

// Process is an etcd process of this machine.
type Process struct {
	PID     int
	Member  string // its --name
	DataDir string // its --data-dir
}

// ProcProcesses finds etcd processes in this process's network namespace.
// Machines of the local cloud share the host's PID namespace but not its
// network namespace, and etcd runs with the host network of its machine,
// so the namespace tells this machine's etcd from its neighbours'.
func ProcProcesses() ([]Process, error) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("own network namespace: %w", err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(raw) == 0 {
			continue // gone, or a kernel thread
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if filepath.Base(args[0]) != "etcd" {
			continue
		}
		if ns, err := os.Readlink(filepath.Join(dir, "ns/net")); err != nil || ns != self {
			continue
		}
		p := Process{PID: pid}
		for _, a := range args[1:] {
			if v, ok := strings.CutPrefix(a, "--name="); ok {
				p.Member = v
			}
			if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
				p.DataDir = v
			}
		}
		out = append(out, p)
	}
	return out, nil
}
