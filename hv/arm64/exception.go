// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import "github.com/tamavisor/tamavisor/hv"

// ESR_ELx exception classes, D19.2.40 ESR_EL2 (ARM DDI 0487K.a), Table
// D19-45 ("EC, bits [31:26]").
const (
	ESR_EC_SHIFT  = 26
	ESR_EC_MASK   = 0x3f
	ESR_IL_SHIFT  = 25
	ESR_ISS_MASK  = 0x1ffffff
	ESR_DFSC_MASK = 0x3f
	ESR_WNR_SHIFT = 6

	EC_UNKNOWN       = 0x00
	EC_WFX           = 0x01
	EC_FP            = 0x07
	EC_ILLEGAL_STATE = 0x0e
	EC_SVC64         = 0x15
	EC_HVC64         = 0x16
	EC_SMC64         = 0x17
	EC_SYSREG        = 0x18
	EC_IABT_LOWER    = 0x20
	EC_IABT_CUR      = 0x21
	EC_PC_ALIGN      = 0x22
	EC_DABT_LOWER    = 0x24
	EC_DABT_CUR      = 0x25
	EC_SP_ALIGN      = 0x26
	EC_SERROR        = 0x2f
	EC_BRK64         = 0x3c
)

// ESR is a value of ESR_EL2.
type ESR uint64

// EC returns the exception class.
func (e ESR) EC() uint64 { return uint64(e) >> ESR_EC_SHIFT & ESR_EC_MASK }

// ISS returns the instruction-specific syndrome.
func (e ESR) ISS() uint64 { return uint64(e) & ESR_ISS_MASK }

// IL reports a 32-bit trapped instruction.
func (e ESR) IL() bool { return uint64(e)>>ESR_IL_SHIFT&1 == 1 }

// IsAbort reports an instruction or data abort.
func (e ESR) IsAbort() bool {
	switch e.EC() {
	case EC_IABT_LOWER, EC_IABT_CUR, EC_DABT_LOWER, EC_DABT_CUR:
		return true
	}
	return false
}

// WnR reports a data abort caused by a write.
func (e ESR) WnR() bool { return e.ISS()>>ESR_WNR_SHIFT&1 == 1 }

// ClassName names the exception class. It returns constant strings only,
// so it is safe in exception context.
func (e ESR) ClassName() string {
	switch e.EC() {
	case EC_UNKNOWN:
		return "unknown reason"
	case EC_WFX:
		return "WFI/WFE"
	case EC_FP:
		return "FP/SIMD access trap"
	case EC_ILLEGAL_STATE:
		return "illegal execution state"
	case EC_SVC64:
		return "SVC"
	case EC_HVC64:
		return "HVC"
	case EC_SMC64:
		return "SMC"
	case EC_SYSREG:
		return "system register trap"
	case EC_IABT_LOWER:
		return "instruction abort, lower EL"
	case EC_IABT_CUR:
		return "instruction abort, same EL"
	case EC_PC_ALIGN:
		return "PC alignment fault"
	case EC_DABT_LOWER:
		return "data abort, lower EL"
	case EC_DABT_CUR:
		return "data abort, same EL"
	case EC_SP_ALIGN:
		return "SP alignment fault"
	case EC_SERROR:
		return "SError"
	case EC_BRK64:
		return "BRK"
	}
	return "other"
}

// FaultName decodes the fault status code of an abort (DFSC/IFSC, ISS
// bits [5:0], D19.2.40 Table D19-46). Constant strings only.
func (e ESR) FaultName() string {
	fsc := e.ISS() & ESR_DFSC_MASK
	switch fsc &^ 3 {
	case 0x04:
		return "translation fault"
	case 0x08:
		return "access flag fault"
	case 0x0c:
		return "permission fault"
	case 0x00:
		return "address size fault"
	}
	switch fsc {
	case 0x10:
		return "synchronous external abort"
	case 0x21:
		return "alignment fault"
	case 0x30:
		return "TLB conflict abort"
	}
	return "other fault"
}

// FaultLevel returns the translation level of a translation, access flag
// or permission fault.
func (e ESR) FaultLevel() int { return int(e.ISS() & 3) }

// VectorName names a VBAR_ELx vector-table entry (D1.10.2, Table D1-7).
func VectorName(n uint64) string {
	names := [...]string{
		"synchronous, current EL, SP_EL0", "IRQ, current EL, SP_EL0", "FIQ, current EL, SP_EL0", "SError, current EL, SP_EL0",
		"synchronous, current EL, SP_ELx", "IRQ, current EL, SP_ELx", "FIQ, current EL, SP_ELx", "SError, current EL, SP_ELx",
		"synchronous, lower EL, AArch64", "IRQ, lower EL, AArch64", "FIQ, lower EL, AArch64", "SError, lower EL, AArch64",
		"synchronous, lower EL, AArch32", "IRQ, lower EL, AArch32", "FIQ, lower EL, AArch32", "SError, lower EL, AArch32",
	}
	if n < uint64(len(names)) {
		return names[n]
	}
	return "invalid vector"
}

// exceptionInfo is what the EL2 vectors capture (field offsets reach the
// assembly through go_asm.h).
type exceptionInfo struct {
	Vector uint64
	ESR    uint64
	FAR    uint64
	ELR    uint64
	SPSR   uint64
	HPFAR  uint64
	LR     uint64
	SP     uint64
}

var lastException exceptionInfo

// reportException prints a decoded report of an unexpected EL2 exception
// and stops the CPU. It is called from el2Exception with the state in
// lastException, and allocates nothing: the heap may be what faulted.
func reportException() {
	e := &lastException
	esr := ESR(e.ESR)
	print("\nEL2 exception: ", VectorName(e.Vector), "\n")
	print("  ESR_EL2=")
	hv.PrintHex(e.ESR)
	print(" EC=")
	hv.PrintHex(esr.EC())
	print(" (", esr.ClassName(), ") ISS=")
	hv.PrintHex(esr.ISS())
	print("\n")
	if esr.IsAbort() {
		print("  fault: ", esr.FaultName(), " level ", esr.FaultLevel())
		if esr.WnR() {
			print(" on write\n")
		} else {
			print(" on read\n")
		}
	}
	print("  FAR_EL2=")
	hv.PrintHex(e.FAR)
	print(" ELR_EL2=")
	hv.PrintHex(e.ELR)
	print(" SPSR_EL2=")
	hv.PrintHex(e.SPSR)
	print("\n  LR=")
	hv.PrintHex(e.LR)
	print(" SP=")
	hv.PrintHex(e.SP)
	print("\ntamavisor: halted after unexpected exception\n")
	halt()
}
