package bench

import "syscall"

// sysProcAttr puts a server the tool starts in a process group of its own,
// which Stop and Kill end as a whole, and has the kernel kill it when the
// tool dies without ending it (a panic, a test binary's timeout, SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
