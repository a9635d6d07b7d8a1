// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import "fmt"

// Interruption-information format, shared by the VM-entry
// interruption-information field (Intel SDM Vol. 3C, 25.8.3 "VM-Entry
// Controls for Event Injection", table "Format of the VM-Entry
// Interruption-Information Field"), the VM-exit
// interruption-information field and the IDT-vectoring information field
// (25.9.2, 25.9.3).
const (
	INTR_INFO_VECTOR_MASK    = 0xff // bits 7:0
	INTR_INFO_TYPE_SHIFT     = 8
	INTR_INFO_TYPE_MASK      = 0x7 // bits 10:8
	INTR_INFO_ERROR_VALID    = 1 << 11
	INTR_INFO_NMI_UNBLOCKING = 1 << 12 // exit information only: NMI unblocking due to IRET
	INTR_INFO_VALID          = 1 << 31
)

// Interruption types (bits 10:8).
const (
	INTR_TYPE_EXTERNAL_INTERRUPT            = 0
	INTR_TYPE_NMI                           = 2
	INTR_TYPE_HARDWARE_EXCEPTION            = 3
	INTR_TYPE_SOFTWARE_INTERRUPT            = 4 // INT n
	INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION = 5 // INT1
	INTR_TYPE_SOFTWARE_EXCEPTION            = 6 // INT3, INTO
	INTR_TYPE_OTHER_EVENT                   = 7 // pending MTF VM exit
)

// The NMI vector, and the exception vectors that deliver an error code
// (Intel SDM Vol. 3A, "Exception and Interrupt Reference" in the chapter
// "Interrupt and Exception Handling").
const (
	VECTOR_NMI = 2
	VECTOR_DF  = 8  // double fault, error code always 0
	VECTOR_TS  = 10 // invalid TSS
	VECTOR_NP  = 11 // segment not present
	VECTOR_SS  = 12 // stack-segment fault
	VECTOR_GP  = 13 // general protection
	VECTOR_PF  = 14 // page fault
	VECTOR_AC  = 17 // alignment check, error code always 0
	VECTOR_CP  = 21 // control protection (CET)
)

// IntrInfo is an interruption-information word: the event VM entry
// injects (written to VM_ENTRY_INTR_INFO_FIELD, with the error code in
// VM_ENTRY_EXCEPTION_ERROR_CODE and, for software events, the
// instruction length in VM_ENTRY_INSTRUCTION_LEN), or the event a VM
// exit reports (VM_EXIT_INTR_INFO, IDT_VECTORING_INFO_FIELD).
type IntrInfo uint32

// NewIntrInfo returns a valid interruption-information word for vector
// and an INTR_TYPE_* typ (only bits 2:0 are used), with the
// deliver-error-code bit set if errValid. VM entry fails unless errValid
// matches ExceptionHasErrorCode for a hardware exception in protected
// mode and is false otherwise (Vol. 3C, 27.2.1.3), unless
// IA32_VMX_BASIC says the check is relaxed (Basic.NoErrorCodeCheck).
func NewIntrInfo(vector uint8, typ uint8, errValid bool) IntrInfo {
	v := IntrInfo(vector) | IntrInfo(typ&INTR_INFO_TYPE_MASK)<<INTR_INFO_TYPE_SHIFT | INTR_INFO_VALID
	if errValid {
		v |= INTR_INFO_ERROR_VALID
	}
	return v
}

// Valid reports bit 31.
func (i IntrInfo) Valid() bool { return i&INTR_INFO_VALID != 0 }

// Vector returns bits 7:0.
func (i IntrInfo) Vector() uint8 { return uint8(i & INTR_INFO_VECTOR_MASK) }

// Type returns the interruption type, bits 10:8.
func (i IntrInfo) Type() uint8 { return uint8(i >> INTR_INFO_TYPE_SHIFT & INTR_INFO_TYPE_MASK) }

// ErrorValid reports bit 11: an error code is delivered (entry) or was
// reported (exit).
func (i IntrInfo) ErrorValid() bool { return i&INTR_INFO_ERROR_VALID != 0 }

// NMIUnblocking reports bit 12 of exit information: the exit happened
// while IRET was unblocking NMIs.
func (i IntrInfo) NMIUnblocking() bool { return i&INTR_INFO_NMI_UNBLOCKING != 0 }

func (i IntrInfo) String() string {
	if !i.Valid() {
		return fmt.Sprintf("intr:%#x invalid", uint32(i))
	}
	return fmt.Sprintf("intr:%#x vector=%d type=%d err=%v", uint32(i), i.Vector(), i.Type(), i.ErrorValid())
}

// ExceptionHasErrorCode reports whether the processor pushes an error
// code when delivering exception vector as a hardware exception: #DF,
// #TS, #NP, #SS, #GP, #PF, #AC and #CP.
func ExceptionHasErrorCode(vector uint8) bool {
	switch vector {
	case VECTOR_DF, VECTOR_TS, VECTOR_NP, VECTOR_SS, VECTOR_GP, VECTOR_PF, VECTOR_AC, VECTOR_CP:
		return true
	}
	return false
}

// InjectException returns the interruption information that injects
// hardware exception vector, with the deliver-error-code bit set exactly
// when the exception has one.
func InjectException(vector uint8) IntrInfo {
	return NewIntrInfo(vector, INTR_TYPE_HARDWARE_EXCEPTION, ExceptionHasErrorCode(vector))
}

// InjectNMI returns the interruption information that injects an NMI.
func InjectNMI() IntrInfo { return NewIntrInfo(VECTOR_NMI, INTR_TYPE_NMI, false) }

// InjectInterrupt returns the interruption information that injects
// external interrupt vector.
func InjectInterrupt(vector uint8) IntrInfo {
	return NewIntrInfo(vector, INTR_TYPE_EXTERNAL_INTERRUPT, false)
}
