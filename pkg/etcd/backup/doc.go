// Package backup streams etcd snapshots into the state store, gzipped, with a meta object written last, and lists the complete ones.
package backup
