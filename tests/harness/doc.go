// Package harness runs the real hull binary against a real local cloud for hull's end-to-end tests.
package harness
