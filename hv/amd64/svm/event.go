// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import "fmt"

// EVENTINJ and EXITINTINFO format (AMD APM Vol. 2, 15.20 "Event
// Injection", Figure 15-4 "EVENTINJ Field"; 15.7.2 "Intercepts During
// IDT Interrupt Delivery" for EXITINTINFO, which uses the same layout).
const (
	EVENTINJ_VECTOR_SHIFT    = 0
	EVENTINJ_VECTOR_MASK     = 0xff
	EVENTINJ_TYPE_SHIFT      = 8
	EVENTINJ_TYPE_MASK       = 0x7
	EVENTINJ_EV              = 1 << 11 // the error code field is valid
	EVENTINJ_V               = 1 << 31 // the event is valid
	EVENTINJ_ERRORCODE_SHIFT = 32

	// TYPE values; 1 and 5-7 are reserved and make VMRUN fail.
	EVENT_TYPE_INTR      = 0 // external or virtual interrupt
	EVENT_TYPE_NMI       = 2
	EVENT_TYPE_EXCEPTION = 3 // fault or trap
	EVENT_TYPE_SOFT_INT  = 4 // INTn
)

// Exception vectors (APM Vol. 2, 8.2 "Vectors").
const (
	VECTOR_DE  = 0 // divide error
	VECTOR_DB  = 1 // debug
	VECTOR_NMI = 2
	VECTOR_BP  = 3  // breakpoint
	VECTOR_OF  = 4  // overflow
	VECTOR_BR  = 5  // bound range
	VECTOR_UD  = 6  // invalid opcode
	VECTOR_NM  = 7  // device not available
	VECTOR_DF  = 8  // double fault (error code, always 0)
	VECTOR_TS  = 10 // invalid TSS (error code)
	VECTOR_NP  = 11 // segment not present (error code)
	VECTOR_SS  = 12 // stack (error code)
	VECTOR_GP  = 13 // general protection (error code)
	VECTOR_PF  = 14 // page fault (error code)
	VECTOR_MF  = 16 // x87 floating point
	VECTOR_AC  = 17 // alignment check (error code)
	VECTOR_MC  = 18 // machine check
	VECTOR_XF  = 19 // SIMD floating point
	VECTOR_CP  = 21 // control protection (error code)
	VECTOR_HV  = 28 // hypervisor injection
	VECTOR_VC  = 29 // VMM communication (error code)
	VECTOR_SX  = 30 // security (error code)
)

// ExceptionHasErrorCode reports whether the CPU pushes an error code when
// it delivers exception vector v (APM Vol. 2, 8.2, Table 8-1): #DF, #TS,
// #NP, #SS, #GP, #PF, #AC, #CP, #VC and #SX.
func ExceptionHasErrorCode(v uint8) bool {
	switch v {
	case VECTOR_DF, VECTOR_TS, VECTOR_NP, VECTOR_SS, VECTOR_GP, VECTOR_PF,
		VECTOR_AC, VECTOR_CP, VECTOR_VC, VECTOR_SX:
		return true
	}
	return false
}

// EventInj is an event in the EVENTINJ format: what VMRUN injects into the
// guest (ControlArea.EventInj) and what #VMEXIT reports as interrupted
// (ControlArea.ExitIntInfo). An EXITINTINFO value that is Valid can be
// written back to EventInj unchanged to re-deliver the event.
type EventInj uint64

// NewEventInj returns a valid event of type typ (EVENT_TYPE_*) for vector,
// with errorCode pushed when hasErr is set. It does not check the
// combination: VMRUN fails with VMEXIT_INVALID for a reserved type, and
// delivers whatever error code EV says is there.
func NewEventInj(vector, typ uint8, errorCode uint32, hasErr bool) EventInj {
	e := EventInj(vector)<<EVENTINJ_VECTOR_SHIFT |
		EventInj(typ&EVENTINJ_TYPE_MASK)<<EVENTINJ_TYPE_SHIFT | EVENTINJ_V
	if hasErr {
		e |= EVENTINJ_EV | EventInj(errorCode)<<EVENTINJ_ERRORCODE_SHIFT
	}
	return e
}

// InjectException returns an exception event. Pass hasErr =
// ExceptionHasErrorCode(vector) for an architecturally faithful fault.
func InjectException(vector uint8, errorCode uint32, hasErr bool) EventInj {
	return NewEventInj(vector, EVENT_TYPE_EXCEPTION, errorCode, hasErr)
}

// InjectInterrupt returns an external interrupt event for vector.
func InjectInterrupt(vector uint8) EventInj {
	return NewEventInj(vector, EVENT_TYPE_INTR, 0, false)
}

// InjectNMI returns an NMI event (the vector is ignored by the CPU; it
// is set to 2).
func InjectNMI() EventInj { return NewEventInj(VECTOR_NMI, EVENT_TYPE_NMI, 0, false) }

// InjectSoftInt returns a software interrupt (INTn) event for vector.
func InjectSoftInt(vector uint8) EventInj {
	return NewEventInj(vector, EVENT_TYPE_SOFT_INT, 0, false)
}

// Valid reports whether the V bit is set.
func (e EventInj) Valid() bool { return e&EVENTINJ_V != 0 }

// Vector returns the vector field.
func (e EventInj) Vector() uint8 { return uint8(e >> EVENTINJ_VECTOR_SHIFT & EVENTINJ_VECTOR_MASK) }

// Type returns the TYPE field (EVENT_TYPE_*).
func (e EventInj) Type() uint8 { return uint8(e >> EVENTINJ_TYPE_SHIFT & EVENTINJ_TYPE_MASK) }

// HasErrorCode reports whether the EV bit is set.
func (e EventInj) HasErrorCode() bool { return e&EVENTINJ_EV != 0 }

// ErrorCode returns the error code field (meaningful with HasErrorCode).
func (e EventInj) ErrorCode() uint32 { return uint32(e >> EVENTINJ_ERRORCODE_SHIFT) }

var eventTypeNames = [8]string{
	EVENT_TYPE_INTR:      "intr",
	1:                    "reserved1",
	EVENT_TYPE_NMI:       "nmi",
	EVENT_TYPE_EXCEPTION: "exception",
	EVENT_TYPE_SOFT_INT:  "softint",
	5:                    "reserved5",
	6:                    "reserved6",
	7:                    "reserved7",
}

func (e EventInj) String() string {
	if !e.Valid() {
		return fmt.Sprintf("event:%#x invalid", uint64(e))
	}
	s := fmt.Sprintf("event:%s vector=%d", eventTypeNames[e.Type()], e.Vector())
	if e.HasErrorCode() {
		s += fmt.Sprintf(" error=%#x", e.ErrorCode())
	}
	return s
}
