// Package nodeup defines the boot contract between cloudup and nodeup: a machine's user-data and its nodeup config.
package nodeup
