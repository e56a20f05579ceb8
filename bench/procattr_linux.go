package bench

import "syscall"

// childProcAttr puts a node in its own process group, so that a Ctrl-C
// meant for chatbench does not reach it before chatbench stops it in
// order, and kills it should chatbench die first.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// physicalMemory is the machine's RAM in bytes, or 0 when unknown.
func physicalMemory() uint64 {
	var info syscall.Sysinfo_t
	if syscall.Sysinfo(&info) != nil {
		return 0
	}
	return uint64(info.Totalram) * uint64(info.Unit)
}
