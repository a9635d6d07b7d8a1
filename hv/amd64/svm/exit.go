// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"strconv"

	"github.com/tamavisor/tamavisor/hv"
)

// #VMEXIT codes, ControlArea.ExitCode (AMD APM Vol. 2, Appendix C "SVM
// Intercept Exit Codes", Table C-1).
const (
	VMEXIT_CR0_READ            = 0x000 // + n: read of CRn, n = 0-15
	VMEXIT_CR0_WRITE           = 0x010 // + n: write of CRn
	VMEXIT_DR0_READ            = 0x020 // + n: read of DRn
	VMEXIT_DR0_WRITE           = 0x030 // + n: write of DRn
	VMEXIT_EXCP_BASE           = 0x040 // + n: exception vector n, n = 0-31
	VMEXIT_INTR                = 0x060 // physical INTR
	VMEXIT_NMI                 = 0x061 // physical NMI
	VMEXIT_SMI                 = 0x062
	VMEXIT_INIT                = 0x063
	VMEXIT_VINTR               = 0x064 // virtual interrupt (interrupt window)
	VMEXIT_CR0_SEL_WRITE       = 0x065
	VMEXIT_IDTR_READ           = 0x066
	VMEXIT_GDTR_READ           = 0x067
	VMEXIT_LDTR_READ           = 0x068
	VMEXIT_TR_READ             = 0x069
	VMEXIT_IDTR_WRITE          = 0x06a
	VMEXIT_GDTR_WRITE          = 0x06b
	VMEXIT_LDTR_WRITE          = 0x06c
	VMEXIT_TR_WRITE            = 0x06d
	VMEXIT_RDTSC               = 0x06e
	VMEXIT_RDPMC               = 0x06f
	VMEXIT_PUSHF               = 0x070
	VMEXIT_POPF                = 0x071
	VMEXIT_CPUID               = 0x072
	VMEXIT_RSM                 = 0x073
	VMEXIT_IRET                = 0x074
	VMEXIT_SWINT               = 0x075 // INTn
	VMEXIT_INVD                = 0x076
	VMEXIT_PAUSE               = 0x077
	VMEXIT_HLT                 = 0x078
	VMEXIT_INVLPG              = 0x079
	VMEXIT_INVLPGA             = 0x07a
	VMEXIT_IOIO                = 0x07b
	VMEXIT_MSR                 = 0x07c
	VMEXIT_TASK_SWITCH         = 0x07d
	VMEXIT_FERR_FREEZE         = 0x07e
	VMEXIT_SHUTDOWN            = 0x07f
	VMEXIT_VMRUN               = 0x080
	VMEXIT_VMMCALL             = 0x081
	VMEXIT_VMLOAD              = 0x082
	VMEXIT_VMSAVE              = 0x083
	VMEXIT_STGI                = 0x084
	VMEXIT_CLGI                = 0x085
	VMEXIT_SKINIT              = 0x086
	VMEXIT_RDTSCP              = 0x087
	VMEXIT_ICEBP               = 0x088
	VMEXIT_WBINVD              = 0x089
	VMEXIT_MONITOR             = 0x08a
	VMEXIT_MWAIT               = 0x08b
	VMEXIT_MWAIT_CONDITIONAL   = 0x08c
	VMEXIT_XSETBV              = 0x08d
	VMEXIT_RDPRU               = 0x08e
	VMEXIT_EFER_WRITE_TRAP     = 0x08f
	VMEXIT_CR0_WRITE_TRAP      = 0x090 // + n: trap after a write of CRn
	VMEXIT_INVLPGB             = 0x0a0
	VMEXIT_INVLPGB_ILLEGAL     = 0x0a1
	VMEXIT_INVPCID             = 0x0a2
	VMEXIT_MCOMMIT             = 0x0a3
	VMEXIT_TLBSYNC             = 0x0a4
	VMEXIT_NPF                 = 0x400 // nested page fault
	VMEXIT_AVIC_INCOMPLETE_IPI = 0x401
	VMEXIT_AVIC_NOACCEL        = 0x402
	VMEXIT_VMGEXIT             = 0x403

	// VMRUN failures: the guest never ran.
	VMEXIT_INVALID = 0xffff_ffff_ffff_ffff // -1: invalid guest state in the VMCB
	VMEXIT_BUSY    = 0xffff_ffff_ffff_fffe // -2: the VMSA's BUSY bit was set (SEV-SNP)
)

// EXITINFO1 of VMEXIT_IOIO (APM Vol. 2, 15.10.2 "IN and OUT Behavior",
// Figure 15-2 "EXITINFO1 for IOIO Intercept"). EXITINFO2 holds the rIP
// of the instruction after the IN or OUT.
const (
	IOIO_TYPE_IN    = 1 << 0 // 1 = IN/INS, 0 = OUT/OUTS
	IOIO_STR        = 1 << 2 // INS/OUTS
	IOIO_REP        = 1 << 3 // REP prefix
	IOIO_SZ8        = 1 << 4
	IOIO_SZ16       = 1 << 5
	IOIO_SZ32       = 1 << 6
	IOIO_A16        = 1 << 7
	IOIO_A32        = 1 << 8
	IOIO_A64        = 1 << 9
	IOIO_SEG_SHIFT  = 10 // effective segment (decode assists)
	IOIO_SEG_MASK   = 0x7
	IOIO_PORT_SHIFT = 16
	IOIO_PORT_MASK  = 0xffff
)

// EXITINFO1 of VMEXIT_NPF (APM Vol. 2, 15.25.6 "Nested versus Guest Page
// Faults, Fault Ordering"): a #PF-style error code; EXITINFO2 holds the
// faulting guest-physical address.
const (
	NPF_P     = 1 << 0  // the nested entry was present (a protection fault)
	NPF_RW    = 1 << 1  // a write
	NPF_US    = 1 << 2  // a user access (always set for nested walks)
	NPF_RSV   = 1 << 3  // a reserved bit was set in a nested entry
	NPF_ID    = 1 << 4  // an instruction fetch
	NPF_FINAL = 1 << 32 // the fault was on the final guest-physical address
	NPF_TABLE = 1 << 33 // the fault was on a guest page table access
)

// MSR intercept EXITINFO1 (APM Vol. 2, 15.11): 0 for RDMSR, 1 for WRMSR.
const (
	MSR_EXITINFO1_READ  = 0
	MSR_EXITINFO1_WRITE = 1
)

// IOIOInfo is the EXITINFO1 word of an IOIO intercept.
type IOIOInfo uint64

// In reports IN or INS (as opposed to OUT/OUTS).
func (i IOIOInfo) In() bool { return i&IOIO_TYPE_IN != 0 }

// StringOp reports INS or OUTS.
func (i IOIOInfo) StringOp() bool { return i&IOIO_STR != 0 }

// Rep reports a REP prefix.
func (i IOIOInfo) Rep() bool { return i&IOIO_REP != 0 }

// Port returns the port number.
func (i IOIOInfo) Port() uint16 { return uint16(i >> IOIO_PORT_SHIFT & IOIO_PORT_MASK) }

// Segment returns the SEG field (valid with decode assists).
func (i IOIOInfo) Segment() uint8 { return uint8(i >> IOIO_SEG_SHIFT & IOIO_SEG_MASK) }

// Size returns the operand size in bytes from the SZ8/SZ16/SZ32 bits, or
// 0 if not exactly one of them is set (the CPU never reports that).
func (i IOIOInfo) Size() int {
	switch i & (IOIO_SZ8 | IOIO_SZ16 | IOIO_SZ32) {
	case IOIO_SZ8:
		return 1
	case IOIO_SZ16:
		return 2
	case IOIO_SZ32:
		return 4
	}
	return 0
}

// NPFInfo is the EXITINFO1 word of a nested page fault.
type NPFInfo uint64

// Access returns the kind of access that faulted: an instruction fetch,
// else a write, else a read.
func (i NPFInfo) Access() hv.Access {
	switch {
	case i&NPF_ID != 0:
		return hv.AccessExec
	case i&NPF_RW != 0:
		return hv.AccessWrite
	}
	return hv.AccessRead
}

// Present reports a protection fault on a present nested entry (as
// opposed to a missing mapping).
func (i NPFInfo) Present() bool { return i&NPF_P != 0 }

// Reserved reports a reserved bit set in a nested entry.
func (i NPFInfo) Reserved() bool { return i&NPF_RSV != 0 }

// maxInstrLen is the longest x86 instruction (APM Vol. 3, 1.1
// "Instruction Encoding Overview").
const maxInstrLen = 15

// instrLen returns next-rip if it is a plausible instruction length (1 to
// 15 bytes, no wrap), else 0.
func instrLen(rip, next uint64) int {
	if next > rip && next-rip <= maxInstrLen {
		return int(next - rip)
	}
	return 0
}

// Decode fills e in place from the control and save areas of a VMCB after
// #VMEXIT; it does not allocate. rcx is the guest's RCX, which the VMCB
// does not hold (the MSR number of RDMSR/WRMSR), and nrips says whether
// the CPU saves nRIP (Features.NRIPS).
//
// e.RIP is the guest RIP; e.InstrLen is NextRIP-RIP when nrips is set and
// that is 1 to 15, and for IOIO it always comes from EXITINFO2, which
// holds the next rIP whether or not the CPU has NRIPS (15.10.2). The
// exits map to reasons as follows; anything else is hv.ExitUnknown:
//
//   - VMEXIT_IOIO: ExitIO (ExitUnknown if the size bits are malformed);
//     for OUT (not OUTS) e.IO.Value is the low Size bytes of the guest RAX.
//   - VMEXIT_MSR: ExitMSR, MSR = low 32 bits of rcx, Write from EXITINFO1.
//   - VMEXIT_NPF: ExitNPF, GPA from EXITINFO2, Access from EXITINFO1.
//   - VMEXIT_EXCP_BASE+n: ExitException with the vector; for vectors that
//     push an error code, ErrorCode from EXITINFO1 and HasError.
//   - VMEXIT_CPUID, HLT, VMMCALL (ExitHypercall), VINTR
//     (ExitInterruptWindow), SHUTDOWN; INTR and NMI (ExitInterrupt:
//     the host takes them once it sets GIF again).
//   - VMEXIT_INVALID and VMEXIT_BUSY: ExitInvalidState.
//   - ExitOther, for instructions to fail with #UD: the SVM instructions
//     (VMRUN, VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA), and RDTSCP,
//     MONITOR, MWAIT, RDPRU, INVLPGB, INVPCID, MCOMMIT, TLBSYNC, whose #UD
//     is what the guest sees when the CPUID tamavisor shows lacks them.
//     Intercepts of instructions that never raise #UD that way (RDTSC,
//     PAUSE, WBINVD, XSETBV, ICEBP, ...) stay ExitUnknown: tamavisor
//     sets those intercepts only with a handler in mind.
func Decode(c *ControlArea, s *SaveArea, rcx uint64, nrips bool, e *hv.Exit) {
	*e = hv.Exit{
		Vendor: hv.VendorSVM,
		RIP:    s.RIP,
		SVM: hv.SVMExit{
			ExitCode:    c.ExitCode,
			ExitInfo1:   c.ExitInfo1,
			ExitInfo2:   c.ExitInfo2,
			ExitIntInfo: uint64(c.ExitIntInfo),
			NextRIP:     c.NextRIP,
		},
	}
	if nrips {
		e.InstrLen = instrLen(s.RIP, c.NextRIP)
	}
	code := c.ExitCode
	switch {
	case code == VMEXIT_IOIO:
		info := IOIOInfo(c.ExitInfo1)
		e.InstrLen = instrLen(s.RIP, c.ExitInfo2)
		size := info.Size()
		if size == 0 {
			return
		}
		e.Reason = hv.ExitIO
		e.IO = hv.IOExit{
			Port:   info.Port(),
			Size:   size,
			Write:  !info.In(),
			String: info.StringOp(),
			Rep:    info.Rep(),
		}
		if e.IO.Write && !e.IO.String {
			e.IO.Value = uint32(s.RAX & (1<<(8*size) - 1))
		}
	case code == VMEXIT_MSR:
		switch c.ExitInfo1 {
		case MSR_EXITINFO1_READ:
		case MSR_EXITINFO1_WRITE:
			e.Write = true
		default:
			return
		}
		e.Reason = hv.ExitMSR
		e.MSR = uint32(rcx)
	case code == VMEXIT_NPF:
		e.Reason = hv.ExitNPF
		e.GPA = hv.IPA(c.ExitInfo2)
		e.Access = NPFInfo(c.ExitInfo1).Access()
	case code >= VMEXIT_EXCP_BASE && code < VMEXIT_EXCP_BASE+32:
		e.Reason = hv.ExitException
		e.Vector = uint8(code - VMEXIT_EXCP_BASE)
		if ExceptionHasErrorCode(e.Vector) {
			e.HasError = true
			e.ErrorCode = uint32(c.ExitInfo1)
		}
	default:
		e.Reason = simpleReason(code)
	}
}

// simpleReason maps the exits that carry no decoded operands.
func simpleReason(code uint64) hv.ExitReason {
	switch code {
	case VMEXIT_CPUID:
		return hv.ExitCPUID
	case VMEXIT_HLT:
		return hv.ExitHLT
	case VMEXIT_VMMCALL:
		return hv.ExitHypercall
	case VMEXIT_VINTR:
		return hv.ExitInterruptWindow
	case VMEXIT_SHUTDOWN:
		return hv.ExitShutdown
	case VMEXIT_INTR, VMEXIT_NMI:
		return hv.ExitInterrupt
	case VMEXIT_INVALID, VMEXIT_BUSY:
		return hv.ExitInvalidState
	case VMEXIT_VMRUN, VMEXIT_VMLOAD, VMEXIT_VMSAVE, VMEXIT_STGI, VMEXIT_CLGI,
		VMEXIT_SKINIT, VMEXIT_INVLPGA, VMEXIT_RDTSCP, VMEXIT_MONITOR,
		VMEXIT_MWAIT, VMEXIT_MWAIT_CONDITIONAL, VMEXIT_RDPRU, VMEXIT_INVLPGB,
		VMEXIT_INVLPGB_ILLEGAL, VMEXIT_INVPCID, VMEXIT_MCOMMIT, VMEXIT_TLBSYNC:
		return hv.ExitOther
	}
	return hv.ExitUnknown
}

var exitCodeNames = map[uint64]string{
	VMEXIT_INTR:                "VMEXIT_INTR",
	VMEXIT_NMI:                 "VMEXIT_NMI",
	VMEXIT_SMI:                 "VMEXIT_SMI",
	VMEXIT_INIT:                "VMEXIT_INIT",
	VMEXIT_VINTR:               "VMEXIT_VINTR",
	VMEXIT_CR0_SEL_WRITE:       "VMEXIT_CR0_SEL_WRITE",
	VMEXIT_IDTR_READ:           "VMEXIT_IDTR_READ",
	VMEXIT_GDTR_READ:           "VMEXIT_GDTR_READ",
	VMEXIT_LDTR_READ:           "VMEXIT_LDTR_READ",
	VMEXIT_TR_READ:             "VMEXIT_TR_READ",
	VMEXIT_IDTR_WRITE:          "VMEXIT_IDTR_WRITE",
	VMEXIT_GDTR_WRITE:          "VMEXIT_GDTR_WRITE",
	VMEXIT_LDTR_WRITE:          "VMEXIT_LDTR_WRITE",
	VMEXIT_TR_WRITE:            "VMEXIT_TR_WRITE",
	VMEXIT_RDTSC:               "VMEXIT_RDTSC",
	VMEXIT_RDPMC:               "VMEXIT_RDPMC",
	VMEXIT_PUSHF:               "VMEXIT_PUSHF",
	VMEXIT_POPF:                "VMEXIT_POPF",
	VMEXIT_CPUID:               "VMEXIT_CPUID",
	VMEXIT_RSM:                 "VMEXIT_RSM",
	VMEXIT_IRET:                "VMEXIT_IRET",
	VMEXIT_SWINT:               "VMEXIT_SWINT",
	VMEXIT_INVD:                "VMEXIT_INVD",
	VMEXIT_PAUSE:               "VMEXIT_PAUSE",
	VMEXIT_HLT:                 "VMEXIT_HLT",
	VMEXIT_INVLPG:              "VMEXIT_INVLPG",
	VMEXIT_INVLPGA:             "VMEXIT_INVLPGA",
	VMEXIT_IOIO:                "VMEXIT_IOIO",
	VMEXIT_MSR:                 "VMEXIT_MSR",
	VMEXIT_TASK_SWITCH:         "VMEXIT_TASK_SWITCH",
	VMEXIT_FERR_FREEZE:         "VMEXIT_FERR_FREEZE",
	VMEXIT_SHUTDOWN:            "VMEXIT_SHUTDOWN",
	VMEXIT_VMRUN:               "VMEXIT_VMRUN",
	VMEXIT_VMMCALL:             "VMEXIT_VMMCALL",
	VMEXIT_VMLOAD:              "VMEXIT_VMLOAD",
	VMEXIT_VMSAVE:              "VMEXIT_VMSAVE",
	VMEXIT_STGI:                "VMEXIT_STGI",
	VMEXIT_CLGI:                "VMEXIT_CLGI",
	VMEXIT_SKINIT:              "VMEXIT_SKINIT",
	VMEXIT_RDTSCP:              "VMEXIT_RDTSCP",
	VMEXIT_ICEBP:               "VMEXIT_ICEBP",
	VMEXIT_WBINVD:              "VMEXIT_WBINVD",
	VMEXIT_MONITOR:             "VMEXIT_MONITOR",
	VMEXIT_MWAIT:               "VMEXIT_MWAIT",
	VMEXIT_MWAIT_CONDITIONAL:   "VMEXIT_MWAIT_CONDITIONAL",
	VMEXIT_XSETBV:              "VMEXIT_XSETBV",
	VMEXIT_RDPRU:               "VMEXIT_RDPRU",
	VMEXIT_EFER_WRITE_TRAP:     "VMEXIT_EFER_WRITE_TRAP",
	VMEXIT_INVLPGB:             "VMEXIT_INVLPGB",
	VMEXIT_INVLPGB_ILLEGAL:     "VMEXIT_INVLPGB_ILLEGAL",
	VMEXIT_INVPCID:             "VMEXIT_INVPCID",
	VMEXIT_MCOMMIT:             "VMEXIT_MCOMMIT",
	VMEXIT_TLBSYNC:             "VMEXIT_TLBSYNC",
	VMEXIT_NPF:                 "VMEXIT_NPF",
	VMEXIT_AVIC_INCOMPLETE_IPI: "VMEXIT_AVIC_INCOMPLETE_IPI",
	VMEXIT_AVIC_NOACCEL:        "VMEXIT_AVIC_NOACCEL",
	VMEXIT_VMGEXIT:             "VMEXIT_VMGEXIT",
	VMEXIT_INVALID:             "VMEXIT_INVALID",
	VMEXIT_BUSY:                "VMEXIT_BUSY",
}

// ExitCodeName returns the APM name of an exit code, e.g. "VMEXIT_NPF",
// "VMEXIT_CR3_WRITE" or "VMEXIT_EXCP14", or "VMEXIT_UNKNOWN(0x...)".
// It is for logs and allocates for numbered names.
func ExitCodeName(code uint64) string {
	if s, ok := exitCodeNames[code]; ok {
		return s
	}
	n := func(prefix string, base uint64, suffix string) string {
		return prefix + strconv.FormatUint(code-base, 10) + suffix
	}
	switch {
	case code < VMEXIT_CR0_WRITE:
		return n("VMEXIT_CR", VMEXIT_CR0_READ, "_READ")
	case code < VMEXIT_DR0_READ:
		return n("VMEXIT_CR", VMEXIT_CR0_WRITE, "_WRITE")
	case code < VMEXIT_DR0_WRITE:
		return n("VMEXIT_DR", VMEXIT_DR0_READ, "_READ")
	case code < VMEXIT_EXCP_BASE:
		return n("VMEXIT_DR", VMEXIT_DR0_WRITE, "_WRITE")
	case code < VMEXIT_EXCP_BASE+32:
		return n("VMEXIT_EXCP", VMEXIT_EXCP_BASE, "")
	case code >= VMEXIT_CR0_WRITE_TRAP && code < VMEXIT_CR0_WRITE_TRAP+16:
		return n("VMEXIT_CR", VMEXIT_CR0_WRITE_TRAP, "_WRITE_TRAP")
	}
	return "VMEXIT_UNKNOWN(0x" + strconv.FormatUint(code, 16) + ")"
}
