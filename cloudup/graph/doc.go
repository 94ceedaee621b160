// Package graph plans and applies cloud changes as a dependency graph of tasks.
package graph
