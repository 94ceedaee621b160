// Package manager runs beside each etcd member: one manager per etcd cluster is elected backup leader through etcd itself, takes scheduled and requested backups, applies retention, and all managers carry out restore commands from the state store.
package manager
