// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "go_asm.h"
#include "textflag.h"
#include "sysreg_arm64.h"

// VECTOR enters el2Exception with the vector's index in R0.
#define VECTOR(n) \
	PCALIGN	$128; \
	MOVD	$n, R0; \
	B	·el2Exception(SB)

// GUEST_VECTOR leaves a guest: it keeps the guest's x0/x1 on the stack
// (the host stack enter_guest ran on) and enters guest_exit with the
// vector's index in R0.
#define GUEST_VECTOR(n) \
	PCALIGN	$128; \
	STP.W	(R0, R1), -16(RSP); \
	MOVD	$n, R0; \
	B	·guest_exit(SB)

// D1.10.2 Exception vectors (ARM DDI 0487K.a), Table D1-7: VBAR_EL2 must
// be 2 KiB aligned; each entry is 0x80 bytes. Exceptions taken from EL2
// itself are hypervisor bugs and report; those from EL1/EL0 are guest
// exits (switch_arm64.s).
TEXT ·el2Vectors(SB),NOSPLIT|NOFRAME,$0
	PCALIGN	$2048
	MOVD	$0, R0
	B	·el2Exception(SB)
	VECTOR(1)
	VECTOR(2)
	VECTOR(3)
	VECTOR(4)
	VECTOR(5)
	VECTOR(6)
	VECTOR(7)
	GUEST_VECTOR(8)
	GUEST_VECTOR(9)
	GUEST_VECTOR(10)
	GUEST_VECTOR(11)
	GUEST_VECTOR(12)
	GUEST_VECTOR(13)
	GUEST_VECTOR(14)
	GUEST_VECTOR(15)

// el2Exception records the syndrome registers in ·lastException and calls
// the Go reporter, which does not return. It stays on the interrupted
// stack, below a gap, so the Go code's stack checks against g hold (an
// exception taken at EL2 interrupted Go code, whose g is in R28).
TEXT ·el2Exception(SB),NOSPLIT|NOFRAME,$0
	MOVD	$·lastException(SB), R5
	MOVD	R0, exceptionInfo_Vector(R5)
	MRS_X(ESR_EL2, X1)
	MOVD	R1, exceptionInfo_ESR(R5)
	MRS_X(FAR_EL2, X1)
	MOVD	R1, exceptionInfo_FAR(R5)
	MRS_X(ELR_EL2, X1)
	MOVD	R1, exceptionInfo_ELR(R5)
	MRS_X(SPSR_EL2, X1)
	MOVD	R1, exceptionInfo_SPSR(R5)
	MRS_X(HPFAR_EL2, X1)
	MOVD	R1, exceptionInfo_HPFAR(R5)
	MOVD	R30, exceptionInfo_LR(R5)
	MOVD	RSP, R1
	MOVD	R1, exceptionInfo_SP(R5)
	SUB	$1024, R1
	AND	$~15, R1
	MOVD	R1, RSP
	BL	·reportException(SB)
park:
	WFE
	B	park
