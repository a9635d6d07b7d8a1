// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "go_asm.h"
#include "textflag.h"

// Intel SDM Vol. 3A 2.5 (CR0.WP), 2.2.1 and 4.1.4 (EFER.NXE).
#define MSR_EFER 0xc0000080
#define EFER_NXE (1<<11)
#define CR0_WP (1<<16)

// func wx_switch(cr3 uint64, nxe bool)
//
// Moves this CPU onto the W^X tables at cr3: EFER.NXE first (the bit is
// reserved in every paging-structure entry until it is set, SDM Vol. 3A
// 4.7), then CR3 (which flushes the non-global TLB entries; cpuinit
// leaves CR4.PGE clear, so there are no others), then CR0.WP, so that
// the hypervisor's own writes honour read-only pages (SDM Vol. 3A 4.6.1).
TEXT ·wx_switch(SB),NOSPLIT,$0-9
	MOVQ	cr3+0(FP), BX
	MOVBQZX	nxe+8(FP), AX
	TESTQ	AX, AX
	JZ	load
	MOVL	$MSR_EFER, CX
	RDMSR
	ORL	$EFER_NXE, AX
	WRMSR
load:
	MOVQ	BX, CR3
	MOVQ	CR0, AX
	ORQ	$CR0_WP, AX
	MOVQ	AX, CR0
	RET

// func imageBounds() (text, etext, epclntab uint64)
//
// The linker's section bounds: the text, and the end of the read-only
// segment (.gopclntab is its last section).
TEXT ·imageBounds(SB),NOSPLIT,$0-24
	MOVQ	$runtime·text(SB), AX
	MOVQ	AX, text+0(FP)
	MOVQ	$runtime·etext(SB), AX
	MOVQ	AX, etext+8(FP)
	MOVQ	$runtime·epclntab(SB), AX
	MOVQ	AX, epclntab+16(FP)
	RET

// Fault probes (wx_unsafe.go). probeStore and probeCall put the probed
// instruction at an address ·probeRIP names; a #PF there is turned by
// excCommon (cpu_amd64.s) into a jump to ·probeResume, which returns to
// the probe's caller as if the access had been done, with the fault
// recorded in ·probeErr and ·probeCR2.

// func probeStore(addr uint64, val byte)
TEXT ·probeStore(SB),NOSPLIT,$0-9
	MOVQ	addr+0(FP), DI
	MOVBLZX	val+8(FP), AX
	JMP	·probeStoreInsn(SB)

// probeStoreInsn: the store, then return to probeStore's caller.
TEXT ·probeStoreInsn(SB),NOSPLIT|NOFRAME,$0
	MOVB	AX, (DI)
	RET

// func probeCall(target uint64)
//
// Calls target, which must hold a RET (0xc3).
TEXT ·probeCall(SB),NOSPLIT,$0-8
	MOVQ	target+0(FP), AX
	CALL	AX
	RET

// probeResume: where a probed fault resumes; the stack is as it was at
// the probed instruction (a return address on top).
TEXT ·probeResume(SB),NOSPLIT|NOFRAME,$0
	RET

// func probeStoreInsnAddr() uint64
TEXT ·probeStoreInsnAddr(SB),NOSPLIT,$0-8
	MOVQ	$·probeStoreInsn(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func probeResumeAddr() uint64
TEXT ·probeResumeAddr(SB),NOSPLIT,$0-8
	MOVQ	$·probeResume(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
