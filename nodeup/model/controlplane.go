package model

import (
	"fmt"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/hullproject/hull/nodeup/tasks"
)

// APIServerPort is the apiserver's secure port on every control-plane
// machine; the load balancer forwards 443 to it.
const APIServerPort = 443

// Ports the controller-manager and scheduler serve health on (loopback).
const (
	ControllerManagerPort = 10257
	SchedulerPort         = 10259
)

func (in *Input) domain() string {
	if in.Config.ClusterDNSDomain == "" {
		return "cluster.local"
	}
	return in.Config.ClusterDNSDomain
}

// APIServerArgs are kube-apiserver's flags.
func APIServerArgs(in *Input) (map[string]string, error) {
	main := MainEtcd(in.Config)
	if main == nil {
		return nil, fmt.Errorf("the config has no etcd cluster for the apiserver")
	}
	etcdCert, etcdKey := EtcdClientPair(main.Name)
	tlsCert, tlsKey := pkiPair("apiserver")
	kcCert, kcKey := pkiPair("apiserver-kubelet-client")
	fpCert, fpKey := pkiPair("front-proxy-client")
	args := map[string]string{
		"advertise-address": in.Facts.Address.String(),
		"allow-privileged":  "true",
		// The load balancer health-checks /readyz without credentials;
		// system:public-info-viewer lets anonymous users read it and
		// nothing else.
		"anonymous-auth":                     "true",
		"authorization-mode":                 "Node,RBAC",
		"bind-address":                       "0.0.0.0",
		"client-ca-file":                     CACert,
		"enable-admission-plugins":           "NodeRestriction",
		"enable-bootstrap-token-auth":        "true",
		"etcd-cafile":                        APIServerEtcdCA,
		"etcd-certfile":                      etcdCert,
		"etcd-keyfile":                       etcdKey,
		"etcd-servers":                       "https://127.0.0.1:" + strconv.Itoa(main.ClientPort),
		"kubelet-client-certificate":         kcCert,
		"kubelet-client-key":                 kcKey,
		"kubelet-preferred-address-types":    "InternalIP,Hostname,ExternalIP",
		"profiling":                          "false",
		"proxy-client-cert-file":             fpCert,
		"proxy-client-key-file":              fpKey,
		"requestheader-allowed-names":        FrontProxyClientCN,
		"requestheader-client-ca-file":       FrontProxyCACert,
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-username-headers":     "X-Remote-User",
		"secure-port":                        strconv.Itoa(APIServerPort),
		"service-account-issuer":             "https://kubernetes.default.svc." + in.domain(),
		"service-account-key-file":           SAPub,
		"service-account-signing-key-file":   SAKey,
		"service-cluster-ip-range":           in.Config.ServiceClusterIPRange,
		"tls-cert-file":                      tlsCert,
		"tls-private-key-file":               tlsKey,
	}
	if ev := EventsEtcd(in.Config); ev != nil && ev.Name != main.Name {
		args["etcd-servers-overrides"] = "/events#https://127.0.0.1:" + strconv.Itoa(ev.ClientPort)
	}
	return merge(args, in.Config.KubeAPIServerArgs), nil
}

// ControllerManagerArgs are kube-controller-manager's flags.
func ControllerManagerArgs(in *Input) map[string]string {
	args := map[string]string{
		"allocate-node-cidrs":       "true",
		"authentication-kubeconfig": ControllerManagerConfig,
		"authorization-kubeconfig":  ControllerManagerConfig,
		"bind-address":              "127.0.0.1",
		"cluster-cidr":              in.Config.PodCIDR,
		"cluster-name":              in.Config.ClusterName,
		// It signs kubelet client certificates with the Kubernetes CA,
		// and its csrapprover approves those of bootstrapping nodes.
		"cluster-signing-cert-file":        CACert,
		"cluster-signing-key-file":         CAKey,
		"configure-cloud-routes":           "false",
		"controllers":                      "*,bootstrapsigner,tokencleaner",
		"kubeconfig":                       ControllerManagerConfig,
		"leader-elect":                     "true",
		"node-cidr-mask-size":              "24",
		"profiling":                        "false",
		"root-ca-file":                     CACert,
		"secure-port":                      strconv.Itoa(ControllerManagerPort),
		"service-account-private-key-file": SAKey,
		"service-cluster-ip-range":         in.Config.ServiceClusterIPRange,
		"use-service-account-credentials":  "true",
	}
	return merge(args, in.Config.KubeControllerManagerArgs)
}

// SchedulerArgs are kube-scheduler's flags.
func SchedulerArgs(in *Input) map[string]string {
	args := map[string]string{
		"authentication-kubeconfig": SchedulerConfig,
		"authorization-kubeconfig":  SchedulerConfig,
		"bind-address":              "127.0.0.1",
		"kubeconfig":                SchedulerConfig,
		"leader-elect":              "true",
		"profiling":                 "false",
		"secure-port":               strconv.Itoa(SchedulerPort),
	}
	return merge(args, in.Config.KubeSchedulerArgs)
}

// controlPlaneManifests writes the static pods of kube-apiserver,
// kube-controller-manager and kube-scheduler.
func controlPlaneManifests(in *Input) ([]tasks.Task, error) {
	image := func(n string) (string, error) { return in.Assets.Image(n) }
	apiArgs, err := APIServerArgs(in)
	if err != nil {
		return nil, err
	}
	var pods []staticPod
	for _, p := range []struct {
		name string
		args map[string]string
		conf string
		cpu  string
		pr   *corev1.Probe
	}{
		{"kube-apiserver", apiArgs, "", "150m", httpProbe(corev1.URISchemeHTTPS, APIServerPort, "/readyz")},
		{"kube-controller-manager", ControllerManagerArgs(in), ControllerManagerConfig, "100m", httpProbe(corev1.URISchemeHTTPS, ControllerManagerPort, "/healthz")},
		{"kube-scheduler", SchedulerArgs(in), SchedulerConfig, "50m", httpProbe(corev1.URISchemeHTTPS, SchedulerPort, "/healthz")},
	} {
		img, err := image(p.name)
		if err != nil {
			return nil, err
		}
		mounts := []string{PKIDir}
		if p.conf != "" {
			mounts = append(mounts, p.conf)
		}
		pods = append(pods, staticPod{name: p.name, image: img, command: "/usr/local/bin/" + p.name, args: p.args, mounts: mounts, cpu: p.cpu, probe: p.pr})
	}
	var list []tasks.Task
	for _, p := range pods {
		data, err := p.render()
		if err != nil {
			return nil, err
		}
		list = append(list, in.file("manifests/"+p.name, path.Join(ManifestsDir, p.name+".yaml"), 0o644, data))
	}
	return list, nil
}
