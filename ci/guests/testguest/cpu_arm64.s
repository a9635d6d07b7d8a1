// testguest: the bare-metal arm64 test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

#include "textflag.h"

// func hvc(fid, a1, a2, a3 uint64) (r0, r1 uint64)
TEXT ·hvc(SB),NOSPLIT,$0-48
	MOVD	fid+0(FP), R0
	MOVD	a1+8(FP), R1
	MOVD	a2+16(FP), R2
	MOVD	a3+24(FP), R3
	WORD	$0xd4000002	// HVC #0
	MOVD	R0, r0+32(FP)
	MOVD	R1, r1+40(FP)
	RET

// func smc(fid, a1, a2, a3 uint64) (r0 uint64)
TEXT ·smc(SB),NOSPLIT,$0-40
	MOVD	fid+0(FP), R0
	MOVD	a1+8(FP), R1
	MOVD	a2+16(FP), R2
	MOVD	a3+24(FP), R3
	WORD	$0xd4000003	// SMC #0
	MOVD	R0, r0+32(FP)
	RET

// func cntvct() uint64
TEXT ·cntvct(SB),NOSPLIT,$0-8
	ISB	$15
	MRS	CNTVCT_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func cntfrq() uint64
TEXT ·cntfrq(SB),NOSPLIT,$0-8
	MRS	CNTFRQ_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func setTimer(cval, ctl uint64)
TEXT ·setTimer(SB),NOSPLIT,$0-16
	MOVD	cval+0(FP), R0
	MSR	R0, CNTV_CVAL_EL0
	MOVD	ctl+8(FP), R0
	MSR	R0, CNTV_CTL_EL0
	ISB	$15
	RET

// func gicCPUInit()
TEXT ·gicCPUInit(SB),NOSPLIT,$0-0
	// IHI 0069H 12.2.x: system register interface, priority mask, and
	// Group 1 enable (served by the virtual CPU interface).
	MOVD	$7, R0
	MSR	R0, ICC_SRE_EL1
	ISB	$15
	MOVD	$0xff, R0
	MSR	R0, ICC_PMR_EL1
	MOVD	$1, R0
	MSR	R0, ICC_IGRPEN1_EL1
	ISB	$15
	RET

// func irqEnable()
TEXT ·irqEnable(SB),NOSPLIT,$0-0
	MSR	$2, DAIFClr
	RET

// func irqDisable()
TEXT ·irqDisable(SB),NOSPLIT,$0-0
	MSR	$2, DAIFSet
	RET

// func wfi()
TEXT ·wfi(SB),NOSPLIT,$0-0
	DSB	$15
	WFI
	RET

// func readMPIDR() uint64
TEXT ·readMPIDR(SB),NOSPLIT,$0-8
	MRS	MPIDR_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func load64(addr uint64) uint64
// A plain 64-bit load; the fault tests arm ·probe around it.
TEXT ·load64(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R1
	MOVD	$0, R0
	MOVD	(R1), R0
	MOVD	R0, ret+8(FP)
	RET

// func store32(addr uint64, val uint32)
TEXT ·store32(SB),NOSPLIT,$0-12
	MOVD	addr+0(FP), R1
	MOVWU	val+8(FP), R0
	MOVW	R0, (R1)
	RET

// func store64(addr, val uint64)
TEXT ·store64(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R1
	MOVD	val+8(FP), R0
	MOVD	R0, (R1)
	RET

// func load32(addr uint64) uint32
TEXT ·load32(SB),NOSPLIT,$0-12
	MOVD	addr+0(FP), R1
	MOVWU	(R1), R0
	MOVW	R0, ret+8(FP)
	RET

// func readImpDef() uint64
// MRS x0, S3_0_C15_C0_0: an IMPLEMENTATION DEFINED register, trapped by
// HCR_EL2.TIDCP, so the hypervisor must make it UNDEFINED.
TEXT ·readImpDef(SB),NOSPLIT,$0-8
	MOVD	$0, R0
	WORD	$0xd538f000
	MOVD	R0, ret+0(FP)
	RET

// func callCode(addr, x0 uint64)
// Branches to generated code at addr (which ends in RET) with x0 set.
TEXT ·callCode(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R1
	MOVD	x0+8(FP), R0
	CALL	(R1)
	RET

// func syncCode(addr, size uint64)
// Makes generated code visible to instruction fetch (B2.4.4): clean the
// data cache, invalidate the instruction cache by VA, barriers.
TEXT ·syncCode(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R0
	MOVD	size+8(FP), R1
	ADD	R0, R1
	MOVD	R0, R2
dc:
	DC	CVAU, R2
	ADD	$64, R2
	CMP	R1, R2
	BLO	dc
	DSB	$11
	MOVD	R0, R2
ic:
	WORD	$0xd50b7522	// IC IVAU, x2
	ADD	$64, R2
	CMP	R1, R2
	BLO	ic
	DSB	$11
	ISB	$15
	RET

// func isb()
TEXT ·isb(SB),NOSPLIT,$0-0
	ISB	$15
	RET
