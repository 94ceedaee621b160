// Package bootstrap is nodeup's boot flow: read the user-data, fetch and verify the config and the assets, learn the machine's facts, then plan or apply the task list and keep the services running.
package bootstrap
