package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/nodeup/kubeapi"
	"github.com/hullproject/hull/nodeup/tasks"
)

// KubeletConfig renders the KubeletConfiguration. The settings are those
// the real-node probe needed on these hosts: cgroup v1 with cgroupfs, no
// swap check, the machine's own cgroup as cgroupRoot, image GC off so
// imported images (there is no registry to pull them back from) survive.
func KubeletConfig(in *Input) ([]byte, error) {
	cfg := map[string]any{
		"apiVersion":         "kubelet.config.k8s.io/v1beta1",
		"kind":               "KubeletConfiguration",
		"readOnlyPort":       0,
		"healthzBindAddress": "127.0.0.1",
		"healthzPort":        10248,
		"podResourcesSocket": "unix://" + KubeletPodResources,
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": CACert},
		},
		"authorization":               map[string]any{"mode": "Webhook"},
		"containerRuntimeEndpoint":    "unix://" + ContainerdSocket,
		"cgroupDriver":                "cgroupfs",
		"cgroupsPerQOS":               true,
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"clusterDNS":                  []string{in.Config.DNSServiceIP},
		"clusterDomain":               in.domain(),
		"resolvConf":                  "/etc/resolv.conf",
		"rotateCertificates":          true,
		"serializeImagePulls":         false,
		"evictionHard":                map[string]string{"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"podLogsDir":                  PodLogsDir,
	}
	if in.Facts.CgroupRoot != "" {
		cfg["cgroupRoot"] = in.Facts.CgroupRoot
	}
	if in.Config.MaxPods > 0 {
		cfg["maxPods"] = in.Config.MaxPods
	}
	if in.IsControlPlane() {
		cfg["staticPodPath"] = ManifestsDir
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render kubelet config: %w", err)
	}
	return out, nil
}

// ContainerdConfig renders containerd 1.6's config (version 2), after the
// probe's: its own root, state and socket; restrict_oom_score_adj because
// these VMs lack CAP_SYS_RESOURCE (runc fails to start sandboxes without
// it); the local pause image as sandbox image; the assets' runc and CNI
// plugins; registry hosts from ContainerdCertsDir (see RegistryHosts).
func ContainerdConfig(in *Input) ([]byte, error) {
	pause, err := in.Assets.Image("pause")
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `# Written by hull nodeup.
version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = %q
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, ContainerdRoot, ContainerdState, ContainerdSocket, ContainerdSocket+".ttrpc", ContainerdRoot+"/opt",
		pause, in.Assets.Bin("bin/runc"), RuncRoot, in.Assets.Bin("cni"), CNIConfDir, ContainerdCertsDir), nil
}

// kubeletReservedPrefixes are label namespaces the kubelet may not set on
// its own node (NodeRestriction); labels there are applied through the
// API by the control plane instead.
var kubeletReservedPrefixes = []string{"node-role.kubernetes.io/", "node-restriction.kubernetes.io/"}

// KubeletLabels are the labels the kubelet registers with and those it
// must leave to the API.
func KubeletLabels(in *Input) (self, viaAPI map[string]string) {
	self, viaAPI = map[string]string{}, map[string]string{}
	for k, v := range in.Config.NodeLabels {
		if slices.ContainsFunc(kubeletReservedPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			viaAPI[k] = v
		} else {
			self[k] = v
		}
	}
	if in.IsControlPlane() {
		viaAPI["node-role.kubernetes.io/control-plane"] = ""
	}
	// kube-proxy's DaemonSet of this version selects the node by it.
	self[kubeapi.VersionLabel] = in.Config.KubernetesVersion
	return self, viaAPI
}

// KubeletTaints are registered with the node.
func KubeletTaints(in *Input) []string {
	taints := slices.Clone(in.Config.Taints)
	if in.IsControlPlane() && !slices.ContainsFunc(taints, func(t string) bool { return strings.HasPrefix(t, "node-role.kubernetes.io/control-plane") }) {
		taints = append(taints, "node-role.kubernetes.io/control-plane:NoSchedule")
	}
	return taints
}

// KubeletArgs are the kubelet's flags.
func KubeletArgs(in *Input) []string {
	args := map[string]string{
		"config":            KubeletConfigPath,
		"kubeconfig":        KubeletKubeconfig,
		"root-dir":          KubeletDir,
		"cert-dir":          KubeletCertDir,
		"hostname-override": in.Facts.Hostname,
		"node-ip":           in.Facts.Address.String(),
		"v":                 "2",
	}
	if !in.IsControlPlane() {
		args["bootstrap-kubeconfig"] = KubeletBootstrapConfig
	}
	self, _ := KubeletLabels(in)
	if len(self) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(self)) {
			kv = append(kv, k+"="+self[k])
		}
		args["node-labels"] = strings.Join(kv, ",")
	}
	if t := KubeletTaints(in); len(t) > 0 {
		args["register-with-taints"] = strings.Join(t, ",")
	}
	return flags(merge(args, in.Config.KubeletArgs))
}

// nodeConfigTasks writes the kubelet's and containerd's configs, and
// containerd's registry hosts.
func nodeConfigTasks(in *Input) ([]tasks.Task, error) {
	kubelet, err := KubeletConfig(in)
	if err != nil {
		return nil, err
	}
	containerd, err := ContainerdConfig(in)
	if err != nil {
		return nil, err
	}
	registries, err := registryTasks(in)
	if err != nil {
		return nil, err
	}
	return append([]tasks.Task{
		in.file("config/kubelet", KubeletConfigPath, 0o644, kubelet),
		in.file("config/containerd", ContainerdConfigPath, 0o644, containerd),
	}, registries...), nil
}
