// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && linkcpuinit

#include "textflag.h"

// Early paging structures in conventional memory below 64 KiB, below
// anything the PVH loader or the image uses (the image is linked at
// 0x10010000; PVH start_info is not consulted).
#define GDT   0x8f00	// 3 descriptors + GDTR image at 0x8f20
#define GDTR  0x8f20
#define PML4  0x9000
#define PDPT  0xa000
#define PD0   0xb000	// 4 page directories: 0-4 GiB in 2 MiB pages
#define PT0   0xf000	// 4 KiB pages for 0-2 MiB, page 0 not present

// Intel SDM Vol. 3A 4.5 (4-level paging) entry bits.
#define PTE_P   (1<<0)
#define PTE_RW  (1<<1)
#define PTE_PWT (1<<3)
#define PTE_PCD (1<<4)
#define PTE_PS  (1<<7)

#define MSR_EFER 0xc0000080
#define EFER_LME (1<<8)
#define CR0_PE (1<<0)
#define CR0_MP (1<<1)
#define CR0_EM (1<<2)
#define CR0_PG (1<<31)
#define CR4_PAE (1<<5)
#define CR4_OSFXSR (1<<9)
#define CR4_OSXMMEXCPT (1<<10)

// 8259A PIC data ports (OCW1: interrupt mask).
#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

// cpuinit is entered from the PVH note in 32-bit protected mode, paging
// off (Xen PVH ABI, docs/misc/pvh.pandoc). Everything up to the far
// return is 32-bit code: only instructions whose encoding means the same
// in both modes are used (no REX prefixes, no RIP-relative operands).
TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	CLI
	MOVL	$GDT, SP

	// SeaBIOS leaves the PIT routed to vector 8 through the 8259s:
	// mask every legacy IRQ before anything can enable interrupts.
	MOVL	$0xff, AX
	MOVL	$PIC1_DATA, DX
	OUTB
	MOVL	$PIC2_DATA, DX
	OUTB

	// Clear PML4 .. PT0 (7 pages).
	MOVL	$PML4, DI
	XORL	AX, AX
	MOVL	$(7*4096/4), CX
	CLD
	REP;	STOSL

	// PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3
	MOVL	$PML4, DI
	MOVL	$(PDPT|PTE_RW|PTE_P), (DI)
	MOVL	$PDPT, DI
	MOVL	$(PD0|PTE_RW|PTE_P), 0(DI)
	MOVL	$(PD0+0x1000|PTE_RW|PTE_P), 8(DI)
	MOVL	$(PD0+0x2000|PTE_RW|PTE_P), 16(DI)
	MOVL	$(PD0+0x3000|PTE_RW|PTE_P), 24(DI)

	// PD entries: identity 2 MiB pages for 0-4 GiB; the top GiB
	// (0xc0000000-, LAPIC/IOAPIC/HPET/PCI MMIO) uncached.
	MOVL	$PD0, DI
	XORL	AX, AX
pd_loop:
	MOVL	AX, BX
	ORL	$(PTE_PS|PTE_RW|PTE_P), BX
	CMPL	AX, $0xc0000000
	JCS	pd_store
	ORL	$(PTE_PCD|PTE_PWT), BX
pd_store:
	MOVL	BX, (DI)
	ADDL	$8, DI
	ADDL	$0x200000, AX
	JNZ	pd_loop		// wraps to 0 after 4 GiB

	// PD0[0] -> PT0: 4 KiB pages for the first 2 MiB, page 0 absent so
	// null-pointer accesses fault.
	MOVL	$PD0, DI
	MOVL	$(PT0|PTE_RW|PTE_P), (DI)
	MOVL	$(PT0+8), DI
	MOVL	$0x1000, AX
pt_loop:
	MOVL	AX, BX
	ORL	$(PTE_RW|PTE_P), BX
	MOVL	BX, (DI)
	ADDL	$8, DI
	ADDL	$0x1000, AX
	CMPL	AX, $0x200000
	JCS	pt_loop

	// GDT: null, 64-bit code (L=1, P, S, type x/r), data (P, S, r/w)
	// (Intel SDM Vol. 3A 3.4.5). Built with immediate stores: no symbol
	// addresses are needed in 32-bit mode.
	MOVL	$GDT, DI
	MOVL	$0, 0(DI)
	MOVL	$0, 4(DI)
	MOVL	$0, 8(DI)
	MOVL	$0x00209a00, 12(DI)
	MOVL	$0, 16(DI)
	MOVL	$0x00009200, 20(DI)
	MOVL	$GDTR, DI
	MOVW	$(3*8-1), 0(DI)
	MOVL	$GDT, 2(DI)
	MOVL	$0, 6(DI)
	LGDT	(DI)

	// Long mode: CR4.PAE, EFER.LME, CR3, then CR0.PG (SDM Vol. 3A 10.8.5)
	MOVL	CR4, AX
	ORL	$CR4_PAE, AX
	MOVL	AX, CR4
	MOVL	$MSR_EFER, CX
	RDMSR
	ORL	$EFER_LME, AX
	WRMSR
	MOVL	$PML4, AX
	MOVL	AX, CR3
	MOVL	CR0, AX
	ORL	$(CR0_PG|CR0_PE), AX
	MOVL	AX, CR0

	// Far return into the 64-bit code segment. The target's address is
	// this code's run-time address (from CALL/POP) plus the
	// assembler-computed distance to ·start64: in 32-bit mode the
	// RIP-relative LEA below decodes as "LEA BX, [disp32]", giving that
	// distance measured from the end of the LEA.
	CALL	·getpc32(SB)		// AX = address of the LEA below
	LEAL	·start64(SB), BX	// 6 bytes: 8d 1d disp32
	ADDL	$6, AX
	ADDL	BX, AX
	PUSHQ	$0x08			// (6a 08: PUSH imm8)
	PUSHQ	AX			// (50: PUSH EAX)
	BYTE	$0xcb			// RETF (far return, 32-bit operand size)

TEXT ·start64(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	XORL	AX, AX
	MOVW	AX, FS
	MOVW	AX, GS

	// SSE for the Go runtime (SDM Vol. 3A 13.1.3): CR0.EM=0, CR0.MP=1,
	// CR4.OSFXSR, CR4.OSXMMEXCPT. XSAVE/AVX stay off (CR4.OSXSAVE=0), so
	// Go does not use AVX.
	MOVQ	CR0, AX
	ANDQ	$~CR0_EM, AX
	ORQ	$CR0_MP, AX
	MOVQ	AX, CR0
	MOVQ	CR4, AX
	ORQ	$(CR4_OSFXSR|CR4_OSXMMEXCPT), AX
	MOVQ	AX, CR4

	JMP	_rt0_tamago_start(SB)

// getpc32 returns its return address in AX. 32-bit code: MOVL (SP), AX
// assembles to 8b 04 24 (MOV EAX, [ESP]) and RET to c3 in either mode.
TEXT ·getpc32(SB),NOSPLIT|NOFRAME,$0
	MOVL	(SP), AX
	RET
