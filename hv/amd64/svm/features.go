// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// CPUID leaves and bits for SVM (AMD APM Vol. 3, Appendix E "Obtaining
// Processor Information Via the CPUID Instruction"; APM Vol. 2, 15.4
// "Enabling SVM").
const (
	CPUID_EXT_MAX              = 0x8000_0000 // EAX: largest extended leaf
	CPUID_EXT_FEATURES         = 0x8000_0001
	CPUID_EXT_FEATURES_ECX_SVM = 1 << 2

	// CPUID Fn8000_000A: EAX[7:0] SVM revision, EBX number of ASIDs,
	// EDX feature flags.
	CPUID_SVM_FEATURES          = 0x8000_000a
	SVM_FEATURE_NP              = 1 << 0  // nested paging
	SVM_FEATURE_LBRVIRT         = 1 << 1  // LBR virtualization
	SVM_FEATURE_SVML            = 1 << 2  // SVM lock
	SVM_FEATURE_NRIPS           = 1 << 3  // nRIP saved on #VMEXIT
	SVM_FEATURE_TSC_RATE_MSR    = 1 << 4  // TSC ratio MSR
	SVM_FEATURE_VMCB_CLEAN      = 1 << 5  // VMCB clean bits
	SVM_FEATURE_FLUSH_BY_ASID   = 1 << 6  // TLB_CONTROL 3 and 7
	SVM_FEATURE_DECODE_ASSISTS  = 1 << 7  // instruction bytes and operands in the VMCB
	SVM_FEATURE_PAUSE_FILTER    = 1 << 10 // PAUSE intercept filter count
	SVM_FEATURE_PAUSE_THRESHOLD = 1 << 12 // PAUSE filter cycle threshold
	SVM_FEATURE_AVIC            = 1 << 13 // AMD virtual interrupt controller
	SVM_FEATURE_VMSAVE_VIRT     = 1 << 15 // virtualized VMSAVE/VMLOAD
	SVM_FEATURE_VGIF            = 1 << 16 // virtualized global interrupt flag
	SVM_FEATURE_GMET            = 1 << 17 // guest mode execute trap
)

// Feature detection errors. Detect wraps them with the register values.
const (
	ErrNoSVM       = hv.Error("svm: CPU lacks SVM (CPUID 0x80000001 ECX[2] clear)")
	ErrSVMDisabled = hv.Error("svm: SVM disabled by firmware (VM_CR.SVMDIS set)")
	ErrNoNPT       = hv.Error("svm: CPU lacks nested paging (CPUID 0x8000000A EDX[0] clear)")
)

// Features are the SVM capabilities tamavisor uses.
type Features struct {
	SVM           bool   // CPUID 0x80000001 ECX[2], and not disabled by VM_CR
	NPT           bool   // nested paging
	NRIPS         bool   // NextRIP saved on #VMEXIT (Decode's nrips)
	DecodeAssists bool   // instruction bytes in the VMCB
	VMCBClean     bool   // VMCB clean bits honoured
	FlushByASID   bool   // TLB_CONTROL_FLUSH_GUEST(_NONGLOBAL) supported
	ASIDs         uint32 // number of ASIDs, including the host's ASID 0
}

// CPUIDFunc executes CPUID with EAX = leaf and ECX = sub; a parameter so
// host tests can supply tables.
type CPUIDFunc = func(leaf, sub uint32) (a, b, c, d uint32)

// HasSVM reports whether CPUID announces SVM. Read the VM_CR MSR for
// Detect only if it does: on other CPUs that RDMSR faults.
func HasSVM(cpuid CPUIDFunc) bool {
	maxExt, _, _, _ := cpuid(CPUID_EXT_MAX, 0)
	if maxExt < CPUID_EXT_FEATURES {
		return false
	}
	_, _, ecx, _ := cpuid(CPUID_EXT_FEATURES, 0)
	return ecx&CPUID_EXT_FEATURES_ECX_SVM != 0
}

// Detect decodes SVM support from CPUID and the VM_CR MSR value vmcr
// (pass 0 when HasSVM is false). It returns an error naming what is
// missing, checked in this order: SVM itself (ErrNoSVM), SVM enabled by
// firmware (ErrSVMDisabled: VM_CR.SVMDIS; with VM_CR.LOCK set only the
// firmware can change it) and nested paging (ErrNoNPT). The Features
// decoded so far are returned along with the error.
func Detect(cpuid CPUIDFunc, vmcr uint64) (Features, error) {
	var f Features
	maxExt, _, _, _ := cpuid(CPUID_EXT_MAX, 0)
	if !HasSVM(cpuid) {
		_, _, ecx, _ := cpuid(CPUID_EXT_FEATURES, 0)
		if maxExt < CPUID_EXT_FEATURES {
			ecx = 0
		}
		return f, fmt.Errorf("%w: max extended leaf %#x, ecx=%#x", ErrNoSVM, maxExt, ecx)
	}
	if vmcr&VM_CR_SVMDIS != 0 {
		return f, fmt.Errorf("%w: vm_cr=%#x lock=%t", ErrSVMDisabled, vmcr, vmcr&VM_CR_LOCK != 0)
	}
	f.SVM = true
	if maxExt < CPUID_SVM_FEATURES {
		return f, fmt.Errorf("%w: CPUID leaf 0x8000000A missing (max extended leaf %#x)", ErrNoNPT, maxExt)
	}
	_, ebx, _, edx := cpuid(CPUID_SVM_FEATURES, 0)
	f.NPT = edx&SVM_FEATURE_NP != 0
	f.NRIPS = edx&SVM_FEATURE_NRIPS != 0
	f.DecodeAssists = edx&SVM_FEATURE_DECODE_ASSISTS != 0
	f.VMCBClean = edx&SVM_FEATURE_VMCB_CLEAN != 0
	f.FlushByASID = edx&SVM_FEATURE_FLUSH_BY_ASID != 0
	f.ASIDs = ebx
	if !f.NPT {
		return f, fmt.Errorf("%w: edx=%#x", ErrNoNPT, edx)
	}
	return f, nil
}
