// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import "fmt"

// ExitReason is the vendor-neutral reason of a vCPU exit on amd64. The
// SVM and VMX backends both decode their exits into it, so one set of
// handlers serves both vendors; the raw vendor fields travel alongside in
// Exit.SVM or Exit.VMX for the introspection monitor.
type ExitReason uint8

const (
	ExitUnknown ExitReason = iota // a vendor exit tamavisor does not decode
	// ExitIO: IN/OUT (and INS/OUTS) to a port; Exit.IO says which.
	ExitIO
	// ExitNPF: a guest-physical access the nested/extended page tables
	// do not allow (SVM #NPF, VMX EPT violation); Exit.GPA and Exit.Access.
	ExitNPF
	// ExitCPUID: the guest executed CPUID.
	ExitCPUID
	// ExitMSR: RDMSR or WRMSR; Exit.MSR and Exit.Write.
	ExitMSR
	// ExitHLT: the guest executed HLT.
	ExitHLT
	// ExitHypercall: VMMCALL (SVM) or VMCALL (VMX).
	ExitHypercall
	// ExitException: an intercepted guest exception; Exit.Vector,
	// Exit.ErrorCode.
	ExitException
	// ExitInterruptWindow: the guest can now take an interrupt (SVM
	// VINTR, VMX interrupt-window exiting).
	ExitInterruptWindow
	// ExitShutdown: the guest triple-faulted (SVM SHUTDOWN, VMX triple
	// fault).
	ExitShutdown
	// ExitInterrupt: a physical interrupt arrived while the guest ran
	// (the hypervisor's preemption timer, or a device).
	ExitInterrupt
	// ExitInvalidState: the CPU refused to enter the guest (SVM
	// VMEXIT_INVALID, VMX VM-entry failure); a hypervisor or guest-state
	// bug, never silently retried.
	ExitInvalidState
	// ExitOther: a decoded vendor exit the handlers treat as "inject #UD"
	// (e.g. an SVM instruction or VMX instruction executed by the guest).
	ExitOther
	numExitReasons
)

var exitReasonNames = [...]string{
	ExitUnknown:         "unknown",
	ExitIO:              "io",
	ExitNPF:             "npf",
	ExitCPUID:           "cpuid",
	ExitMSR:             "msr",
	ExitHLT:             "hlt",
	ExitHypercall:       "hypercall",
	ExitException:       "exception",
	ExitInterruptWindow: "interrupt-window",
	ExitShutdown:        "shutdown",
	ExitInterrupt:       "interrupt",
	ExitInvalidState:    "invalid-state",
	ExitOther:           "other",
}

func (r ExitReason) String() string {
	if int(r) < len(exitReasonNames) {
		return exitReasonNames[r]
	}
	return fmt.Sprintf("exit(%d)", uint8(r))
}

// NumExitReasons is the number of ExitReason values (for per-reason
// counters).
const NumExitReasons = int(numExitReasons)

// Vendor says which virtualisation extension produced an Exit.
type Vendor uint8

const (
	VendorNone Vendor = iota
	VendorSVM         // AMD SVM: Exit.SVM holds the raw fields
	VendorVMX         // Intel VMX: Exit.VMX holds the raw fields
)

func (v Vendor) String() string {
	switch v {
	case VendorSVM:
		return "svm"
	case VendorVMX:
		return "vmx"
	}
	return "none"
}

// Access is the kind of a guest-physical access that faulted.
type Access uint8

const (
	AccessRead Access = 1 << iota
	AccessWrite
	AccessExec
)

// IOExit describes a port access. For OUT, Value holds the data
// (zero-extended); for IN the handler returns it.
type IOExit struct {
	Port  uint16
	Size  int // 1, 2 or 4 bytes
	Write bool
	// String is INS/OUTS; Rep is a REP prefix. Neither is emulated: the
	// handlers inject #GP for them.
	String bool
	Rep    bool
	Value  uint32
}

// Exit is one vCPU exit, decoded. It is a plain value: the backend fills
// it in place on every exit, so the exit path does not allocate.
type Exit struct {
	Reason ExitReason
	Vendor Vendor
	// RIP is the guest RIP of the instruction that exited.
	RIP uint64
	// InstrLen is the length of that instruction, or 0 when the CPU did
	// not report it (SVM without NRIPS); handlers then decode it.
	InstrLen int

	IO IOExit
	// GPA and Access describe ExitNPF.
	GPA    IPA
	Access Access
	// MSR and Write describe ExitMSR (Write: WRMSR).
	MSR   uint32
	Write bool
	// Vector, ErrorCode and HasError describe ExitException.
	Vector    uint8
	ErrorCode uint32
	HasError  bool

	// The raw vendor record; only the one named by Vendor is valid.
	SVM SVMExit
	VMX VMXExit
}

// SVMExit is the raw exit information from the VMCB control area (AMD
// APM Vol. 2, Appendix B, Table B-1; Appendix C exit codes).
type SVMExit struct {
	ExitCode    uint64 `json:"exitcode"`
	ExitInfo1   uint64 `json:"exitinfo1"`
	ExitInfo2   uint64 `json:"exitinfo2"`
	ExitIntInfo uint64 `json:"exitintinfo"`
	// NextRIP is VMCB offset 0xC8 (valid only with NRIPS).
	NextRIP uint64 `json:"nrip"`
}

// VMXExit is the raw exit information from the VMCS exit-information
// fields (Intel SDM Vol. 3C, 25.9 "VM-Exit Information Fields").
type VMXExit struct {
	// Reason is the full exit reason field (basic reason in bits 15:0,
	// VM-entry failure in bit 31).
	Reason        uint32 `json:"reason"`
	Qualification uint64 `json:"qualification"`
	GuestLinear   uint64 `json:"guest_linear"`
	GuestPhysical uint64 `json:"guest_physical"`
	InstrLen      uint32 `json:"instr_len"`
	InstrInfo     uint32 `json:"instr_info"`
	IntrInfo      uint32 `json:"intr_info"`
	IntrError     uint32 `json:"intr_error"`
	IDTVectoring  uint32 `json:"idt_vectoring"`
}
