// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "go_asm.h"
#include "textflag.h"

// The data selector of cpuinit's GDT (null, code64 = CODE_SELECTOR,
// data).
#define SEL_DATA 0x10

// Frame of the serve loop: the callee's four argument words at 0(SP),
// the mailbox pointer at 48(SP).
#define MB_SLOT 48

// func apEntryAddr() uint64
TEXT ·apEntryAddr(SB),NOSPLIT,$0-8
	MOVQ	$·apEntry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func wrmsrAddr() uint64
TEXT ·wrmsrAddr(SB),NOSPLIT,$0-8
	MOVQ	$·wrmsr(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func sgdt(p *[16]byte)
TEXT ·sgdt(SB),NOSPLIT,$0-8
	MOVQ	p+0(FP), AX
	SGDT	(AX)
	RET

// func read_cr4() uint64
TEXT ·read_cr4(SB),NOSPLIT,$0-8
	MOVQ	CR4, AX
	MOVQ	AX, ret+0(FP)
	RET

// apEntry: an AP leaves the trampoline here, in 64-bit mode on the BSP's
// page tables, on the trampoline's GDT, interrupts masked, RDI = its
// mailbox. It takes its stack and the BSP's GDT, then reloads CS with a
// far return.
TEXT ·apEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	apMailbox_stack(DI), SP
	MOVQ	$·apBoot(SB), BX
	LGDT	apBootState_gdtr(BX)
	MOVQ	$·apEntry2(SB), AX
	PUSHQ	$const_CODE_SELECTOR
	PUSHQ	AX
	BYTE	$0x48; BYTE $0xcb	// RETFQ (REX.W far return)

// apEntry2: on the BSP's GDT. Data segments, CR3, CR0 and CR4 as the BSP has
// them (caches on: INIT left CR0.CD/NW set; SSE for the world switch's
// FXSAVE), the BSP's IDT (its stubs acknowledge external interrupts with
// this CPU's local APIC), PAT, then the local APIC: enabled, TPR 0, the
// one-shot timer on VectorPreempt at divide 1, stopped (SDM Vol. 3A
// 11.4.7, 11.5.4). Then serve.
TEXT ·apEntry2(SB),NOSPLIT|NOFRAME,$0
	MOVL	$SEL_DATA, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	XORL	AX, AX
	MOVW	AX, FS
	MOVW	AX, GS
	MOVQ	$·apBoot(SB), BX
	// The BSP's tables (W^X, wx.go), then its CR0 (with WP).
	MOVQ	apBootState_cr3(BX), AX
	MOVQ	AX, CR3
	MOVQ	apBootState_cr0(BX), AX
	MOVQ	AX, CR0
	MOVQ	apBootState_cr4(BX), AX
	MOVQ	AX, CR4
	LIDT	apBootState_idtr(BX)
	MOVL	$const_hostMSRPAT, CX
	MOVQ	apBootState_pat(BX), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR

	MOVQ	·lapicBase(SB), DX
	MOVL	$0, const_LAPIC_TPR(DX)
	MOVL	$(const_SVR_APIC_ENABLE|const_VectorSpurious), const_LAPIC_SVR(DX)
	MOVL	$const_TIMER_DIV_1, const_LAPIC_TIMER_DIV(DX)
	MOVL	$const_VectorPreempt, const_LAPIC_LVT_TIMER(DX)
	MOVL	$0, const_LAPIC_TIMER_INIT(DX)

	SUBQ	$64, SP
	MOVQ	DI, MB_SLOT(SP)
	MOVQ	$1, AX
	XCHGQ	AX, apMailbox_online(DI)

// serve: wait in HLT for a posted call (the BSP sends VectorKick after
// posting; STI's one-instruction shadow makes STI;HLT atomic, so a kick
// between the check and HLT still wakes it), arm the timer, call it with
// the four argument words, stop the timer, post done and kick the BSP.
serve:
	CLI
	MOVQ	MB_SLOT(SP), DI
	MOVQ	apMailbox_fn(DI), AX
	TESTQ	AX, AX
	JNZ	call
	STI
	HLT
	JMP	serve
call:
	MOVQ	·lapicBase(SB), DX
	MOVQ	apMailbox_timer(DI), CX
	MOVL	CX, const_LAPIC_TIMER_INIT(DX)
	MOVQ	(apMailbox_args+0)(DI), CX
	MOVQ	CX, 0(SP)
	MOVQ	(apMailbox_args+8)(DI), CX
	MOVQ	CX, 8(SP)
	MOVQ	(apMailbox_args+16)(DI), CX
	MOVQ	CX, 16(SP)
	MOVQ	(apMailbox_args+24)(DI), CX
	MOVQ	CX, 24(SP)
	CALL	AX
	CLI
	MOVQ	·lapicBase(SB), DX
	MOVL	$0, const_LAPIC_TIMER_INIT(DX)
	MOVQ	MB_SLOT(SP), DI
	INCQ	apMailbox_runs(DI)
	MOVQ	$0, apMailbox_fn(DI)
	MOVQ	$1, AX
	XCHGQ	AX, apMailbox_done(DI)
	MOVL	$1, AX
	XCHGL	AX, ·apKick(SB)
	// Kick the BSP (fixed IPI, VectorKick) once the ICR is idle.
icr:
	MOVL	const_LAPIC_ICR_LO(DX), AX
	TESTL	$const_ICR_PENDING, AX
	JNZ	icr
	MOVQ	$·apBoot(SB), BX
	MOVQ	apBootState_bspAPIC(BX), AX
	SHLL	$const_ICR_DEST_SHIFT, AX
	MOVL	AX, const_LAPIC_ICR_HI(DX)
	MOVL	$(const_ICR_FIXED|const_ICR_ASSERT|const_VectorKick), const_LAPIC_ICR_LO(DX)
	JMP	serve
