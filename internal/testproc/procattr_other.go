//go:build !linux

package testproc

import "os/exec"

// ownGroup does nothing here: process groups are a Linux nicety.
func ownGroup(*exec.Cmd) {}

// kill kills the process alone.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
