package cluster

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hullproject/hull/channels"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/kube/validate"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/upgrades"
)

// UpgradeOptions are what `hull upgrade cluster` asks for.
type UpgradeOptions struct {
	// KubernetesVersion asks for a version instead of the channel's next step.
	KubernetesVersion string
	// Channel is the channel to upgrade within and to record in
	// spec.channel; empty keeps the cluster's.
	Channel string
	// CloudOnly skips the check that the cluster validates first;
	// SkipBackup the etcd backups.
	CloudOnly, SkipBackup bool
	// BackupTimeout bounds each etcd backup.
	BackupTimeout time.Duration
	// Validated is given the validation taken before the upgrade (unless
	// CloudOnly) and returns nil when the upgrade may go on.
	Validated func(*validate.Result) error
}

// Upgrade is what an upgrade changes in the spec.
type Upgrade struct {
	Channel *channels.Channel
	Step    *upgrades.Step // nil when the version stays
	Rows    [][]string     // ITEM PROPERTY OLD NEW
	Notes   []string
	// NewChannel is the channel the upgrade moves the cluster to, if any.
	NewChannel string

	name         string
	cluster      *v1alpha1.Cluster // the new user spec
	gen          state.Generation  // of the cluster as read
	groups       []groupWrite      // groups whose spec.image changes
	etcdClusters []string          // backed up before the upgrade is written
}

// groupWrite is one instance group to write, read fresh with its generation.
type groupWrite struct {
	group *v1alpha1.InstanceGroup
	gen   state.Generation
}

// Empty reports whether the upgrade changes nothing.
func (u *Upgrade) Empty() bool { return len(u.Rows) == 0 }

// PlanUpgrade works out the next step from the cluster's version in its
// channel (see upgrades.Plan) and every change of the spec it takes: the
// version, the etcd versions, the groups' images, the channel. The result
// is checked as any written spec is.
func (c *Cluster) PlanUpgrade(ctx context.Context, o UpgradeOptions) (*Upgrade, error) {
	spec, groups, err := c.Spec(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := channels.Load(ctx, orDefault(o.Channel, spec.Spec.Channel))
	if err != nil {
		return nil, err
	}
	step, err := upgrades.Plan(spec.Spec.KubernetesVersion, ch, o.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	up := &Upgrade{name: c.Name, Channel: ch, Step: step, gen: c.gen, etcdClusters: etcdClusterNames(spec)}
	nc := *spec
	up.cluster = &nc
	if step != nil {
		nc.Spec.KubernetesVersion = step.To
		up.Rows = append(up.Rows, []string{"Cluster", "KubernetesVersion", spec.Spec.KubernetesVersion, step.To})
		if err := up.planEtcd(spec); err != nil {
			return nil, err
		}
	}
	if up.NewChannel = ChangedChannel(o.Channel, spec); up.NewChannel != "" {
		nc.Spec.Channel = up.NewChannel
		up.Rows = append(up.Rows, []string{"Cluster", "Channel", orDefault(spec.Spec.Channel, completion.DefaultChannel), up.NewChannel})
	}
	if step == nil {
		return up, nil
	}
	newIGs, err := c.planImages(ctx, up, spec, groups)
	if err != nil {
		return nil, err
	}
	if err := CheckSpec(ctx, up.cluster, newIGs, c.reg.ConfigBase(c.Name)); err != nil {
		return nil, err
	}
	return up, nil
}

// Upgrade writes a planned upgrade: first it checks that the cluster
// validates (unless o.CloudOnly) and has the etcd managers back up every
// etcd cluster (unless o.SkipBackup), so the upgrade starts from a healthy
// cluster that can be put back; if either fails, nothing is written. Then,
// under the cluster's lease, it plans again (the spec may have changed
// since) and writes that plan, which it returns.
func (c *Cluster) Upgrade(ctx context.Context, planned *Upgrade, o UpgradeOptions) (*Upgrade, error) {
	if !o.CloudOnly {
		fmt.Fprintf(c.errOut, "Checking that cluster %s validates before the upgrade\n", c.Name)
		res, err := c.Validate(ctx, 0)
		if err == nil && o.Validated != nil {
			err = o.Validated(res)
		}
		if err != nil {
			return nil, fmt.Errorf("%w; nothing was written: fix the cluster first, or pass --cloudonly to upgrade without this check", err)
		}
	}
	if o.SkipBackup {
		fmt.Fprintln(c.errOut, "WARNING: --skip-backup: no etcd backup was taken before this upgrade; there is nothing to restore if it goes wrong.")
	} else if err := c.backupAll(ctx, planned.etcdClusters, o.BackupTimeout); err != nil {
		return nil, fmt.Errorf("etcd backup before the upgrade: %w; nothing was written (--skip-backup upgrades without one)", err)
	}
	var written *Upgrade
	err := c.withLock(ctx, func(ctx context.Context) error {
		var err error
		if written, err = c.PlanUpgrade(ctx, o); err != nil {
			return err
		}
		if written.Empty() {
			return nil
		}
		return c.writeUpgrade(ctx, written)
	})
	return written, err
}

// Path is every step from the cluster's version to the channel's latest,
// this upgrade's first; err says why the path stops early, if it does.
func (u *Upgrade) Path() ([]upgrades.Step, error) {
	if u.Step == nil {
		return nil, nil
	}
	rest, err := upgrades.Path(u.Step.To, u.Channel)
	return append([]upgrades.Step{*u.Step}, rest...), err
}

// Same reports whether two plans make the same changes.
func (u *Upgrade) Same(v *Upgrade) bool { return reflect.DeepEqual(u.Rows, v.Rows) }

// planEtcd checks the step against the etcd version each etcd cluster runs
// (its spec's, else hull's default) and moves those the target's channel
// entry runs at another version, a row each.
func (u *Upgrade) planEtcd(c *v1alpha1.Cluster) error {
	u.cluster.Spec.EtcdClusters = slices.Clone(c.Spec.EtcdClusters)
	for i, e := range c.Spec.EtcdClusters {
		running := orDefault(e.Version, completion.DefaultEtcdVersion)
		if err := u.Step.CheckClusterEtcd(running); err != nil {
			return fmt.Errorf("etcd cluster %s (spec.etcdClusters[%d].version %s): %w", e.Name, i, running, err)
		}
		if u.Step.EtcdTo != "" && u.Step.EtcdTo != strings.TrimPrefix(running, "v") {
			u.cluster.Spec.EtcdClusters[i].Version = u.Step.EtcdTo
			u.Rows = append(u.Rows, []string{"Cluster", "EtcdClusters/" + e.Name + "/Version", running, u.Step.EtcdTo})
		}
	}
	return nil
}

// planImages adds a row per instance group whose image changes with the
// version, and returns the groups as they will be. A group without
// spec.image follows the completed default; one whose spec.image is the old
// version's image is rewritten; any other image is pinned and left alone.
func (c *Cluster) planImages(ctx context.Context, u *Upgrade, spec *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) ([]*v1alpha1.InstanceGroup, error) {
	configBase := c.reg.ConfigBase(c.Name)
	oldDefaults, err := defaultImages(spec, igs, configBase)
	if err != nil {
		return nil, err
	}
	newDefaults, err := defaultImages(u.cluster, igs, configBase)
	if err != nil {
		return nil, err
	}
	cloudName := orDefault(spec.Spec.CloudProvider, completion.DefaultCloudProvider)
	out := make([]*v1alpha1.InstanceGroup, len(igs))
	for i, ig := range igs {
		out[i] = ig
		item, image := "InstanceGroup/"+ig.Metadata.Name, ig.Spec.Image
		if image == "" {
			if oldDefaults[i] != newDefaults[i] {
				u.Rows = append(u.Rows, []string{item, "Image", oldDefaults[i], newDefaults[i]})
			}
			continue
		}
		next := oldDefaults[i]
		if image == next {
			next = newDefaults[i]
		} else if next = channelImageSuccessor(u.Channel, cloudName, image, u.Step); next == "" {
			u.Notes = append(u.Notes, fmt.Sprintf("InstanceGroup/%s pins image %q, which is not the image of Kubernetes %s; it is left as is.", ig.Metadata.Name, image, u.Step.From))
			continue
		}
		fresh, gen, err := c.reg.GetInstanceGroup(ctx, c.Name, ig.Metadata.Name)
		if err != nil {
			return nil, err
		}
		if fresh.Spec.Image != image {
			return nil, fmt.Errorf("instance group %s changed while planning the upgrade; run the command again", ig.Metadata.Name)
		}
		fresh.Spec.Image = next
		u.groups = append(u.groups, groupWrite{group: fresh, gen: gen})
		u.Rows = append(u.Rows, []string{item, "Image", image, next})
		out[i] = fresh
	}
	return out, nil
}

// defaultImages is the completed image of each group had it no spec.image.
func defaultImages(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, configBase string) ([]string, error) {
	probes := make([]*v1alpha1.InstanceGroup, len(igs))
	for i, ig := range igs {
		p := *ig
		p.Spec.Image = ""
		probes[i] = &p
	}
	_, completed, err := completion.Complete(c, probes, completion.Options{ConfigBase: configBase})
	if err != nil {
		return nil, err
	}
	images := make([]string, len(completed))
	for i, ig := range completed {
		images[i] = ig.Spec.Image
	}
	return images, nil
}

// channelImageSuccessor maps an image the channel lists for step.From (any
// architecture) to the same architecture's image for step.To, or "".
func channelImageSuccessor(ch *channels.Channel, cloudName, image string, step *upgrades.Step) string {
	kv, ok := ch.VersionsFor(step.From)
	if !ok {
		return ""
	}
	for _, img := range kv.Images {
		old, err := ch.ImageFor(cloudName, img.Architecture, step.From)
		if err != nil || old.Name != image {
			continue
		}
		if next, err := ch.ImageFor(cloudName, img.Architecture, step.To); err == nil {
			return next.Name
		}
	}
	return ""
}

// writeUpgrade writes the cluster first, then its groups, each only if it is
// still at the generation the plan read. Should a group write fail, the
// group keeps the older image: nodes behind the control plane are allowed.
func (c *Cluster) writeUpgrade(ctx context.Context, up *Upgrade) error {
	if _, err := c.reg.PutCluster(ctx, up.cluster, state.MatchGeneration(up.gen)); err != nil {
		return fmt.Errorf("write cluster %s: %w", up.name, err)
	}
	for _, g := range up.groups {
		if _, err := c.reg.PutInstanceGroup(ctx, up.name, g.group, state.MatchGeneration(g.gen)); err != nil {
			return fmt.Errorf("write instance group %s (the cluster spec was written; run the upgrade again): %w", g.group.Metadata.Name, err)
		}
	}
	return nil
}

// UpgradePath is every step from the cluster's version to its channel's
// latest recommended one.
type UpgradePath struct {
	Current string
	Channel *channels.Channel
	Steps   []upgrades.Step
	// Blocked says why the path stops before the latest, if it does.
	Blocked error
	// NewChannel is the channel asked for when it is not the cluster's.
	NewChannel string
}

// PlanUpgradePath works out the whole upgrade path within channel (the
// cluster's own when empty).
func (c *Cluster) PlanUpgradePath(ctx context.Context, channel string) (*UpgradePath, error) {
	spec, _, err := c.Spec(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := channels.Load(ctx, orDefault(channel, spec.Spec.Channel))
	if err != nil {
		return nil, err
	}
	steps, blocked := upgrades.Path(spec.Spec.KubernetesVersion, ch)
	return &UpgradePath{Current: spec.Spec.KubernetesVersion, Channel: ch, Steps: steps, Blocked: blocked, NewChannel: ChangedChannel(channel, spec)}, nil
}

// ChangedChannel is the channel asked for when it moves the cluster to
// another channel, else "".
func ChangedChannel(channel string, c *v1alpha1.Cluster) string {
	if channel != "" && channel != orDefault(c.Spec.Channel, completion.DefaultChannel) {
		return channel
	}
	return ""
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
