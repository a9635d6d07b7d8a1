// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import "syscall"

// sysProcAttr puts QEMU in a process group of its own (so killGroup reaches
// everything it started) and has the kernel send it SIGKILL when the thread
// that started it exits (PR_SET_PDEATHSIG), which covers a test binary that
// dies without running cleanups. Go does not end its threads while the
// program runs (only those of goroutines that exit while locked with
// runtime.LockOSThread, which the harness never does).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
