package kubeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/state"
)

// Lazy connects on first use, so a plan never touches the API.
type Lazy struct {
	Kubeconfig string
	// Shown is the kubeconfig's path on the machine, for plans.
	Shown string
	// Wait bounds the wait for the kubeconfig file to appear.
	Wait time.Duration
	mu   sync.Mutex
	c    *Clients
}

// Get connects (once).
// Only a success is remembered: a worker's kubeconfig names a client
// certificate that appears only when TLS bootstrap completes, so an early
// failure must not stick.
func (l *Lazy) Get(ctx context.Context) (*Clients, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c, nil
	}
	c, err := Connect(ctx, l.Kubeconfig, l.Wait)
	if err != nil {
		return nil, err
	}
	l.c = c
	return c, nil
}

func poll(ctx context.Context, timeout, every time.Duration, log *slog.Logger, what string, fn func() error) error {
	var last time.Time
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, every, timeout, true, func(context.Context) (bool, error) {
		if lastErr = fn(); lastErr == nil {
			return true, nil
		}
		if log != nil && time.Since(last) > 10*time.Second {
			log.Info("waiting", "for", what, "err", lastErr)
			last = time.Now()
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%s: gave up after %s: %w", what, timeout, lastErr)
}

// WaitAPI waits until the apiserver reports ready.
func WaitAPI(l *Lazy, timeout time.Duration, log *slog.Logger) tasks.Task {
	return &tasks.Func{
		TaskName: "api/ready", TaskPhase: tasks.PhaseCluster,
		CheckFn: func(context.Context) (tasks.Change, error) {
			return tasks.Change{Action: tasks.Ensure, Reason: "wait for /readyz", Details: []string{"kubeconfig " + l.Shown}}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			return poll(ctx, timeout, time.Second, log, "the apiserver to be ready", func() error {
				c, err := l.Get(ctx)
				if err != nil {
					return err
				}
				body, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				if err != nil {
					return fmt.Errorf("%w: %s", err, body)
				}
				return nil
			})
		},
	}
}

// StoreToken creates the cluster's bootstrap token in the state store if
// no control-plane machine has yet.
func StoreToken(st *state.Store, cluster string) tasks.Task {
	return &tasks.Func{
		TaskName: "bootstrap-token/store", TaskPhase: tasks.PhaseCluster,
		CheckFn: func(ctx context.Context) (tasks.Change, error) {
			d := []string{"key " + TokenKey(cluster)}
			_, err := GetToken(ctx, st, cluster)
			if err == nil {
				return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
			}
			if errors.Is(err, state.ErrNotFound) {
				return tasks.Change{Action: tasks.Create, Details: d}, nil
			}
			return tasks.Change{}, err
		},
		ApplyFn: func(ctx context.Context) error {
			_, err := EnsureToken(ctx, st, cluster)
			return err
		},
	}
}

// ApplyObjects server-side applies objects that objs builds (at apply
// time: the bootstrap token, say, is only known then).
func ApplyObjects(name string, l *Lazy, summary []string, objs func(ctx context.Context) ([]Object, error)) tasks.Task {
	return &tasks.Func{
		TaskName: name, TaskPhase: tasks.PhaseCluster,
		CheckFn: func(context.Context) (tasks.Change, error) {
			return tasks.Change{Action: tasks.Ensure, Reason: "server-side apply", Details: summary}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			c, err := l.Get(ctx)
			if err != nil {
				return err
			}
			list, err := objs(ctx)
			if err != nil {
				return err
			}
			return c.Apply(ctx, list...)
		},
	}
}

// Summary names objects for a plan.
func Summary(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.String())
	}
	return out
}

// LabelNode sets labels the kubelet may not set on itself (node-role.*),
// once the node has registered.
func LabelNode(l *Lazy, node string, labels map[string]string, timeout time.Duration, log *slog.Logger) tasks.Task {
	var d []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		d = append(d, k+"="+labels[k])
	}
	return &tasks.Func{
		TaskName: "node/labels", TaskPhase: tasks.PhaseCluster,
		CheckFn: func(context.Context) (tasks.Change, error) {
			return tasks.Change{Action: tasks.Ensure, Reason: "after the node registers", Details: append([]string{"node " + node}, d...)}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
			if err != nil {
				return err
			}
			return poll(ctx, timeout, time.Second, log, "node "+node+" to register", func() error {
				c, err := l.Get(ctx)
				if err != nil {
					return err
				}
				_, err = c.Kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
				return err
			})
		},
	}
}

// DeleteNodes removes the Node objects of machines that are gone for good
// (names returns them when the task applies). A Node already gone is fine.
func DeleteNodes(name string, l *Lazy, names func(context.Context) ([]string, error)) tasks.Task {
	return &tasks.Func{
		TaskName: name, TaskPhase: tasks.PhaseCluster,
		CheckFn: func(context.Context) (tasks.Change, error) {
			return tasks.Change{Action: tasks.Ensure, Reason: "delete the Nodes of machines this one replaced", Details: []string{"Nodes named by this machine's etcd member records (replaced)"}}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			gone, err := names(ctx)
			if err != nil || len(gone) == 0 {
				return err
			}
			cl, err := l.Get(ctx)
			if err != nil {
				return err
			}
			for _, n := range gone {
				err := cl.Kube.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					return fmt.Errorf("delete node %s of a replaced machine: %w", n, err)
				}
			}
			return nil
		},
	}
}
