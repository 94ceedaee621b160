package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// Defaults: a Node must have been not Ready for Grace before the cloud is
// asked about it, so a machine that is merely rebooting or slow keeps its
// Node; the cloud is asked at most once per Every.
const (
	DefaultGrace = 40 * time.Second
	DefaultEvery = 10 * time.Second
)

// Instances lists the ids of the cluster's live machines. A Node's name is
// its machine's instance id on the clouds this controller serves.
type Instances interface {
	LiveInstances(ctx context.Context) (map[string]bool, error)
}

// Controller deletes the Nodes of machines that are gone for good: a
// cluster rebuilt after every machine was lost, or a machine terminated
// outside hull, would otherwise keep NotReady Nodes forever and never
// validate.
type Controller struct {
	Kube      kubernetes.Interface
	Instances Instances
	// Self is this machine's Node name: if the cloud does not list it, its
	// answer is wrong and nothing is deleted.
	Self  string
	Grace time.Duration
	Every time.Duration
	Log   *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Run syncs every Every until ctx ends; errors are logged, never fatal.
func (c *Controller) Run(ctx context.Context) {
	every := c.Every
	if every <= 0 {
		every = DefaultEvery
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if _, err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.log().Warn("node lifecycle", "err", err)
		}
	}, every)
}

// Sync deletes the Nodes that have been not Ready for longer than Grace and
// whose machine the cloud does not list, and returns their names.
func (c *Controller) Sync(ctx context.Context) ([]string, error) {
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	// The kubelet renews its Lease every 10 s but writes its status only
	// every few minutes when nothing changes, so a stale Lease is the
	// earliest sign of a dead machine (a cluster restored from a backup
	// holds Nodes whose status still says Ready).
	leases, err := c.Kube.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list node leases: %w", err)
	}
	renewed := map[string]time.Time{}
	for _, l := range leases.Items {
		if l.Spec.RenewTime != nil {
			renewed[l.Name] = l.Spec.RenewTime.Time
		}
	}
	var suspects []corev1.Node
	for _, n := range nodes.Items {
		if n.Name != c.Self && (c.notReadySince(&n) || c.stale(renewed[n.Name], n.CreationTimestamp.Time)) {
			suspects = append(suspects, n)
		}
	}
	if len(suspects) == 0 {
		return nil, nil // the cloud is asked only when a Node looks dead
	}
	live, err := c.Instances.LiveInstances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the cloud's instances: %w", err)
	}
	if c.Self != "" && !live[c.Self] {
		return nil, fmt.Errorf("the cloud does not list this machine (%s) among the cluster's instances; deleting no Node on its word", c.Self)
	}
	var deleted []string
	for _, n := range suspects {
		if live[n.Name] {
			continue
		}
		// The UID precondition keeps a Node that a new machine of the same
		// name registered meanwhile.
		err := c.Kube.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &n.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return deleted, fmt.Errorf("delete node %s: %w", n.Name, err)
		}
		if err == nil {
			c.log().Info("deleted the Node of a machine the cloud no longer has", "node", n.Name)
			deleted = append(deleted, n.Name)
		}
	}
	return deleted, nil
}

// stale reports whether a Lease last renewed at renewed (zero: never; then
// the Node's creation counts) is older than Grace.
func (c *Controller) stale(renewed, created time.Time) bool {
	if renewed.IsZero() {
		renewed = created
	}
	return c.now().Sub(renewed) > c.grace()
}

// notReadySince reports whether n's Ready condition has not been True for
// longer than Grace (a Node that never reported counts from its creation).
func (c *Controller) notReadySince(n *corev1.Node) bool {
	since := n.CreationTimestamp.Time
	for _, cond := range n.Status.Conditions {
		if cond.Type != corev1.NodeReady {
			continue
		}
		if cond.Status == corev1.ConditionTrue {
			return false
		}
		since = cond.LastTransitionTime.Time
		if cond.LastHeartbeatTime.After(since) {
			since = cond.LastHeartbeatTime.Time
		}
	}
	return c.now().Sub(since) > c.grace()
}

func (c *Controller) grace() time.Duration {
	if c.Grace <= 0 {
		return DefaultGrace
	}
	return c.Grace
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Controller) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// MachineAPI asks the local cloud's machine API (cloudup/local) which
// instances of the cluster live.
type MachineAPI struct {
	URL    string
	Client *http.Client
}

// LiveInstances implements Instances.
func (m MachineAPI) LiveInstances(ctx context.Context) (map[string]bool, error) {
	client := m.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/v1/instances", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	var insts []struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&insts); err != nil {
		return nil, fmt.Errorf("%s: %w", req.URL, err)
	}
	live := map[string]bool{}
	for _, in := range insts {
		live[in.ID] = true
	}
	return live, nil
}
