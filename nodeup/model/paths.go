package model

import "path"

// Paths on a machine. Every one lies in a directory the local cloud gives
// each machine privately (see cloudup/local machineDirs), so machines on
// one host never see each other's files.
const (
	KubernetesDir = "/etc/kubernetes"
	PKIDir        = "/etc/kubernetes/pki"
	ManifestsDir  = "/etc/kubernetes/manifests"
	HullDir       = "/etc/hull"
	KubeletDir    = "/var/lib/kubelet"
	EtcdDataDir   = "/var/lib/etcd"

	KubeletConfigPath       = "/var/lib/kubelet/config.yaml"
	KubeletKubeconfig       = "/var/lib/kubelet/kubeconfig"
	KubeletBootstrapConfig  = "/var/lib/kubelet/bootstrap-kubeconfig"
	KubeletCertDir          = "/var/lib/kubelet/pki"
	KubeletPodResources     = "/var/lib/kubelet/pod-resources/kubelet.sock"
	AdminKubeconfig         = "/etc/kubernetes/admin.conf"
	ControllerManagerConfig = "/etc/kubernetes/controller-manager.conf"
	SchedulerConfig         = "/etc/kubernetes/scheduler.conf"

	ContainerdConfigPath = "/etc/hull/containerd.toml"
	ContainerdRoot       = "/var/lib/containerd"
	ContainerdState      = "/run/containerd"
	ContainerdSocket     = "/run/containerd/containerd.sock"
	RuncRoot             = "/run/containerd/runc"

	CNIConfDir  = "/etc/cni/net.d"
	CNIConfPath = "/etc/cni/net.d/10-hull.conflist"
	CNIDataDir  = "/var/lib/cni/networks"
	PodLogsDir  = "/var/log/pods"

	// HullStateDir holds nodeup's own state and, for unbaked images, the
	// fetched assets.
	HullStateDir = "/var/lib/hull"
)

// PKI files.
var (
	CACert           = path.Join(PKIDir, "ca.crt")
	CAKey            = path.Join(PKIDir, "ca.key")
	FrontProxyCACert = path.Join(PKIDir, "front-proxy-ca.crt")
	SAKey            = path.Join(PKIDir, "sa.key")
	SAPub            = path.Join(PKIDir, "sa.pub")
)

// pkiPair is the certificate and key path of a leaf named name.
func pkiPair(name string) (string, string) {
	return path.Join(PKIDir, name+".crt"), path.Join(PKIDir, name+".key")
}

// etcdPKI is the directory of one etcd cluster's certificates.
func etcdPKI(cluster string) string { return path.Join(PKIDir, "etcd", cluster) }
