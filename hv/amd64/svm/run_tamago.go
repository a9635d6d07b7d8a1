// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package svm

import (
	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/amd64"
)

// defined in switch_amd64.s
func svm_run(vmcb, hostVMCB uint64, gprs *GPRs, fpu uintptr)
func svmRunAddr() uint64

// svmRun is the hardware RunFunc: the world switch on the boot CPU, or
// posted to an application processor, which runs the same svm_run (it
// needs no Go runtime) while this goroutine yields.
func svmRun(pcpu int, vmcb, hostVMCB hv.PA, gprs *GPRs, fpu uintptr) {
	if pcpu == 0 {
		svm_run(uint64(vmcb), uint64(hostVMCB), gprs, fpu)
		amd64.CountBootRun()
		return
	}
	// gprs stays reachable through its vCPU while the AP writes it.
	err := amd64.RemoteCall(pcpu, svmRunAddr(), [4]uint64{uint64(vmcb), uint64(hostVMCB),
		gprsAddr(gprs), uint64(fpu)})
	if err != nil {
		// Not reachable: NewVCPU refuses CPUs SVM is not on for.
		panic(err)
	}
}
