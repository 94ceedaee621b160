// Package cluster is hull as a library: a Cluster handle, opened once per command, on which the commands act (update, rolling-update, upgrade, backup, restore, validate, delete, instances, the API's credentials).
package cluster
