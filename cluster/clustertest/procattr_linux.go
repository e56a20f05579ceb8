package clustertest

import "syscall"

// procAttr makes the kernel kill a node when the test process dies, so
// that a test binary killed by `go test -timeout` leaks no nodes.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
