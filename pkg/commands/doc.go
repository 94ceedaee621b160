// Package commands is the hull command-line interface: one cobra command per verb and noun.
package commands
