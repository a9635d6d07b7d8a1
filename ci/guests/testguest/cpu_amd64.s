// testguest: the bare-metal test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

#include "go_asm.h"
#include "textflag.h"

// VMMCALL (AMD APM Vol. 3) 0f 01 d9, VMCALL (Intel SDM Vol. 2B) 0f 01 c1:
// the tamavisor hypercall, function in RAX, arguments in RDI, RSI, RDX.
#define VMMCALL BYTE $0x0f; BYTE $0x01; BYTE $0xd9
#define VMCALL BYTE $0x0f; BYTE $0x01; BYTE $0xc1
#define MSR_X2APIC_EOI 0x80b

// func vmmcall(fn, a1, a2, a3 uint64) (r0, r1, r2, r3 uint64)
TEXT ·vmmcall(SB),NOSPLIT,$0-64
	MOVQ	fn+0(FP), AX
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	VMMCALL
	MOVQ	AX, r0+32(FP)
	MOVQ	DI, r1+40(FP)
	MOVQ	SI, r2+48(FP)
	MOVQ	DX, r3+56(FP)
	RET

// func vmcall(fn, a1, a2, a3 uint64) (r0, r1, r2, r3 uint64)
TEXT ·vmcall(SB),NOSPLIT,$0-64
	MOVQ	fn+0(FP), AX
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	VMCALL
	MOVQ	AX, r0+32(FP)
	MOVQ	DI, r1+40(FP)
	MOVQ	SI, r2+48(FP)
	MOVQ	DX, r3+56(FP)
	RET

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB),NOSPLIT,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	sub+4(FP), CX
	CPUID
	MOVL	AX, a+8(FP)
	MOVL	BX, b+12(FP)
	MOVL	CX, c+16(FP)
	MOVL	DX, d+20(FP)
	RET

// func rdtsc() uint64
TEXT ·rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func in8(port uint16) uint8
TEXT ·in8(SB),NOSPLIT,$0-9
	MOVW	port+0(FP), DX
	INB
	MOVB	AX, ret+8(FP)
	RET

// func out8(port uint16, val uint8)
TEXT ·out8(SB),NOSPLIT,$0-3
	MOVW	port+0(FP), DX
	MOVB	val+2(FP), AX
	OUTB
	RET

// func in32(port uint16) uint32
TEXT ·in32(SB),NOSPLIT,$0-12
	MOVW	port+0(FP), DX
	INL
	MOVL	AX, ret+8(FP)
	RET

// func out32(port uint16, val uint32)
TEXT ·out32(SB),NOSPLIT,$0-8
	MOVW	port+0(FP), DX
	MOVL	val+4(FP), AX
	OUTL
	RET

// func rdmsr(msr uint32) uint64
TEXT ·rdmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func wrmsr(msr uint32, val uint64)
TEXT ·wrmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	val+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

TEXT ·sti(SB),NOSPLIT,$0-0
	STI
	RET

TEXT ·cli(SB),NOSPLIT,$0-0
	CLI
	RET

TEXT ·hlt(SB),NOSPLIT,$0-0
	HLT
	RET

// stiHlt enables interrupts and halts: STI's one-instruction shadow
// means an interrupt already pending is taken after HLT starts, so it
// wakes the HLT instead of slipping in before it.
TEXT ·stiHlt(SB),NOSPLIT,$0-0
	STI
	HLT
	CLI
	RET

TEXT ·ud2(SB),NOSPLIT,$0-0
	BYTE	$0x0f; BYTE $0x0b
	RET

// func lidtEmpty(): an IDT of limit 0, so the next exception cannot be
// delivered: #GP, then #DF, then shutdown (a triple fault).
TEXT ·lidtEmpty(SB),NOSPLIT,$16-0
	MOVQ	$0, 0(SP)
	MOVQ	$0, 8(SP)
	LIDT	0(SP)
	RET

// func loadIDT(): build ·idt (gates to the stubs below) and load it.
TEXT ·loadIDT(SB),NOSPLIT,$0-0
	LEAQ	·idt(SB), DI
	XORQ	CX, CX
gates:
	// Vectors 0-31 have one stub each, 32 bytes apart; the timer
	// (0x40) and self-IPI (0x41) vectors their own; all others share
	// irqOther.
	LEAQ	·irqOther(SB), AX
	CMPQ	CX, $32
	JAE	other
	LEAQ	·excStubs(SB), AX
	MOVQ	CX, DX
	SHLQ	$5, DX
	ADDQ	DX, AX
	JMP	set
other:
	CMPQ	CX, $0x40
	JNE	notimer
	LEAQ	·irqTimer(SB), AX
notimer:
	CMPQ	CX, $0x41
	JNE	set
	LEAQ	·irqIPI(SB), AX
set:
	// 64-bit interrupt gate (SDM Vol. 3A 6.14.1): offset 15:0,
	// selector 0x08, type 0x8e, offset 31:16, offset 63:32.
	MOVQ	AX, DX
	ANDQ	$0xffff, DX
	MOVQ	$(0x08<<16 | 0x8e<<40), BX
	ORQ	BX, DX
	MOVQ	AX, BX
	SHRQ	$16, BX
	ANDQ	$0xffff, BX
	SHLQ	$48, BX
	ORQ	BX, DX
	MOVQ	DX, 0(DI)
	SHRQ	$32, AX
	MOVQ	AX, 8(DI)
	ADDQ	$16, DI
	INCQ	CX
	CMPQ	CX, $256
	JB	gates
	LEAQ	·idt(SB), AX
	MOVQ	AX, ·idtr+2(SB)
	MOVW	$(256*16-1), ·idtr+0(SB)
	LEAQ	·idtr(SB), AX
	LIDT	(AX)
	RET

// Exception stubs 0-31 (SDM Vol. 3A Table 6-1: vectors 8, 10-14, 17,
// 21, 29 and 30 push an error code; the others get a 0).
#define STUB(n) PCALIGN $32; PUSHQ $0; PUSHQ $n; JMP ·excCommon(SB)
#define STUB_ERR(n) PCALIGN $32; PUSHQ $n; JMP ·excCommon(SB)

TEXT ·excStubs(SB),NOSPLIT|NOFRAME,$0
	PCALIGN	$32
	PUSHQ	$0
	PUSHQ	$0
	JMP	·excCommon(SB)
	STUB(1)
	STUB(2)
	STUB(3)
	STUB(4)
	STUB(5)
	STUB(6)
	STUB(7)
	STUB_ERR(8)
	STUB(9)
	STUB_ERR(10)
	STUB_ERR(11)
	STUB_ERR(12)
	STUB_ERR(13)
	STUB_ERR(14)
	STUB(15)
	STUB(16)
	STUB_ERR(17)
	STUB(18)
	STUB(19)
	STUB(20)
	STUB_ERR(21)
	STUB(22)
	STUB(23)
	STUB(24)
	STUB(25)
	STUB(26)
	STUB(27)
	STUB(28)
	STUB_ERR(29)
	STUB_ERR(30)
	STUB(31)

// excCommon: 0(SP) vector, 8 error code, 16 RIP, 24 CS, 32 RFLAGS,
// 40 RSP, 48 SS. With a probe armed, record the exception and resume
// at probeResume, which returns from the probe function (all probe
// functions are frameless, so SP still points at their return address).
// Otherwise report through the hypercall console and stop.
TEXT ·excCommon(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	MOVQ	·probe+probeState_Armed(SB), AX
	TESTQ	AX, AX
	JZ	fatal
	MOVQ	$0, ·probe+probeState_Armed(SB)
	MOVQ	$1, ·probe+probeState_Faulted(SB)
	MOVQ	8(SP), AX
	MOVQ	AX, ·probe+probeState_Vector(SB)
	MOVQ	16(SP), AX
	MOVQ	AX, ·probe+probeState_Error(SB)
	LEAQ	·probeResume(SB), AX
	MOVQ	AX, 24(SP)
	POPQ	AX
	ADDQ	$16, SP
	IRETQ
fatal:
	MOVQ	8(SP), AX
	MOVQ	AX, ·fatal+probeState_Vector(SB)
	MOVQ	16(SP), AX
	MOVQ	AX, ·fatal+probeState_Error(SB)
	MOVQ	24(SP), AX
	MOVQ	AX, ·fatal+probeState_Armed(SB)
	MOVQ	$1, ·fatal+probeState_Faulted(SB)
	MOVQ	$0xC6000001, AX
	LEAQ	·fatalMsg(SB), DI
	MOVQ	$const_fatalMsgLen, SI
	MOVB	·useVMCALL(SB), DX
	TESTB	DX, DX
	JNZ	intel
	VMMCALL
	JMP	stop
intel:
	VMCALL
stop:
	CLI
	HLT
	JMP	stop

TEXT ·probeResume(SB),NOSPLIT|NOFRAME,$0
	RET

// Interrupts: count per vector, x2APIC EOI (SDM Vol. 3A 11.12.1: a write
// of 0 to MSR 0x80b), return.
TEXT ·irqTimer(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	$0x40
	JMP	·irqCommon(SB)

TEXT ·irqIPI(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	$0x41
	JMP	·irqCommon(SB)

TEXT ·irqOther(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	$const_vectorOther
	JMP	·irqCommon(SB)

TEXT ·irqCommon(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	PUSHQ	CX
	PUSHQ	DX
	MOVQ	24(SP), AX
	LEAQ	·irqCount(SB), CX
	INCQ	(CX)(AX*8)
	MOVL	$MSR_X2APIC_EOI, CX
	XORL	AX, AX
	XORL	DX, DX
	WRMSR
	POPQ	DX
	POPQ	CX
	POPQ	AX
	ADDQ	$8, SP
	IRETQ

// Probes: frameless, so an exception resumes at probeResume, whose RET
// returns to the probe's caller (results are then not written).

// func probeLoad64(addr uint64) uint64
TEXT ·probeLoad64(SB),NOSPLIT|NOFRAME,$0-16
	MOVQ	addr+0(FP), AX
	MOVQ	(AX), AX
	MOVQ	AX, ret+8(FP)
	RET

// func probeStore64(addr, val uint64)
TEXT ·probeStore64(SB),NOSPLIT|NOFRAME,$0-16
	MOVQ	addr+0(FP), AX
	MOVQ	val+8(FP), CX
	MOVQ	CX, (AX)
	RET

// func probeRdmsr(msr uint32) uint64
TEXT ·probeRdmsr(SB),NOSPLIT|NOFRAME,$0-16
	MOVL	msr+0(FP), CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func probeWrmsr(msr uint32, val uint64)
TEXT ·probeWrmsr(SB),NOSPLIT|NOFRAME,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	val+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET
