// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "textflag.h"
#include "sysreg_arm64.h"

// func halt()
TEXT ·halt(SB),NOSPLIT|NOFRAME,$0
	MSR	$0xf, DAIFSet
loop:
	WFE
	B	loop

// func read_currentel() uint64
TEXT ·read_currentel(SB),NOSPLIT,$0-8
	MRS	CurrentEL, R0
	LSR	$2, R0, R0
	AND	$3, R0, R0
	MOVD	R0, ret+0(FP)
	RET

// func read_mpidr() uint64
TEXT ·read_mpidr(SB),NOSPLIT,$0-8
	MRS	MPIDR_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func read_id_aa64mmfr0() uint64
TEXT ·read_id_aa64mmfr0(SB),NOSPLIT,$0-8
	MRS	ID_AA64MMFR0_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func read_id_aa64pfr0() uint64
TEXT ·read_id_aa64pfr0(SB),NOSPLIT,$0-8
	MRS	ID_AA64PFR0_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func read_sctlr_el2() uint64
TEXT ·read_sctlr_el2(SB),NOSPLIT,$0-8
	MRS_X(SCTLR_EL2, X0)
	MOVD	R0, ret+0(FP)
	RET

// func write_mair_el2(val uint64)
TEXT ·write_mair_el2(SB),NOSPLIT,$0-8
	// D19.2.97 MAIR_EL2
	MOVD	val+0(FP), R0
	MSR_X(MAIR_EL2, X0)
	ISB	$15
	RET

// func write_tcr_el2(val uint64)
TEXT ·write_tcr_el2(SB),NOSPLIT,$0-8
	// D19.2.139 TCR_EL2
	MOVD	val+0(FP), R0
	MSR_X(TCR_EL2, X0)
	ISB	$15
	RET

// func enable_mmu_el2(ttbr uint64)
TEXT ·enable_mmu_el2(SB),NOSPLIT,$0-8
	// Make the table writes visible to the walker, install the table
	// (D19.2.156 TTBR0_EL2), drop stale translations, then turn on the
	// MMU with data and instruction caches (D19.2.118 SCTLR_EL2).
	MOVD	ttbr+0(FP), R0
	DSB	$15	// SY
	MSR_X(TTBR0_EL2, X0)
	ISB	$15
	TLBI_ALLE2
	DSB	$15
	IC_IALLU
	DSB	$15
	ISB	$15
	MRS_X(SCTLR_EL2, X0)
	ORR	$(SCTLR_M|SCTLR_C|SCTLR_I), R0
	MSR_X(SCTLR_EL2, X0)
	ISB	$15
	RET

// func read_cntpct() uint64
TEXT ·read_cntpct(SB),NOSPLIT,$0-8
	// D19.12.16 CNTPCT_EL0; the ISB keeps the read in program order.
	ISB	$15
	MRS	CNTPCT_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func read_cntfrq() uint64
TEXT ·read_cntfrq(SB),NOSPLIT,$0-8
	// D19.12.1 CNTFRQ_EL0
	MRS	CNTFRQ_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func smc(fid, a1, a2, a3 uint64) uint64
TEXT ·smc(SB),NOSPLIT,$0-40
	// SMC Calling Convention (DEN0028): function ID in X0, arguments in
	// X1-X3, result in X0.
	MOVD	fid+0(FP), R0
	MOVD	a1+8(FP), R1
	MOVD	a2+16(FP), R2
	MOVD	a3+24(FP), R3
	SMC_0
	MOVD	R0, ret+32(FP)
	RET

// func read_icc_sre_el2() uint64
TEXT ·read_icc_sre_el2(SB),NOSPLIT,$0-8
	MRS_X(ICC_SRE_EL2, X0)
	MOVD	R0, ret+0(FP)
	RET

// func write_icc_pmr_el1(val uint64)
TEXT ·write_icc_pmr_el1(SB),NOSPLIT,$0-8
	// IHI 0069H 12.2.19 ICC_PMR_EL1
	MOVD	val+0(FP), R0
	MSR	R0, ICC_PMR_EL1
	ISB	$15
	RET

// func write_icc_igrpen1_el1(val uint64)
TEXT ·write_icc_igrpen1_el1(SB),NOSPLIT,$0-8
	// IHI 0069H 12.2.16 ICC_IGRPEN1_EL1
	MOVD	val+0(FP), R0
	MSR	R0, ICC_IGRPEN1_EL1
	ISB	$15
	RET

// func read_id_aa64isar0() uint64
TEXT ·read_id_aa64isar0(SB),NOSPLIT,$0-8
	MRS	ID_AA64ISAR0_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func read_rndr() (val uint64, ok bool)
TEXT ·read_rndr(SB),NOSPLIT,$0-9
	// RNDR sets PSTATE.Z on failure (D19.2.133).
	MRS_X(RNDR, X0)
	CSET	NE, R1
	MOVD	R0, val+0(FP)
	MOVB	R1, ok+8(FP)
	RET
