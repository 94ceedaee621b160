package commands

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/channels"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/upgrades"
)

func newUpgradeCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade a cluster's Kubernetes version, one minor at a time",
	}
	cmd.AddCommand(newUpgradeClusterCommand(o), newUpgradePlanCommand(o))
	return cmd
}

// upgradeOptions are the flags of `hull upgrade cluster`.
type upgradeOptions struct {
	yes, skipBackup, cloudOnly bool
	kubernetesVersion, channel string
	backupTimeout              time.Duration
}

func newUpgradeClusterCommand(o *rootOptions) *cobra.Command {
	var opts upgradeOptions
	cmd := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Move a cluster's spec to the next Kubernetes version of its channel",
		Long: `Propose the next Kubernetes version for the cluster from its release channel
(spec.channel, else stable): the channel's recommended patch of the current
minor if the cluster is behind it, otherwise the next minor's recommended
version. --kubernetes-version asks for a version instead; it is refused if it
skips a minor, downgrades, is not listed by the channel or is below its
required minimum, or needs an etcd change the target does not support.

Without --yes the changes are only printed. With --yes the new version and the
instance-group images that follow it are written to the state store; nothing in
the cloud changes until 'hull update cluster' and 'hull rolling-update cluster'.

Before writing, --yes checks that the cluster validates (--cloudonly skips
that) and has the etcd managers take a backup of every etcd cluster, waiting
until each is listed by 'hull backup list' (--skip-backup skips that, loudly).
If either fails, nothing is written.`,
		Example: `  hull upgrade cluster demo.example.com
  hull upgrade cluster demo.example.com --yes
  hull upgrade cluster demo.example.com --kubernetes-version 1.37.2 --yes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.upgradeCluster(cmd.Context(), name, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.yes, "yes", "y", false, "write the new version to the state store")
	f.StringVar(&opts.kubernetesVersion, "kubernetes-version", "", "upgrade to this version instead of the channel's next step")
	f.StringVar(&opts.channel, "channel", "", "release channel to upgrade within, and to record in spec.channel (name, file:// or https://)")
	f.BoolVar(&opts.skipBackup, "skip-backup", false, "do not take an etcd backup first (there is then nothing to restore if the upgrade goes wrong)")
	f.DurationVar(&opts.backupTimeout, "backup-timeout", 10*time.Minute, "how long to wait for each etcd backup")
	f.BoolVar(&opts.cloudOnly, "cloudonly", false, "do not check that the cluster validates first")
	return cmd
}

func newUpgradePlanCommand(o *rootOptions) *cobra.Command {
	var channel string
	cmd := &cobra.Command{
		Use:   "plan NAME",
		Short: "Show every step from the cluster's version to its channel's latest",
		Long: `Print the whole upgrade path of a cluster: the latest patch of its minor first,
then each following minor, one at a time, up to the channel's latest
recommended version, with the commands each step takes. Nothing is changed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			return o.upgradePlan(cmd.Context(), name, channel)
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "", "release channel to plan within (default spec.channel, else stable)")
	return cmd
}

// clusterUpgrade is what `upgrade cluster` would change.
type clusterUpgrade struct {
	name    string
	channel *channels.Channel
	step    *upgrades.Step // nil when the version stays
	rows    [][]string     // ITEM PROPERTY OLD NEW
	notes   []string
	// newChannel is the channel the upgrade moves the cluster to, if any.
	newChannel string

	cluster *v1alpha1.Cluster // the new user spec
	gen     state.Generation  // of the cluster as read
	groups  []groupWrite      // groups whose spec.image changes

	etcdClusters []string // backed up before the upgrade is written
}

// groupWrite is one instance group to write, read fresh with its generation.
type groupWrite struct {
	group *v1alpha1.InstanceGroup
	gen   state.Generation
}

func (u *clusterUpgrade) empty() bool { return len(u.rows) == 0 }

func (o *rootOptions) upgradeCluster(ctx context.Context, name string, opts upgradeOptions) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	up, err := planClusterUpgrade(ctx, reg, name, opts)
	if err != nil {
		return err
	}
	if err := o.printUpgrade(up); err != nil || up.empty() {
		return err
	}
	if !opts.yes {
		o.printPath(up)
		fmt.Fprintln(o.out, "\nMust specify --yes to perform upgrade")
		return nil
	}
	if err := o.beforeUpgrade(ctx, name, up, opts); err != nil {
		return err
	}

	var written *clusterUpgrade
	err = reg.WithLock(ctx, name, func(ctx context.Context) error {
		// Plan again under the lease: the spec may have changed since the
		// plan shown; what is written is printed again if so.
		if written, err = planClusterUpgrade(ctx, reg, name, opts); err != nil {
			return err
		}
		if !reflect.DeepEqual(written.rows, up.rows) {
			fmt.Fprintln(o.errOut, "The cluster changed while the upgrade was prepared; writing this instead:")
			if err := o.printUpgrade(written); err != nil {
				return err
			}
		}
		if written.empty() {
			return nil
		}
		return writeUpgrade(ctx, reg, written)
	})
	if err != nil || written.empty() {
		return err
	}
	fmt.Fprintf(o.out, "\nWrote the new spec of cluster %s. Nothing in the cloud has changed yet; next run:\n", name)
	fmt.Fprintf(o.out, "  hull update cluster %s --yes\n", name)
	fmt.Fprintf(o.out, "  hull rolling-update cluster %s --yes\n", name)
	return nil
}

// beforeUpgrade checks that the cluster validates (unless --cloudonly) and
// takes a backup of every etcd cluster (unless --skip-backup), so the
// upgrade starts from a healthy cluster that can be put back.
func (o *rootOptions) beforeUpgrade(ctx context.Context, name string, up *clusterUpgrade, opts upgradeOptions) error {
	if !opts.cloudOnly {
		fmt.Fprintf(o.errOut, "Checking that cluster %s validates before the upgrade\n", name)
		if err := o.validateCluster(ctx, name, 0, output.Table); err != nil {
			return fmt.Errorf("%w; nothing was written: fix the cluster first, or pass --cloudonly to upgrade without this check", err)
		}
	}
	if opts.skipBackup {
		fmt.Fprintln(o.errOut, "WARNING: --skip-backup: no etcd backup was taken before this upgrade; there is nothing to restore if it goes wrong.")
		return nil
	}
	for _, etcd := range up.etcdClusters {
		if err := o.backupCreate(ctx, name, etcd, opts.backupTimeout); err != nil {
			return fmt.Errorf("etcd backup before the upgrade: %w; nothing was written (--skip-backup upgrades without one)", err)
		}
	}
	return nil
}

// planClusterUpgrade reads the cluster and its channel and works out every change.
func planClusterUpgrade(ctx context.Context, reg *registry.Registry, name string, opts upgradeOptions) (*clusterUpgrade, error) {
	c, gen, err := reg.GetCluster(ctx, name)
	if err != nil {
		return nil, err
	}
	igs, err := reg.ListInstanceGroups(ctx, name)
	if err != nil {
		return nil, err
	}
	ch, err := channels.Load(ctx, orDefault(opts.channel, c.Spec.Channel))
	if err != nil {
		return nil, err
	}
	step, err := upgrades.Plan(c.Spec.KubernetesVersion, ch, opts.kubernetesVersion)
	if err != nil {
		return nil, err
	}
	up := &clusterUpgrade{name: name, channel: ch, step: step, gen: gen}
	for _, e := range c.Spec.EtcdClusters {
		up.etcdClusters = append(up.etcdClusters, e.Name)
	}
	nc := *c
	up.cluster = &nc
	if step != nil {
		nc.Spec.KubernetesVersion = step.To
		up.rows = append(up.rows, []string{"Cluster", "KubernetesVersion", c.Spec.KubernetesVersion, step.To})
		if err := up.planEtcd(c); err != nil {
			return nil, err
		}
	}
	if up.newChannel = changedChannel(opts.channel, c); up.newChannel != "" {
		nc.Spec.Channel = up.newChannel
		up.rows = append(up.rows, []string{"Cluster", "Channel", orDefault(c.Spec.Channel, completion.DefaultChannel), up.newChannel})
	}
	if step == nil {
		return up, nil
	}
	newIGs, err := up.planImages(ctx, reg, c, igs)
	if err != nil {
		return nil, err
	}
	if err := checkSpec(ctx, up.cluster, newIGs, reg.ConfigBase(name)); err != nil {
		return nil, err
	}
	return up, nil
}

// planEtcd checks the step against the etcd version each etcd cluster runs
// (its spec's, else hull's default) and moves those the target's channel
// entry runs at another version, a row each.
func (u *clusterUpgrade) planEtcd(c *v1alpha1.Cluster) error {
	u.cluster.Spec.EtcdClusters = slices.Clone(c.Spec.EtcdClusters)
	for i, e := range c.Spec.EtcdClusters {
		running := orDefault(e.Version, completion.DefaultEtcdVersion)
		if err := u.step.CheckClusterEtcd(running); err != nil {
			return fmt.Errorf("etcd cluster %s (spec.etcdClusters[%d].version %s): %w", e.Name, i, running, err)
		}
		if u.step.EtcdTo != "" && u.step.EtcdTo != strings.TrimPrefix(running, "v") {
			u.cluster.Spec.EtcdClusters[i].Version = u.step.EtcdTo
			u.rows = append(u.rows, []string{"Cluster", "EtcdClusters/" + e.Name + "/Version", running, u.step.EtcdTo})
		}
	}
	return nil
}

// planImages adds a row per instance group whose image changes with the
// version, and returns the groups as they will be. A group without
// spec.image follows the completed default; one whose spec.image is the old
// version's image is rewritten; any other image is pinned and left alone.
func (u *clusterUpgrade) planImages(ctx context.Context, reg *registry.Registry, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) ([]*v1alpha1.InstanceGroup, error) {
	oldDefaults, err := defaultImages(c, igs, reg.ConfigBase(u.name))
	if err != nil {
		return nil, err
	}
	newDefaults, err := defaultImages(u.cluster, igs, reg.ConfigBase(u.name))
	if err != nil {
		return nil, err
	}
	cloud := orDefault(c.Spec.CloudProvider, v1alpha1.CloudLocal)
	out := make([]*v1alpha1.InstanceGroup, len(igs))
	for i, ig := range igs {
		out[i] = ig
		item, image := "InstanceGroup/"+ig.Metadata.Name, ig.Spec.Image
		if image == "" {
			if oldDefaults[i] != newDefaults[i] {
				u.rows = append(u.rows, []string{item, "Image", oldDefaults[i], newDefaults[i]})
			}
			continue
		}
		next := oldDefaults[i]
		if image == next {
			next = newDefaults[i]
		} else if next = channelImageSuccessor(u.channel, cloud, image, u.step); next == "" {
			u.notes = append(u.notes, fmt.Sprintf("InstanceGroup/%s pins image %q, which is not the image of Kubernetes %s; it is left as is.", ig.Metadata.Name, image, u.step.From))
			continue
		}
		fresh, gen, err := reg.GetInstanceGroup(ctx, u.name, ig.Metadata.Name)
		if err != nil {
			return nil, err
		}
		if fresh.Spec.Image != image {
			return nil, fmt.Errorf("instance group %s changed while planning the upgrade; run the command again", ig.Metadata.Name)
		}
		fresh.Spec.Image = next
		u.groups = append(u.groups, groupWrite{group: fresh, gen: gen})
		u.rows = append(u.rows, []string{item, "Image", image, next})
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
func channelImageSuccessor(ch *channels.Channel, cloud, image string, step *upgrades.Step) string {
	kv, ok := ch.VersionsFor(step.From)
	if !ok {
		return ""
	}
	for _, img := range kv.Images {
		old, err := ch.ImageFor(cloud, img.Architecture, step.From)
		if err != nil || old.Name != image {
			continue
		}
		if next, err := ch.ImageFor(cloud, img.Architecture, step.To); err == nil {
			return next.Name
		}
	}
	return ""
}

// writeUpgrade writes the cluster first, then its groups, each only if it is
// still at the generation the plan read. Should a group write fail, the
// group keeps the older image: nodes behind the control plane are allowed.
func writeUpgrade(ctx context.Context, reg *registry.Registry, up *clusterUpgrade) error {
	if _, err := reg.PutCluster(ctx, up.cluster, state.MatchGeneration(up.gen)); err != nil {
		return fmt.Errorf("write cluster %s: %w", up.name, err)
	}
	for _, g := range up.groups {
		if _, err := reg.PutInstanceGroup(ctx, up.name, g.group, state.MatchGeneration(g.gen)); err != nil {
			return fmt.Errorf("write instance group %s (the cluster spec was written; run the upgrade again): %w", g.group.Metadata.Name, err)
		}
	}
	return nil
}

func (o *rootOptions) printUpgrade(up *clusterUpgrade) error {
	if up.empty() {
		fmt.Fprintln(o.out, "No upgrade required")
		return nil
	}
	t := output.NewTable(o.out, "ITEM", "PROPERTY", "OLD", "NEW")
	for _, r := range up.rows {
		t.Row(r...)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if up.step != nil {
		fmt.Fprintf(o.out, "\nKubernetes %s -> %s (%s), etcd %s\n", up.step.From, up.step.To, up.step.Reason, etcdChange(up.step))
	}
	for _, n := range up.notes {
		fmt.Fprintln(o.out, n)
	}
	return nil
}

// printPath shows, after a dry run's table, every step from the cluster's
// version to the channel's latest, each with the commands that take it.
func (o *rootOptions) printPath(up *clusterUpgrade) {
	if up.step == nil {
		return
	}
	rest, err := upgrades.Path(up.step.To, up.channel)
	steps := append([]upgrades.Step{*up.step}, rest...)
	versions := []string{up.step.From}
	for _, s := range steps {
		versions = append(versions, s.To)
	}
	fmt.Fprintf(o.out, "\nPath to the latest of channel %s: %s\n", up.channel.Name(), strings.Join(versions, " -> "))
	o.printSteps(up.name, steps, up.newChannel)
	if err != nil {
		fmt.Fprintf(o.out, "After step %d the path is blocked: %v\n", len(steps), err)
	}
}

// printSteps prints each upgrade step and its three commands.
func (o *rootOptions) printSteps(name string, steps []upgrades.Step, channelFlag string) {
	for i, s := range steps {
		fmt.Fprintf(o.out, "\nStep %d: Kubernetes %s -> %s (%s), etcd %s\n", i+1, s.From, s.To, s.Reason, etcdChange(&s))
		upgrade := fmt.Sprintf("hull upgrade cluster %s --kubernetes-version %s", name, s.To)
		if i == 0 && channelFlag != "" {
			upgrade += " --channel " + channelFlag
		}
		fmt.Fprintf(o.out, "  %s --yes\n", upgrade)
		fmt.Fprintf(o.out, "  hull update cluster %s --yes\n", name)
		fmt.Fprintf(o.out, "  hull rolling-update cluster %s --yes\n", name)
	}
}

func (o *rootOptions) upgradePlan(ctx context.Context, name, channel string) error {
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	c, _, err := reg.GetCluster(ctx, name)
	if err != nil {
		return err
	}
	ch, err := channels.Load(ctx, orDefault(channel, c.Spec.Channel))
	if err != nil {
		return err
	}
	current := c.Spec.KubernetesVersion
	steps, pathErr := upgrades.Path(current, ch)
	if len(steps) == 0 && pathErr == nil {
		fmt.Fprintf(o.out, "No upgrade required: cluster %s runs Kubernetes %s; channel %s recommends at most %s.\n", name, current, ch.Name(), ch.Latest())
		return nil
	}
	fmt.Fprintf(o.out, "Cluster %s runs Kubernetes %s; channel %s recommends %s.\n", name, current, ch.Name(), ch.Latest())
	o.printSteps(name, steps, changedChannel(channel, c))
	if pathErr != nil {
		return fmt.Errorf("the upgrade path stops after %d step(s): %w", len(steps), pathErr)
	}
	return nil
}

// changedChannel is the --channel flag when it moves the cluster to
// another channel, else "".
func changedChannel(flag string, c *v1alpha1.Cluster) string {
	if flag != "" && flag != orDefault(c.Spec.Channel, completion.DefaultChannel) {
		return flag
	}
	return ""
}

func etcdChange(s *upgrades.Step) string {
	switch s.EtcdFrom {
	case s.EtcdTo:
		return s.EtcdTo + " (unchanged)"
	case "":
		return s.EtcdTo
	}
	return s.EtcdFrom + " -> " + s.EtcdTo
}
