package drain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	kdrain "k8s.io/kubectl/pkg/drain"
)

// Defaults of Options.
const (
	DefaultReportInterval = 10 * time.Second
	DefaultRetryInterval  = 2 * time.Second
	deletePollInterval    = 250 * time.Millisecond
)

// Options say how a Drainer drains.
type Options struct {
	// Timeout bounds one node's drain; 0 means no limit.
	Timeout time.Duration
	// GracePeriodSeconds is passed with each eviction; negative uses each
	// pod's own terminationGracePeriodSeconds, 0 deletes at once.
	GracePeriodSeconds int
	// ReportInterval is how often a blocked eviction is reported.
	ReportInterval time.Duration
	// RetryInterval is how long a blocked eviction waits before trying again.
	RetryInterval time.Duration
	// Report receives progress lines (blocked evictions, warnings).
	Report func(msg string)
}

// Drainer cordons and drains nodes. Drainers sharing a Guard never evict
// more pods of one PodDisruptionBudget at once than it allows.
type Drainer struct {
	client kubernetes.Interface
	opts   Options
	guard  *Guard

	gvOnce sync.Once
	gv     schema.GroupVersion
	gvErr  error
}

// New returns a drainer; guard may be shared between drainers (nil for a private one).
func New(client kubernetes.Interface, opts Options, guard *Guard) *Drainer {
	if opts.ReportInterval <= 0 {
		opts.ReportInterval = DefaultReportInterval
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.Report == nil {
		opts.Report = func(string) {}
	}
	if guard == nil {
		guard = NewGuard()
	}
	return &Drainer{client: client, opts: opts, guard: guard}
}

// BlockedError is a drain that ran out of time because an eviction kept
// being refused; it names the pod, the budget and for how long.
type BlockedError struct {
	Node string
	Pod  string // namespace/name
	// PDB is namespace/name of the budget, empty when none was identified.
	PDB    string
	For    time.Duration
	Reason string
}

func (e *BlockedError) Error() string {
	by := "its eviction was refused"
	if e.PDB != "" {
		by = "blocked by PodDisruptionBudget " + e.PDB
	}
	return fmt.Sprintf("drain node %s: pod %s %s for %s: %s", e.Node, e.Pod, by, e.For.Round(time.Second), e.Reason)
}

func (d *Drainer) helper(ctx context.Context) *kdrain.Helper {
	return &kdrain.Helper{
		Ctx:                 ctx,
		Client:              d.client,
		Force:               true, // unmanaged pods go too, as kops does
		GracePeriodSeconds:  d.opts.GracePeriodSeconds,
		IgnoreAllDaemonSets: true,
		DeleteEmptyDirData:  true,
		Out:                 io.Discard,
		ErrOut:              io.Discard,
	}
}

// Cordon marks the node unschedulable.
func (d *Drainer) Cordon(ctx context.Context, node string) error {
	return d.setCordon(ctx, node, true)
}

// Uncordon marks the node schedulable again.
func (d *Drainer) Uncordon(ctx context.Context, node string) error {
	return d.setCordon(ctx, node, false)
}

func (d *Drainer) setCordon(ctx context.Context, node string, cordon bool) error {
	verb := map[bool]string{true: "cordon", false: "uncordon"}[cordon]
	n, err := d.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s node %s: %w", verb, node, err)
	}
	if err := kdrain.RunCordonOrUncordon(d.helper(ctx), n, cordon); err != nil {
		return fmt.Errorf("%s node %s: %w", verb, node, err)
	}
	return nil
}

// Drain evicts every pod of the node except DaemonSet and mirror pods
// (emptyDir data is lost), concurrently, and waits until they are gone. An
// eviction a PodDisruptionBudget refuses is retried, and reported every
// ReportInterval naming the pod, the budget and how long it has been
// blocked; at Timeout the drain fails with a *BlockedError.
func (d *Drainer) Drain(ctx context.Context, node string) error {
	if d.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.opts.Timeout)
		defer cancel()
	}
	h := d.helper(ctx)
	list, errs := h.GetPodsForDeletion(node)
	if len(errs) > 0 {
		return fmt.Errorf("drain node %s: %w", node, errors.Join(errs...))
	}
	if w := list.Warnings(); w != "" {
		d.opts.Report(fmt.Sprintf("node %s: %s", node, w))
	}
	d.gvOnce.Do(func() { d.gv, d.gvErr = kdrain.CheckEvictionSupport(d.client) })
	if d.gvErr != nil {
		return fmt.Errorf("drain node %s: check eviction support: %w", node, d.gvErr)
	}
	if d.gv.Empty() {
		return fmt.Errorf("drain node %s: the API server does not support evictions", node)
	}
	pods := list.Pods()
	errc := make(chan error, len(pods))
	for _, pod := range pods {
		go func() { errc <- d.evict(ctx, h, node, pod) }()
	}
	var all []error
	for range pods {
		if err := <-errc; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// blocked tracks one pod's refused evictions.
type blocked struct {
	since, reported time.Time
	pdb, reason     string
}

// evict evicts one pod, retrying while it is refused, and waits for it to go.
func (d *Drainer) evict(ctx context.Context, h *kdrain.Helper, node string, pod corev1.Pod) error {
	podName := pod.Namespace + "/" + pod.Name
	var b *blocked
	var failed error
	err := wait.PollUntilContextCancel(ctx, d.opts.RetryInterval, true, func(ctx context.Context) (bool, error) {
		pdb, reason, err := d.tryEvict(ctx, h, pod)
		if err != nil {
			failed = fmt.Errorf("drain node %s: evict pod %s: %w", node, podName, err)
			return false, failed
		}
		if reason == "" {
			return true, nil
		}
		now := time.Now()
		if b == nil {
			b = &blocked{since: now}
		}
		b.pdb, b.reason = pdb, reason
		if b.reported.IsZero() || now.Sub(b.reported) >= d.opts.ReportInterval {
			b.reported = now
			d.opts.Report(fmt.Sprintf("node %s: pod %s blocked by PodDisruptionBudget %s for %s: %s",
				node, podName, orUnknown(b.pdb), now.Sub(b.since).Round(time.Second), b.reason))
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case failed != nil:
		return failed
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && b != nil:
		return &BlockedError{Node: node, Pod: podName, PDB: b.pdb, For: time.Since(b.since), Reason: b.reason}
	}
	return fmt.Errorf("drain node %s: evict pod %s: %w", node, podName, ctx.Err())
}

// tryEvict makes one attempt. A non-empty reason means the eviction was
// refused (by the guard or by the API) and should be retried.
func (d *Drainer) tryEvict(ctx context.Context, h *kdrain.Helper, pod corev1.Pod) (pdb, reason string, err error) {
	all, err := d.client.PolicyV1().PodDisruptionBudgets(pod.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", "", fmt.Errorf("list PodDisruptionBudgets: %w", err)
	}
	pdbs, err := matchingPDBs(&pod, all.Items)
	if err != nil {
		return "", "", err
	}
	guarded := pdbs
	if !podReady(&pod) {
		// The API may evict an unhealthy pod whatever the budget allows
		// (unhealthyPodEvictionPolicy); let it decide.
		guarded = nil
	}
	release, full, inFlight := d.guard.acquire(guarded)
	if full != nil {
		return pdbKey(full), guardRefusal(full, inFlight), nil
	}
	defer release()
	err = h.EvictPod(pod, d.gv)
	switch {
	case apierrors.IsNotFound(err):
		return "", "", nil
	case apierrors.IsTooManyRequests(err):
		return refusedBy(err, pdbs), refusal(err), nil
	case err != nil:
		return "", "", err
	}
	return "", "", d.waitDeleted(ctx, pod)
}

// waitDeleted polls until the pod is gone or replaced by a namesake.
func (d *Drainer) waitDeleted(ctx context.Context, pod corev1.Pod) error {
	var failed error
	err := wait.PollUntilContextCancel(ctx, deletePollInterval, true, func(ctx context.Context) (bool, error) {
		p, err := d.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err == nil && p.UID != pod.UID:
			return true, nil
		case err != nil && ctx.Err() == nil:
			failed = fmt.Errorf("wait for deletion: %w", err)
			return false, failed
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case failed != nil:
		return failed
	}
	return fmt.Errorf("evicted, but still not deleted: %w", ctx.Err())
}

// refusedBy names the budget behind a 429: from the API's cause when it
// names one, else the only budget that selects the pod.
func refusedBy(err error, pdbs []policyv1.PodDisruptionBudget) string {
	var se *apierrors.StatusError
	if errors.As(err, &se) && se.ErrStatus.Details != nil {
		for _, c := range se.ErrStatus.Details.Causes {
			if c.Type != policyv1.DisruptionBudgetCause {
				continue
			}
			// "The disruption budget NAME needs N healthy pods and has M currently"
			if _, rest, ok := strings.Cut(c.Message, "disruption budget "); ok {
				if name, _, ok := strings.Cut(rest, " "); ok {
					for _, p := range pdbs {
						if p.Name == name {
							return pdbKey(&p)
						}
					}
				}
			}
		}
	}
	if len(pdbs) == 1 {
		return pdbKey(&pdbs[0])
	}
	return ""
}

// refusal is the API's message with its budget cause, if any.
func refusal(err error) string {
	msg := err.Error()
	var se *apierrors.StatusError
	if errors.As(err, &se) && se.ErrStatus.Details != nil {
		for _, c := range se.ErrStatus.Details.Causes {
			if c.Type == policyv1.DisruptionBudgetCause {
				msg += " (" + c.Message + ")"
			}
		}
	}
	return msg
}

// guardRefusal says why the guard held an eviction back: the budget's own
// allowance, and the evictions in flight only when there are some (a
// budget that allows none refuses with nothing in flight).
func guardRefusal(pdb *policyv1.PodDisruptionBudget, inFlight int) string {
	msg := fmt.Sprintf("it allows %d more disruption(s) (%d healthy, %d needed)",
		pdb.Status.DisruptionsAllowed, pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy)
	if inFlight > 0 {
		msg += fmt.Sprintf(" and %d eviction(s) of its pods are already in flight", inFlight)
	}
	return msg
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
