//go:build !linux

package bench

import "syscall"

// sysProcAttr puts a server the tool starts in a process group of its own,
// which Stop and Kill end as a whole. Only Linux can also have the kernel
// kill it when the tool dies; elsewhere a tool that dies without ending
// its servers leaves them running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
