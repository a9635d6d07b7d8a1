// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "go_asm.h"
#include "textflag.h"
#include "sysreg_arm64.h"

// The vCPU world switch, GoTEE-style: enter_guest saves the host's Go
// state in the Context, loads the guest's and ERETs to EL1; any exception
// taken from EL1/EL0 to EL2 lands in guest_exit (through the lower-EL
// entries of el2Vectors), which stores the guest's state back into the
// Context found in TPIDR_EL2 and returns to enter_guest's caller.
//
// Go's arm64 ABI0 treats every register as clobbered across the call
// except RSP, R29 (frame pointer) and R28 (g), which are saved here.

#define LOAD_SYS(field, reg) MOVD field(R0), R1; MSR R1, reg
#define SAVE_SYS(reg, field) MRS reg, R1; MOVD R1, field(R0)
#define LOAD_EL2(field, reg) MOVD field(R0), R1; MSR_X(reg, X1)
#define SAVE_EL2(reg, field) MRS_X(reg, X1); MOVD R1, field(R0)

// func enter_guest(ctx *Context)
TEXT ·enter_guest(SB),NOSPLIT|NOFRAME,$0-8
	MOVD	ctx+0(FP), R0

	// Host state.
	MOVD	RSP, R1
	MOVD	R1, Context_hostSP(R0)
	MOVD	R29, Context_hostFP(R0)
	MOVD	g, Context_hostG(R0)
	MOVD	R30, Context_hostLR(R0)
	MRS	FPCR, R1
	MOVD	R1, Context_hostFPCR(R0)
	MRS	FPSR, R1
	MOVD	R1, Context_hostFPSR(R0)
	MSR_X(TPIDR_EL2, X0)

	// EL1 system registers.
	LOAD_SYS(Context_SCTLR_EL1, SCTLR_EL1)
	LOAD_SYS(Context_CPACR_EL1, CPACR_EL1)
	LOAD_SYS(Context_TTBR0_EL1, TTBR0_EL1)
	LOAD_SYS(Context_TTBR1_EL1, TTBR1_EL1)
	LOAD_SYS(Context_TCR_EL1, TCR_EL1)
	LOAD_SYS(Context_ESR_EL1, ESR_EL1)
	LOAD_SYS(Context_FAR_EL1, FAR_EL1)
	LOAD_SYS(Context_AFSR0_EL1, AFSR0_EL1)
	LOAD_SYS(Context_AFSR1_EL1, AFSR1_EL1)
	LOAD_SYS(Context_MAIR_EL1, MAIR_EL1)
	LOAD_SYS(Context_AMAIR_EL1, AMAIR_EL1)
	LOAD_SYS(Context_VBAR_EL1, VBAR_EL1)
	LOAD_SYS(Context_CONTEXTIDR_EL1, CONTEXTIDR_EL1)
	LOAD_SYS(Context_TPIDR_EL1, TPIDR_EL1)
	LOAD_SYS(Context_TPIDR_EL0, TPIDR_EL0)
	LOAD_SYS(Context_TPIDRRO_EL0, TPIDRRO_EL0)
	LOAD_SYS(Context_PAR_EL1, PAR_EL1)
	LOAD_SYS(Context_ELR_EL1, ELR_EL1)
	LOAD_SYS(Context_SPSR_EL1, SPSR_EL1)
	LOAD_SYS(Context_CNTKCTL_EL1, CNTKCTL_EL1)
	LOAD_SYS(Context_CSSELR_EL1, CSSELR_EL1)
	LOAD_SYS(Context_SP_EL0, SP_EL0)
	LOAD_SYS(Context_SP_EL1, SP_EL1)

	// Stage 2 and traps (D19.2.48 HCR_EL2, D19.2.154 VTTBR_EL2).
	LOAD_EL2(Context_VTTBR, VTTBR_EL2)
	LOAD_EL2(Context_VMPIDR, VMPIDR_EL2)
	LOAD_EL2(Context_HCR, HCR_EL2)

	// Virtual timer: offset first, then compare value, then control.
	LOAD_EL2(Context_CNTVOFF, CNTVOFF_EL2)
	LOAD_SYS(Context_CNTV_CVAL, CNTV_CVAL_EL0)
	LOAD_SYS(Context_CNTV_CTL, CNTV_CTL_EL0)

	// GICv3 virtual CPU interface (IHI 0069H 12.4).
	LOAD_EL2(Context_ICH_VMCR, ICH_VMCR_EL2)
	LOAD_EL2(Context_ICH_AP0R0, ICH_AP0R0_EL2)
	LOAD_EL2(Context_ICH_AP1R0, ICH_AP1R0_EL2)
	MOVD	(Context_LR+0)(R0), R1
	MSR_X(ICH_LR0_EL2, X1)
	MOVD	(Context_LR+8)(R0), R1
	MSR_X(ICH_LR1_EL2, X1)
	MOVD	(Context_LR+16)(R0), R1
	MSR_X(ICH_LR2_EL2, X1)
	MOVD	(Context_LR+24)(R0), R1
	MSR_X(ICH_LR3_EL2, X1)
	LOAD_EL2(Context_ICH_HCR, ICH_HCR_EL2)

	// The hypervisor's deadline: D19.12.x CNTHP_CVAL_EL2, then ENABLE.
	LOAD_EL2(Context_HPDeadline, CNTHP_CVAL_EL2)
	MOVD	$1, R1
	MSR_X(CNTHP_CTL_EL2, X1)

	// FP/SIMD.
	ADD	$Context_V, R0, R1
	VLD1.P	64(R1), [V0.D2, V1.D2, V2.D2, V3.D2]
	VLD1.P	64(R1), [V4.D2, V5.D2, V6.D2, V7.D2]
	VLD1.P	64(R1), [V8.D2, V9.D2, V10.D2, V11.D2]
	VLD1.P	64(R1), [V12.D2, V13.D2, V14.D2, V15.D2]
	VLD1.P	64(R1), [V16.D2, V17.D2, V18.D2, V19.D2]
	VLD1.P	64(R1), [V20.D2, V21.D2, V22.D2, V23.D2]
	VLD1.P	64(R1), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1.P	64(R1), [V28.D2, V29.D2, V30.D2, V31.D2]
	MOVD	Context_FPCR(R0), R1
	MSR	R1, FPCR
	MOVD	Context_FPSR(R0), R1
	MSR	R1, FPSR

	// Return state (D19.2.36 ELR_EL2, C5.2.19 SPSR_EL2).
	LOAD_EL2(Context_PC, ELR_EL2)
	LOAD_EL2(Context_PSTATE, SPSR_EL2)
	ISB	$15

	// General purpose registers, x0/x1 last.
	LDP	(Context_X+16)(R0), (R2, R3)
	LDP	(Context_X+32)(R0), (R4, R5)
	LDP	(Context_X+48)(R0), (R6, R7)
	LDP	(Context_X+64)(R0), (R8, R9)
	LDP	(Context_X+80)(R0), (R10, R11)
	LDP	(Context_X+96)(R0), (R12, R13)
	LDP	(Context_X+112)(R0), (R14, R15)
	LDP	(Context_X+128)(R0), (R16, R17)
	LDP	(Context_X+144)(R0), (R18_PLATFORM, R19)
	LDP	(Context_X+160)(R0), (R20, R21)
	LDP	(Context_X+176)(R0), (R22, R23)
	LDP	(Context_X+192)(R0), (R24, R25)
	LDP	(Context_X+208)(R0), (R26, R27)
	LDP	(Context_X+224)(R0), (g, R29)
	MOVD	(Context_X+240)(R0), R30
	LDP	(Context_X+0)(R0), (R0, R1)
	ERET

// guest_exit runs on an exception from EL1/EL0. The vector pushed the
// guest's x0/x1 on the (host) stack and put the vector number in R0.
TEXT ·guest_exit(SB),NOSPLIT|NOFRAME,$0
	MRS_X(TPIDR_EL2, X1)
	MOVD	R0, Context_Vector(R1)
	STP	(R2, R3), (Context_X+16)(R1)
	STP	(R4, R5), (Context_X+32)(R1)
	STP	(R6, R7), (Context_X+48)(R1)
	STP	(R8, R9), (Context_X+64)(R1)
	STP	(R10, R11), (Context_X+80)(R1)
	STP	(R12, R13), (Context_X+96)(R1)
	STP	(R14, R15), (Context_X+112)(R1)
	STP	(R16, R17), (Context_X+128)(R1)
	STP	(R18_PLATFORM, R19), (Context_X+144)(R1)
	STP	(R20, R21), (Context_X+160)(R1)
	STP	(R22, R23), (Context_X+176)(R1)
	STP	(R24, R25), (Context_X+192)(R1)
	STP	(R26, R27), (Context_X+208)(R1)
	STP	(g, R29), (Context_X+224)(R1)
	MOVD	R30, (Context_X+240)(R1)
	LDP.P	16(RSP), (R2, R3)
	STP	(R2, R3), (Context_X+0)(R1)
	MOVD	R1, R0

	// Exit syndrome (D19.2.40 ESR_EL2, D19.2.42 FAR_EL2, D19.2.50
	// HPFAR_EL2) and the return state.
	SAVE_EL2(ESR_EL2, Context_ESR)
	SAVE_EL2(FAR_EL2, Context_FAR)
	SAVE_EL2(HPFAR_EL2, Context_HPFAR)
	SAVE_EL2(ELR_EL2, Context_PC)
	SAVE_EL2(SPSR_EL2, Context_PSTATE)

	// Stop the hypervisor timer; its pending interrupt goes with it.
	MOVD	$0, R1
	MSR_X(CNTHP_CTL_EL2, X1)


	SAVE_SYS(SP_EL0, Context_SP_EL0)
	SAVE_SYS(SP_EL1, Context_SP_EL1)
	SAVE_SYS(SCTLR_EL1, Context_SCTLR_EL1)
	SAVE_SYS(CPACR_EL1, Context_CPACR_EL1)
	SAVE_SYS(TTBR0_EL1, Context_TTBR0_EL1)
	SAVE_SYS(TTBR1_EL1, Context_TTBR1_EL1)
	SAVE_SYS(TCR_EL1, Context_TCR_EL1)
	SAVE_SYS(ESR_EL1, Context_ESR_EL1)
	SAVE_SYS(FAR_EL1, Context_FAR_EL1)
	SAVE_SYS(AFSR0_EL1, Context_AFSR0_EL1)
	SAVE_SYS(AFSR1_EL1, Context_AFSR1_EL1)
	SAVE_SYS(MAIR_EL1, Context_MAIR_EL1)
	SAVE_SYS(AMAIR_EL1, Context_AMAIR_EL1)
	SAVE_SYS(VBAR_EL1, Context_VBAR_EL1)
	SAVE_SYS(CONTEXTIDR_EL1, Context_CONTEXTIDR_EL1)
	SAVE_SYS(TPIDR_EL1, Context_TPIDR_EL1)
	SAVE_SYS(TPIDR_EL0, Context_TPIDR_EL0)
	SAVE_SYS(TPIDRRO_EL0, Context_TPIDRRO_EL0)
	SAVE_SYS(PAR_EL1, Context_PAR_EL1)
	SAVE_SYS(ELR_EL1, Context_ELR_EL1)
	SAVE_SYS(SPSR_EL1, Context_SPSR_EL1)
	SAVE_SYS(CNTKCTL_EL1, Context_CNTKCTL_EL1)
	SAVE_SYS(CSSELR_EL1, Context_CSSELR_EL1)

	// Virtual timer: save, then stop it so it cannot fire for the host.
	SAVE_SYS(CNTV_CTL_EL0, Context_CNTV_CTL)
	SAVE_SYS(CNTV_CVAL_EL0, Context_CNTV_CVAL)
	MOVD	$0, R1
	MSR	R1, CNTV_CTL_EL0

	// GICv3 virtual CPU interface; disable it while the host runs.
	SAVE_EL2(ICH_VMCR_EL2, Context_ICH_VMCR)
	SAVE_EL2(ICH_AP0R0_EL2, Context_ICH_AP0R0)
	SAVE_EL2(ICH_AP1R0_EL2, Context_ICH_AP1R0)
	MRS_X(ICH_LR0_EL2, X1)
	MOVD	R1, (Context_LR+0)(R0)
	MRS_X(ICH_LR1_EL2, X1)
	MOVD	R1, (Context_LR+8)(R0)
	MRS_X(ICH_LR2_EL2, X1)
	MOVD	R1, (Context_LR+16)(R0)
	MRS_X(ICH_LR3_EL2, X1)
	MOVD	R1, (Context_LR+24)(R0)
	MOVD	$0, R1
	MSR_X(ICH_HCR_EL2, X1)

	// An IRQ exit: acknowledge and complete the physical interrupt here,
	// on the CPU that took it (IHI 0069H 12.2.14 ICC_IAR1_EL1, 12.2.9
	// ICC_EOIR1_EL1). The exit handler reads the INTID from the Context.
	MOVD	$1023, R1
	MOVD	R1, Context_IRQ(R0)
	MOVD	Context_Vector(R0), R1
	CMP	$const_VecLowerIRQ, R1
	BEQ	take_irq
	CMP	$(const_VecLowerIRQ+4), R1
	BNE	irq_done
take_irq:
	MRS	ICC_IAR1_EL1, R1
	AND	$0xffffff, R1
	MOVD	R1, Context_IRQ(R0)
	CMP	$1020, R1
	BHS	irq_done
	MSR	R1, ICC_EOIR1_EL1
irq_done:

	// Host traps: EL1 is AArch64, nothing routed or trapped.
	MOVD	$HCR_RW, R1
	MSR_X(HCR_EL2, X1)

	// FP/SIMD.
	ADD	$Context_V, R0, R1
	VST1.P	[V0.D2, V1.D2, V2.D2, V3.D2], 64(R1)
	VST1.P	[V4.D2, V5.D2, V6.D2, V7.D2], 64(R1)
	VST1.P	[V8.D2, V9.D2, V10.D2, V11.D2], 64(R1)
	VST1.P	[V12.D2, V13.D2, V14.D2, V15.D2], 64(R1)
	VST1.P	[V16.D2, V17.D2, V18.D2, V19.D2], 64(R1)
	VST1.P	[V20.D2, V21.D2, V22.D2, V23.D2], 64(R1)
	VST1.P	[V24.D2, V25.D2, V26.D2, V27.D2], 64(R1)
	VST1.P	[V28.D2, V29.D2, V30.D2, V31.D2], 64(R1)
	MRS	FPCR, R1
	MOVD	R1, Context_FPCR(R0)
	MRS	FPSR, R1
	MOVD	R1, Context_FPSR(R0)

	// Back to the host.
	MOVD	Context_hostFPCR(R0), R1
	MSR	R1, FPCR
	MOVD	Context_hostFPSR(R0), R1
	MSR	R1, FPSR
	MOVD	Context_hostFP(R0), R29
	MOVD	Context_hostG(R0), g
	MOVD	Context_hostLR(R0), R30
	MOVD	Context_hostSP(R0), R1
	MOVD	R1, RSP
	ISB	$15
	RET

// func read_ich_vtr() uint64
TEXT ·read_ich_vtr(SB),NOSPLIT,$0-8
	MRS_X(ICH_VTR_EL2, X0)
	MOVD	R0, ret+0(FP)
	RET

// func write_vtcr_el2(val uint64)
TEXT ·write_vtcr_el2(SB),NOSPLIT,$0-8
	// D19.2.155 VTCR_EL2
	MOVD	val+0(FP), R0
	MSR_X(VTCR_EL2, X0)
	ISB	$15
	RET

// func write_mdcr_el2(val uint64)
TEXT ·write_mdcr_el2(SB),NOSPLIT,$0-8
	MOVD	val+0(FP), R0
	MSR_X(MDCR_EL2, X0)
	ISB	$15
	RET

// func read_mdcr_el2() uint64
TEXT ·read_mdcr_el2(SB),NOSPLIT,$0-8
	MRS_X(MDCR_EL2, X0)
	MOVD	R0, ret+0(FP)
	RET

// func write_cnthctl_el2(val uint64)
TEXT ·write_cnthctl_el2(SB),NOSPLIT,$0-8
	MOVD	val+0(FP), R0
	MSR_X(CNTHCTL_EL2, X0)
	ISB	$15
	RET

// func flush_guest_tlb(vttbr uint64)
TEXT ·flush_guest_tlb(SB),NOSPLIT,$0-8
	// Invalidate stage 1 and 2 entries of one VMID: select it in
	// VTTBR_EL2, then TLBI VMALLS12E1IS (D7.x TLB maintenance).
	MOVD	vttbr+0(FP), R0
	DSB	$0xb	// ISH
	MSR_X(VTTBR_EL2, X0)
	ISB	$15
	TLBI_VMALLS12E1IS
	DSB	$0xb
	ISB	$15
	RET

// func clean_dcache_range(start, end uint64)
TEXT ·clean_dcache_range(SB),NOSPLIT,$0-16
	// DC CIVAC on every 64-byte line (C6.2.80), so a guest that starts
	// with its MMU off sees what the hypervisor wrote; then invalidate
	// the instruction caches.
	MOVD	start+0(FP), R0
	MOVD	end+8(FP), R1
	BIC	$63, R0
loop:
	CMP	R1, R0
	BHS	done
	DC	CIVAC, R0
	ADD	$64, R0
	B	loop
done:
	DSB	$15
	WORD	$0xd508751f	// IC IALLU
	DSB	$15
	ISB	$15
	RET

// func tlb_sync()
TEXT ·tlb_sync(SB),NOSPLIT,$0-0
	DSB	$15
	TLBI_ALLE2
	DSB	$15
	ISB	$15
	RET

// func read_id_regs(r *IDRegs)
// Reads the ID group 3 registers (op0=3 op1=0 CRn=0 CRm=1..7 op2=0..7;
// unallocated encodings in this space are RAZ) as MRS X1 words.
TEXT ·read_id_regs(SB),NOSPLIT,$0-8
	MOVD	r+0(FP), R0
	WORD	$0xd5380101 // mrs x1, S3_0_C0_C1_0
	MOVD	R1, 0(R0)
	WORD	$0xd5380121 // mrs x1, S3_0_C0_C1_1
	MOVD	R1, 8(R0)
	WORD	$0xd5380141 // mrs x1, S3_0_C0_C1_2
	MOVD	R1, 16(R0)
	WORD	$0xd5380161 // mrs x1, S3_0_C0_C1_3
	MOVD	R1, 24(R0)
	WORD	$0xd5380181 // mrs x1, S3_0_C0_C1_4
	MOVD	R1, 32(R0)
	WORD	$0xd53801a1 // mrs x1, S3_0_C0_C1_5
	MOVD	R1, 40(R0)
	WORD	$0xd53801c1 // mrs x1, S3_0_C0_C1_6
	MOVD	R1, 48(R0)
	WORD	$0xd53801e1 // mrs x1, S3_0_C0_C1_7
	MOVD	R1, 56(R0)
	WORD	$0xd5380201 // mrs x1, S3_0_C0_C2_0
	MOVD	R1, 64(R0)
	WORD	$0xd5380221 // mrs x1, S3_0_C0_C2_1
	MOVD	R1, 72(R0)
	WORD	$0xd5380241 // mrs x1, S3_0_C0_C2_2
	MOVD	R1, 80(R0)
	WORD	$0xd5380261 // mrs x1, S3_0_C0_C2_3
	MOVD	R1, 88(R0)
	WORD	$0xd5380281 // mrs x1, S3_0_C0_C2_4
	MOVD	R1, 96(R0)
	WORD	$0xd53802a1 // mrs x1, S3_0_C0_C2_5
	MOVD	R1, 104(R0)
	WORD	$0xd53802c1 // mrs x1, S3_0_C0_C2_6
	MOVD	R1, 112(R0)
	WORD	$0xd53802e1 // mrs x1, S3_0_C0_C2_7
	MOVD	R1, 120(R0)
	WORD	$0xd5380301 // mrs x1, S3_0_C0_C3_0
	MOVD	R1, 128(R0)
	WORD	$0xd5380321 // mrs x1, S3_0_C0_C3_1
	MOVD	R1, 136(R0)
	WORD	$0xd5380341 // mrs x1, S3_0_C0_C3_2
	MOVD	R1, 144(R0)
	WORD	$0xd5380361 // mrs x1, S3_0_C0_C3_3
	MOVD	R1, 152(R0)
	WORD	$0xd5380381 // mrs x1, S3_0_C0_C3_4
	MOVD	R1, 160(R0)
	WORD	$0xd53803a1 // mrs x1, S3_0_C0_C3_5
	MOVD	R1, 168(R0)
	WORD	$0xd53803c1 // mrs x1, S3_0_C0_C3_6
	MOVD	R1, 176(R0)
	WORD	$0xd53803e1 // mrs x1, S3_0_C0_C3_7
	MOVD	R1, 184(R0)
	WORD	$0xd5380401 // mrs x1, S3_0_C0_C4_0
	MOVD	R1, 192(R0)
	WORD	$0xd5380421 // mrs x1, S3_0_C0_C4_1
	MOVD	R1, 200(R0)
	WORD	$0xd5380441 // mrs x1, S3_0_C0_C4_2
	MOVD	R1, 208(R0)
	WORD	$0xd5380461 // mrs x1, S3_0_C0_C4_3
	MOVD	R1, 216(R0)
	WORD	$0xd5380481 // mrs x1, S3_0_C0_C4_4
	MOVD	R1, 224(R0)
	WORD	$0xd53804a1 // mrs x1, S3_0_C0_C4_5
	MOVD	R1, 232(R0)
	WORD	$0xd53804c1 // mrs x1, S3_0_C0_C4_6
	MOVD	R1, 240(R0)
	WORD	$0xd53804e1 // mrs x1, S3_0_C0_C4_7
	MOVD	R1, 248(R0)
	WORD	$0xd5380501 // mrs x1, S3_0_C0_C5_0
	MOVD	R1, 256(R0)
	WORD	$0xd5380521 // mrs x1, S3_0_C0_C5_1
	MOVD	R1, 264(R0)
	WORD	$0xd5380541 // mrs x1, S3_0_C0_C5_2
	MOVD	R1, 272(R0)
	WORD	$0xd5380561 // mrs x1, S3_0_C0_C5_3
	MOVD	R1, 280(R0)
	WORD	$0xd5380581 // mrs x1, S3_0_C0_C5_4
	MOVD	R1, 288(R0)
	WORD	$0xd53805a1 // mrs x1, S3_0_C0_C5_5
	MOVD	R1, 296(R0)
	WORD	$0xd53805c1 // mrs x1, S3_0_C0_C5_6
	MOVD	R1, 304(R0)
	WORD	$0xd53805e1 // mrs x1, S3_0_C0_C5_7
	MOVD	R1, 312(R0)
	WORD	$0xd5380601 // mrs x1, S3_0_C0_C6_0
	MOVD	R1, 320(R0)
	WORD	$0xd5380621 // mrs x1, S3_0_C0_C6_1
	MOVD	R1, 328(R0)
	WORD	$0xd5380641 // mrs x1, S3_0_C0_C6_2
	MOVD	R1, 336(R0)
	WORD	$0xd5380661 // mrs x1, S3_0_C0_C6_3
	MOVD	R1, 344(R0)
	WORD	$0xd5380681 // mrs x1, S3_0_C0_C6_4
	MOVD	R1, 352(R0)
	WORD	$0xd53806a1 // mrs x1, S3_0_C0_C6_5
	MOVD	R1, 360(R0)
	WORD	$0xd53806c1 // mrs x1, S3_0_C0_C6_6
	MOVD	R1, 368(R0)
	WORD	$0xd53806e1 // mrs x1, S3_0_C0_C6_7
	MOVD	R1, 376(R0)
	WORD	$0xd5380701 // mrs x1, S3_0_C0_C7_0
	MOVD	R1, 384(R0)
	WORD	$0xd5380721 // mrs x1, S3_0_C0_C7_1
	MOVD	R1, 392(R0)
	WORD	$0xd5380741 // mrs x1, S3_0_C0_C7_2
	MOVD	R1, 400(R0)
	WORD	$0xd5380761 // mrs x1, S3_0_C0_C7_3
	MOVD	R1, 408(R0)
	WORD	$0xd5380781 // mrs x1, S3_0_C0_C7_4
	MOVD	R1, 416(R0)
	WORD	$0xd53807a1 // mrs x1, S3_0_C0_C7_5
	MOVD	R1, 424(R0)
	WORD	$0xd53807c1 // mrs x1, S3_0_C0_C7_6
	MOVD	R1, 432(R0)
	WORD	$0xd53807e1 // mrs x1, S3_0_C0_C7_7
	MOVD	R1, 440(R0)
	RET

// func ack_irq() uint64
TEXT ·ack_irq(SB),NOSPLIT,$0-8
	// IHI 0069H 12.2.14 ICC_IAR1_EL1 (physical interface at EL2)
	MRS	ICC_IAR1_EL1, R0
	AND	$0xffffff, R0
	MOVD	R0, ret+0(FP)
	RET

// func eoi_irq(intid uint64)
TEXT ·eoi_irq(SB),NOSPLIT,$0-8
	MOVD	intid+0(FP), R0
	MSR	R0, ICC_EOIR1_EL1
	ISB	$15
	RET
