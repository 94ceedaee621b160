// Package layering holds the test that keeps hull's import graph pointing down: CLI, facade, engines, providers, building blocks.
package layering
