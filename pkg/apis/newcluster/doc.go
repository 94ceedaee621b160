// Package newcluster builds the Cluster and InstanceGroups that `hull create cluster` writes from its flags.
package newcluster
