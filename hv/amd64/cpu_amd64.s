// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

#include "go_asm.h"
#include "textflag.h"

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB),NOSPLIT,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	subleaf+4(FP), CX
	CPUID
	MOVL	AX, eax+8(FP)
	MOVL	BX, ebx+12(FP)
	MOVL	CX, ecx+16(FP)
	MOVL	DX, edx+20(FP)
	RET

// func rdtsc() uint64
TEXT ·rdtsc(SB),NOSPLIT,$0-8
	// SDM Vol. 2B RDTSC: EDX:EAX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func rdmsr(msr uint32) uint64
TEXT ·rdmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func halt()
TEXT ·halt(SB),NOSPLIT|NOFRAME,$0
	CLI
loop:
	HLT
	JMP	loop

// func read_cr2() uint64
TEXT ·read_cr2(SB),NOSPLIT,$0-8
	MOVQ	CR2, AX
	MOVQ	AX, ret+0(FP)
	RET

// func read_cr0() uint64
TEXT ·read_cr0(SB),NOSPLIT,$0-8
	MOVQ	CR0, AX
	MOVQ	AX, ret+0(FP)
	RET

// func read_cr3() uint64
TEXT ·read_cr3(SB),NOSPLIT,$0-8
	MOVQ	CR3, AX
	MOVQ	AX, ret+0(FP)
	RET

// func lidt(idtr uintptr)
TEXT ·lidt(SB),NOSPLIT,$0-8
	MOVQ	idtr+0(FP), AX
	LIDT	(AX)
	RET

// func excStubs() uintptr
TEXT ·excStubs(SB),NOSPLIT,$0-8
	MOVQ	$·excVectors(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// Exception entry stubs, one per vector 0-31, each excStubSize (32)
// bytes apart. Vectors without a CPU-pushed error code push 0 so the
// frame is the same for all (SDM Vol. 3A 6.13, Table 6-1).
#define STUB(n) \
	PCALIGN	$32; \
	PUSHQ	$0; \
	PUSHQ	$n; \
	JMP	·excCommon(SB)

#define STUB_ERR(n) \
	PCALIGN	$32; \
	PUSHQ	$n; \
	JMP	·excCommon(SB)

TEXT ·excVectors(SB),NOSPLIT|NOFRAME,$0
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

// excCommon: stack holds vector, error code, RIP, CS, RFLAGS, RSP, SS.
// A #PF at the instruction a fault probe armed (·probeRIP, wx_unsafe.go)
// is recorded and resumed at ·probeResume with every register as it was
// (IRETQ restores RFLAGS). Anything else is recorded in ·lastException
// and reported; the report does not return.
TEXT ·excCommon(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	CMPQ	8(SP), $14		// vector: #PF
	JNE	exc_fatal
	MOVQ	·probeRIP(SB), AX
	TESTQ	AX, AX
	JZ	exc_fatal
	CMPQ	AX, 24(SP)		// faulting RIP
	JNE	exc_fatal
	MOVQ	16(SP), AX
	MOVQ	AX, ·probeErr(SB)
	MOVQ	CR2, AX
	MOVQ	AX, ·probeCR2(SB)
	MOVQ	$0, ·probeRIP(SB)
	MOVQ	$·probeResume(SB), AX
	MOVQ	AX, 24(SP)
	POPQ	AX
	ADDQ	$16, SP			// vector and error code
	IRETQ
exc_fatal:
	POPQ	AX
	MOVQ	$·lastException(SB), BX
	MOVQ	0(SP), AX
	MOVQ	AX, exceptionInfo_Vector(BX)
	MOVQ	8(SP), AX
	MOVQ	AX, exceptionInfo_Error(BX)
	MOVQ	16(SP), AX
	MOVQ	AX, exceptionInfo_RIP(BX)
	MOVQ	24(SP), AX
	MOVQ	AX, exceptionInfo_CS(BX)
	MOVQ	32(SP), AX
	MOVQ	AX, exceptionInfo_RFLAGS(BX)
	MOVQ	40(SP), AX
	MOVQ	AX, exceptionInfo_RSP(BX)
	MOVQ	CR2, AX
	MOVQ	AX, exceptionInfo_CR2(BX)
	SUBQ	$1024, SP
	ANDQ	$~15, SP
	CALL	·reportException(SB)
	JMP	·halt(SB)

// func rdrand() (val uint64, ok bool)
TEXT ·rdrand(SB),NOSPLIT,$0-9
	// SDM Vol. 2B RDRAND: CF=1 when a random value was returned.
	// 48 0f c7 f0 = RDRAND RAX
	BYTE	$0x48; BYTE $0x0f; BYTE $0xc7; BYTE $0xf0
	SETCS	BX
	MOVQ	AX, val+0(FP)
	MOVB	BX, ok+8(FP)
	RET

// func wrmsr(msr uint32, val uint64)
TEXT ·wrmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	val+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

// func irqStubs() (eoi, spurious uintptr)
TEXT ·irqStubs(SB),NOSPLIT,$0-16
	MOVQ	$·irqEOI(SB), AX
	MOVQ	AX, eoi+0(FP)
	MOVQ	$·irqSpurious(SB), AX
	MOVQ	AX, spurious+8(FP)
	RET

// irqEOI is the gate of every external interrupt vector: count it, write
// the local APIC's EOI register (SDM Vol. 3A 11.8.5) and return. It runs
// on whatever stack was live, which it leaves as it found it.
TEXT ·irqEOI(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	LOCK
	INCQ	·hostIRQs(SB)
	MOVQ	·lapicEOIAddr(SB), AX
	TESTQ	AX, AX
	JZ	done
	MOVL	$0, (AX)
done:
	POPQ	AX
	IRETQ

// irqSpurious: the APIC's spurious vector takes no EOI.
TEXT ·irqSpurious(SB),NOSPLIT|NOFRAME,$0
	IRETQ
