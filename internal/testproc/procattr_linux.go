package testproc

import (
	"os/exec"
	"syscall"
)

// ownGroup puts the process in a process group of its own, so that kill
// reaches its children and nothing else, and has the kernel kill it should
// the test binary die before its clean-up runs.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// kill kills the process group that ownGroup made.
func kill(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
