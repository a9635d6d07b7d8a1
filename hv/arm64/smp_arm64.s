// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "go_asm.h"
#include "textflag.h"
#include "sysreg_arm64.h"

// func snapshot_el2(s *el2State)
// Records the boot CPU's EL2 translation and trap set-up for the
// secondaries (smp_tamago.go).
TEXT ·snapshot_el2(SB),NOSPLIT,$0-8
	MOVD	s+0(FP), R0
	MRS_X(MAIR_EL2, X1)
	MOVD	R1, el2State_mair(R0)
	MRS_X(TCR_EL2, X1)
	MOVD	R1, el2State_tcr(R0)
	MRS_X(TTBR0_EL2, X1)
	MOVD	R1, el2State_ttbr0(R0)
	MRS_X(SCTLR_EL2, X1)
	MOVD	R1, el2State_sctlr(R0)
	MRS_X(VTCR_EL2, X1)
	MOVD	R1, el2State_vtcr(R0)
	MRS_X(MDCR_EL2, X1)
	MOVD	R1, el2State_mdcr(R0)
	MRS_X(CNTHCTL_EL2, X1)
	MOVD	R1, el2State_cnthctl(R0)
	MOVD	$·el2Vectors(SB), R1
	MOVD	R1, el2State_vbar(R0)
	RET

// func sev()
TEXT ·sev(SB),NOSPLIT,$0-0
	DSB	$0xb	// ISH: the mailbox write before the event
	SEV
	RET

// secondaryEntry is where PSCI CPU_ON starts a secondary CPU: at EL2,
// MMU and caches off, interrupts masked, X0 = its mailbox (the context
// id). It sets EL2 up as the boot CPU has it (vectors, the same stage-1
// tables, stage-2 and trap controls, the GIC CPU interface), announces
// itself, then serves its mailbox forever: wait for a Context, run the
// guest with enter_guest, post the exit and kick the boot CPU with
// SGI_KICK. No Go code runs here: the Go runtime (scheduler, GC, exit
// handling) stays on the boot CPU; this CPU only executes guests.
TEXT ·secondaryEntry(SB),NOSPLIT|NOFRAME,$0
	MOVD	R0, R19
	MSR	$1, SPSel
	// D19.2.48 HCR_EL2, D19.2.31 CPTR_EL2, CNTVOFF_EL2, D19.2.143 VBAR_EL2
	MOVD	$HCR_RW, R1
	MSR_X(HCR_EL2, X1)
	MOVD	$CPTR_EL2_RES1, R1
	MSR_X(CPTR_EL2, X1)
	MOVD	$0, R1
	MSR_X(CNTVOFF_EL2, X1)
	MOVD	$·secondaryBoot(SB), R2
	MOVD	el2State_vbar(R2), R1
	MSR_X(VBAR_EL2, X1)
	// IHI 0069H 12.2.11 ICC_SRE_EL2
	MOVD	$(ICC_SRE_SRE|ICC_SRE_DFB|ICC_SRE_DIB|ICC_SRE_ENABLE), R1
	MSR_X(ICC_SRE_EL2, X1)
	ISB	$15
	// The boot CPU's stage-1 tables, then the MMU and caches.
	MOVD	el2State_mair(R2), R1
	MSR_X(MAIR_EL2, X1)
	MOVD	el2State_tcr(R2), R1
	MSR_X(TCR_EL2, X1)
	MOVD	el2State_ttbr0(R2), R1
	MSR_X(TTBR0_EL2, X1)
	ISB	$15
	TLBI_ALLE2
	DSB	$15
	IC_IALLU
	DSB	$15
	ISB	$15
	MOVD	el2State_sctlr(R2), R1
	MSR_X(SCTLR_EL2, X1)
	ISB	$15
	// Stage-2 control, debug/PMU traps, timer traps (InitVirtualization).
	MOVD	el2State_vtcr(R2), R1
	MSR_X(VTCR_EL2, X1)
	MOVD	el2State_mdcr(R2), R1
	MSR_X(MDCR_EL2, X1)
	MOVD	el2State_cnthctl(R2), R1
	MSR_X(CNTHCTL_EL2, X1)
	// GIC CPU interface: all priorities, Group 1 on.
	MOVD	$0xff, R1
	MSR	R1, ICC_PMR_EL1
	MOVD	$1, R1
	MSR	R1, ICC_IGRPEN1_EL1
	ISB	$15
	// Own stack, then online.
	MOVD	mailbox_stack(R19), R1
	MOVD	R1, RSP
	MOVD	$1, R1
	ADD	$mailbox_online, R19, R2
	STLR	R1, (R2)
	DSB	$0xb
	SEV

serve:
	ADD	$mailbox_ctx, R19, R2
	LDAR	(R2), R0
	CBNZ	R0, run
	WFE
	B	serve
run:
	// enter_guest(ctx) with Go's ABI0 frame: the argument at 8(RSP).
	// Everything but RSP, R29, R30 and g is clobbered: keep the mailbox
	// on the stack.
	SUB	$32, RSP
	MOVD	R19, 16(RSP)
	MOVD	R0, 8(RSP)
	BL	·enter_guest(SB)
	MOVD	16(RSP), R19
	ADD	$32, RSP
	MOVD	mailbox_runs(R19), R1
	ADD	$1, R1
	MOVD	R1, mailbox_runs(R19)
	// Post the exit: clear the request, publish the done Context.
	ADD	$mailbox_ctx, R19, R2
	LDAR	(R2), R0
	MOVD	$0, R1
	STLR	R1, (R2)
	ADD	$mailbox_done, R19, R2
	STLR	R0, (R2)
	DSB	$0xb
	// Kick the boot CPU: ICC_SGI1R_EL1 INTID[27:24] = SGI_KICK,
	// Aff3/2/1 = 0, TargetList = CPU 0 (IHI 0069H 12.2.21).
	MOVD	$(const_SGI_KICK<<24 | 1), R1
	MSR	R1, ICC_SGI1R_EL1
	ISB	$15
	B	serve

// func secondary_entry_addr() uint64
TEXT ·secondary_entry_addr(SB),NOSPLIT,$0-8
	MOVD	$·secondaryEntry(SB), R0
	MOVD	R0, ret+0(FP)
	RET
