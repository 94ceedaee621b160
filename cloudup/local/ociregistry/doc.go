// Package ociregistry serves the local cloud's OCI image registry (distribution/distribution) from a directory.
package ociregistry
