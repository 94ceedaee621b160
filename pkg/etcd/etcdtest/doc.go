// Package etcdtest runs real embedded etcd members and clusters on 127.0.0.1 for tests.
package etcdtest
