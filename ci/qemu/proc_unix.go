// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build unix

package qemu

import "syscall"

// killGroup sends SIGKILL to process group pgid. ESRCH (nothing left) is
// not an error worth reporting.
func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
