// Package etcdmanager runs the etcd managers (scheduled backups, restores) of a control-plane machine over the kubelet's static pods.
package etcdmanager
