package backup

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Object names inside one backup's directory. The meta object is written
// last and deleted first: a backup exists exactly when its meta does.
const (
	DataObject = "etcd.backup.gz"
	MetaObject = "_etcd_backup.meta"
)

// stampLayout is the RFC 3339 UTC stamp at the start of a backup's name.
const stampLayout = "2006-01-02T15:04:05Z"

// Prefix is the directory of an etcd cluster's backups:
// <cluster>/backups/etcd/<etcdCluster>.
func Prefix(cluster, etcdCluster string) string {
	return path.Join(cluster, "backups", "etcd", etcdCluster)
}

// Name is a backup's name: its UTC time to the second and a sequence number
// that tells apart backups taken in the same second.
func Name(t time.Time, seq int) string {
	return t.UTC().Format(stampLayout) + "-" + strconv.Itoa(seq)
}

// ParseName splits a backup name into its time and sequence number.
func ParseName(name string) (time.Time, int, error) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return time.Time{}, 0, fmt.Errorf("backup name %q: want <RFC3339 UTC time>-<seq>", name)
	}
	t, err := time.Parse(stampLayout, name[:i])
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("backup name %q: %w", name, err)
	}
	seq, err := strconv.Atoi(name[i+1:])
	if err != nil || seq < 0 {
		return time.Time{}, 0, fmt.Errorf("backup name %q: sequence %q is not a non-negative number", name, name[i+1:])
	}
	return t, seq, nil
}

// DataKey is the key of a backup's gzipped snapshot.
func DataKey(cluster, etcdCluster, name string) string {
	return path.Join(Prefix(cluster, etcdCluster), name, DataObject)
}

// MetaKey is the key of a backup's meta object.
func MetaKey(cluster, etcdCluster, name string) string {
	return path.Join(Prefix(cluster, etcdCluster), name, MetaObject)
}
