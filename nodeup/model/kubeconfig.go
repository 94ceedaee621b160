package model

import (
	"fmt"

	"github.com/hullproject/hull/nodeup/tasks"
)

// LocalAPIServer is how components on a control-plane machine reach the
// apiserver beside them: no load balancer hop, and it works before the
// load balancer sees this machine healthy.
const LocalAPIServer = "https://127.0.0.1:443"

// Kubeconfig renders a kubeconfig with file references, the form kubeadm
// writes for static pods (which mount /etc/kubernetes/pki) and the kubelet.
// Either certFile/keyFile or tokenLine is used.
func Kubeconfig(server, caFile, user, certFile, keyFile, token string) []byte {
	auth := fmt.Sprintf("    client-certificate: %s\n    client-key: %s\n", certFile, keyFile)
	if token != "" {
		auth = fmt.Sprintf("    token: %s\n", token)
	}
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: hull
  cluster:
    certificate-authority: %s
    server: %s
users:
- name: %s
  user:
%scontexts:
- name: hull
  context:
    cluster: hull
    user: %s
current-context: hull
`, caFile, server, user, auth, user)
}

// LBServer is the URL of the API load balancer.
func (in *Input) LBServer() string {
	return "https://" + in.Config.APIServer
}

// kubeconfigTasks writes the kubeconfigs of the control-plane components
// and of a control-plane kubelet. A worker's kubelet kubeconfig comes from
// TLS bootstrap instead (see the services phase).
func kubeconfigTasks(in *Input) ([]tasks.Task, error) {
	if !in.IsControlPlane() {
		return nil, nil
	}
	kc := func(name, p, server, user, pair string) tasks.Task {
		c, k := pkiPair(pair)
		return in.file("kubeconfig/"+name, p, 0o600, Kubeconfig(server, CACert, user, c, k, ""))
	}
	return []tasks.Task{
		kc("controller-manager", ControllerManagerConfig, LocalAPIServer, ControllerManagerCN, "controller-manager"),
		kc("scheduler", SchedulerConfig, LocalAPIServer, SchedulerCN, "scheduler"),
		kc("admin", AdminKubeconfig, LocalAPIServer, AdminCN, "admin"),
		// The kubelet goes through the load balancer like every node, so
		// it keeps working while this machine's apiserver restarts.
		kc("kubelet", KubeletKubeconfig, in.LBServer(), NodeUser(in.Facts.Hostname), "kubelet-client"),
	}, nil
}
