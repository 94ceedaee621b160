// Package images reads container images from docker-archive tarballs and OCI layouts and pushes them into a registry.
package images
