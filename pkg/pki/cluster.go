package pki

import (
	"fmt"
	"time"
)

// Names of the cluster-wide keysets.
const (
	KubernetesCA   = "kubernetes-ca"
	FrontProxyCA   = "front-proxy-ca"
	ServiceAccount = "service-account"
)

// CAValidity is the validity of the CAs `hull create cluster` issues.
const CAValidity = 10 * 365 * 24 * time.Hour

// EtcdPeersCA names the CA of the peer certificates of one etcd cluster.
func EtcdPeersCA(etcdCluster string) string { return "etcd-peers-ca-" + etcdCluster }

// EtcdClientsCA names the CA of the client and serving certificates of one
// etcd cluster.
func EtcdClientsCA(etcdCluster string) string { return "etcd-clients-ca-" + etcdCluster }

// ClusterKeysetNames lists the keysets a cluster with these etcd clusters
// needs: the Kubernetes and front-proxy CAs, a peers CA and a clients CA per
// etcd cluster (kept apart from the Kubernetes CA and from each other, so a
// certificate from one is refused by the others), and the service-account
// signing key.
func ClusterKeysetNames(etcdClusters []string) []string {
	names := []string{KubernetesCA, FrontProxyCA}
	for _, e := range etcdClusters {
		names = append(names, EtcdPeersCA(e))
	}
	for _, e := range etcdClusters {
		names = append(names, EtcdClientsCA(e))
	}
	return append(names, ServiceAccount)
}

// NewClusterKeysets issues every keyset ClusterKeysetNames lists, CAs valid
// for CAValidity from now, in the order ClusterKeysetNames gives.
func NewClusterKeysets(clusterName string, etcdClusters []string, now time.Time) ([]*Keyset, error) {
	if clusterName == "" {
		return nil, fmt.Errorf("issuing cluster keysets: cluster name is required")
	}
	seen := map[string]bool{}
	for _, e := range etcdClusters {
		if seen[e] {
			return nil, fmt.Errorf("issuing keysets for cluster %q: etcd cluster %q is listed twice", clusterName, e)
		}
		seen[e] = true
	}
	var out []*Keyset
	for _, name := range ClusterKeysetNames(etcdClusters) {
		var ks *Keyset
		var err error
		if name == ServiceAccount {
			ks, err = NewKeyOnlyKeyset(name)
		} else {
			// The cluster name in the CN tells apart the CAs of two clusters
			// when a person inspects a certificate.
			ks, err = NewCAKeyset(name, name+"@"+clusterName, now, CAValidity)
		}
		if err != nil {
			return nil, fmt.Errorf("issuing keysets for cluster %q: %w", clusterName, err)
		}
		out = append(out, ks)
	}
	return out, nil
}
