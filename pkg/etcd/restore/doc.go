// Package restore checks a stored etcd backup against its meta and turns it into a fresh etcd data directory with a new cluster id.
package restore
