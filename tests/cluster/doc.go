// Package cluster holds the end-to-end tests that bring up real Kubernetes clusters on the local cloud.
package cluster
