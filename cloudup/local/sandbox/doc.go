// Package sandbox runs a local-cloud machine: processes in their own network, mount and UTS namespaces and cgroups on this host.
package sandbox
