package validation

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestValidateClusterInvalid(t *testing.T) {
	runInvalidCases(t, []invalidCase{
		// metadata and top-level spec
		{
			name:   "cluster name not DNS-1123",
			mutate: func(o *objects) { o.renameCluster("Demo_Cluster") },
			want:   []string{invalid("metadata.name")},
		},
		{
			// IsDNS1123Subdomain alone accepts it: it checks the whole name.
			name:   "cluster name with a 64-character DNS label",
			mutate: func(o *objects) { o.renameCluster(strings.Repeat("a", 64) + ".example.com") },
			want:   []string{invalid("metadata.name")},
		},
		{
			name:   "cluster label key invalid",
			mutate: func(o *objects) { o.c.Metadata.Labels = map[string]string{"team name": "infra"} },
			want:   []string{invalid("metadata.labels[team name]")},
		},
		{
			name:   "cluster label value invalid",
			mutate: func(o *objects) { o.c.Metadata.Labels = map[string]string{"team": "infra ops"} },
			want:   []string{invalid("metadata.labels[team]")},
		},
		{
			name:   "300,000 cluster labels",
			mutate: func(o *objects) { o.c.Metadata.Labels = manyLabels(300_000) },
			want:   []string{tooLong("metadata.labels")},
		},
		{
			name:   "cluster annotation key invalid",
			mutate: func(o *objects) { o.c.Metadata.Annotations = map[string]string{"owner/": "x"} },
			want:   []string{invalid("metadata.annotations[owner/]")},
		},
		{
			name: "cluster annotations over 256 KiB",
			mutate: func(o *objects) {
				o.c.Metadata.Annotations = map[string]string{"note": strings.Repeat("x", 256<<10)}
			},
			want: []string{tooLong("metadata.annotations")},
		},
		{
			name:   "cluster name missing",
			mutate: func(o *objects) { o.c.Metadata.Name = "" },
			want:   []string{required("metadata.name")},
		},
		{
			name:   "unknown cloud provider",
			mutate: func(o *objects) { o.c.Spec.CloudProvider = "gce" },
			want:   []string{unsupported("spec.cloudProvider")},
		},
		{
			name:   "kubernetesVersion missing",
			mutate: func(o *objects) { o.c.Spec.KubernetesVersion = "" },
			want:   []string{required("spec.kubernetesVersion")},
		},
		{
			name:   "kubernetesVersion not semver",
			mutate: func(o *objects) { o.c.Spec.KubernetesVersion = "1.37" },
			want:   []string{invalid("spec.kubernetesVersion")},
		},
		{
			name:   "channel name with capitals",
			mutate: func(o *objects) { o.c.Spec.Channel = "Stable" },
			want:   []string{invalid("spec.channel")},
		},
		{
			name:   "channel over plain http",
			mutate: func(o *objects) { o.c.Spec.Channel = "http://channels.example.com/stable" },
			want:   []string{invalid("spec.channel")},
		},
		{
			name:   "assets repository without scheme",
			mutate: func(o *objects) { o.c.Spec.Assets = &v1alpha1.AssetsSpec{Repository: "mirror.example.com"} },
			want:   []string{invalid("spec.assets.repository")},
		},
		{
			name:   "bastion settings in public topology",
			mutate: func(o *objects) { o.c.Spec.Bastion = &v1alpha1.BastionSpec{} },
			want:   []string{forbidden("spec.bastion")},
		},

		// networking ranges
		{
			name:   "networkCIDR does not parse",
			mutate: func(o *objects) { o.c.Spec.Networking.NetworkCIDR = "172.20.0.0/33" },
			want:   []string{invalid("spec.networking.networkCIDR")},
		},
		{
			name:   "networkCIDR IPv6",
			mutate: func(o *objects) { o.c.Spec.Networking.NetworkCIDR = "fd00::/48" },
			want:   []string{invalid("spec.networking.networkCIDR")},
		},
		{
			name:   "podCIDR with host bits",
			mutate: func(o *objects) { o.c.Spec.Networking.PodCIDR = "100.96.0.1/11" },
			want:   []string{invalid("spec.networking.podCIDR")},
		},
		{
			name:   "serviceClusterIPRange not a CIDR",
			mutate: func(o *objects) { o.c.Spec.Networking.ServiceClusterIPRange = "services" },
			want:   []string{invalid("spec.networking.serviceClusterIPRange")},
		},
		{
			name:   "podCIDR overlaps networkCIDR",
			mutate: func(o *objects) { o.c.Spec.Networking.PodCIDR = "172.20.0.0/24" },
			want:   []string{invalid("spec.networking.podCIDR")},
		},
		{
			name:   "podCIDR overlaps serviceClusterIPRange",
			mutate: func(o *objects) { o.c.Spec.Networking.ServiceClusterIPRange = "100.96.0.0/13" },
			want:   []string{invalid("spec.networking.serviceClusterIPRange")},
		},
		{
			name:   "subnet overlaps podCIDR",
			mutate: func(o *objects) { o.c.Spec.Networking.PodCIDR = "172.20.32.0/20" },
			want: []string{
				invalid("spec.networking.podCIDR"),
				invalid("spec.networking.subnets[0].cidr"),
			},
		},
		{
			name:   "subnet overlaps serviceClusterIPRange",
			mutate: func(o *objects) { o.c.Spec.Networking.ServiceClusterIPRange = "172.20.48.0/20" },
			want: []string{
				invalid("spec.networking.serviceClusterIPRange"),
				invalid("spec.networking.subnets[0].cidr"),
			},
		},
		{
			name:   "unknown topology",
			mutate: func(o *objects) { o.c.Spec.Networking.Topology = "hybrid" },
			want:   []string{unsupported("spec.networking.topology")},
		},
		{
			name:   "clusterDNSDomain not a DNS name",
			mutate: func(o *objects) { o.c.Spec.Networking.ClusterDNSDomain = "cluster_local" },
			want:   []string{invalid("spec.networking.clusterDNSDomain")},
		},

		// subnets
		{
			name:   "subnet outside networkCIDR",
			mutate: func(o *objects) { o.subnet("zone-a").CIDR = "10.0.0.0/24" },
			want:   []string{invalid("spec.networking.subnets[0].cidr")},
		},
		{
			name: "subnets overlap each other",
			mutate: func(o *objects) {
				n := &o.c.Spec.Networking
				n.Subnets = append(n.Subnets, v1alpha1.SubnetSpec{Name: "zone-b", Zone: "local-b", CIDR: "172.20.32.0/20", Type: v1alpha1.SubnetPublic})
			},
			want: []string{invalid("spec.networking.subnets[1].cidr")},
		},
		{
			name:   "no subnets",
			mutate: func(o *objects) { o.c.Spec.Networking.Subnets = nil },
			want: []string{
				required("spec.networking.subnets"),
				unsupported("instanceGroups[control-plane-a].spec.subnets[0]"),
				unsupported("instanceGroups[nodes-a].spec.subnets[0]"),
			},
		},
		{
			name: "duplicate subnet name",
			mutate: func(o *objects) {
				n := &o.c.Spec.Networking
				n.Subnets = append(n.Subnets, v1alpha1.SubnetSpec{Name: "zone-a", Zone: "local-b", CIDR: "172.20.64.0/19", Type: v1alpha1.SubnetPublic})
			},
			want: []string{duplicate("spec.networking.subnets[1].name")},
		},
		{
			name: "subnet name not a DNS label",
			mutate: func(o *objects) {
				o.subnet("zone-a").Name = "zone.a"
				for _, ig := range o.igs {
					ig.Spec.Subnets = []string{"zone.a"}
				}
			},
			want: []string{invalid("spec.networking.subnets[0].name")},
		},
		{
			name:   "subnet zone missing",
			mutate: func(o *objects) { o.subnet("zone-a").Zone = "" },
			want:   []string{required("spec.networking.subnets[0].zone")},
		},
		{
			name:   "subnet type unknown",
			mutate: func(o *objects) { o.subnet("zone-a").Type = "DMZ" },
			want:   []string{unsupported("spec.networking.subnets[0].type")},
		},
		{
			name:   "subnet type missing",
			mutate: func(o *objects) { o.subnet("zone-a").Type = "" },
			want:   []string{required("spec.networking.subnets[0].type")},
		},

		// api and access lists
		{
			name:   "load balancer type unknown",
			mutate: func(o *objects) { o.c.Spec.API.LoadBalancer.Type = "External" },
			want:   []string{unsupported("spec.api.loadBalancer.type")},
		},
		{
			name:   "load balancer type missing",
			mutate: func(o *objects) { o.c.Spec.API.LoadBalancer.Type = "" },
			want:   []string{required("spec.api.loadBalancer.type")},
		},
		{
			name:   "additionalSANs bad IP and bad name",
			mutate: func(o *objects) { o.c.Spec.API.AdditionalSANs = []string{"10.0.0.300", "api.example.com", "bad name"} },
			want: []string{
				invalid("spec.api.additionalSANs[0]"),
				invalid("spec.api.additionalSANs[2]"),
			},
		},
		{
			name:   "sshAccess bare address",
			mutate: func(o *objects) { o.c.Spec.SSHAccess = []string{"203.0.113.7"} },
			want:   []string{invalid("spec.sshAccess[0]")},
		},
		{
			name:   "kubernetesAPIAccess IPv6",
			mutate: func(o *objects) { o.c.Spec.KubernetesAPIAccess = []string{"0.0.0.0/0", "::/0"} },
			want:   []string{invalid("spec.kubernetesAPIAccess[1]")},
		},

		// components and rolling update
		{
			name: "extraArgs with leading dashes",
			mutate: func(o *objects) {
				o.c.Spec.KubeAPIServer = &v1alpha1.KubeAPIServerSpec{ExtraArgs: map[string]string{"--v": "4", "audit-log-maxage": "30"}}
				o.c.Spec.Kubelet = &v1alpha1.KubeletSpec{ExtraArgs: map[string]string{"-v": "2"}}
			},
			want: []string{
				invalid("spec.kubeAPIServer.extraArgs[--v]"),
				invalid("spec.kubelet.extraArgs[-v]"),
			},
		},
		{
			name:   "kubelet maxPods zero",
			mutate: func(o *objects) { o.c.Spec.Kubelet = &v1alpha1.KubeletSpec{MaxPods: ptr[int32](0)} },
			want:   []string{invalid("spec.kubelet.maxPods")},
		},
		{
			name: "rollingUpdate percent above 100",
			mutate: func(o *objects) {
				o.c.Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: ptr(intstr.FromString("150%"))}
			},
			want: []string{invalid("spec.rollingUpdate.maxSurge")},
		},
		{
			name: "rollingUpdate not a number or percent",
			mutate: func(o *objects) {
				o.c.Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxUnavailable: ptr(intstr.FromString("fast"))}
			},
			want: []string{invalid("spec.rollingUpdate.maxUnavailable")},
		},
		{
			name: "rollingUpdate both zero",
			mutate: func(o *objects) {
				o.c.Spec.RollingUpdate = &v1alpha1.RollingUpdate{MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromString("0%"))}
			},
			want: []string{invalid("spec.rollingUpdate.maxUnavailable")},
		},
	})
}

func TestValidateEtcdInvalid(t *testing.T) {
	runInvalidCases(t, []invalidCase{
		{
			name:   "events cluster missing",
			mutate: func(o *objects) { o.c.Spec.EtcdClusters = o.c.Spec.EtcdClusters[:1] },
			want:   []string{required("spec.etcdClusters")},
		},
		{
			name:   "duplicate etcd cluster name",
			mutate: func(o *objects) { o.etcd("events").Name = "main" },
			want:   []string{duplicate("spec.etcdClusters[1].name"), required("spec.etcdClusters")},
		},
		{
			name:   "etcd cluster without members",
			mutate: func(o *objects) { o.etcd("events").Members = nil },
			want:   []string{required("spec.etcdClusters[1].members")},
		},
		{
			name:   "even member count",
			mutate: func(o *objects) { o.addControlPlanes("b") },
			want:   []string{invalid("spec.etcdClusters[0].members"), invalid("spec.etcdClusters[1].members")},
		},
		{
			name:   "more members than etcd advises",
			mutate: func(o *objects) { o.addControlPlanes("b", "c", "d", "e", "f", "g", "h", "i") },
			want:   []string{tooMany("spec.etcdClusters[0].members"), tooMany("spec.etcdClusters[1].members")},
		},
		{
			name: "duplicate member name",
			mutate: func(o *objects) {
				o.addControlPlanes("b", "c")
				o.etcd("main").Members[1].Name = "a"
			},
			want: []string{duplicate("spec.etcdClusters[0].members[1].name")},
		},
		{
			name:   "member instanceGroup missing",
			mutate: func(o *objects) { o.etcd("main").Members[0].InstanceGroup = "" },
			want: []string{
				required("spec.etcdClusters[0].members[0].instanceGroup"),
				required("spec.etcdClusters[0].members"),
			},
		},
		{
			name:   "member on a group that does not exist",
			mutate: func(o *objects) { o.etcd("main").Members[0].InstanceGroup = "control-plane-x" },
			want: []string{
				invalid("spec.etcdClusters[0].members[0].instanceGroup"),
				required("spec.etcdClusters[0].members"),
			},
		},
		{
			name:   "member on a Node group",
			mutate: func(o *objects) { o.etcd("events").Members[0].InstanceGroup = "nodes-a" },
			want: []string{
				invalid("spec.etcdClusters[1].members[0].instanceGroup"),
				required("spec.etcdClusters[1].members"),
			},
		},
		{
			name: "control-plane groups missing from events",
			mutate: func(o *objects) {
				o.addControlPlanes("b", "c")
				o.etcd("events").Members = o.etcd("events").Members[:1]
			},
			want: []string{required("spec.etcdClusters[1].members"), required("spec.etcdClusters[1].members")},
		},
		{
			name: "control-plane group twice in one etcd cluster",
			mutate: func(o *objects) {
				o.addControlPlanes("b", "c")
				o.etcd("main").Members[1].InstanceGroup = "control-plane-a"
			},
			want: []string{
				duplicate("spec.etcdClusters[0].members[1].instanceGroup"),
				required("spec.etcdClusters[0].members"),
			},
		},
		{
			name:   "etcd version not semver",
			mutate: func(o *objects) { o.etcd("main").Version = "3.5" },
			want:   []string{invalid("spec.etcdClusters[0].version")},
		},
		{
			name:   "backup interval under a minute",
			mutate: func(o *objects) { o.etcd("main").Backups = &v1alpha1.EtcdBackupSpec{Interval: dur(30 * time.Second)} },
			want:   []string{invalid("spec.etcdClusters[0].backups.interval")},
		},
		{
			name:   "backup interval zero",
			mutate: func(o *objects) { o.etcd("events").Backups = &v1alpha1.EtcdBackupSpec{Interval: dur(0)} },
			want:   []string{invalid("spec.etcdClusters[1].backups.interval")},
		},
		{
			name: "negative retention",
			mutate: func(o *objects) {
				o.etcd("main").Backups = &v1alpha1.EtcdBackupSpec{Retention: &v1alpha1.BackupRetention{KeepAllFor: dur(-time.Hour)}}
			},
			want: []string{invalid("spec.etcdClusters[0].backups.retention.keepAllFor")},
		},
		{
			name: "hourlyFor shorter than keepAllFor",
			mutate: func(o *objects) {
				o.etcd("main").Backups = &v1alpha1.EtcdBackupSpec{Retention: &v1alpha1.BackupRetention{
					KeepAllFor: dur(2 * time.Hour), HourlyFor: dur(time.Hour), DailyFor: dur(90 * 24 * time.Hour)}}
			},
			want: []string{invalid("spec.etcdClusters[0].backups.retention.hourlyFor")},
		},
		{
			name: "dailyFor shorter than keepAllFor when hourlyFor is unset",
			mutate: func(o *objects) {
				o.etcd("main").Backups = &v1alpha1.EtcdBackupSpec{Retention: &v1alpha1.BackupRetention{
					KeepAllFor: dur(48 * time.Hour), DailyFor: dur(24 * time.Hour)}}
			},
			want: []string{invalid("spec.etcdClusters[0].backups.retention.dailyFor")},
		},
	})
}
