// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package svm

import "github.com/tamavisor/tamavisor/hv"

// defined in switch_amd64.s
func svm_run(vmcb, hostVMCB uint64, gprs *GPRs, fpu uintptr)

// svmRun is the hardware RunFunc.
func svmRun(vmcb, hostVMCB hv.PA, gprs *GPRs, fpu uintptr) {
	svm_run(uint64(vmcb), uint64(hostVMCB), gprs, fpu)
}
