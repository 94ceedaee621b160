// Package supervisor runs a machine's services (containerd, kubelet) as child processes of nodeup on the local cloud: logs to files, restarts with backoff, ordered stop.
package supervisor
