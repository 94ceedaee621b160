package cloudup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hullproject/hull/cloudup/graph"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/state"
)

// finder runs each of the provider's cluster-wide finds once per plan and
// shares the answer between tasks, so a plan's API calls do not grow with
// the number of instance groups.
type finder struct {
	provider Cloud
	cluster  string

	netOnce sync.Once
	net     *cloud.Network
	netErr  error

	lcOnce sync.Once
	lcs    map[string]*cloud.LaunchConfig
	lcErr  error

	igOnce sync.Once
	igs    map[string]*cloud.InstanceGroup
	igErr  error
}

func (f *finder) network(ctx context.Context) (*cloud.Network, error) {
	f.netOnce.Do(func() { f.net, f.netErr = f.provider.FindNetwork(ctx, f.cluster) })
	return f.net, f.netErr
}

func (f *finder) launchConfigs(ctx context.Context) (map[string]*cloud.LaunchConfig, error) {
	f.lcOnce.Do(func() {
		var list []*cloud.LaunchConfig
		list, f.lcErr = f.provider.FindLaunchConfigs(ctx, f.cluster)
		f.lcs = map[string]*cloud.LaunchConfig{}
		for _, lc := range list {
			f.lcs[lc.Group] = lc
		}
	})
	return f.lcs, f.lcErr
}

func (f *finder) groups(ctx context.Context) (map[string]*cloud.InstanceGroup, error) {
	f.igOnce.Do(func() {
		var list []*cloud.InstanceGroup
		list, f.igErr = f.provider.FindInstanceGroups(ctx, f.cluster)
		f.igs = map[string]*cloud.InstanceGroup{}
		for _, g := range list {
			f.igs[g.Name] = g
		}
	})
	return f.igs, f.igErr
}

// networkTask is the cluster's network; subnets are tasks of their own but
// are applied through the same call, since providers create them together.
type networkTask struct {
	f   *finder
	net *cloud.Network
}

func (t *networkTask) Key() string            { return "Network/" + t.net.Cluster }
func (t *networkTask) Dependencies() []string { return nil }
func (t *networkTask) Immutable() []string    { return []string{"cidr"} }
func (t *networkTask) Expected() graph.Fields { return graph.Fields{"cidr": t.net.CIDR} }
func (t *networkTask) Apply(ctx context.Context, _ *graph.Change) error {
	_, err := t.f.provider.EnsureNetwork(ctx, t.net)
	return err
}

func (t *networkTask) Find(ctx context.Context) (graph.Fields, error) {
	n, err := t.f.network(ctx)
	if err != nil || n == nil {
		return nil, err
	}
	return graph.Fields{"cidr": n.CIDR, "id": n.ID}, nil
}

type subnetTask struct {
	f      *finder
	net    *cloud.Network
	subnet cloud.Subnet
}

func (t *subnetTask) Key() string            { return "Subnet/" + t.subnet.Name }
func (t *subnetTask) Dependencies() []string { return []string{"Network/" + t.net.Cluster} }
func (t *subnetTask) Immutable() []string    { return []string{"cidr", "zone"} }
func (t *subnetTask) Expected() graph.Fields {
	return graph.Fields{"cidr": t.subnet.CIDR, "zone": t.subnet.Zone, "type": t.subnet.Type}
}

func (t *subnetTask) Find(ctx context.Context) (graph.Fields, error) {
	n, err := t.f.network(ctx)
	if err != nil || n == nil {
		return nil, err
	}
	for _, s := range n.Subnets {
		if s.Name == t.subnet.Name {
			return graph.Fields{"cidr": s.CIDR, "zone": s.Zone, "type": s.Type, "gateway": s.Gateway}, nil
		}
	}
	return nil, nil
}

func (t *subnetTask) Apply(ctx context.Context, _ *graph.Change) error {
	_, err := t.f.provider.EnsureNetwork(ctx, t.net)
	return err
}

// imageTask only checks: images are built by `hull image build`, not by
// update, so a missing or corrupt image stops the plan with its name.
type imageTask struct {
	f    *finder
	name string
}

func (t *imageTask) Key() string            { return "Image/" + t.name }
func (t *imageTask) Dependencies() []string { return nil }
func (t *imageTask) Immutable() []string    { return nil }
func (t *imageTask) Expected() graph.Fields { return graph.Fields{"name": t.name} }

func (t *imageTask) Find(ctx context.Context) (graph.Fields, error) {
	img, err := t.f.provider.FindImage(ctx, t.name)
	if errors.Is(err, cloud.ErrNotFound) {
		return nil, fmt.Errorf("image %q is not usable: %w; build it with `hull image build` or import it with `hull image import`", t.name, err)
	}
	if err != nil {
		return nil, err
	}
	return graph.Fields{"name": img.Name, "id": img.ID}, nil
}

func (t *imageTask) Apply(context.Context, *graph.Change) error {
	return fmt.Errorf("image %q does not exist; build it with `hull image build`", t.name)
}

// launchConfigTask writes the group's nodeup config to the state store
// (content-addressed, so rewriting is harmless) and then the launch config
// that points machines at it.
type launchConfigTask struct {
	f      *finder
	store  *state.Store
	lc     *cloud.LaunchConfig
	config NodeupConfig
}

func (t *launchConfigTask) Key() string { return "LaunchConfig/" + t.lc.Group }

// Dependencies: a launch config names the image, and on clouds like AWS
// the network's security groups, so the network comes first.
func (t *launchConfigTask) Dependencies() []string {
	return []string{"Image/" + t.lc.Image, "Network/" + t.lc.Cluster}
}
func (t *launchConfigTask) Immutable() []string { return nil }
func (t *launchConfigTask) Expected() graph.Fields {
	return graph.Fields{"image": t.lc.Image, "machineType": t.lc.MachineType, "configVersion": t.lc.ConfigVersion}
}

func (t *launchConfigTask) Find(ctx context.Context) (graph.Fields, error) {
	lcs, err := t.f.launchConfigs(ctx)
	if err != nil {
		return nil, err
	}
	lc, ok := lcs[t.lc.Group]
	if !ok {
		return nil, nil
	}
	return graph.Fields{"image": lc.Image, "machineType": lc.MachineType, "configVersion": lc.ConfigVersion}, nil
}

func (t *launchConfigTask) Apply(ctx context.Context, _ *graph.Change) error {
	if err := t.config.write(ctx, t.store, t.lc.Group); err != nil {
		return err
	}
	return t.f.provider.EnsureLaunchConfig(ctx, t.lc)
}

type instanceGroupTask struct {
	f     *finder
	group *cloud.InstanceGroup
}

func (t *instanceGroupTask) Key() string { return "InstanceGroup/" + t.group.Name }
func (t *instanceGroupTask) Dependencies() []string {
	deps := []string{"LaunchConfig/" + t.group.Name}
	for _, s := range t.group.Subnets {
		deps = append(deps, "Subnet/"+s)
	}
	return deps
}
func (t *instanceGroupTask) Immutable() []string { return []string{"role"} }
func (t *instanceGroupTask) Expected() graph.Fields {
	return groupFields(t.group)
}

func groupFields(g *cloud.InstanceGroup) graph.Fields {
	return graph.Fields{
		"role":    g.Role,
		"minSize": strconv.Itoa(g.MinSize),
		"maxSize": strconv.Itoa(g.MaxSize),
		"subnets": strings.Join(g.Subnets, ","),
	}
}

func (t *instanceGroupTask) Find(ctx context.Context) (graph.Fields, error) {
	igs, err := t.f.groups(ctx)
	if err != nil {
		return nil, err
	}
	g, ok := igs[t.group.Name]
	if !ok {
		return nil, nil
	}
	return groupFields(g), nil
}

func (t *instanceGroupTask) Apply(ctx context.Context, _ *graph.Change) error {
	return t.f.provider.EnsureInstanceGroup(ctx, t.group)
}

type loadBalancerTask struct {
	f       *finder
	lb      *cloud.LoadBalancer
	subnets []string
}

func (t *loadBalancerTask) Key() string { return "LoadBalancer/" + t.lb.Name }
func (t *loadBalancerTask) Dependencies() []string {
	var deps []string
	for _, s := range t.subnets {
		deps = append(deps, "Subnet/"+s)
	}
	return deps
}
func (t *loadBalancerTask) Immutable() []string    { return []string{"type"} }
func (t *loadBalancerTask) Expected() graph.Fields { return lbFields(t.lb) }

func lbFields(lb *cloud.LoadBalancer) graph.Fields {
	groups := slices.Clone(lb.BackendGroups)
	slices.Sort(groups)
	return graph.Fields{
		"type":          lb.Type,
		"port":          strconv.Itoa(lb.Port),
		"backendGroups": strings.Join(groups, ","),
		"backendPort":   strconv.Itoa(lb.BackendPort),
		"healthCheck":   strings.TrimSpace(lb.HealthCheck.Protocol + " " + lb.HealthCheck.Path),
	}
}

func (t *loadBalancerTask) Find(ctx context.Context) (graph.Fields, error) {
	lb, err := t.f.provider.FindLoadBalancer(ctx, t.lb.Cluster, t.lb.Name)
	if err != nil || lb == nil {
		return nil, err
	}
	return lbFields(lb), nil
}

func (t *loadBalancerTask) Apply(ctx context.Context, _ *graph.Change) error {
	_, err := t.f.provider.EnsureLoadBalancer(ctx, t.lb)
	return err
}

// deletion removes a resource that exists in the cloud but not in the spec.
type deletion struct {
	key  string
	deps []string
	del  func(ctx context.Context) error
}

func (d *deletion) Key() string                      { return d.key }
func (d *deletion) Dependencies() []string           { return d.deps }
func (d *deletion) Delete(ctx context.Context) error { return d.del(ctx) }

// dnsRecordTask points the API name at the API load balancer in the
// spec's DNS zone.
type dnsRecordTask struct {
	dns cloud.DNS
	rec *cloud.DNSRecord
}

func (t *dnsRecordTask) Key() string { return "DNSRecord/" + t.rec.Name }
func (t *dnsRecordTask) Dependencies() []string {
	return []string{"LoadBalancer/" + t.rec.LoadBalancer}
}
func (t *dnsRecordTask) Immutable() []string { return nil }
func (t *dnsRecordTask) Expected() graph.Fields {
	return graph.Fields{"target": "LoadBalancer/" + t.rec.LoadBalancer}
}

func (t *dnsRecordTask) Find(ctx context.Context) (graph.Fields, error) {
	r, err := t.dns.FindDNSRecord(ctx, t.rec.Cluster, t.rec.Name)
	if err != nil || r == nil {
		return nil, err
	}
	target := r.LoadBalancer
	if !strings.HasPrefix(target, "elsewhere") {
		target = "LoadBalancer/" + target
	}
	return graph.Fields{"target": target}, nil
}

func (t *dnsRecordTask) Apply(ctx context.Context, _ *graph.Change) error {
	return t.dns.EnsureDNSRecord(ctx, t.rec)
}
