// Package localnode is nodeup's local-cloud counterpart: it registers how nodeup runs on a machine of the local cloud.
package localnode
