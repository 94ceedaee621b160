// Package registry stores and loads a cluster's Cluster, InstanceGroups and keysets in the state store.
package registry
