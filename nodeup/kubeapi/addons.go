package kubeapi

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AddonConfig is what the add-ons are built from.
type AddonConfig struct {
	// KubernetesVersion is this control plane's; kube-proxy runs at it on
	// the nodes of that version.
	KubernetesVersion string
	KubeProxyImage    string
	CoreDNSImage      string
	// APIServer is the load balancer, host:port: kube-proxy cannot use the
	// kubernetes Service before kube-proxy itself programs it.
	APIServer    string
	PodCIDR      string
	DNSServiceIP string
	DNSDomain    string
	CoreDNSCount int32
}

// kubeProxyHostMounts are the host directories kube-proxy's container sees
// at the same paths (and /lib, /lib64 at the merged-/usr ones): the
// image holds only the static kube-proxy binary, but kube-proxy runs the
// host's iptables, iptables-save and iptables-restore, which are
// dynamically linked.
var kubeProxyHostMounts = [][2]string{
	{"/usr/sbin", "/usr/sbin"},
	{"/usr/lib", "/usr/lib"},
	{"/usr/lib", "/lib"},
	{"/usr/lib64", "/lib64"},
	{"/etc/alternatives", "/etc/alternatives"},
	{"/lib/modules", "/lib/modules"},
}

// VersionLabel is the node label nodeup registers every node with: its
// Kubernetes version.
const VersionLabel = "hull.dev/kubernetes-version"

// KubeProxyDaemonSet names the kube-proxy DaemonSet of a Kubernetes version.
func KubeProxyDaemonSet(version string) string {
	return "kube-proxy-v" + strings.ReplaceAll(version, ".", "-")
}

// KubeProxy is kube-proxy as a DaemonSet per Kubernetes version, on the
// nodes of that version only: images come with each node's assets (pull
// policy Never), and during an upgrade nodes of the old version keep
// their kube-proxy while the new control plane adds the new one. Host
// network, iptables mode, conntrack sysctls left alone (maxPerCore 0: a
// machine's network namespace may not set nf_conntrack_max), credentials
// of its ServiceAccount against the load balancer.
func KubeProxy(c AddonConfig) []Object {
	const name = "kube-proxy"
	config := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
mode: iptables
clusterCIDR: %s
bindAddress: 0.0.0.0
healthzBindAddress: 0.0.0.0:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
`, c.PodCIDR)
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: https://%s
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
contexts:
- name: default
  context: {cluster: default, user: default}
current-context: default
`, c.APIServer)
	labels := map[string]string{"k8s-app": name, VersionLabel: c.KubernetesVersion}
	privileged := true
	fileOrCreate := corev1.HostPathFileOrCreate
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}},
		{Name: "xtables-lock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/xtables.lock", Type: &fileOrCreate}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: "/var/lib/kube-proxy"},
		{Name: "xtables-lock", MountPath: "/run/xtables.lock"},
	}
	for i, m := range kubeProxyHostMounts {
		v := fmt.Sprintf("host-%d", i)
		volumes = append(volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m[0]}}})
		mounts = append(mounts, corev1.VolumeMount{Name: v, MountPath: m[1], ReadOnly: true})
	}
	dsName := KubeProxyDaemonSet(c.KubernetesVersion)
	ds := &appsv1.DaemonSet{
		ObjectMeta: meta(dsName, kubeSystem),
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork:        true,
					PriorityClassName:  "system-node-critical",
					ServiceAccountName: name,
					Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					NodeSelector:       map[string]string{"kubernetes.io/os": "linux", VersionLabel: c.KubernetesVersion},
					Volumes:            volumes,
					Containers: []corev1.Container{{
						Name:            name,
						Image:           c.KubeProxyImage,
						ImagePullPolicy: corev1.PullNever,
						Command:         []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"},
						Env: []corev1.EnvVar{
							{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
							{Name: "PATH", Value: "/usr/local/bin:/usr/sbin:/usr/bin"},
						},
						SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
						VolumeMounts:    mounts,
						Resources:       requests("50m", "32Mi"),
					}},
				},
			},
		},
	}
	return []Object{
		obj(gvrServiceAccount, "ServiceAccount", name, &corev1.ServiceAccount{ObjectMeta: meta(name, kubeSystem)}),
		obj(gvrClusterRoleBinding, "ClusterRoleBinding", "hull:kube-proxy", &rbacv1.ClusterRoleBinding{
			ObjectMeta: meta("hull:kube-proxy", ""),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node-proxier"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: kubeSystem}},
		}),
		obj(gvrConfigMap, "ConfigMap", name, &corev1.ConfigMap{ObjectMeta: meta(name, kubeSystem), Data: map[string]string{"config.conf": config, "kubeconfig.conf": kubeconfig}}),
		obj(gvrDaemonSet, "DaemonSet", dsName, ds),
	}
}

func requests(cpu, mem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
	}}
}

// Corefile serves the cluster domain only: these clusters have no upstream
// resolver to forward to.
func Corefile(domain string) string {
	return fmt.Sprintf(`.:53 {
    errors
    health :8080
    ready :8181
    kubernetes %s in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loadbalance
}
`, domain)
}

// CoreDNS is the cluster DNS: RBAC, Corefile, Deployment and the Service
// at the DNS service IP the kubelets hand to pods.
func CoreDNS(c AddonConfig) []Object {
	const name = "coredns"
	labels := map[string]string{"k8s-app": "kube-dns"}
	replicas := c.CoreDNSCount
	if replicas == 0 {
		replicas = 2
	}
	dep := &appsv1.Deployment{
		ObjectMeta: meta(name, kubeSystem),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					PriorityClassName:  "system-cluster-critical",
					ServiceAccountName: name,
					DNSPolicy:          corev1.DNSDefault,
					Tolerations: []corev1.Toleration{
						{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
						{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists},
					},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
							Weight: 100,
							PodAffinityTerm: corev1.PodAffinityTerm{
								LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
								TopologyKey:   "kubernetes.io/hostname",
							},
						}},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}},
					Containers: []corev1.Container{{
						Name:            name,
						Image:           c.CoreDNSImage,
						ImagePullPolicy: corev1.PullNever,
						Command:         []string{"/usr/local/bin/coredns", "-conf", "/etc/coredns/Corefile"},
						Ports: []corev1.ContainerPort{
							{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
							{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns", ReadOnly: true}},
						Resources:    requests("50m", "32Mi"),
						LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt(8080)}},
							InitialDelaySeconds: 30, PeriodSeconds: 10, FailureThreshold: 5},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt(8181)}},
							PeriodSeconds: 2},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: meta("kube-dns", kubeSystem),
		Spec: corev1.ServiceSpec{
			Selector:  labels,
			ClusterIP: c.DNSServiceIP,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt(53)},
			},
		},
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: meta("system:coredns", ""),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}
	return []Object{
		obj(gvrServiceAccount, "ServiceAccount", name, &corev1.ServiceAccount{ObjectMeta: meta(name, kubeSystem)}),
		obj(gvrClusterRole, "ClusterRole", role.Name, role),
		obj(gvrClusterRoleBinding, "ClusterRoleBinding", "system:coredns", &rbacv1.ClusterRoleBinding{
			ObjectMeta: meta("system:coredns", ""),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:coredns"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: kubeSystem}},
		}),
		obj(gvrConfigMap, "ConfigMap", name, &corev1.ConfigMap{ObjectMeta: meta(name, kubeSystem), Data: map[string]string{"Corefile": Corefile(c.DNSDomain)}}),
		obj(gvrDeployment, "Deployment", name, dep),
		obj(gvrService, "Service", "kube-dns", svc),
	}
}
