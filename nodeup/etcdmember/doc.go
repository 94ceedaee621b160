// Package etcdmember records which machine runs each etcd member in the state store, builds the initial cluster from those records, and swaps a replaced machine's member through the etcd API.
package etcdmember
