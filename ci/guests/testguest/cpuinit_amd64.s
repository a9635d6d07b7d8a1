// testguest: the bare-metal test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

#include "go_asm.h"
#include "textflag.h"

// cpuinit is the PVH entry (the ELF's XEN_ELFNOTE_PHYS32_ENTRY note, which
// TamaGo's linker writes): 32-bit protected mode, paging off, flat
// segments, EBX = guest-physical address of the hvm_start_info. It maps
// the first 4 GiB of guest-physical space 1:1 with 1 GiB pages (the top
// GiB uncached), enters long mode and starts the Go runtime.
//
// In 32-bit mode the Go assembler's "LEAL sym(SB), R" decodes as an
// absolute disp32 load of the link-time distance to sym from the end of
// the 6-byte instruction; ADDR32 adds the run-time PC (from a CALL) to
// get sym's address. The image runs where it is linked, so this is only
// about decoding, not relocation.
#define ADDR32(sym, r) \
	CALL	·getpc32(SB); \
	LEAL	sym, r; \
	ADDL	AX, r; \
	ADDL	$6, r

// Intel SDM Vol. 3A 2.5, 4.5: CR0, CR4, EFER and 4-level paging bits.
#define MSR_EFER 0xc0000080
#define EFER_LME (1<<8)
#define CR0_PE 1
#define CR0_MP 2
#define CR0_EM 4
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define CR4_OSFXSR 0x200
#define CR4_OSXMMEXCPT 0x400
#define PTE_TABLE 0x03 // P | RW
#define PTE_1G 0x83 // P | RW | PS
#define PTE_1G_UC 0x9b // P | RW | PWT | PCD | PS

// Early stack: low guest RAM, below the image (linked at 0x201000).
#define BOOT_STACK 0x8000

TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	CLI
	CLD
	MOVL	$BOOT_STACK, SP
	MOVL	BX, BP
	ADDR32(·startInfo(SB), DX)
	MOVL	BP, (DX)
	MOVL	$0, 4(DX)
	// The hypervisor puts the start info after the image, where the Go
	// heap will be: copy it (and the memory map and command line that
	// follow it) first.
	ADDR32(·startInfoCopy(SB), DI)
	MOVL	BP, SI
	MOVL	$const_startInfoMax, CX
	REP;	MOVSB

	// ·pgmem rounded up to 4 KiB: PML4 at +0, PDPT at +0x1000, GDT and
	// GDTR at +0x2000.
	ADDR32(·pgmem(SB), BP)
	ADDL	$0xfff, BP
	ANDL	$~0xfff, BP
	LEAL	(0x1000+PTE_TABLE)(BP), AX
	MOVL	AX, (BP)
	MOVL	$PTE_1G, 0x1000(BP)
	MOVL	$(0x40000000|PTE_1G), 0x1008(BP)
	MOVL	$(0x80000000|PTE_1G), 0x1010(BP)
	MOVL	$(0xc0000000|PTE_1G_UC), 0x1018(BP)
	// GDT (SDM Vol. 3A 3.4.5): null, 64-bit code 0x08, data 0x10.
	MOVL	$0x00209a00, 0x200c(BP)
	MOVL	$0x00009200, 0x2014(BP)
	MOVL	$(3*8-1), 0x2020(BP)
	LEAL	0x2000(BP), AX
	MOVL	AX, 0x2022(BP)
	LGDT	0x2020(BP)

	MOVL	CR4, AX
	ORL	$CR4_PAE, AX
	MOVL	AX, CR4
	MOVL	BP, AX
	MOVL	AX, CR3
	MOVL	$MSR_EFER, CX
	RDMSR
	ORL	$EFER_LME, AX
	WRMSR
	MOVL	CR0, AX
	ORL	$(CR0_PG|CR0_PE), AX
	MOVL	AX, CR0

	ADDR32(·start64(SB), CX)
	PUSHQ	$0x08			// (6a 08: PUSH imm8)
	PUSHQ	CX			// (51: PUSH ECX)
	BYTE	$0xcb			// RETF

// getpc32 returns its return address in AX (8b 04 24, c3 in either mode).
TEXT ·getpc32(SB),NOSPLIT|NOFRAME,$0
	MOVL	(SP), AX
	RET

TEXT ·start64(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	// SSE for the Go runtime (SDM Vol. 3A 13.1.3).
	MOVQ	CR0, AX
	ANDQ	$~CR0_EM, AX
	ORQ	$CR0_MP, AX
	MOVQ	AX, CR0
	MOVQ	CR4, AX
	ORQ	$(CR4_OSFXSR|CR4_OSXMMEXCPT), AX
	MOVQ	AX, CR4
	JMP	_rt0_tamago_start(SB)

// Three pages plus alignment slack for the tables and GDT.
GLOBL ·pgmem(SB), NOPTR, $(4*4096)
