// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"strconv"

	"github.com/tamavisor/tamavisor/hv"
)

// Basic exit reasons (Intel SDM Vol. 3D, Appendix C "VMX Basic Exit
// Reasons", Table C-1), bits 15:0 of VM_EXIT_REASON.
const (
	EXIT_REASON_EXCEPTION_NMI       = 0
	EXIT_REASON_EXTERNAL_INTERRUPT  = 1
	EXIT_REASON_TRIPLE_FAULT        = 2
	EXIT_REASON_INIT                = 3
	EXIT_REASON_SIPI                = 4
	EXIT_REASON_IO_SMI              = 5
	EXIT_REASON_OTHER_SMI           = 6
	EXIT_REASON_INTERRUPT_WINDOW    = 7
	EXIT_REASON_NMI_WINDOW          = 8
	EXIT_REASON_TASK_SWITCH         = 9
	EXIT_REASON_CPUID               = 10
	EXIT_REASON_GETSEC              = 11
	EXIT_REASON_HLT                 = 12
	EXIT_REASON_INVD                = 13
	EXIT_REASON_INVLPG              = 14
	EXIT_REASON_RDPMC               = 15
	EXIT_REASON_RDTSC               = 16
	EXIT_REASON_RSM                 = 17
	EXIT_REASON_VMCALL              = 18
	EXIT_REASON_VMCLEAR             = 19
	EXIT_REASON_VMLAUNCH            = 20
	EXIT_REASON_VMPTRLD             = 21
	EXIT_REASON_VMPTRST             = 22
	EXIT_REASON_VMREAD              = 23
	EXIT_REASON_VMRESUME            = 24
	EXIT_REASON_VMWRITE             = 25
	EXIT_REASON_VMXOFF              = 26
	EXIT_REASON_VMXON               = 27
	EXIT_REASON_CR_ACCESS           = 28
	EXIT_REASON_DR_ACCESS           = 29
	EXIT_REASON_IO_INSTRUCTION      = 30
	EXIT_REASON_RDMSR               = 31
	EXIT_REASON_WRMSR               = 32
	EXIT_REASON_INVALID_GUEST_STATE = 33 // VM-entry failure
	EXIT_REASON_MSR_LOADING         = 34 // VM-entry failure
	EXIT_REASON_MWAIT               = 36
	EXIT_REASON_MONITOR_TRAP_FLAG   = 37
	EXIT_REASON_MONITOR             = 39
	EXIT_REASON_PAUSE               = 40
	EXIT_REASON_MACHINE_CHECK       = 41 // VM-entry failure
	EXIT_REASON_TPR_BELOW_THRESHOLD = 43
	EXIT_REASON_APIC_ACCESS         = 44
	EXIT_REASON_VIRTUALIZED_EOI     = 45
	EXIT_REASON_GDTR_IDTR_ACCESS    = 46
	EXIT_REASON_LDTR_TR_ACCESS      = 47
	EXIT_REASON_EPT_VIOLATION       = 48
	EXIT_REASON_EPT_MISCONFIG       = 49
	EXIT_REASON_INVEPT              = 50
	EXIT_REASON_RDTSCP              = 51
	EXIT_REASON_PREEMPTION_TIMER    = 52
	EXIT_REASON_INVVPID             = 53
	EXIT_REASON_WBINVD              = 54 // WBINVD or WBNOINVD
	EXIT_REASON_XSETBV              = 55
	EXIT_REASON_APIC_WRITE          = 56
	EXIT_REASON_RDRAND              = 57
	EXIT_REASON_INVPCID             = 58
	EXIT_REASON_VMFUNC              = 59
	EXIT_REASON_ENCLS               = 60
	EXIT_REASON_RDSEED              = 61
	EXIT_REASON_PML_FULL            = 62
	EXIT_REASON_XSAVES              = 63
	EXIT_REASON_XRSTORS             = 64
	EXIT_REASON_PCONFIG             = 65
	EXIT_REASON_SPP_EVENT           = 66
	EXIT_REASON_UMWAIT              = 67
	EXIT_REASON_TPAUSE              = 68
	EXIT_REASON_LOADIWKEY           = 69
	EXIT_REASON_ENCLV               = 70
	EXIT_REASON_ENQCMD_PASID        = 72
	EXIT_REASON_ENQCMDS_PASID       = 73
	EXIT_REASON_BUS_LOCK            = 74
	EXIT_REASON_INSTRUCTION_TIMEOUT = 75
	EXIT_REASON_SEAMCALL            = 76
	EXIT_REASON_TDCALL              = 77
)

// The exit-reason field (Vol. 3C, 25.9.1 "Basic VM-Exit Information",
// table "Format of Exit Reason").
const (
	EXIT_REASON_BASIC_MASK    = 0xffff
	EXIT_REASON_ENTRY_FAILURE = 1 << 31
)

var reasonNames = [...]string{
	EXIT_REASON_EXCEPTION_NMI:       "EXCEPTION_NMI",
	EXIT_REASON_EXTERNAL_INTERRUPT:  "EXTERNAL_INTERRUPT",
	EXIT_REASON_TRIPLE_FAULT:        "TRIPLE_FAULT",
	EXIT_REASON_INIT:                "INIT",
	EXIT_REASON_SIPI:                "SIPI",
	EXIT_REASON_IO_SMI:              "IO_SMI",
	EXIT_REASON_OTHER_SMI:           "OTHER_SMI",
	EXIT_REASON_INTERRUPT_WINDOW:    "INTERRUPT_WINDOW",
	EXIT_REASON_NMI_WINDOW:          "NMI_WINDOW",
	EXIT_REASON_TASK_SWITCH:         "TASK_SWITCH",
	EXIT_REASON_CPUID:               "CPUID",
	EXIT_REASON_GETSEC:              "GETSEC",
	EXIT_REASON_HLT:                 "HLT",
	EXIT_REASON_INVD:                "INVD",
	EXIT_REASON_INVLPG:              "INVLPG",
	EXIT_REASON_RDPMC:               "RDPMC",
	EXIT_REASON_RDTSC:               "RDTSC",
	EXIT_REASON_RSM:                 "RSM",
	EXIT_REASON_VMCALL:              "VMCALL",
	EXIT_REASON_VMCLEAR:             "VMCLEAR",
	EXIT_REASON_VMLAUNCH:            "VMLAUNCH",
	EXIT_REASON_VMPTRLD:             "VMPTRLD",
	EXIT_REASON_VMPTRST:             "VMPTRST",
	EXIT_REASON_VMREAD:              "VMREAD",
	EXIT_REASON_VMRESUME:            "VMRESUME",
	EXIT_REASON_VMWRITE:             "VMWRITE",
	EXIT_REASON_VMXOFF:              "VMXOFF",
	EXIT_REASON_VMXON:               "VMXON",
	EXIT_REASON_CR_ACCESS:           "CR_ACCESS",
	EXIT_REASON_DR_ACCESS:           "DR_ACCESS",
	EXIT_REASON_IO_INSTRUCTION:      "IO_INSTRUCTION",
	EXIT_REASON_RDMSR:               "RDMSR",
	EXIT_REASON_WRMSR:               "WRMSR",
	EXIT_REASON_INVALID_GUEST_STATE: "INVALID_GUEST_STATE",
	EXIT_REASON_MSR_LOADING:         "MSR_LOADING",
	EXIT_REASON_MWAIT:               "MWAIT",
	EXIT_REASON_MONITOR_TRAP_FLAG:   "MONITOR_TRAP_FLAG",
	EXIT_REASON_MONITOR:             "MONITOR",
	EXIT_REASON_PAUSE:               "PAUSE",
	EXIT_REASON_MACHINE_CHECK:       "MACHINE_CHECK",
	EXIT_REASON_TPR_BELOW_THRESHOLD: "TPR_BELOW_THRESHOLD",
	EXIT_REASON_APIC_ACCESS:         "APIC_ACCESS",
	EXIT_REASON_VIRTUALIZED_EOI:     "VIRTUALIZED_EOI",
	EXIT_REASON_GDTR_IDTR_ACCESS:    "GDTR_IDTR_ACCESS",
	EXIT_REASON_LDTR_TR_ACCESS:      "LDTR_TR_ACCESS",
	EXIT_REASON_EPT_VIOLATION:       "EPT_VIOLATION",
	EXIT_REASON_EPT_MISCONFIG:       "EPT_MISCONFIG",
	EXIT_REASON_INVEPT:              "INVEPT",
	EXIT_REASON_RDTSCP:              "RDTSCP",
	EXIT_REASON_PREEMPTION_TIMER:    "PREEMPTION_TIMER",
	EXIT_REASON_INVVPID:             "INVVPID",
	EXIT_REASON_WBINVD:              "WBINVD",
	EXIT_REASON_XSETBV:              "XSETBV",
	EXIT_REASON_APIC_WRITE:          "APIC_WRITE",
	EXIT_REASON_RDRAND:              "RDRAND",
	EXIT_REASON_INVPCID:             "INVPCID",
	EXIT_REASON_VMFUNC:              "VMFUNC",
	EXIT_REASON_ENCLS:               "ENCLS",
	EXIT_REASON_RDSEED:              "RDSEED",
	EXIT_REASON_PML_FULL:            "PML_FULL",
	EXIT_REASON_XSAVES:              "XSAVES",
	EXIT_REASON_XRSTORS:             "XRSTORS",
	EXIT_REASON_PCONFIG:             "PCONFIG",
	EXIT_REASON_SPP_EVENT:           "SPP_EVENT",
	EXIT_REASON_UMWAIT:              "UMWAIT",
	EXIT_REASON_TPAUSE:              "TPAUSE",
	EXIT_REASON_LOADIWKEY:           "LOADIWKEY",
	EXIT_REASON_ENCLV:               "ENCLV",
	EXIT_REASON_ENQCMD_PASID:        "ENQCMD_PASID",
	EXIT_REASON_ENQCMDS_PASID:       "ENQCMDS_PASID",
	EXIT_REASON_BUS_LOCK:            "BUS_LOCK",
	EXIT_REASON_INSTRUCTION_TIMEOUT: "INSTRUCTION_TIMEOUT",
	EXIT_REASON_SEAMCALL:            "SEAMCALL",
	EXIT_REASON_TDCALL:              "TDCALL",
}

// ReasonName returns the name of a basic exit reason, or "reason(N)" for
// a number Appendix C does not define (35, 38, 42, 71 and those above
// 77).
func ReasonName(r uint16) string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Exit qualification for I/O instructions (Vol. 3C, 28.2.1 "Basic VM-Exit
// Information", table "Exit Qualification for I/O Instructions").
const (
	IO_QUAL_SIZE_MASK   = 0x7 // bytes minus one: 0, 1 or 3
	IO_QUAL_IN          = 1 << 3
	IO_QUAL_STRING      = 1 << 4
	IO_QUAL_REP         = 1 << 5
	IO_QUAL_IMMEDIATE   = 1 << 6 // operand encoding: 1 immediate, 0 DX
	IO_QUAL_PORT_SHIFT  = 16
	IO_QUAL_PORT_MASK   = 0xffff
	IO_QUAL_SIZE_1      = 0
	IO_QUAL_SIZE_2      = 1
	IO_QUAL_SIZE_4      = 3
	maxInstructionBytes = 15 // the longest x86 instruction
)

// Exit qualification for EPT violations (Vol. 3C, 28.2.1, table "Exit
// Qualification for EPT Violations"):
// the access that caused it (more than one bit may be set), then what the
// guest-physical address's EPT entries allowed.
const (
	EPT_QUAL_READ          = 1 << 0
	EPT_QUAL_WRITE         = 1 << 1
	EPT_QUAL_FETCH         = 1 << 2
	EPT_QUAL_READABLE      = 1 << 3
	EPT_QUAL_WRITABLE      = 1 << 4
	EPT_QUAL_EXECUTABLE    = 1 << 5
	EPT_QUAL_LINEAR_VALID  = 1 << 7
	EPT_QUAL_LINEAR_ACCESS = 1 << 8 // the access was to the linear address, not a paging structure
	EPT_QUAL_NMI_UNBLOCK   = 1 << 12
)

// Decode fills e from the raw exit information of one VM exit and the
// guest's RIP, RAX and RCX at the exit. It overwrites every field of e,
// never panics on any input (all of it is guest-influenced) and
// allocates nothing, so it runs on the exit path.
//
// The mapping to hv.ExitReason (basic reasons from raw.Reason bits 15:0):
//
//   - VM-entry failure (bit 31), INVALID_GUEST_STATE, MSR_LOADING,
//     MACHINE_CHECK, EPT_MISCONFIG: ExitInvalidState (GPA is set for the
//     misconfiguration).
//   - IO_INSTRUCTION: ExitIO from the exit qualification (28.2.1); for
//     OUT (not OUTS), IO.Value is the low Size bytes of rax. A size
//     encoding other than 1, 2 or 4 bytes (the processor never reports
//     one) decodes as ExitUnknown.
//   - RDMSR, WRMSR: ExitMSR with MSR = ECX and Write for WRMSR.
//   - EPT_VIOLATION: ExitNPF with GPA = raw.GuestPhysical and Access from
//     qualification bits 2:0.
//   - EXCEPTION_NMI: the VM-exit interruption information (Vol. 3C,
//     25.9.2): a hardware or software exception is ExitException with
//     Vector, and ErrorCode/HasError when bit 11 is set; an NMI is
//     ExitInterrupt (Vector 2), as it belongs to the host. An invalid or
//     other event type decodes as ExitUnknown.
//   - EXTERNAL_INTERRUPT, PREEMPTION_TIMER: ExitInterrupt (Vector is the
//     interrupt's when "acknowledge interrupt on exit" made it valid).
//   - INTERRUPT_WINDOW: ExitInterruptWindow; TRIPLE_FAULT: ExitShutdown;
//     HLT: ExitHLT; CPUID: ExitCPUID; VMCALL: ExitHypercall.
//   - Instructions a guest of tamavisor must not run, which fail with #UD
//     under the CPUID it shows (VMX instructions, INVEPT, INVVPID,
//     VMFUNC, GETSEC, INVD, RSM, XSETBV, MONITOR, MWAIT, ENCLS, ENCLV,
//     PCONFIG, LOADIWKEY, SEAMCALL, TDCALL): ExitOther.
//   - Anything else: ExitUnknown, with the raw record in e.VMX.
//
// InstrLen is raw.InstrLen when it is 1 to 15, else 0.
func Decode(raw hv.VMXExit, rip, rax, rcx uint64, e *hv.Exit) {
	*e = hv.Exit{Vendor: hv.VendorVMX, VMX: raw, RIP: rip}
	if raw.InstrLen >= 1 && raw.InstrLen <= maxInstructionBytes {
		e.InstrLen = int(raw.InstrLen)
	}
	if raw.Reason&EXIT_REASON_ENTRY_FAILURE != 0 {
		e.Reason = hv.ExitInvalidState
		return
	}
	switch raw.Reason & EXIT_REASON_BASIC_MASK {
	case EXIT_REASON_INVALID_GUEST_STATE, EXIT_REASON_MSR_LOADING, EXIT_REASON_MACHINE_CHECK:
		e.Reason = hv.ExitInvalidState
	case EXIT_REASON_EPT_MISCONFIG:
		e.Reason = hv.ExitInvalidState
		e.GPA = hv.IPA(raw.GuestPhysical)
	case EXIT_REASON_IO_INSTRUCTION:
		decodeIO(raw.Qualification, rax, e)
	case EXIT_REASON_RDMSR:
		e.Reason, e.MSR = hv.ExitMSR, uint32(rcx)
	case EXIT_REASON_WRMSR:
		e.Reason, e.MSR, e.Write = hv.ExitMSR, uint32(rcx), true
	case EXIT_REASON_EPT_VIOLATION:
		e.Reason = hv.ExitNPF
		e.GPA = hv.IPA(raw.GuestPhysical)
		if raw.Qualification&EPT_QUAL_READ != 0 {
			e.Access |= hv.AccessRead
		}
		if raw.Qualification&EPT_QUAL_WRITE != 0 {
			e.Access |= hv.AccessWrite
		}
		if raw.Qualification&EPT_QUAL_FETCH != 0 {
			e.Access |= hv.AccessExec
		}
	case EXIT_REASON_EXCEPTION_NMI:
		decodeException(IntrInfo(raw.IntrInfo), raw.IntrError, e)
	case EXIT_REASON_EXTERNAL_INTERRUPT, EXIT_REASON_PREEMPTION_TIMER:
		e.Reason = hv.ExitInterrupt
		if ii := IntrInfo(raw.IntrInfo); ii.Valid() {
			e.Vector = ii.Vector()
		}
	case EXIT_REASON_INTERRUPT_WINDOW:
		e.Reason = hv.ExitInterruptWindow
	case EXIT_REASON_TRIPLE_FAULT:
		e.Reason = hv.ExitShutdown
	case EXIT_REASON_HLT:
		e.Reason = hv.ExitHLT
	case EXIT_REASON_CPUID:
		e.Reason = hv.ExitCPUID
	case EXIT_REASON_VMCALL:
		e.Reason = hv.ExitHypercall
	case EXIT_REASON_VMCLEAR, EXIT_REASON_VMLAUNCH, EXIT_REASON_VMPTRLD,
		EXIT_REASON_VMPTRST, EXIT_REASON_VMREAD, EXIT_REASON_VMRESUME,
		EXIT_REASON_VMWRITE, EXIT_REASON_VMXOFF, EXIT_REASON_VMXON,
		EXIT_REASON_INVEPT, EXIT_REASON_INVVPID, EXIT_REASON_VMFUNC,
		EXIT_REASON_GETSEC, EXIT_REASON_INVD, EXIT_REASON_RSM,
		EXIT_REASON_XSETBV, EXIT_REASON_MONITOR, EXIT_REASON_MWAIT,
		EXIT_REASON_ENCLS, EXIT_REASON_ENCLV, EXIT_REASON_PCONFIG,
		EXIT_REASON_LOADIWKEY, EXIT_REASON_SEAMCALL, EXIT_REASON_TDCALL:
		e.Reason = hv.ExitOther
	default:
		e.Reason = hv.ExitUnknown
	}
}

// decodeIO fills e.IO from an I/O-instruction exit qualification.
func decodeIO(q, rax uint64, e *hv.Exit) {
	var size int
	switch q & IO_QUAL_SIZE_MASK {
	case IO_QUAL_SIZE_1:
		size = 1
	case IO_QUAL_SIZE_2:
		size = 2
	case IO_QUAL_SIZE_4:
		size = 4
	default:
		e.Reason = hv.ExitUnknown
		return
	}
	e.Reason = hv.ExitIO
	e.IO = hv.IOExit{
		Port:   uint16(q >> IO_QUAL_PORT_SHIFT & IO_QUAL_PORT_MASK),
		Size:   size,
		Write:  q&IO_QUAL_IN == 0,
		String: q&IO_QUAL_STRING != 0,
		Rep:    q&IO_QUAL_REP != 0,
	}
	if e.IO.Write && !e.IO.String {
		e.IO.Value = uint32(rax & (uint64(1)<<(8*size) - 1))
	}
}

// decodeException fills e from the VM-exit interruption information and
// error code of an EXCEPTION_NMI exit.
func decodeException(ii IntrInfo, errCode uint32, e *hv.Exit) {
	if !ii.Valid() {
		e.Reason = hv.ExitUnknown
		return
	}
	switch ii.Type() {
	case INTR_TYPE_NMI:
		e.Reason = hv.ExitInterrupt
		e.Vector = ii.Vector()
	case INTR_TYPE_HARDWARE_EXCEPTION, INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION, INTR_TYPE_SOFTWARE_EXCEPTION:
		e.Reason = hv.ExitException
		e.Vector = ii.Vector()
		if ii.ErrorValid() {
			e.ErrorCode, e.HasError = errCode, true
		}
	default:
		e.Reason = hv.ExitUnknown
	}
}
