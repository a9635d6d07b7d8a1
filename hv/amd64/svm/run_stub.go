// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !(tamago && amd64)

package svm

import "github.com/tamavisor/tamavisor/hv"

// svmRun stands in for the world switch on host builds, where Setup is
// never called; host tests give NewOps their own RunFunc.
func svmRun(pcpu int, vmcb, hostVMCB hv.PA, gprs *GPRs, fpu uintptr) {
	panic("svm: VMRUN on a host build")
}
