package completion

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Options says what completion needs beyond the spec itself.
type Options struct {
	// ConfigBase is the state store URL of this cluster, for example
	// file:///x/state/demo.example.com. When set it wins over the spec's
	// configBase: machines must read their config from where it really is.
	ConfigBase string
}

// Complete returns deep copies of c and igs with every default filled in. It
// never mutates its inputs. Values the user set are kept as written, and no
// list the user ordered is reordered. Completing a completed spec returns it
// unchanged.
func Complete(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, opts Options) (*v1alpha1.Cluster, []*v1alpha1.InstanceGroup, error) {
	if c == nil {
		return nil, nil, errors.New("complete: no cluster given")
	}
	out, err := deepCopy(c)
	if err != nil {
		return nil, nil, fmt.Errorf("complete cluster %q: %w", c.Metadata.Name, err)
	}
	outIGs := make([]*v1alpha1.InstanceGroup, len(igs))
	for i, ig := range igs {
		if ig == nil {
			return nil, nil, fmt.Errorf("complete cluster %q: instance group %d is nil", c.Metadata.Name, i)
		}
		if outIGs[i], err = deepCopy(ig); err != nil {
			return nil, nil, fmt.Errorf("complete instance group %q: %w", ig.Metadata.Name, err)
		}
	}

	if err := completeCluster(out, outIGs, opts); err != nil {
		return nil, nil, fmt.Errorf("complete cluster %q: %w", c.Metadata.Name, err)
	}
	for _, ig := range outIGs {
		if err := completeInstanceGroup(out, ig); err != nil {
			return nil, nil, fmt.Errorf("complete instance group %q: %w", ig.Metadata.Name, err)
		}
	}
	return out, outIGs, nil
}

// deepCopy copies an API object through its JSON form, which is by
// definition everything the object holds.
func deepCopy[T any](in *T) (*T, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return out, nil
}

func completeCluster(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, opts Options) error {
	c.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindCluster}
	s := &c.Spec
	setDefault(&s.CloudProvider, DefaultCloudProvider)
	setDefault(&s.Channel, DefaultChannel)
	if opts.ConfigBase != "" {
		s.ConfigBase = opts.ConfigBase
	}
	if err := completeNetworking(&s.Networking); err != nil {
		return err
	}
	completeAPI(&s.API, c.Metadata.Name)
	for i := range s.EtcdClusters {
		completeEtcdCluster(&s.EtcdClusters[i])
	}
	completeComponents(s)
	s.RollingUpdate = completeRollingUpdate(s.RollingUpdate)
	if hasRole(igs, v1alpha1.RoleBastion) {
		if s.Bastion == nil {
			s.Bastion = &v1alpha1.BastionSpec{}
		}
		setDefault(&s.Bastion.PublicName, BastionPublicNamePrefix+c.Metadata.Name)
	}
	return completeForCloud(c)
}

// specCompleter is a cloud driver that fills defaults of its own (the
// local cloud's registry as every host's mirror, say) into a cluster
// whose generic defaults are already complete.
type specCompleter interface {
	CompleteSpec(c *v1alpha1.Cluster) error
}

// completeForCloud asks the cluster's cloud for its defaults; an unknown
// cloud is reported where a default must come from it (a group's machine
// type), not here.
func completeForCloud(c *v1alpha1.Cluster) error {
	d, err := cloud.Lookup(c.Spec.CloudProvider)
	if err != nil {
		return nil
	}
	if sc, ok := d.(specCompleter); ok {
		return sc.CompleteSpec(c)
	}
	return nil
}

func completeNetworking(n *v1alpha1.NetworkingSpec) error {
	setDefault(&n.NetworkCIDR, DefaultNetworkCIDR)
	setDefault(&n.PodCIDR, DefaultPodCIDR)
	setDefault(&n.ServiceClusterIPRange, DefaultServiceClusterIPRange)
	setDefault(&n.Topology, DefaultTopology)
	setDefault(&n.ClusterDNSDomain, DefaultClusterDNSDomain)
	return assignSubnetCIDRs(n.NetworkCIDR, n.Subnets)
}

func completeAPI(api *v1alpha1.APISpec, clusterName string) {
	if api.LoadBalancer == nil {
		api.LoadBalancer = &v1alpha1.LoadBalancerSpec{}
	}
	if api.LoadBalancer.Type == "" {
		api.LoadBalancer.Type = DefaultAPILoadBalancerType
	}
	setDefault(&api.PublicName, APIPublicNamePrefix+clusterName)
}

// completeEtcdCluster fills the version and backup policy, and names members
// the user left unnamed with the first unused letter (a, b, c, ...).
func completeEtcdCluster(e *v1alpha1.EtcdClusterSpec) {
	setDefault(&e.Version, DefaultEtcdVersion)
	if e.Backups == nil {
		e.Backups = &v1alpha1.EtcdBackupSpec{}
	}
	setDuration(&e.Backups.Interval, DefaultEtcdBackupInterval)
	if e.Backups.Retention == nil {
		e.Backups.Retention = &v1alpha1.BackupRetention{}
	}
	r := e.Backups.Retention
	setDuration(&r.KeepAllFor, DefaultBackupKeepAllFor)
	setDuration(&r.HourlyFor, DefaultBackupHourlyFor)
	setDuration(&r.DailyFor, DefaultBackupDailyFor)

	used := map[string]bool{}
	for _, m := range e.Members {
		used[m.Name] = true
	}
	next := 0
	for i := range e.Members {
		if e.Members[i].Name != "" {
			continue
		}
		for used[MemberName(next)] {
			next++
		}
		e.Members[i].Name = MemberName(next)
		used[e.Members[i].Name] = true
	}
}

// MemberName is the conventional name of the i-th etcd member: a, b, ... z,
// then aa, ab, ... like spreadsheet columns.
func MemberName(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return name
}

// completeComponents makes every component spec present, so later code never
// checks for nil; empty extra args mean the component's own defaults.
func completeComponents(s *v1alpha1.ClusterSpec) {
	if s.KubeAPIServer == nil {
		s.KubeAPIServer = &v1alpha1.KubeAPIServerSpec{}
	}
	if s.KubeControllerManager == nil {
		s.KubeControllerManager = &v1alpha1.KubeControllerManagerSpec{}
	}
	if s.KubeScheduler == nil {
		s.KubeScheduler = &v1alpha1.KubeSchedulerSpec{}
	}
	if s.Kubelet == nil {
		s.Kubelet = &v1alpha1.KubeletSpec{}
	}
}

// completeRollingUpdate sets maxUnavailable as kops does: 1 unless the user
// asked for a non-zero maxSurge, then 0. maxSurge itself stays as written.
func completeRollingUpdate(ru *v1alpha1.RollingUpdate) *v1alpha1.RollingUpdate {
	if ru == nil {
		ru = &v1alpha1.RollingUpdate{}
	}
	if ru.MaxUnavailable == nil {
		v := intstr.FromInt32(DefaultMaxUnavailable)
		if isNonZero(ru.MaxSurge) {
			v = intstr.FromInt32(DefaultMaxUnavailableWhenSurging)
		}
		ru.MaxUnavailable = &v
	}
	return ru
}

func isNonZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.Int {
		return v.IntVal != 0
	}
	s := strings.TrimSuffix(v.StrVal, "%")
	return strings.TrimLeft(s, "0") != ""
}

func completeInstanceGroup(c *v1alpha1.Cluster, ig *v1alpha1.InstanceGroup) error {
	ig.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindInstanceGroup}
	if err := completeClusterLabel(ig, c.Metadata.Name); err != nil {
		return err
	}
	s := &ig.Spec
	size, err := defaultGroupSize(s.Role)
	if err != nil {
		return err
	}
	completeSizes(s, size)
	if s.MachineType == "" {
		d, err := driver(c.Spec.CloudProvider)
		if err != nil {
			return err
		}
		s.MachineType = d.MachineType(s.Role)
	}
	if s.Image == "" {
		if s.Image, err = DefaultImage(c.Spec.CloudProvider, c.Spec.KubernetesVersion); err != nil {
			return err
		}
	}
	if len(s.Subnets) == 0 {
		s.Subnets = defaultGroupSubnets(c.Spec.Networking, s.Role)
		if len(s.Subnets) == 0 {
			return fmt.Errorf("spec.subnets: no subnet suits role %s in a %s topology; name the subnets", s.Role, c.Spec.Networking.Topology)
		}
	}
	return nil
}

func completeClusterLabel(ig *v1alpha1.InstanceGroup, cluster string) error {
	if got, ok := ig.Metadata.Labels[v1alpha1.LabelCluster]; ok && got != cluster {
		return fmt.Errorf("metadata.labels[%s]: group belongs to cluster %q, not %q", v1alpha1.LabelCluster, got, cluster)
	}
	if ig.Metadata.Labels == nil {
		ig.Metadata.Labels = map[string]string{}
	}
	ig.Metadata.Labels[v1alpha1.LabelCluster] = cluster
	return nil
}

func defaultGroupSize(role v1alpha1.InstanceGroupRole) (int32, error) {
	switch role {
	case v1alpha1.RoleControlPlane:
		return DefaultControlPlaneGroupSize, nil
	case v1alpha1.RoleBastion:
		return DefaultBastionGroupSize, nil
	case v1alpha1.RoleNode:
		return DefaultNodeGroupSize, nil
	}
	return 0, fmt.Errorf("spec.role: unsupported value %q, want %s, %s or %s",
		role, v1alpha1.RoleControlPlane, v1alpha1.RoleNode, v1alpha1.RoleBastion)
}

// completeSizes fills minSize and maxSize; when the user set one of them, the
// other follows it, so "minSize: 3" alone means a fixed group of 3.
func completeSizes(s *v1alpha1.InstanceGroupSpec, size int32) {
	switch {
	case s.MinSize == nil && s.MaxSize == nil:
		s.MinSize, s.MaxSize = ptr(size), ptr(size)
	case s.MinSize == nil:
		s.MinSize = ptr(*s.MaxSize)
	case s.MaxSize == nil:
		s.MaxSize = ptr(*s.MinSize)
	}
}

// DefaultImage names the image holding a Kubernetes version on a cloud,
// as the cloud's driver names it. A leading "v" is dropped so v1.37.2 and
// 1.37.2 share one image.
func DefaultImage(cloudProvider, kubernetesVersion string) (string, error) {
	if kubernetesVersion == "" {
		return "", errors.New("spec.image: cannot choose an image: the cluster has no kubernetesVersion")
	}
	d, err := driver(cloudProvider)
	if err != nil {
		return "", err
	}
	return d.Image(ImagePrefix + strings.TrimPrefix(kubernetesVersion, "v")), nil
}

// driver is the registered driver of a completed spec's cloud.
func driver(name string) (cloud.Driver, error) {
	d, err := cloud.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("spec.cloudProvider: %w", err)
	}
	return d, nil
}

// defaultGroupSubnets is every subnet a group of this role may run in: the
// Public subnets in a public topology; in a private one, the Utility subnets
// for bastions and the Private subnets for everything else.
func defaultGroupSubnets(n v1alpha1.NetworkingSpec, role v1alpha1.InstanceGroupRole) []string {
	want := v1alpha1.SubnetPublic
	if n.Topology == v1alpha1.TopologyPrivate {
		want = v1alpha1.SubnetPrivate
		if role == v1alpha1.RoleBastion {
			want = v1alpha1.SubnetUtility
		}
	}
	var names []string
	for _, s := range n.Subnets {
		if s.Type == want {
			names = append(names, s.Name)
		}
	}
	return names
}

func hasRole(igs []*v1alpha1.InstanceGroup, role v1alpha1.InstanceGroupRole) bool {
	for _, ig := range igs {
		if ig.Spec.Role == role {
			return true
		}
	}
	return false
}

func setDefault(field *string, value string) {
	if *field == "" {
		*field = value
	}
}

func setDuration(field **metav1.Duration, value time.Duration) {
	if *field == nil {
		*field = &metav1.Duration{Duration: value}
	}
}

func ptr[T any](v T) *T { return &v }
