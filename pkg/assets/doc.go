// Package assets builds the binaries and container images a hull node runs, into a verified, cached repository.
package assets
