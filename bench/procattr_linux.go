package bench

import "syscall"

// childProcAttr puts a node in its own process group, so that a Ctrl-C
// meant for chatbench does not reach it before chatbench stops it in
// order, and kills it should chatbench die first.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
