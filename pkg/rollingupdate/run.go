package rollingupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/kube/validate"
	"github.com/hullproject/hull/pkg/rollingupdate/drain"
	"github.com/hullproject/hull/pkg/state"
)

// Cloud is what a rolling update needs from the provider.
type Cloud interface {
	FindInstanceGroups(ctx context.Context, cluster string) ([]*cloud.InstanceGroup, error)
	ListInstances(ctx context.Context, cluster string) ([]*cloud.Instance, error)
	TerminateInstance(ctx context.Context, id string, decrement bool) error
	DetachInstance(ctx context.Context, id string) error
}

// Validator checks the whole cluster.
type Validator func(ctx context.Context) (*validate.Result, error)

// Target is the cluster a rolling update acts on.
type Target struct {
	// Spec and InstanceGroups are the user's spec.
	Spec           *v1alpha1.Cluster
	InstanceGroups []*v1alpha1.InstanceGroup
	Cloud          Cloud
	// CanSurge says Cloud can detach machines (maxSurge defaults to 1).
	CanSurge bool
	// Kube is the cluster's API; unused (and may be nil) with CloudOnly.
	Kube kubernetes.Interface
	// Store keeps the checkpoint and the lease.
	Store *state.Store
	// Validate overrides pkg/kube/validate (for tests).
	Validate Validator
	// BackupEtcd takes a fresh backup of every etcd cluster. It runs
	// before a control-plane machine of a cluster with a lone etcd member
	// is terminated: the replacement restores the newest backup.
	BackupEtcd func(ctx context.Context) error
}

// Options are the command's flags.
type Options struct {
	Selection
	CloudOnly            bool
	FailOnDrainError     bool
	FailOnValidateError  bool
	DrainTimeout         time.Duration
	PostDrainDelay       time.Duration
	NodeInterval         time.Duration
	ControlPlaneInterval time.Duration
	BastionInterval      time.Duration
	ValidationTimeout    time.Duration
	ValidateCount        int
	// GracePeriodSeconds is given to evictions; negative uses each pod's own.
	GracePeriodSeconds int
	// Out receives progress lines and the summary.
	Out io.Writer
	// Holder names this run in the lease (default state.Holder()).
	Holder string
	// PollInterval is how often machines and nodes are checked while
	// waiting; ValidateInterval spaces repeated validations.
	PollInterval     time.Duration
	ValidateInterval time.Duration
}

// DefaultOptions are kops's defaults, with shorter polling.
func DefaultOptions() Options {
	return Options{
		FailOnDrainError:     true,
		FailOnValidateError:  true,
		DrainTimeout:         15 * time.Minute,
		NodeInterval:         15 * time.Second,
		ControlPlaneInterval: 15 * time.Second,
		BastionInterval:      15 * time.Second,
		ValidationTimeout:    15 * time.Minute,
		ValidateCount:        2,
		GracePeriodSeconds:   -1,
		PollInterval:         time.Second,
		ValidateInterval:     5 * time.Second,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.ValidateCount <= 0 {
		o.ValidateCount = 1
	}
	if o.PollInterval <= 0 {
		o.PollInterval = d.PollInterval
	}
	if o.ValidateInterval <= 0 {
		o.ValidateInterval = d.ValidateInterval
	}
	if o.ValidationTimeout <= 0 {
		o.ValidationTimeout = d.ValidationTimeout
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Holder == "" {
		o.Holder = state.Holder()
	}
	return o
}

// LoadPlan reads the cloud (and, unless CloudOnly, the nodes) and plans.
func LoadPlan(ctx context.Context, t Target, o Options) (*Plan, error) {
	name := t.Spec.Metadata.Name
	groups, err := t.Cloud.FindInstanceGroups(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: list instance groups: %w", name, err)
	}
	insts, err := t.Cloud.ListInstances(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: list machines: %w", name, err)
	}
	var nodes []corev1.Node
	if !o.CloudOnly {
		l, err := t.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("cluster %s: list nodes (use --cloudonly to roll without the Kubernetes API): %w", name, err)
		}
		nodes = l.Items
	}
	return BuildPlan(PlanInput{Cluster: t.Spec, InstanceGroups: t.InstanceGroups, Groups: groups, Instances: insts, Nodes: nodes, CanSurge: t.CanSurge}, o.Selection)
}

// runner is one run's state.
type runner struct {
	t        Target
	o        Options
	cluster  string
	cp       *checkpointer
	drainer  *drain.Drainer
	timeline *timeline
	progress *output.Progress

	mu       sync.Mutex
	claimed  map[string]bool // replacement machine IDs already paired
	replaced []string
	waves    int
	lastRole v1alpha1.InstanceGroupRole
}

// Run replaces the machines that need it, group by group, holding the
// cluster's rolling-update lease and checkpointing after every step; an
// interrupted run resumes where it stopped. It returns what it did even
// when it fails.
func Run(ctx context.Context, t Target, o Options) (sum *Summary, err error) {
	o = o.withDefaults()
	cluster := t.Spec.Metadata.Name
	held, err := holdLease(ctx, t.Store, cluster, o.Holder)
	if err != nil {
		return nil, err
	}
	defer func() {
		err = held.WrapLost(err)
		if rerr := held.Release(); rerr != nil && err == nil {
			err = fmt.Errorf("release rolling-update lease of cluster %s: %w", cluster, rerr)
		}
	}()
	ctx = held.Context()

	r := &runner{t: t, o: o, cluster: cluster, timeline: newTimeline(), claimed: map[string]bool{},
		progress: output.NewProgress(&lockedWriter{w: o.Out})}
	if t.Validate == nil {
		r.t.Validate = defaultValidator(t)
	}
	if !o.CloudOnly {
		r.drainer = drain.New(t.Kube, drain.Options{
			Timeout:            o.DrainTimeout,
			GracePeriodSeconds: o.GracePeriodSeconds,
			Report:             func(msg string) { r.progress.Step("%s", msg) },
		}, drain.NewGuard())
	}
	start := time.Now()
	err = r.run(ctx)
	sum = r.timeline.summary(slices.Clone(r.replaced), time.Since(start))
	sum.Stopped = err != nil
	if r.cp != nil && (err != nil || len(sum.Replaced) > 0) {
		sum.Print(o.Out, cluster)
	}
	return sum, err
}

func defaultValidator(t Target) Validator {
	name := t.Spec.Metadata.Name
	return func(ctx context.Context) (*validate.Result, error) {
		groups, err := t.Cloud.FindInstanceGroups(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: list instance groups: %w", name, err)
		}
		insts, err := t.Cloud.ListInstances(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: list machines: %w", name, err)
		}
		return validate.Validate(ctx, validate.Input{ClusterName: name, Groups: groups, Instances: insts, Client: t.Kube})
	}
}

func (r *runner) run(ctx context.Context) error {
	cp, resumed, err := loadCheckpoint(ctx, r.t.Store, r.cluster, time.Now().UTC())
	if err != nil {
		return err
	}
	r.cp = cp
	for _, rec := range cp.records() {
		if rec.Replacement != "" {
			r.claimed[rec.Replacement] = true
		}
	}
	if resumed {
		r.progress.Step("Resuming the rolling update of cluster %s started at %s; machines in progress: %s",
			r.cluster, cp.cp.Started.Format(time.RFC3339), orNone(cp.inProgress()))
	}
	plan, err := LoadPlan(ctx, r.t, r.o)
	if err != nil {
		return err
	}
	if err := r.releaseStale(ctx, plan); err != nil {
		return err
	}
	if !plan.NeedsUpdate() && len(r.cp.inProgress()) == 0 {
		fmt.Fprintln(r.o.Out, MsgNothingToDo)
		return r.cp.finish(ctx)
	}
	if !r.o.CloudOnly {
		if inProgress := r.cp.inProgress(); len(inProgress) > 0 {
			// A run killed mid-machine leaves a cluster that cannot
			// validate (a replacement still booting, a group one short).
			// Finishing those machines comes first; their wave must
			// validate before any other machine is touched.
			r.progress.Step("Not validating before resuming: the machines in progress (%s) are finished first and the cluster must validate after them", strings.Join(inProgress, ", "))
		} else if err := r.validateBefore(ctx); err != nil {
			return err
		}
	}
	for _, g := range plan.Groups {
		// Re-read the cloud: machines may have come and gone meanwhile.
		fresh, err := LoadPlan(ctx, r.t, r.o)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(fresh.Groups, func(f *GroupPlan) bool { return f.Name == g.Name })
		if i < 0 {
			continue
		}
		if err := r.rollGroup(ctx, fresh.Groups[i]); err != nil {
			return err
		}
	}
	return r.cp.finish(ctx)
}

// validateBefore refuses to start on a cluster that does not validate
// within ValidationTimeout. As kops does, a failure is retried: a cluster
// that has just lost or replaced a machine takes a moment to settle (an
// API server restarting, a node not yet Ready), and refusing at once
// would make every scripted roll after a repair flaky.
func (r *runner) validateBefore(ctx context.Context) error {
	start := time.Now()
	lastNote := time.Time{}
	var why string
	err := wait.PollUntilContextTimeout(ctx, r.o.PollInterval, r.o.ValidationTimeout, true, func(ctx context.Context) (bool, error) {
		res, err := r.t.Validate(ctx)
		if err == nil && res.OK() {
			return true, nil
		}
		why = validationSummary(res, err)
		if time.Since(lastNote) >= 10*time.Second {
			r.progress.Step("Cluster %s does not validate yet (%s); retrying for up to %s", r.cluster, why, r.o.ValidationTimeout)
			lastNote = time.Now()
		}
		return false, nil
	})
	switch {
	case err == nil:
		if !lastNote.IsZero() {
			r.progress.Step("Cluster %s validated after %s", r.cluster, time.Since(start).Round(100*time.Millisecond))
		}
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	}
	if !r.o.FailOnValidateError {
		r.progress.Step("WARNING: cluster %s does not validate (%s); continuing as --fail-on-validate-error=false", r.cluster, why)
		return nil
	}
	return fmt.Errorf("cluster %s did not validate within %s, so the rolling update did not start (use --cloudonly to roll without validating, or a longer --validation-timeout): %s", r.cluster, r.o.ValidationTimeout, why)
}

// releaseStale gives back machines an earlier run left in progress that
// this run will not replace: their nodes are uncordoned.
func (r *runner) releaseStale(ctx context.Context, plan *Plan) error {
	continuing := map[string]bool{}
	selectedGroups := map[string]bool{}
	for _, g := range plan.Groups {
		selectedGroups[g.Name] = true
		for _, m := range g.NeedUpdate() {
			continuing[m.ID] = true
		}
	}
	live := map[string]bool{}
	for _, g := range plan.Groups {
		for _, m := range g.Machines {
			live[m.ID] = true
		}
	}
	for _, id := range r.cp.inProgress() {
		rec := r.cp.record(id)
		gone := !live[id] && selectedGroups[rec.Group]
		if continuing[id] || (gone && rec.done(stepTerminate)) || (gone && rec.Phase == PhaseTerminating) {
			continue
		}
		if rec.Cordoned && rec.Node != "" {
			if r.o.CloudOnly {
				r.progress.Step("WARNING: node %s of machine %s was left cordoned by an earlier run; uncordon it (--cloudonly cannot)", rec.Node, id)
				continue
			}
			if err := r.drainer.Uncordon(ctx, rec.Node); err != nil && !isNotFound(err) {
				return fmt.Errorf("machine %s: %w", id, err)
			}
			r.progress.Step("Uncordoned node %s: an earlier run cordoned it and machine %s is not being replaced now", rec.Node, id)
		}
		if err := r.cp.update(ctx, id, func(m *MachineRecord) { m.Phase, m.Cordoned, m.Steps = PhaseReleased, false, nil }); err != nil {
			return err
		}
	}
	return nil
}

// rollGroup replaces a group's machines in waves of at most maxSurge +
// maxUnavailable (one for the control plane): machines an earlier run left
// in progress first, so no more are ever down than the settings allow.
func (r *runner) rollGroup(ctx context.Context, g *GroupPlan) error {
	queue := r.queue(g)
	if len(queue) == 0 {
		return nil
	}
	r.progress.Step("Instance group %s: replacing %d machine(s), maxSurge %d, maxUnavailable %d", g.Name, len(queue), g.MaxSurge, g.MaxUnavailable)
	// A machine being replaced is nobody's replacement.
	r.mu.Lock()
	for _, mr := range queue {
		r.claimed[mr.id] = true
	}
	r.mu.Unlock()
	for len(queue) > 0 {
		var wave []*machineRun
		wave, queue = takeWave(queue, g)
		if err := r.interval(ctx); err != nil {
			return err
		}
		if err := r.runWave(ctx, g, wave); err != nil {
			return err
		}
	}
	return nil
}

// queue lists the group's machines to replace: in progress first (those
// already terminated only await their replacement), then the rest.
func (r *runner) queue(g *GroupPlan) []*machineRun {
	var first, rest []*machineRun
	seen := map[string]bool{}
	need := g.NeedUpdate()
	for _, id := range r.cp.inProgress() {
		rec := r.cp.record(id)
		if rec.Group != g.Name {
			continue
		}
		i := slices.IndexFunc(need, func(m *Machine) bool { return m.ID == id })
		mr := &machineRun{id: id, group: g.Name, role: g.Role, node: rec.Node, surge: rec.Surge, resumed: true}
		if i >= 0 {
			mr.node = need[i].Node
		} else if slices.ContainsFunc(g.Machines, func(m *Machine) bool { return m.ID == id }) {
			continue // up to date after all; releaseStale gave it back
		} else {
			mr.gone = true
		}
		first = append(first, mr)
		seen[id] = true
	}
	for _, m := range need {
		if !seen[m.ID] {
			rest = append(rest, &machineRun{id: m.ID, group: g.Name, role: g.Role, node: m.Node, surge: m.Detached, detached: m.Detached})
		}
	}
	return append(first, rest...)
}

// takeWave takes the machines in progress, then fills the surge and
// unavailable slots left.
func takeWave(queue []*machineRun, g *GroupPlan) (wave, rest []*machineRun) {
	surge, unavail := g.MaxSurge, g.MaxUnavailable
	i := 0
	for ; i < len(queue) && queue[i].resumed; i++ {
		if queue[i].surge {
			surge--
		} else {
			unavail--
		}
	}
	for ; i < len(queue); i++ {
		if surge <= 0 && unavail <= 0 && i > 0 {
			break
		}
		mr := queue[i]
		switch {
		case surge > 0:
			mr.surge = true
			surge--
		case mr.detached:
			// Already surged: it keeps its path but takes a slot.
			mr.surge = true
			unavail--
		default:
			unavail--
		}
	}
	return queue[:i], queue[i:]
}

// interval waits the configured interval between waves (not before the
// first, and never after the last: nothing is left to protect then).
func (r *runner) interval(ctx context.Context) error {
	d := map[v1alpha1.InstanceGroupRole]time.Duration{
		v1alpha1.RoleNode:         r.o.NodeInterval,
		v1alpha1.RoleControlPlane: r.o.ControlPlaneInterval,
		v1alpha1.RoleBastion:      r.o.BastionInterval,
	}[r.lastRole]
	if r.waves == 0 || d <= 0 {
		return nil
	}
	r.progress.Step("Waiting %s (the %s interval) before the next machine", d, strings.ToLower(string(r.lastRole)))
	defer r.timeline.track(spentWaits)()
	return sleep(ctx, d)
}

// runWave replaces the wave's machines concurrently, then validates.
func (r *runner) runWave(ctx context.Context, g *GroupPlan, wave []*machineRun) error {
	errs := make([]error, len(wave))
	var wg sync.WaitGroup
	for i, mr := range wave {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.replaceMachine(ctx, mr)
		}()
	}
	wg.Wait()
	r.waves++
	r.lastRole = g.Role
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("instance group %s: %w", g.Name, err)
	}
	if !r.o.CloudOnly {
		if err := r.validateAfter(ctx, g, wave); err != nil {
			return err
		}
	}
	for _, mr := range wave {
		if err := r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Phase = PhaseDone }); err != nil {
			return err
		}
		r.mu.Lock()
		r.replaced = append(r.replaced, mr.id)
		r.mu.Unlock()
	}
	return nil
}

// validateAfter waits until the cluster validates ValidateCount times in a
// row, within ValidationTimeout.
func (r *runner) validateAfter(ctx context.Context, g *GroupPlan, wave []*machineRun) error {
	ids := make([]string, len(wave))
	for i, mr := range wave {
		ids[i] = mr.id
	}
	start := time.Now()
	deadline := start.Add(r.o.ValidationTimeout)
	ok := 0
	for {
		stop := r.timeline.track(spentReplacements)
		res, err := r.t.Validate(ctx)
		stop()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err == nil && res.OK() {
			ok++
			if ok >= r.o.ValidateCount {
				r.progress.Step("Cluster validated %d time(s) in a row after replacing %s (%s)", ok, strings.Join(ids, ", "), time.Since(start).Round(100*time.Millisecond))
				return nil
			}
			stop := r.timeline.track(spentWaits)
			err := sleep(ctx, r.o.ValidateInterval)
			stop()
			if err != nil {
				return err
			}
			continue
		}
		ok = 0
		why := validationSummary(res, err)
		if time.Now().After(deadline) {
			err := fmt.Errorf("instance group %s: cluster %s did not validate within %s after replacing %s: %s", g.Name, r.cluster, r.o.ValidationTimeout, strings.Join(ids, ", "), why)
			if r.o.FailOnValidateError {
				return err
			}
			r.progress.Step("WARNING: %v; continuing as --fail-on-validate-error=false", err)
			return nil
		}
		stop = r.timeline.track(spentReplacements)
		err = sleep(ctx, r.o.PollInterval)
		stop()
		if err != nil {
			return err
		}
	}
}

func validationSummary(res *validate.Result, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case res == nil || len(res.Failures) == 0:
		return "no result"
	}
	return fmt.Sprintf("%d failure(s), first: %s", len(res.Failures), res.Failures[0].Message)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// lockedWriter serialises the progress lines of concurrent machines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
