// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "textflag.h"

// D7.5.9 "Ordering and completion of data and instruction cache
// instructions" and B2.4.4 "Concurrent modification and execution of
// instructions" (ARM DDI 0487K.a): after writing instructions, clean
// the data cache to the point of unification, invalidate the
// instruction cache there, and synchronise the context.
//
// DC CVAU, Xt is SYS #3, C7, C11, #1, Xt; IC IVAU, Xt is SYS #3, C7, C5,
// #1, Xt (C5.3 "A64 system instructions for cache maintenance").
#define DC_CVAU_X3 WORD $0xd50b7b23 // dc cvau, x3
#define IC_IVAU_X3 WORD $0xd50b7523 // ic ivau, x3

// func sync_code(alias, exec, n uint64)
// Makes n bytes written at the writable alias visible to instruction
// fetch at exec, on every CPU of the inner shareable domain. The line
// sizes come from CTR_EL0 (D19.2.34): DminLine bits [19:16] and
// IminLine bits [3:0], log2 of words.
TEXT ·sync_code(SB),NOSPLIT,$0-24
	MOVD	alias+0(FP), R0
	MOVD	exec+8(FP), R1
	MOVD	n+16(FP), R2
	CBZ	R2, done
	MRS	CTR_EL0, R4
	// R5 = data cache line bytes
	UBFX	$16, R4, $4, R5
	MOVD	$4, R6
	LSL	R5, R6, R5
	// R7 = instruction cache line bytes
	AND	$15, R4, R7
	LSL	R7, R6, R7
	// Clean [alias, alias+n) by data-cache line.
	ADD	R0, R2, R8
	SUB	$1, R5, R9
	BIC	R9, R0, R3
dloop:
	DC_CVAU_X3
	ADD	R5, R3, R3
	CMP	R8, R3
	BLO	dloop
	DSB	$11 // ISH
	// Invalidate [exec, exec+n) by instruction-cache line.
	ADD	R1, R2, R8
	SUB	$1, R7, R9
	BIC	R9, R1, R3
iloop:
	IC_IVAU_X3
	ADD	R7, R3, R3
	CMP	R8, R3
	BLO	iloop
	DSB	$11 // ISH
	ISB	$15
done:
	RET
