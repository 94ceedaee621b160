package rollingupdate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Step names, as progress lines and the checkpoint spell them.
const (
	stepDetach         = "detach"
	stepCordon         = "cordon"
	stepDrain          = "drain"
	stepPostDrainDelay = "post-drain-delay"
	stepBackupEtcd     = "backup-etcd"
	stepTerminate      = "terminate"
	stepDeleteNode     = "delete-node"
	stepWaitReplace    = "wait-for-replacement"
)

// launchSlack allows for a replacement whose launch time the cloud
// stamped slightly before this host's clock read the action time.
const launchSlack = 2 * time.Second

// machineRun is one machine being replaced.
type machineRun struct {
	id, group string
	role      v1alpha1.InstanceGroupRole
	node      string // empty when the machine has no node
	// surge: detach, wait for the replacement, then drain and terminate.
	surge    bool
	detached bool // already detached in the cloud
	resumed  bool // an earlier run started it
	gone     bool // no longer in the cloud: only its replacement is awaited
}

// step is one named, separately runnable part of replacing a machine.
type step struct {
	name     string
	category string // where its time is counted; "" is overhead
	run      func(ctx context.Context, mr *machineRun) error
}

// steps lists what replacing mr takes, in order.
func (r *runner) steps(mr *machineRun) []step {
	var drainSteps []step
	terminate := []step{{stepTerminate, "", r.terminate}}
	if mr.role == v1alpha1.RoleControlPlane && r.t.BackupEtcd != nil && loneEtcd(r.t.Spec) {
		// A lone etcd member's data leaves with its machine; the
		// replacement restores the newest backup, so take one now.
		terminate = append([]step{{stepBackupEtcd, "", r.backupEtcd}}, terminate...)
	}
	if !r.o.CloudOnly && mr.node != "" {
		drainSteps = []step{
			{stepCordon, spentDrains, r.cordon},
			{stepDrain, spentDrains, r.drain},
			{stepPostDrainDelay, spentWaits, r.postDrainDelay},
		}
		terminate = append(terminate, step{stepDeleteNode, "", r.deleteNode})
	}
	wait := step{stepWaitReplace, spentReplacements, r.waitReplacement}
	if mr.detached && !mr.resumed {
		// Detached by someone else, when is unknown: its replacement was
		// launched then, and validation after the wave checks the group.
		return slices.Concat(drainSteps, terminate)
	}
	if mr.surge {
		return slices.Concat([]step{{stepDetach, "", r.detach}, wait}, drainSteps, terminate)
	}
	return slices.Concat(drainSteps, terminate, []step{wait})
}

// replaceMachine runs mr's steps, skipping those a checkpoint says are done
// (and, for a machine that is gone, everything up to its termination).
func (r *runner) replaceMachine(ctx context.Context, mr *machineRun) error {
	rec := r.cp.record(mr.id)
	if !mr.resumed {
		err := r.cp.update(ctx, mr.id, func(m *MachineRecord) {
			*m = MachineRecord{Group: mr.group, Surge: mr.surge, Phase: PhaseStarted, Node: mr.node}
		})
		if err != nil {
			return err
		}
		rec = r.cp.record(mr.id)
	}
	steps := r.steps(mr)
	terminated := slices.IndexFunc(steps, func(s step) bool { return s.name == stepTerminate })
	for i, s := range steps {
		if rec.done(s.name) || (mr.gone && i <= terminated) {
			continue
		}
		r.progress.Step("%s %s: %s", mr.group, mr.id, s.name)
		start := time.Now()
		stop := func() {}
		if s.category != "" {
			stop = r.timeline.track(s.category)
		}
		err := s.run(ctx, mr)
		stop()
		if err != nil {
			if err := r.stepFailed(ctx, mr, s.name, err); err != nil {
				return err
			}
			// The failure was accepted (--fail-on-drain-error=false) and
			// recorded: the machine is replaced all the same.
			continue
		}
		if err := r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Steps = append(m.Steps, s.name) }); err != nil {
			return err
		}
		r.progress.Step("%s %s: %s done in %s", mr.group, mr.id, s.name, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// stepFailed decides what a failed step means. A failed drain, unless
// --fail-on-drain-error=false, gives the machine back: its node is
// uncordoned and a later run starts it afresh.
func (r *runner) stepFailed(ctx context.Context, mr *machineRun, name string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("machine %s: %s interrupted: %w", mr.id, name, context.Cause(ctx))
	}
	if name != stepDrain {
		return fmt.Errorf("machine %s: %s: %w", mr.id, name, err)
	}
	if !r.o.FailOnDrainError {
		r.progress.Step("WARNING: %s %s: %v; terminating it anyway as --fail-on-drain-error=false", mr.group, mr.id, err)
		return r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Steps = append(m.Steps, stepDrain) })
	}
	if uerr := r.drainer.Uncordon(ctx, mr.node); uerr != nil {
		r.progress.Step("WARNING: %v; node %s is left cordoned (a re-run resumes or uncordons it)", uerr, mr.node)
	} else {
		r.progress.Step("Uncordoned node %s: its drain failed, so machine %s is not replaced now", mr.node, mr.id)
		// The cordon is undone too: a surged machine stays in progress,
		// and a re-run must cordon its node again before draining it, or
		// evicted pods could be scheduled straight back onto it.
		_ = r.cp.update(ctx, mr.id, func(m *MachineRecord) {
			m.Cordoned = false
			m.Steps = slices.DeleteFunc(m.Steps, func(s string) bool { return s == stepCordon })
		})
	}
	if !mr.surge {
		_ = r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Phase, m.Steps = PhaseReleased, nil })
	}
	return fmt.Errorf("machine %s: %w", mr.id, err)
}

// cordon marks the machine's node unschedulable.
func (r *runner) cordon(ctx context.Context, mr *machineRun) error {
	if err := r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Cordoned = true }); err != nil {
		return err
	}
	if err := r.drainer.Cordon(ctx, mr.node); err != nil {
		return err
	}
	return r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Phase = PhaseCordoned })
}

// drain evicts the node's pods (see package drain).
func (r *runner) drain(ctx context.Context, mr *machineRun) error {
	if err := r.drainer.Drain(ctx, mr.node); err != nil {
		return err
	}
	return r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Phase = PhaseDrained })
}

// postDrainDelay gives the evicted pods time to settle elsewhere.
func (r *runner) postDrainDelay(ctx context.Context, _ *machineRun) error {
	return sleep(ctx, r.o.PostDrainDelay)
}

// detach takes the machine out of its group's count, so the group
// launches its replacement while it still runs.
func (r *runner) detach(ctx context.Context, mr *machineRun) error {
	if err := r.cp.update(ctx, mr.id, func(m *MachineRecord) {
		if m.ActionTime.IsZero() {
			m.ActionTime = time.Now().UTC()
		}
	}); err != nil {
		return err
	}
	if err := r.t.Cloud.DetachInstance(ctx, mr.id); err != nil {
		return err
	}
	return r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Phase = PhaseDetached })
}

// terminate stops the machine; an attached machine's group replaces it.
func (r *runner) terminate(ctx context.Context, mr *machineRun) error {
	if err := r.cp.update(ctx, mr.id, func(m *MachineRecord) {
		m.Phase = PhaseTerminating
		if m.ActionTime.IsZero() {
			m.ActionTime = time.Now().UTC()
		}
	}); err != nil {
		return err
	}
	if err := r.t.Cloud.TerminateInstance(ctx, mr.id, false); err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return err
	}
	return r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Phase, m.Cordoned = PhaseTerminated, false })
}

// loneEtcd reports whether some etcd cluster of the spec has one member.
func loneEtcd(c *v1alpha1.Cluster) bool {
	return c != nil && slices.ContainsFunc(c.Spec.EtcdClusters, func(e v1alpha1.EtcdClusterSpec) bool { return len(e.Members) == 1 })
}

func (r *runner) backupEtcd(ctx context.Context, mr *machineRun) error {
	if err := r.t.BackupEtcd(ctx); err != nil {
		return fmt.Errorf("back up etcd before terminating the only control-plane machine %s: %w", mr.id, err)
	}
	return nil
}

// deleteNode removes the terminated machine's Node. hull runs no cloud
// node controller, so nothing else would, and validation refuses a node
// that is no machine of any group: the run would wait for it forever.
// With a single control plane the API is down until the replacement
// serves it, so failures are retried within ValidationTimeout.
func (r *runner) deleteNode(ctx context.Context, mr *machineRun) error {
	lastNote := time.Now()
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, r.o.PollInterval, r.o.ValidationTimeout, true, func(context.Context) (bool, error) {
		lastErr = r.t.Kube.CoreV1().Nodes().Delete(ctx, mr.node, metav1.DeleteOptions{})
		if lastErr == nil || apierrors.IsNotFound(lastErr) {
			return true, nil
		}
		if time.Since(lastNote) >= 10*time.Second {
			r.progress.Step("%s %s: cannot delete node %s yet (%v); retrying", mr.group, mr.id, mr.node, lastErr)
			lastNote = time.Now()
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	}
	return fmt.Errorf("delete node %s of the terminated machine: %w", mr.node, lastErr)
}

// waitReplacement waits, within ValidationTimeout, for the machine the
// group launched in mr's place to be Running and, unless CloudOnly, a
// Ready node.
func (r *runner) waitReplacement(ctx context.Context, mr *machineRun) error {
	status := "no replacement launched yet"
	var failed error
	err := wait.PollUntilContextTimeout(ctx, r.o.PollInterval, r.o.ValidationTimeout, true, func(context.Context) (bool, error) {
		done, st, err := r.checkReplacement(ctx, mr)
		failed = err
		status = cmp.Or(st, status)
		return done, err
	})
	switch {
	case err == nil:
		return nil
	case failed != nil:
		return failed
	case ctx.Err() != nil:
		return context.Cause(ctx)
	}
	return fmt.Errorf("the replacement of machine %s in group %s did not join within %s: %s", mr.id, mr.group, r.o.ValidationTimeout, status)
}

// checkReplacement pairs mr with a machine launched after it was detached
// or terminated (once paired, always the same one) and reports whether it
// is up.
func (r *runner) checkReplacement(ctx context.Context, mr *machineRun) (bool, string, error) {
	insts, err := r.t.Cloud.ListInstances(ctx, r.cluster)
	if err != nil {
		return false, "", fmt.Errorf("list machines: %w", err)
	}
	rec := r.cp.record(mr.id)
	var repl *cloud.Instance
	if rec.Replacement != "" {
		if i := slices.IndexFunc(insts, func(in *cloud.Instance) bool { return in.ID == rec.Replacement }); i >= 0 && insts[i].State != cloud.StateTerminating {
			repl = insts[i]
		}
		// A replacement that died is itself replaced: pair again.
	}
	if repl == nil {
		repl = r.claim(insts, mr, rec.ActionTime)
		if repl == nil {
			return false, "", nil
		}
		if err := r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Replacement = repl.ID }); err != nil {
			return false, "", err
		}
		r.progress.Step("%s %s: replacement is %s", mr.group, mr.id, repl.ID)
	}
	if repl.State != cloud.StateRunning {
		return false, fmt.Sprintf("replacement %s is %s", repl.ID, repl.State), nil
	}
	if !r.o.CloudOnly {
		node, err := r.t.Kube.CoreV1().Nodes().Get(ctx, repl.ID, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return false, fmt.Sprintf("replacement %s is Running but has not registered as a node", repl.ID), nil
		case err != nil:
			return false, fmt.Sprintf("replacement %s: get node: %v", repl.ID, err), nil
		case !nodeReady(node):
			return false, fmt.Sprintf("node %s of the replacement is not Ready", repl.ID), nil
		}
	}
	return true, "", r.cp.update(ctx, mr.id, func(m *MachineRecord) { m.Phase = PhaseReplaced })
}

// claim picks the earliest unpaired machine of mr's group launched after
// since, attached and not terminating. Machines of the group's queue are
// marked claimed when the group starts, so an old machine is never taken
// for a replacement.
func (r *runner) claim(insts []*cloud.Instance, mr *machineRun, since time.Time) *cloud.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best *cloud.Instance
	for _, in := range insts {
		if in.Group != mr.group || in.ID == mr.id || in.Detached || r.claimed[in.ID] ||
			(in.State != cloud.StatePending && in.State != cloud.StateRunning) ||
			in.LaunchTime.Before(since.Add(-launchSlack)) {
			continue
		}
		if best == nil || in.LaunchTime.Before(best.LaunchTime) {
			best = in
		}
	}
	if best != nil {
		r.claimed[best.ID] = true
	}
	return best
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
