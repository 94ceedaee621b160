package model

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hullproject/hull/nodeup/kubeapi"
	"github.com/hullproject/hull/nodeup/services"
	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/state"
)

// Timeouts of the waits in the services and cluster phases. A cold
// control plane on a 2-core machine is ready in seconds; these only keep a
// broken machine from waiting forever.
const (
	ContainerdTimeout = 2 * time.Minute
	APITimeout        = 10 * time.Minute
	NodeTimeout       = 10 * time.Minute
)

// hostPrograms are what the node runs from the host, not the assets.
var hostPrograms = map[string]string{
	"iptables": "the CNI firewall plugin, kube-proxy and the kubelet need it: apt-get install iptables",
	"ip":       "nodeup's pod routes need it: apt-get install iproute2",
}

// Build is the whole task list in phase order.
func Build(in *Input, mgr services.Manager) ([]tasks.Task, error) {
	var list []tasks.Task
	for _, phase := range []func() ([]tasks.Task, error){
		func() ([]tasks.Task, error) { return FileTasks(in) },
		func() ([]tasks.Task, error) { return EtcdTasks(in) },
		func() ([]tasks.Task, error) { return ServiceTasks(in, mgr) },
		func() ([]tasks.Task, error) { return ClusterTasks(in) },
	} {
		ts, err := phase()
		if err != nil {
			return nil, err
		}
		list = append(list, ts...)
	}
	return list, nil
}

func (in *Input) hostPath(p string) string { return filepath.Join(in.Root, p) }

// Containerd is the containerd service.
func Containerd(in *Input) services.Service {
	return services.Service{
		Name: "containerd",
		Path: in.Assets.Bin("bin/containerd"),
		Args: []string{"--config", ContainerdConfigPath},
		Env:  []string{services.PathEnv(in.Assets.Bin("bin"))},
	}
}

// Kubelet is the kubelet service.
func Kubelet(in *Input) services.Service {
	return services.Service{
		Name:  "kubelet",
		Path:  in.Assets.Bin("bin/kubelet"),
		Args:  KubeletArgs(in),
		Env:   []string{services.PathEnv(in.Assets.Bin("bin"))},
		After: []string{"containerd"},
	}
}

// nodeImages are the images a machine imports: all of them on the
// control plane, what DaemonSets and Deployments run on workers.
func nodeImages(in *Input) []services.Image {
	worker := map[string]bool{"images/pause.tar": true, "images/kube-proxy.tar": true, "images/coredns.tar": true}
	var out []services.Image
	for _, im := range in.Assets.Manifest.Images {
		if in.IsControlPlane() || worker[im.File] {
			out = append(out, services.Image{Name: im.Name, File: in.Assets.Bin(im.File)})
		}
	}
	return out
}

// ServiceTasks builds the services phase.
func ServiceTasks(in *Input, mgr services.Manager) ([]tasks.Task, error) {
	ctr := services.Ctr{Path: in.Assets.Bin("bin/ctr"), Socket: ContainerdSocket}
	list := []tasks.Task{
		services.Preflight(hostPrograms),
		services.IPForward(in.Root),
		services.Task(mgr, Containerd(in)),
		services.WaitContainerd(ctr, in.hostPath(ContainerdSocket), ContainerdTimeout),
		services.ImportImages(ctr, in.hostPath(ContainerdSocket), nodeImages(in)),
	}
	if in.Cloud().MasqueradePods {
		// The network delivers pod addresses inside the cluster only (on
		// AWS, see nodeup/awsroutes); beyond it pods use the machine's address.
		list = append(list, services.PodMasquerade(in.Config.PodCIDR, services.ExecRunner))
	}
	if !in.IsControlPlane() {
		list = append(list, bootstrapKubeconfig(in))
	}
	return append(list, services.Task(mgr, Kubelet(in))), nil
}

// bootstrapKubeconfig writes the worker kubelet's bootstrap kubeconfig
// with the cluster's bootstrap token, waiting for the control plane to
// create the token: workers never see a CA key.
func bootstrapKubeconfig(in *Input) tasks.Task {
	host := in.hostPath(KubeletBootstrapConfig)
	render := func(t kubeapi.Token) []byte {
		return Kubeconfig(in.LBServer(), CACert, "kubelet-bootstrap", "", "", t.String())
	}
	d := []string{KubeletBootstrapConfig + " mode 0600", "server " + in.LBServer() + ", user kubelet-bootstrap, token from " + kubeapi.TokenKey(in.Config.ClusterName)}
	return &tasks.Func{
		TaskName: "kubelet/bootstrap-kubeconfig", TaskPhase: tasks.PhaseServices,
		CheckFn: func(ctx context.Context) (tasks.Change, error) {
			t, err := kubeapi.GetToken(ctx, in.Store, in.Config.ClusterName)
			if errors.Is(err, state.ErrNotFound) {
				return tasks.Change{Action: tasks.Ensure, Reason: "waits for the bootstrap token", Details: d}, nil
			}
			if err != nil {
				return tasks.Change{}, err
			}
			old, err := os.ReadFile(host)
			if err == nil && string(old) == string(render(t)) {
				return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
			}
			return tasks.Change{Action: tasks.Create, Details: d}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			t, err := kubeapi.WaitToken(ctx, in.Store, in.Config.ClusterName, 2*time.Second, func(m string) { in.log().Info(m) })
			if err != nil {
				return err
			}
			return tasks.WriteFileAtomic(host, render(t), 0o600)
		},
	}
}

// ClusterTasks builds the cluster phase.
func ClusterTasks(in *Input) ([]tasks.Task, error) {
	kubelet := &kubeapi.Lazy{Kubeconfig: in.hostPath(KubeletKubeconfig), Shown: KubeletKubeconfig, Wait: NodeTimeout}
	cni := &kubeapi.CNI{Root: in.Root, ConfPath: CNIConfPath, DataDir: CNIDataDir, Node: in.Facts.Hostname, Clients: kubelet, Timeout: NodeTimeout, Log: in.log()}
	if !in.IsControlPlane() {
		return []tasks.Task{cni.Task()}, nil
	}
	admin := &kubeapi.Lazy{Kubeconfig: in.hostPath(AdminKubeconfig), Shown: AdminKubeconfig, Wait: time.Minute}
	addons, err := in.addonConfig()
	if err != nil {
		return nil, err
	}
	cluster := in.Config.ClusterName
	_, viaAPI := KubeletLabels(in)
	proxy, dns := kubeapi.KubeProxy(addons), kubeapi.CoreDNS(addons)
	return []tasks.Task{
		kubeapi.WaitAPI(admin, APITimeout, in.log()),
		kubeapi.StoreToken(in.Store, cluster),
		kubeapi.ApplyObjects("bootstrap-token/secret", admin, []string{"Secret/bootstrap-token-<id> in kube-system, groups system:bootstrappers," + kubeapi.BootstrapGroup}, func(ctx context.Context) ([]kubeapi.Object, error) {
			t, err := kubeapi.GetToken(ctx, in.Store, cluster)
			if err != nil {
				return nil, fmt.Errorf("read bootstrap token: %w", err)
			}
			return []kubeapi.Object{kubeapi.BootstrapTokenSecret(t)}, nil
		}),
		applyAll("rbac/node-bootstrap", admin, kubeapi.BootstrapRBAC()),
		kubeapi.LabelNode(admin, in.Facts.Hostname, viaAPI, NodeTimeout, in.log()),
		kubeapi.DeleteNodes("node/replaced", admin, func(ctx context.Context) ([]string, error) { return replacedInstances(ctx, in) }),
		applyAll("addons/kube-proxy", admin, proxy),
		applyAll("addons/coredns", admin, dns),
		cni.Task(),
	}, nil
}

// replacedInstances are the machines whose etcd members this machine took
// over: their Node objects outlive them, since no cloud controller removes
// Nodes on the local cloud.
func replacedInstances(ctx context.Context, in *Input) ([]string, error) {
	clusters, err := EtcdClusters(in)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range clusters {
		m, _, err := c.Registry.Get(ctx, c.Name, c.Self.Name)
		if err != nil {
			if errors.Is(err, state.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if m.InstanceID == in.Facts.InstanceID && m.Replaced != "" && !slices.Contains(out, m.Replaced) {
			out = append(out, m.Replaced)
		}
	}
	return out, nil
}

func applyAll(name string, l *kubeapi.Lazy, objs []kubeapi.Object) tasks.Task {
	return kubeapi.ApplyObjects(name, l, kubeapi.Summary(objs), func(context.Context) ([]kubeapi.Object, error) { return objs, nil })
}

func (in *Input) addonConfig() (kubeapi.AddonConfig, error) {
	proxy, err := in.Assets.Image("kube-proxy")
	if err != nil {
		return kubeapi.AddonConfig{}, err
	}
	dns, err := in.Assets.Image("coredns")
	if err != nil {
		return kubeapi.AddonConfig{}, err
	}
	return kubeapi.AddonConfig{
		KubernetesVersion: in.Config.KubernetesVersion,
		KubeProxyImage:    proxy, CoreDNSImage: dns, APIServer: in.Config.APIServer,
		PodCIDR: in.Config.PodCIDR, DNSServiceIP: in.Config.DNSServiceIP, DNSDomain: in.domain(),
	}, nil
}
