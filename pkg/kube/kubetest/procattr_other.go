//go:build !linux

package kubetest

import "syscall"

// sysProcAttr keeps the defaults off Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }
