// Package kubeapi holds the nodeup tasks that talk to the Kubernetes API or depend on it: TLS bootstrap (token and RBAC), control-plane labels, add-ons (kube-proxy, CoreDNS), the CNI config once the node has a pod CIDR, and the pod-route controller.
package kubeapi
