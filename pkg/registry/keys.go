package registry

import "path"

// Object keys under <cluster>/, as documented in docs/state-store.md.
const (
	keyConfig         = "config"
	keyCompleted      = "cluster-completed.spec"
	keyLock           = "lock"
	keyClusterID      = "cluster-id"
	dirInstanceGroups = "instancegroup"
	dirPKIIssued      = "pki/issued"
	dirPKIPrivate     = "pki/private"
	keysetFile        = "keyset.yaml"
)

// ConfigKey is the key of the user's Cluster document.
func ConfigKey(cluster string) string { return path.Join(cluster, keyConfig) }

// CompletedKey is the key of the completed (defaulted) cluster spec.
func CompletedKey(cluster string) string { return path.Join(cluster, keyCompleted) }

// ClusterIDKey holds the cluster's identity (see ClusterID): written at
// create, never changed, and carried by every cloud resource hull makes.
func ClusterIDKey(cluster string) string { return path.Join(cluster, keyClusterID) }

// LockKey is the key of the lease every mutating command holds.
func LockKey(cluster string) string { return path.Join(cluster, keyLock) }

// InstanceGroupKey is the key of one InstanceGroup document.
func InstanceGroupKey(cluster, ig string) string {
	return path.Join(cluster, dirInstanceGroups, ig)
}

// IssuedKeysetKey holds a keyset's certificates and public keys only, so a
// reader that may see certificates (a worker) need not see private keys.
func IssuedKeysetKey(cluster, keyset string) string {
	return path.Join(cluster, dirPKIIssued, keyset, keysetFile)
}

// PrivateKeysetKey holds a keyset with its private keys.
func PrivateKeysetKey(cluster, keyset string) string {
	return path.Join(cluster, dirPKIPrivate, keyset, keysetFile)
}
