package awscli

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/tests/harness"
)

// rollAction is one machine-changing call of a rolling update.
type rollAction struct {
	action, instance, group string
	at                      time.Time
}

// rollActions picks the calls that act on machines from the request log,
// naming each machine's group from before the roll.
func rollActions(t *testing.T, reqs []awstest.Request, groupOf map[string]string) []rollAction {
	t.Helper()
	var out []rollAction
	for _, r := range reqs {
		if r.Retry() || r.Status != 200 {
			continue
		}
		var id string
		switch r.Action {
		case "DetachInstances":
			id = r.Param("InstanceIds.member.1")
			if r.Param("ShouldDecrementDesiredCapacity") != "false" {
				t.Errorf("DetachInstances %s: ShouldDecrementDesiredCapacity=%q, want false", id, r.Param("ShouldDecrementDesiredCapacity"))
			}
		case "TerminateInstanceInAutoScalingGroup":
			id = r.Param("InstanceId")
			if r.Param("ShouldDecrementDesiredCapacity") != "false" {
				t.Errorf("TerminateInstanceInAutoScalingGroup %s: ShouldDecrementDesiredCapacity=%q, want false", id, r.Param("ShouldDecrementDesiredCapacity"))
			}
		case "TerminateInstances":
			id = r.Param("InstanceId.1")
		case "DeregisterTargets":
			id = r.Param("Targets.member.1.Id")
		case "SetDesiredCapacity", "UpdateAutoScalingGroup":
			t.Errorf("rolling update resized a group: %s %v", r.Action, r.Params)
			continue
		default:
			continue
		}
		out = append(out, rollAction{action: r.Action, instance: id, group: groupOf[id], at: r.Time})
	}
	return out
}

// TestRollingUpdateCloudOnly rolls a private cluster with a bastion, three
// control planes, two nodes and its API name in a hosted zone through the CLI after a cluster-wide change
// made a new launch template version of every group, against the emulator
// and against moto. It asserts the recorded calls: the bastion first, then
// each control plane alone (deregistered from the API target group, then
// terminated in its group without decrementing), then the nodes, every
// surge a DetachInstances without decrement followed by the detached
// machine's termination; the configured intervals between machines; and a
// cluster whose every machine runs the new version at the same sizes.
// Against the emulator, whose groups launch a replacement on a clock once
// below their desired capacity, it also checks from the machines' events
// that each replacement ran before the roll moved on.
func TestRollingUpdateCloudOnly(t *testing.T) {
	forEachAccount(t, awstest.Options{ManualReconcile: true}, testRollingUpdate)
}

func testRollingUpdate(t *testing.T, a *account, e *harness.Env) {
	if emu := a.emu; emu != nil {
		// Machines move on a clock, as on AWS, not on every call: a
		// replacement is launched on a tick after its group drops below
		// the desired capacity and runs a tick later.
		ticking := make(chan struct{})
		go func() {
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ticking:
					return
				case <-tick.C:
					emu.Reconcile()
				}
			}
		}()
		t.Cleanup(func() { close(ticking) })
	}
	const name = "roll.example.com"
	e.Must("create", "cluster", name, "--cloud", "aws", "--zones", "us-east-1a,us-east-1b,us-east-1c",
		"--control-plane-count", "3", "--node-count", "2", "--topology", "private", "--bastion", "--dns-zone", zone)
	e.Must("update", "cluster", name, "--yes")
	before := e.WaitInstances(name, time.Minute, "6 running machines", func(insts []harness.Instance) bool {
		return harness.RunningCount(insts) == 6
	})
	groupOf := map[string]string{}
	for _, in := range before {
		groupOf[in.ID] = in.Group
	}
	if out := e.Must("rolling-update", "cluster", name, "--cloudonly"); !strings.Contains(out, "No rolling-update required.") {
		t.Fatalf("a fresh cluster needs a rolling update:\n%s", out)
	}

	// A cluster-wide kubelet setting changes every group's nodeup config,
	// so update makes a new launch template version of each.
	ctx := context.Background()
	store, err := state.Open(ctx, e.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := registry.New(store)
	c, gen, err := reg.GetCluster(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	maxPods := int32(42)
	if c.Spec.Kubelet == nil {
		c.Spec.Kubelet = &v1alpha1.KubeletSpec{}
	}
	c.Spec.Kubelet.MaxPods = &maxPods
	if _, err := reg.PutCluster(ctx, c, state.MatchGeneration(gen)); err != nil {
		t.Fatal(err)
	}
	e.Must("update", "cluster", name, "--yes")
	plan := e.Must("rolling-update", "cluster", name, "--cloudonly")
	for _, want := range []string{"bastions", "control-plane-a", "control-plane-c", "nodes-a", "NeedsUpdate", "Must specify --yes"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}

	const (
		bastionInterval      = 2 * time.Second
		controlPlaneInterval = 3 * time.Second
		nodeInterval         = 2 * time.Second
	)
	a.calls.ResetRequests()
	out := e.Must("rolling-update", "cluster", name, "--cloudonly", "--yes", "--bastion-interval", bastionInterval.String(),
		"--control-plane-interval", controlPlaneInterval.String(), "--node-interval", nodeInterval.String(), "--validation-timeout", "2m")
	for _, want := range []string{"Waiting 3s (the controlplane interval)", "Waiting 2s (the bastion interval)", "Waiting 2s (the node interval)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	acts := rollActions(t, a.calls.Requests(), groupOf)
	var seq []string
	for _, a := range acts {
		seq = append(seq, a.action+" "+a.group)
	}
	cps := []string{"control-plane-a", "control-plane-b", "control-plane-c"}
	want := []string{"DetachInstances bastions", "TerminateInstances bastions"}
	for _, cp := range cps {
		want = append(want, "DeregisterTargets "+cp, "TerminateInstanceInAutoScalingGroup "+cp)
	}
	want = append(want, "DetachInstances nodes-a", "TerminateInstances nodes-a", "DetachInstances nodes-b", "TerminateInstances nodes-b")
	if !slices.Equal(seq, want) {
		t.Fatalf("machine calls:\n  %s\nwant:\n  %s", strings.Join(seq, "\n  "), strings.Join(want, "\n  "))
	}
	// Every machine of before was acted on, each by its own calls.
	for i := 0; i+1 < len(acts); i += 2 {
		if acts[i].instance != acts[i+1].instance || acts[i].instance == "" {
			t.Errorf("calls %d and %d are about %q and %q, want one machine", i, i+1, acts[i].instance, acts[i+1].instance)
		}
	}
	// Between one machine's last call and the next one's first, the run
	// waited for the replacement and then the interval of the role it
	// just rolled.
	intervalAfter := map[string]time.Duration{"bastions": bastionInterval, "nodes-a": nodeInterval}
	for _, cp := range cps {
		intervalAfter[cp] = controlPlaneInterval
	}
	for i := 1; i+1 < len(acts); i += 2 {
		prev, next := acts[i], acts[i+1]
		if gap := next.at.Sub(prev.at); gap < intervalAfter[prev.group] {
			t.Errorf("%s of %s %s came %s after %s of %s, want at least %s", next.action, next.group, next.instance, gap, prev.action, prev.group, intervalAfter[prev.group])
		}
	}

	if a.emu != nil {
		checkReplacedFirst(t, acts, a.emu.InstanceEvents(), groupOf)
	}

	after := e.WaitInstances(name, time.Minute, "6 running machines at the new version", func(insts []harness.Instance) bool {
		return harness.RunningCount(insts) == 6 && !slices.ContainsFunc(insts, func(i harness.Instance) bool { return i.NeedsUpdate })
	})
	for _, in := range after {
		if _, old := groupOf[in.ID]; old {
			t.Errorf("machine %s of %s survived the roll", in.ID, in.Group)
		}
	}
	checkTemplateVersion(t, a, "2")
	if out := e.Must("rolling-update", "cluster", name, "--cloudonly"); !strings.Contains(out, "No rolling-update required.") {
		t.Errorf("after the roll:\n%s", out)
	}
	e.Must("delete", "cluster", name, "--yes")
	if left := a.leftovers(t); len(left) > 0 {
		t.Errorf("left in the account after delete:\n%s", strings.Join(left, "\n"))
	}
}

// checkReplacedFirst checks, from the emulator's machine events, that a
// surged machine was terminated only once its replacement ran, and that a
// control-plane machine's replacement ran before the next machine was
// touched: the control plane is replaced one machine at a time.
func checkReplacedFirst(t *testing.T, acts []rollAction, events []awstest.InstanceEvent, groupOf map[string]string) {
	t.Helper()
	// runningAt is when a machine new to the group first ran.
	runningAt := map[string]time.Time{}
	for _, ev := range events {
		// Auto Scaling groups are named <instance group>.<cluster>.
		group, _, _ := strings.Cut(ev.Group, ".")
		if _, old := groupOf[ev.ID]; !old && ev.State == "running" && group != "" {
			if _, seen := runningAt[group]; !seen {
				runningAt[group] = ev.Time
			}
		}
	}
	for i := 0; i+1 < len(acts); i += 2 {
		first, last := acts[i], acts[i+1]
		ran, ok := runningAt[first.group]
		if !ok {
			t.Errorf("no replacement ran in %s", first.group)
			continue
		}
		switch first.action {
		case "DetachInstances":
			if !ran.After(first.at) || !ran.Before(last.at) {
				t.Errorf("%s: the replacement ran at %s, want between the detach (%s) and the termination (%s)",
					first.group, ran.Format(time.StampMicro), first.at.Format(time.StampMicro), last.at.Format(time.StampMicro))
			}
		case "DeregisterTargets":
			if !ran.After(last.at) {
				t.Errorf("%s: the replacement ran at %s, before the old machine was terminated at %s", first.group, ran.Format(time.StampMicro), last.at.Format(time.StampMicro))
			}
			if i+2 < len(acts) && !ran.Before(acts[i+2].at) {
				t.Errorf("%s: %s of %s came at %s, before the replacement ran at %s",
					first.group, acts[i+2].action, acts[i+2].group, acts[i+2].at.Format(time.StampMicro), ran.Format(time.StampMicro))
			}
		}
	}
}

// checkTemplateVersion checks, through the SDK, that every machine of the
// account runs the launch template version it was launched with, as the
// tag EC2 puts on it at launch says.
func checkTemplateVersion(t *testing.T, a *account, want string) {
	t.Helper()
	out, err := ec2.NewFromConfig(a.sdk).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			tags := map[string]string{}
			for _, tag := range in.Tags {
				tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if v := tags["aws:ec2launchtemplate:version"]; v != want {
				t.Errorf("%s of %s runs launch template version %q, want %s", aws.ToString(in.InstanceId), tags[awsmodel.TagInstanceGroup], v, want)
			}
		}
	}
}
