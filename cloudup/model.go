package cloudup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hullproject/hull/cloudup/graph"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/state"
)

// The API load balancer. Port 443 is what kops uses; the apiserver listens
// there on control-plane machines too.
const (
	APILoadBalancerName = "api"
	APIPort             = 443
)

// Model is what a completed spec asks of the cloud.
type Model struct {
	Tasks []graph.Task
	// Groups and LaunchConfigs by group name, for callers that report on them.
	Groups        map[string]*cloud.InstanceGroup
	LaunchConfigs map[string]*cloud.LaunchConfig
	// NodeupConfigs by group name: what each launch config's user-data
	// points at. The state store must hold them before a machine boots,
	// whichever target (direct or terraform) creates the machines.
	NodeupConfigs map[string]NodeupConfig
	// APIEndpoint is how machines reach the API (host:port).
	APIEndpoint string
}

// NodeupConfig is one group's encoded nodeup config and the
// content-addressed state-store key the user-data names.
type NodeupConfig struct {
	Key  string
	Data []byte
}

// WriteNodeupConfigs puts every group's nodeup config in the state store.
// Keys are content-addressed, so rewriting one is harmless.
func (m *Model) WriteNodeupConfigs(ctx context.Context, store *state.Store) error {
	groups := make([]string, 0, len(m.NodeupConfigs))
	for g := range m.NodeupConfigs {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		if err := m.NodeupConfigs[g].write(ctx, store, g); err != nil {
			return err
		}
	}
	return nil
}

func (c NodeupConfig) write(ctx context.Context, store *state.Store, group string) error {
	if _, err := store.Put(ctx, c.Key, c.Data, state.Unconditional()); err != nil {
		return fmt.Errorf("write nodeup config of %s to %s: %w", group, c.Key, err)
	}
	return nil
}

// BuildModel turns a completed cluster into tasks against provider. The
// store is where nodeup configs are written when the tasks apply.
func BuildModel(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, provider Cloud, store *state.Store) (*Model, error) {
	return BuildModelWithHolds(c, igs, provider, store, nil)
}

// BuildModelWithHolds is BuildModel with some node groups held at an older
// Kubernetes version (see HoldNodeGroups).
func BuildModelWithHolds(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, provider Cloud, store *state.Store, holds []NodeGroupHold) (*Model, error) {
	return BuildModelWith(c, igs, provider, store, ModelOptions{Holds: holds})
}

// ModelOptions is what BuildModelWith needs beyond the completed spec.
type ModelOptions struct {
	// Holds keeps node groups at an older Kubernetes version.
	Holds []NodeGroupHold
	// APIHost is the name machines reach the API at when the cloud names
	// it (see UsesLoadBalancerName); empty means spec.api.publicName.
	APIHost string
	// find is the finder the caller already read the cloud through
	// (update reads launch configs and groups for the skew rules first);
	// nil for a fresh one.
	find *finder
}

// BuildModelWith is BuildModel with options.
func BuildModelWith(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, provider Cloud, store *state.Store, o ModelOptions) (*Model, error) {
	holds := o.Holds
	name := c.Metadata.Name
	f := o.find
	if f == nil {
		f = &finder{provider: provider, cluster: name}
	}
	m := &Model{Groups: map[string]*cloud.InstanceGroup{}, LaunchConfigs: map[string]*cloud.LaunchConfig{}, NodeupConfigs: map[string]NodeupConfig{}}

	net := &cloud.Network{Cluster: name, CIDR: c.Spec.Networking.NetworkCIDR}
	var subnetNames []string
	for _, s := range c.Spec.Networking.Subnets {
		net.Subnets = append(net.Subnets, cloud.Subnet{Name: s.Name, Zone: s.Zone, CIDR: s.CIDR, Type: string(s.Type)})
		subnetNames = append(subnetNames, s.Name)
	}
	m.Tasks = append(m.Tasks, &networkTask{f: f, net: net})
	for _, s := range net.Subnets {
		m.Tasks = append(m.Tasks, &subnetTask{f: f, net: net, subnet: s})
	}

	endpoint, err := apiEndpoint(c, o.APIHost)
	if err != nil {
		return nil, err
	}
	m.APIEndpoint = endpoint

	lb := &cloud.LoadBalancer{
		Cluster:     name,
		Name:        APILoadBalancerName,
		Type:        string(lbType(c)),
		Port:        APIPort,
		BackendPort: APIPort,
		HealthCheck: cloud.HealthCheck{Protocol: "HTTPS", Path: "/readyz"},
	}

	images := map[string]bool{}
	for _, ig := range igs {
		if ig.IsControlPlane() {
			lb.BackendGroups = append(lb.BackendGroups, ig.Metadata.Name)
		}
		gc, gig := c, ig
		if h, ok := holdFor(holds, ig.Metadata.Name); ok {
			gc, gig = heldGroup(c, ig, h)
		}
		lc, key, data, err := launchConfig(gc, gig, store.URL(), endpoint)
		if err != nil {
			return nil, err
		}
		if !images[lc.Image] {
			images[lc.Image] = true
			m.Tasks = append(m.Tasks, &imageTask{f: f, name: lc.Image})
		}
		m.LaunchConfigs[ig.Metadata.Name] = lc
		nc := NodeupConfig{Key: key, Data: data}
		m.NodeupConfigs[ig.Metadata.Name] = nc
		m.Tasks = append(m.Tasks, &launchConfigTask{f: f, store: store, lc: lc, config: nc})

		g := &cloud.InstanceGroup{
			Cluster: name,
			Name:    ig.Metadata.Name,
			Role:    string(ig.Spec.Role),
			MinSize: int(*ig.Spec.MinSize),
			MaxSize: int(*ig.Spec.MaxSize),
			Subnets: slices.Clone(ig.Spec.Subnets),
		}
		m.Groups[g.Name] = g
		m.Tasks = append(m.Tasks, &instanceGroupTask{f: f, group: g})
	}
	m.Tasks = append(m.Tasks, &loadBalancerTask{f: f, lb: lb, subnets: subnetNames})
	if provider != nil && c.Spec.DNSZone != "" {
		if dns := provider.DNS(); dns != nil {
			m.Tasks = append(m.Tasks, &dnsRecordTask{dns: dns, rec: &cloud.DNSRecord{Cluster: name, Name: c.Spec.API.PublicName, LoadBalancer: lb.Name}})
		}
	}
	if provider != nil {
		m.Tasks = addResources(m.Tasks, provider, net)
	}
	return m, nil
}

// Deletions lists what exists in the cloud for the cluster but is not in the
// model: instance groups (deleted first) and their launch configs.
func (m *Model) Deletions(ctx context.Context, provider Cloud, cluster string) ([]graph.Deletion, error) {
	var dels []graph.Deletion
	groups, err := provider.FindInstanceGroups(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("find instance groups: %w", err)
	}
	for _, g := range groups {
		if _, ok := m.Groups[g.Name]; !ok {
			dels = append(dels, &deletion{key: "InstanceGroup/" + g.Name, del: func(ctx context.Context) error {
				return provider.DeleteInstanceGroup(ctx, cluster, g.Name)
			}})
		}
	}
	lcs, err := provider.FindLaunchConfigs(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("find launch configs: %w", err)
	}
	for _, lc := range lcs {
		if _, ok := m.LaunchConfigs[lc.Group]; !ok {
			dels = append(dels, &deletion{key: "LaunchConfig/" + lc.Group, deps: []string{"InstanceGroup/" + lc.Group}, del: func(ctx context.Context) error {
				return provider.DeleteLaunchConfig(ctx, cluster, lc.Group)
			}})
		}
	}
	return dels, nil
}

// launchConfig builds a group's nodeup config, its user-data and the config
// version: a hash of everything whose change should replace the machines.
func launchConfig(c *v1alpha1.Cluster, ig *v1alpha1.InstanceGroup, storeURL, endpoint string) (*cloud.LaunchConfig, string, []byte, error) {
	cfg := &nodeup.Config{
		ClusterName:       c.Metadata.Name,
		InstanceGroup:     ig.Metadata.Name,
		Role:              string(ig.Spec.Role),
		KubernetesVersion: c.Spec.KubernetesVersion,
		Image:             ig.Spec.Image,
		ConfigBase:        c.Spec.ConfigBase,
		NodeLabels:        ig.Spec.NodeLabels,
		Taints:            ig.Spec.Taints,
		APIServer:         endpoint,

		NetworkCIDR:           c.Spec.Networking.NetworkCIDR,
		PodCIDR:               c.Spec.Networking.PodCIDR,
		ServiceClusterIPRange: c.Spec.Networking.ServiceClusterIPRange,
		ClusterDNSDomain:      c.Spec.Networking.ClusterDNSDomain,
		APIServerNames:        apiServerNames(c, endpoint),
		AssetsRepository:      assetsRepository(c),
	}
	var err error
	if cfg.KubernetesServiceIP, err = nthAddress(c.Spec.Networking.ServiceClusterIPRange, 1); err != nil {
		return nil, "", nil, err
	}
	if cfg.DNSServiceIP, err = nthAddress(c.Spec.Networking.ServiceClusterIPRange, 10); err != nil {
		return nil, "", nil, err
	}
	if c.Spec.Containerd != nil {
		cfg.RegistryMirrors = c.Spec.Containerd.RegistryMirrors
	}
	if c.Spec.Assets != nil {
		cfg.ContainerRegistry = c.Spec.Assets.ContainerRegistry
	}
	if c.Spec.Kubelet != nil {
		cfg.KubeletArgs = c.Spec.Kubelet.ExtraArgs
		if c.Spec.Kubelet.MaxPods != nil {
			cfg.MaxPods = *c.Spec.Kubelet.MaxPods
		}
	}
	if ig.IsControlPlane() {
		cfg.EtcdClusters = etcdClusters(c)
		if c.Spec.KubeAPIServer != nil {
			cfg.KubeAPIServerArgs = c.Spec.KubeAPIServer.ExtraArgs
		}
		if c.Spec.KubeControllerManager != nil {
			cfg.KubeControllerManagerArgs = c.Spec.KubeControllerManager.ExtraArgs
		}
		if c.Spec.KubeScheduler != nil {
			cfg.KubeSchedulerArgs = c.Spec.KubeScheduler.ExtraArgs
		}
	}
	data, hash, err := cfg.Encode()
	if err != nil {
		return nil, "", nil, err
	}
	key := nodeup.ConfigKey(c.Metadata.Name, ig.Metadata.Name, hash)
	ud := &nodeup.UserData{
		ClusterName:   c.Metadata.Name,
		InstanceGroup: ig.Metadata.Name,
		Role:          string(ig.Spec.Role),
		StateStore:    storeURL,
		ConfigKey:     key,
		ConfigHash:    hash,
	}
	userData, err := ud.Encode()
	if err != nil {
		return nil, "", nil, err
	}
	sum := sha256.Sum256([]byte(ig.Spec.Image + "\x00" + ig.Spec.MachineType + "\x00" + hash))
	lc := &cloud.LaunchConfig{
		Cluster:       c.Metadata.Name,
		Group:         ig.Metadata.Name,
		Image:         ig.Spec.Image,
		MachineType:   ig.Spec.MachineType,
		UserData:      userData,
		ConfigVersion: hex.EncodeToString(sum[:])[:16],
	}
	return lc, key, data, nil
}

// Etcd ports. main keeps etcd's well-known ports; events sits beside it so
// both run on every control-plane machine.
var etcdPorts = map[string][2]int{"main": {2379, 2380}, "events": {2382, 2381}}

func etcdClusters(c *v1alpha1.Cluster) []nodeup.EtcdCluster {
	var out []nodeup.EtcdCluster
	for i, e := range c.Spec.EtcdClusters {
		ports, ok := etcdPorts[e.Name]
		if !ok {
			// Further clusters get their own pair above events'.
			ports = [2]int{2384 + 2*i, 2383 + 2*i}
		}
		ec := nodeup.EtcdCluster{Name: e.Name, Version: e.Version, ClientPort: ports[0], PeerPort: ports[1]}
		for _, m := range e.Members {
			ec.Members = append(ec.Members, nodeup.EtcdMember{Name: m.Name, InstanceGroup: m.InstanceGroup})
		}
		ec.Backups = etcdBackups(e.Backups)
		out = append(out, ec)
	}
	return out
}

// etcdBackups copies the completed backup policy; completion fills every
// field, so an absent one means a spec that was not completed.
func etcdBackups(b *v1alpha1.EtcdBackupSpec) *nodeup.EtcdBackups {
	if b == nil || b.Interval == nil || b.Retention == nil {
		return nil
	}
	out := &nodeup.EtcdBackups{Interval: *b.Interval}
	r := b.Retention
	for _, f := range []struct {
		from *metav1.Duration
		to   *metav1.Duration
	}{{r.KeepAllFor, &out.KeepAllFor}, {r.HourlyFor, &out.HourlyFor}, {r.DailyFor, &out.DailyFor}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	return out
}

// apiServerNames are the names and addresses the apiserver's certificate
// must carry besides the in-cluster ones nodeup adds.
func apiServerNames(c *v1alpha1.Cluster, endpoint string) []string {
	names := []string{c.Spec.API.PublicName}
	if ap, err := netip.ParseAddrPort(endpoint); err == nil {
		names = append(names, ap.Addr().String())
	} else if host, _, err := net.SplitHostPort(endpoint); err == nil && host != c.Spec.API.PublicName {
		names = append(names, host) // the load balancer's own name (UsesLoadBalancerName)
	}
	names = append(names, c.Spec.API.AdditionalSANs...)
	return names
}

func assetsRepository(c *v1alpha1.Cluster) string {
	if c.Spec.Assets == nil {
		return ""
	}
	return c.Spec.Assets.Repository
}

// nthAddress is the n-th address after the network address of cidr.
func nthAddress(cidr string, n int) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", fmt.Errorf("cidr %q: %w", cidr, err)
	}
	a := p.Masked().Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	if !p.Contains(a) {
		return "", fmt.Errorf("cidr %q has no %d-th address", cidr, n)
	}
	return a.String(), nil
}

// apiEndpoint is how machines reach the API: the host the cloud's driver
// takes from the spec (cloud.Driver.APIHost), else apiHost, the name the
// cloud gave the API load balancer.
func apiEndpoint(c *v1alpha1.Cluster, apiHost string) (string, error) {
	d, err := cloud.Lookup(c.Spec.CloudProvider)
	if err != nil {
		return "", fmt.Errorf("cluster %s: spec.cloudProvider: %w", c.Metadata.Name, err)
	}
	host, err := d.APIHost(c)
	if err != nil {
		return "", err
	}
	if host == "" {
		if apiHost == "" {
			return "", fmt.Errorf("cluster %s: the API load balancer's DNS name is needed (no spec.dnsZone)", c.Metadata.Name)
		}
		host = apiHost
	}
	return net.JoinHostPort(host, fmt.Sprint(APIPort)), nil
}

func lbType(c *v1alpha1.Cluster) v1alpha1.LoadBalancerType {
	if c.Spec.API.LoadBalancer != nil && c.Spec.API.LoadBalancer.Type != "" {
		return c.Spec.API.LoadBalancer.Type
	}
	return v1alpha1.LoadBalancerPublic
}
