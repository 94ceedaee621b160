package kubetest

import "syscall"

// sysProcAttr puts the child in its own process group and has the kernel
// kill it when the test process dies, so a crashed or killed test run does
// not leave an apiserver or etcd behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
