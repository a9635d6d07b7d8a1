// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build unix && !linux

package qemu

import "syscall"

// sysProcAttr puts QEMU in a process group of its own, so killGroup reaches
// everything it started. Without PR_SET_PDEATHSIG, only the hard limit and
// Close stop QEMU on these hosts.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
