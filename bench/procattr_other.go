//go:build !linux

package bench

import "syscall"

// childProcAttr puts a node in its own process group, so that a Ctrl-C
// meant for chatbench does not reach it before chatbench stops it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// physicalMemory is unknown here: nodes get no memory limit.
func physicalMemory() uint64 { return 0 }
