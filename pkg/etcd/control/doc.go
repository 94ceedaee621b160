// Package control holds the etcd manager's command objects in the state store: restore commands with their progress, and backup requests.
package control
