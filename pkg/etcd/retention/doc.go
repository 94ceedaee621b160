// Package retention decides which etcd backups to keep (all recent ones, then the oldest per hour, then per day) and deletes the rest.
package retention
