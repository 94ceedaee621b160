// Package completion fills defaults into a Cluster and its InstanceGroups, producing the completed spec.
package completion
