// Package local is hull's embedded cloud: a daemon that runs machines, instance groups and load balancers on this host.
package local
