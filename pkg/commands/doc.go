// Package commands is the hull command-line interface: one cobra command per verb and noun, with its flags, printing and prompts; what a command does lives in pkg/cluster.
package commands
