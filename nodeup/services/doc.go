// Package services starts a machine's services through a service manager (systemd units on real hosts, the built-in supervisor on the local cloud) and holds the tasks that need them: containerd readiness, image import, kernel settings.
package services
