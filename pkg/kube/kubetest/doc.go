// Package kubetest starts a real etcd and kube-apiserver (no kubelet) for tests, from the hull assets repository.
package kubetest
