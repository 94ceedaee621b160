// Package validate checks that a running cluster matches its instance groups: machines joined as Ready nodes, control-plane and system-critical pods ready.
package validate
