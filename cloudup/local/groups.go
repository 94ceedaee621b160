package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/cloud"
)

func (d *daemon) findLaunchConfigs(cluster string) []*cloud.LaunchConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []*cloud.LaunchConfig{}
	for _, lc := range d.st.LaunchConfigs {
		if lc.Cluster == cluster {
			cp := *lc
			out = append(out, &cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// ensureLaunchConfig records what the group's next machines boot with.
// Running machines keep their version; rolling-update replaces them.
func (d *daemon) ensureLaunchConfig(lc *cloud.LaunchConfig) error {
	switch {
	case lc.Cluster == "" || lc.Group == "":
		return errInvalid("launch config: cluster and group are required")
	case lc.Image == "":
		return errInvalid("launch config of group %s: image is required", lc.Group)
	case lc.ConfigVersion == "":
		return errInvalid("launch config of group %s: configVersion is required", lc.Group)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.st.Images[lc.Image]; !ok {
		return errNotFound("launch config of group %s: image %s is not imported into the local cloud", lc.Group, lc.Image)
	}
	cp := *lc
	d.st.LaunchConfigs[key(lc.Cluster, lc.Group)] = &cp
	d.wake()
	return d.saveLocked()
}

func (d *daemon) deleteLaunchConfig(cluster, group string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.st.Groups[key(cluster, group)]; ok {
		return errConflict("launch config of group %s is used by instance group %s; delete the group first", group, group)
	}
	delete(d.st.LaunchConfigs, key(cluster, group))
	return d.saveLocked()
}

func (d *daemon) findGroups(cluster string) []*cloud.InstanceGroup {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []*cloud.InstanceGroup{}
	for k, g := range d.st.Groups {
		if g.Cluster != cluster {
			continue
		}
		cp := g.InstanceGroup
		cp.Subnets = slices.Clone(g.Subnets)
		if lc := d.st.LaunchConfigs[k]; lc != nil {
			cp.ConfigVersion = lc.ConfigVersion
		}
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ensureGroup creates or updates a group. Desired 0 keeps the current target
// (MinSize for a new group); the target always ends within [MinSize, MaxSize].
func (d *daemon) ensureGroup(g *cloud.InstanceGroup) error {
	switch {
	case g.Cluster == "" || g.Name == "":
		return errInvalid("instance group: cluster and name are required")
	case g.Role == "":
		return errInvalid("instance group %s: role is required", g.Name)
	case g.MinSize < 0 || g.MaxSize < g.MinSize:
		return errInvalid("instance group %s: sizes must satisfy 0 <= minSize (%d) <= maxSize (%d)", g.Name, g.MinSize, g.MaxSize)
	case len(g.Subnets) == 0:
		return errInvalid("instance group %s: at least one subnet is required", g.Name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.st.Networks[g.Cluster]
	if n == nil {
		return errNotFound("instance group %s: cluster %s has no network; create it first", g.Name, g.Cluster)
	}
	for _, s := range g.Subnets {
		if !slices.ContainsFunc(n.Subnets, func(ns cloud.Subnet) bool { return ns.Name == s }) {
			return errNotFound("instance group %s: cluster %s has no subnet %s", g.Name, g.Cluster, s)
		}
	}
	k := key(g.Cluster, g.Name)
	if d.st.LaunchConfigs[k] == nil {
		return errNotFound("instance group %s: it has no launch config; create it first", g.Name)
	}
	rec := &group{InstanceGroup: *g}
	rec.Subnets = slices.Clone(g.Subnets)
	rec.ConfigVersion = ""
	desired := g.Desired
	if old := d.st.Groups[k]; old != nil {
		rec.NextSubnet = old.NextSubnet
		if desired == 0 {
			desired = old.Desired
		}
	}
	if desired == 0 {
		desired = g.MinSize
	}
	rec.Desired = min(max(desired, g.MinSize), g.MaxSize)
	d.st.Groups[k] = rec
	d.wake()
	return d.saveLocked()
}

// deleteGroup stops the group launching, terminates all its machines
// (detached ones too), waits for them, and forgets its launch config.
func (d *daemon) deleteGroup(ctx context.Context, cluster, name string) error {
	d.mu.Lock()
	k := key(cluster, name)
	delete(d.st.Groups, k)
	delete(d.st.LaunchConfigs, k)
	var ids []string
	for _, inst := range d.st.Instances {
		if inst.Cluster == cluster && inst.Group == name && inst.live() {
			d.beginTerminateLocked(inst, "instance group deleted")
			ids = append(ids, inst.ID)
		}
	}
	err := d.saveLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.log.Info("deleting instance group", "cluster", cluster, "group", name, "instances", len(ids))
	return d.waitTerminated(ctx, ids)
}

// waitTerminated polls until every instance is Terminated.
func (d *daemon) waitTerminated(ctx context.Context, ids []string) error {
	var left []string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		left = slices.DeleteFunc(slices.Clone(ids), func(id string) bool {
			inst := d.st.Instances[id]
			return inst == nil || !inst.live()
		})
		return len(left) == 0, nil
	})
	if err != nil {
		return errBusy("instances %s are still terminating: %v", strings.Join(left, ", "), err)
	}
	return nil
}

// listInstances returns the cluster's instances that are not terminated,
// detached ones included, sorted by group then id.
func (d *daemon) listInstances(cluster string) []*cloud.Instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []*cloud.Instance{}
	for _, inst := range d.st.Instances {
		if inst.Cluster == cluster && inst.live() {
			cp := inst.Instance
			out = append(out, &cp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (d *daemon) getInstance(id string) (*cloud.Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	inst := d.st.Instances[id]
	if inst == nil {
		return nil, errNotFound("instance %s does not exist", id)
	}
	cp := inst.Instance
	return &cp, nil
}

// terminateInstance stops a machine and waits until it is gone. With
// decrement its group's target shrinks too, never below the group's minimum.
func (d *daemon) terminateInstance(ctx context.Context, id string, decrement bool) error {
	d.mu.Lock()
	inst := d.st.Instances[id]
	if inst == nil {
		d.mu.Unlock()
		return errNotFound("instance %s does not exist", id)
	}
	if !inst.live() {
		d.mu.Unlock()
		return nil
	}
	if decrement && !inst.Detached && inst.State != cloud.StateTerminating {
		if g := d.st.Groups[key(inst.Cluster, inst.Group)]; g != nil {
			if g.Desired-1 < g.MinSize {
				d.mu.Unlock()
				return errConflict("cannot terminate instance %s with decrement: instance group %s would go below its minimum size %d", id, g.Name, g.MinSize)
			}
			g.Desired--
		}
	}
	reason := "terminated by request"
	if decrement {
		reason = "terminated by request, group size decremented"
	}
	d.beginTerminateLocked(inst, reason)
	err := d.saveLocked()
	d.mu.Unlock()
	d.wake()
	if err != nil {
		return err
	}
	return d.waitTerminated(ctx, []string{id})
}

// detachInstance takes a machine out of its group's count; it keeps running
// (and is listed as detached) so its group launches a replacement first.
func (d *daemon) detachInstance(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	inst := d.st.Instances[id]
	if inst == nil || !inst.live() {
		return errNotFound("instance %s does not exist or is terminated", id)
	}
	if inst.State == cloud.StateTerminating {
		return errConflict("instance %s is terminating and cannot be detached", id)
	}
	if inst.Detached {
		return nil
	}
	inst.Detached = true
	d.log.Info("detached instance", "instance", id, "group", inst.Group)
	d.wake()
	return d.saveLocked()
}

// reconcileLoop runs a reconcile pass every tick and after every change.
func (d *daemon) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(reconcileInterval)
	defer t.Stop()
	for {
		d.reconcile()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.poke:
		}
	}
}

// reconcile notices dead machines, promotes Pending ones, keeps every group
// at its target and keeps load balancers' listeners and backends current.
func (d *daemon) reconcile() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	changed := false
	now := time.Now()
	for _, inst := range d.st.Instances {
		switch {
		case !inst.live() || d.launching[inst.ID] || d.stopping[inst.ID]:
		case inst.State == cloud.StateTerminating:
			// A stop that failed earlier: retry now and then.
			if now.Sub(d.stopFailedAt[inst.ID]) > 5*time.Second {
				d.beginTerminateLocked(inst, inst.Reason)
			}
		case inst.Machine == nil || !inst.Machine.Alive():
			d.log.Warn("machine's boot process died; replacing it", "instance", inst.ID, "group", inst.Group)
			d.beginTerminateLocked(inst, "boot process exited")
			changed = true
		case inst.State == cloud.StatePending && now.Sub(inst.BootedAt) >= runningAfter:
			inst.State = cloud.StateRunning
			d.log.Info("instance running", "instance", inst.ID, "group", inst.Group, "address", inst.Address)
			changed = true
		}
	}
	for k, g := range d.st.Groups {
		if d.scaleGroupLocked(k, g, now) {
			changed = true
		}
	}
	for id, inst := range d.st.Instances {
		if !inst.live() && now.Sub(inst.TerminatedAt) > keepTerminated {
			d.forgetInstanceLocked(id)
			changed = true
		}
	}
	d.syncLoadBalancersLocked()
	d.syncMachineAPIsLocked()
	if changed {
		_ = d.saveLocked()
	}
}

// scaleGroupLocked launches or terminates machines so the group has Desired
// live, attached machines.
func (d *daemon) scaleGroupLocked(k string, g *group, now time.Time) bool {
	lc := d.st.LaunchConfigs[k]
	var members []*instance
	for _, inst := range d.st.Instances {
		if inst.Cluster == g.Cluster && inst.Group == g.Name && inst.live() && !inst.Detached && inst.State != cloud.StateTerminating {
			members = append(members, inst)
		}
	}
	switch {
	case len(members) < g.Desired:
		if lc == nil || now.Before(d.backoff[k].until) {
			return false
		}
		n := d.st.Networks[g.Cluster]
		if n == nil {
			return false
		}
		for range g.Desired - len(members) {
			if !d.startLaunchLocked(g, lc, n) {
				break
			}
		}
		return true
	case len(members) > g.Desired:
		// Out-of-date machines go first, then the newest.
		sort.Slice(members, func(i, j int) bool {
			oi, oj := lc != nil && members[i].ConfigVersion != lc.ConfigVersion, lc != nil && members[j].ConfigVersion != lc.ConfigVersion
			if oi != oj {
				return oi
			}
			if !members[i].LaunchTime.Equal(members[j].LaunchTime) {
				return members[i].LaunchTime.After(members[j].LaunchTime)
			}
			return members[i].ID > members[j].ID
		})
		for _, inst := range members[:len(members)-g.Desired] {
			d.log.Info("scaling in", "instance", inst.ID, "group", g.Name, "desired", g.Desired)
			d.beginTerminateLocked(inst, "scale in")
		}
		return true
	}
	return false
}

// startLaunchLocked records a Pending instance with its address and starts
// its machine in the background.
func (d *daemon) startLaunchLocked(g *group, lc *cloud.LaunchConfig, n *network) bool {
	subnet := g.Subnets[g.NextSubnet%len(g.Subnets)]
	g.NextSubnet = (g.NextSubnet + 1) % len(g.Subnets)
	addr, gw, err := d.allocateAddressLocked(n, subnet)
	if err != nil {
		d.log.Error("cannot launch machine", "group", g.Name, "err", err)
		d.noteLaunchFailureLocked(key(g.Cluster, g.Name))
		return false
	}
	inst := &instance{
		Instance: cloud.Instance{
			ID:            d.newInstanceIDLocked(),
			Cluster:       g.Cluster,
			Group:         g.Name,
			Role:          g.Role,
			Address:       addr.Addr().String(),
			State:         cloud.StatePending,
			ConfigVersion: lc.ConfigVersion,
			LaunchTime:    time.Now().UTC(),
		},
		Subnet:       subnet,
		Image:        lc.Image,
		CgroupParent: cgroupParent(g.Cluster),
	}
	d.st.Instances[inst.ID] = inst
	d.launching[inst.ID] = true
	d.ops.Add(1)
	go d.launch(launchRequest{inst: inst.Instance, lc: *lc, address: addr, gateway: gw, bridge: n.ID, networkCIDR: n.CIDR, subnets: len(n.Subnets)})
	return true
}

func (d *daemon) newInstanceIDLocked() string {
	for {
		b := make([]byte, 5)
		_, _ = rand.Read(b)
		id := "i-" + hex.EncodeToString(b)
		if _, taken := d.st.Instances[id]; !taken {
			return id
		}
	}
}

// launchBackoff slows relaunching a group whose launches keep failing.
type launchBackoff struct {
	failures int
	until    time.Time
}

func (d *daemon) noteLaunchFailureLocked(groupKey string) {
	b := d.backoff[groupKey]
	b.failures++
	delay := min(time.Second<<min(b.failures-1, 5), 30*time.Second)
	b.until = time.Now().Add(delay)
	d.backoff[groupKey] = b
}
