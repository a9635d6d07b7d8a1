// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && linkcpuinit

#include "go_asm.h"
#include "textflag.h"

// Entry points and self-relocation (see reloc.go for the memory layout).
//
//   cpuinit         32-bit protected mode, paging off: the ELF entry, used
//                   by the PVH note (QEMU -kernel) and by Multiboot2
//                   loaders (GRUB on BIOS, and on UEFI when it exits boot
//                   services itself). EAX = magic, EBX = MBI/start_info.
//   ·efi64_mb2      64-bit, UEFI boot services running: the Multiboot2
//                   EFI amd64 entry (header tag 9), taken when GRUB
//                   honours the EFI boot services tag (7). RAX = magic,
//                   RBX = MBI.
//   ·efi_pe_entry   64-bit, the PE32+ entry point for a direct UEFI start
//                   (make efi). RCX = image handle, RDX = system table.
//
// None of this code uses an absolute address before the final page
// tables are live: run-time addresses come from CALL/POP (32-bit) or
// RIP-relative LEA (64-bit), link addresses from the ·link* words.
//
// In 32-bit mode the Go assembler's "LEAL sym(SB), R" (8d /r, RIP-relative
// in 64-bit mode) decodes as "LEA R, [disp32]": R gets the link-time
// distance from the end of that 6-byte instruction to sym. ADDR32 turns
// that into a run-time address; it clobbers AX and needs a stack.
#define ADDR32(sym, r) \
	CALL	·getpc32(SB); \
	LEAL	sym, r; \
	ADDL	AX, r; \
	ADDL	$6, r

// Intel SDM Vol. 3A 2.5, 4.1.1, 10.8.5: control registers and EFER.
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

// 16550 COM1 for early errors: THR and LSR (bit 5: THR empty).
#define COM1_THR 0x3f8
#define COM1_LSR 0x3fd

// GDT selectors (exception.go CODE_SELECTOR) and descriptor high words
// (SDM Vol. 3A 3.4.5): 64-bit code (L=1, P, S, type x/r), data (P, S,
// r/w).
#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define GDT_CODE64_HI 0x00209a00
#define GDT_DATA_HI 0x00009200

#define EARLY_PDE (const_PTE_PS|const_PTE_RW|const_PTE_P)
#define EARLY_TBL (const_PTE_RW|const_PTE_P)
#define PG(n) ((n)*4096)

// UEFI 2.10 4.3 EFI_SYSTEM_TABLE, 4.4 EFI_BOOT_SERVICES offsets (x64).
#define EFI_ST_BOOTSERVICES 0x60
#define EFI_BS_ALLOCATEPAGES 0x28
#define EFI_BS_GETMEMORYMAP 0x38
#define EFI_BS_EXITBOOTSERVICES 0xe8
#define EFI_ALLOCATE_MAX_ADDRESS 1
#define EFI_ALLOCATE_ADDRESS 2
#define EFI_LOADER_DATA 2
#define EBS_MAX_TRIES 8

// Multiboot2 spec 2.0 3.6: information tags cpuinit needs on UEFI.
#define MB2_TAG_END 0
#define MB2_TAG_EFI64 12
#define MB2_TAG_EFI64_IH 20

// Link addresses, for the code that runs before paging.
// ·linkAddrs also keeps the UEFI entries, which only the image headers
// name, from the linker's dead-code elimination.
DATA ·linkAddrs+0(SB)/8, $·start64(SB)
DATA ·linkAddrs+8(SB)/8, $·efi64_mb2(SB)
DATA ·linkAddrs+16(SB)/8, $·efi_pe_entry(SB)
GLOBL ·linkAddrs(SB), RODATA, $24

TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	CLI
	CLD
	MOVL	AX, SI			// loader magic
	MOVL	BX, DI			// MBI / start_info

	// ESP is undefined at a Multiboot2 or PVH entry. For the first CALL
	// use the information structure's first 8 bytes (MBI total_size and
	// reserved; start_info magic and version) as stack: the word the
	// CALL writes is saved and put back.
	MOVL	4(BX), DX
	LEAL	8(BX), SP
	ADDR32(·earlyMem(SB), CX)
	MOVL	DX, 4(BX)

	// Early pages: earlyMem rounded up to 4 KiB; the boot stack is in
	// there.
	ADDL	$0xfff, CX
	ANDL	$~0xfff, CX
	MOVL	CX, BP
	LEAL	PG(const_EARLY_PAGES)(BP), SP

	// Load offset = run-time address - link address (mod 2^32).
	ADDR32(·linkAddrs(SB), DX)
	MOVL	(DX), DX
	ADDR32(·start64(SB), CX)
	SUBL	DX, CX

	// Record the entry registers and the offset for Go (bootParams).
	ADDR32(·boot(SB), DX)
	MOVL	SI, bootParams_magic(DX)
	MOVL	DI, bootParams_info(DX)
	MOVL	CX, bootParams_offset(DX)
	MOVL	$0, bootParams_flags(DX)
	MOVL	CX, SI			// SI = offset from here on

	// SeaBIOS leaves the PIT routed to vector 8 through the 8259s:
	// mask every legacy IRQ before anything can enable interrupts.
	MOVL	$0xff, AX
	MOVL	$PIC1_DATA, DX
	OUTB
	MOVL	$PIC2_DATA, DX
	OUTB

	// The window: runtime.ramStart/ramSize (low 32 bits; Validate
	// rejects anything above 4 GiB).
	ADDR32(runtime·ramStart(SB), DX)
	MOVL	(DX), BX
	ADDR32(runtime·ramSize(SB), DX)
	MOVL	(DX), CX
	CALL	·early_tables(SB)
	TESTL	AX, AX
	JNZ	die32

	// Long mode: CR4.PAE, EFER.LME, CR3, then CR0.PG (SDM Vol. 3A
	// 10.8.5), on the identity map; the GDT base is still physical.
	LGDT	(PG(const_EARLY_GDT)+const_EARLY_GDTR)(BP)
	MOVL	CR4, AX
	ORL	$CR4_PAE, AX
	MOVL	AX, CR4
	MOVL	$MSR_EFER, CX
	RDMSR
	ORL	$EFER_LME, AX
	WRMSR
	LEAL	PG(const_EARLY_PML4_BOOT)(BP), AX
	MOVL	AX, CR3
	MOVL	CR0, AX
	ORL	$(CR0_PG|CR0_PE), AX
	MOVL	AX, CR0

	// Far return into the 64-bit code segment at ·boot64's run-time
	// address.
	ADDR32(·boot64(SB), CX)
	PUSHQ	$SEL_CODE		// (6a 08: PUSH imm8)
	PUSHQ	CX			// (51: PUSH ECX)
	BYTE	$0xcb			// RETF (far return, 32-bit operand size)

die32:
	CALL	·early_die(SB)

// getpc32 returns its return address in AX. 32-bit code: MOVL (SP), AX
// assembles to 8b 04 24 (MOV EAX, [ESP]) and RET to c3 in either mode.
TEXT ·getpc32(SB),NOSPLIT|NOFRAME,$0
	MOVL	(SP), AX
	RET

// early_tables builds the early paging structures and GDT (reloc.go).
// Mode-neutral: only instructions that decode alike in 32- and 64-bit
// mode (no REX prefix, no RIP-relative operand), so both the 32-bit entry
// and the UEFI entries call it. All addresses are below 4 GiB.
//
//   BP = run-time (physical) address of the 4 KiB-aligned early pages
//   BX = link base L, CX = window size W, SI = load offset O
//   returns AX = 0, or an EARLY_ERR_* code; clobbers CX, DX, SI, DI
TEXT ·early_tables(SB),NOSPLIT|NOFRAME,$0
	// Checks, in the order of Relocation.earlyCode.
	MOVL	BX, AX
	ORL	CX, AX
	ORL	SI, AX
	ANDL	$(const_LARGE_PAGE-1), AX
	JNZ	err_align
	CMPL	BX, $const_LARGE_PAGE
	JCS	err_low
	TESTL	CX, CX
	JZ	err_window
	MOVL	BX, DX
	ADDL	CX, DX			// window end
	JCS	err_window
	CMPL	DX, $const_MMIO_BASE
	JHI	err_window
	DECL	DX
	SHRL	$30, DX
	MOVL	BX, AX
	SHRL	$30, AX
	CMPL	AX, DX
	JNE	err_window
	MOVL	BX, DX
	ADDL	SI, DX			// load base
	ADDL	CX, DX			// load end
	JCS	err_load

	// Clear every page below the stack.
	MOVL	CX, DX
	MOVL	BP, DI
	XORL	AX, AX
	MOVL	$(PG(const_EARLY_STACK)/4), CX
	REP;	STOSL
	MOVL	DX, CX
	MOVL	SI, (PG(const_EARLY_GDT)+const_EARLY_SCRATCH)(BP)
	MOVL	CX, (PG(const_EARLY_GDT)+const_EARLY_SCRATCH+4)(BP)

	// PML4s: entry 0 the identity (boot) or windowed (final) GiBs,
	// entry 1 the physmap alias (PhysMapBase = 512 GiB).
	LEAL	(PG(const_EARLY_PDPT_PURE)+EARLY_TBL)(BP), AX
	MOVL	AX, (PG(const_EARLY_PML4_BOOT)+0)(BP)
	MOVL	AX, (PG(const_EARLY_PML4_BOOT)+8)(BP)
	MOVL	AX, (PG(const_EARLY_PML4)+8)(BP)
	LEAL	(PG(const_EARLY_PDPT_WIN)+EARLY_TBL)(BP), AX
	MOVL	AX, (PG(const_EARLY_PML4)+0)(BP)

	// PDPTs: GiB i -> PD_PURE+i, in both.
	LEAL	(PG(const_EARLY_PD_PURE)+EARLY_TBL)(BP), AX
	XORL	DX, DX
pdpt_loop:
	MOVL	AX, PG(const_EARLY_PDPT_PURE)(BP)(DX*8)
	MOVL	AX, PG(const_EARLY_PDPT_WIN)(BP)(DX*8)
	ADDL	$4096, AX
	INCL	DX
	CMPL	DX, $4
	JCS	pdpt_loop

	// PD_PURE: identity 2 MiB pages for 0-4 GiB, MMIO_BASE and up
	// uncached.
	LEAL	PG(const_EARLY_PD_PURE)(BP), DI
	XORL	AX, AX
pd_loop:
	MOVL	AX, DX
	ORL	$EARLY_PDE, DX
	CMPL	AX, $const_MMIO_BASE
	JCS	pd_store
	ORL	$(const_PTE_PCD|const_PTE_PWT), DX
pd_store:
	MOVL	DX, (DI)
	ADDL	$8, DI
	ADDL	$const_LARGE_PAGE, AX
	JNZ	pd_loop			// wraps to 0 after 4 GiB

	// PT0: 4 KiB pages for the first 2 MiB with page 0 absent, so
	// null-pointer accesses fault.
	LEAL	(PG(const_EARLY_PT0)+EARLY_TBL)(BP), AX
	MOVL	AX, PG(const_EARLY_PD_PURE)(BP)
	LEAL	(PG(const_EARLY_PT0)+8)(BP), DI
	MOVL	$(0x1000|EARLY_TBL), AX
pt_loop:
	MOVL	AX, (DI)
	ADDL	$8, DI
	ADDL	$0x1000, AX
	CMPL	AX, $const_LARGE_PAGE
	JCS	pt_loop

	// PD_WIN: a copy of the window's GiB, hooked into PDPT_WIN.
	MOVL	BX, DX
	SHRL	$30, DX			// k = L / 1 GiB
	MOVL	DX, AX
	SHLL	$12, AX
	LEAL	PG(const_EARLY_PD_PURE)(BP)(AX*1), SI
	LEAL	PG(const_EARLY_PD_WIN)(BP), DI
	MOVL	$1024, CX
	REP;	MOVSL
	LEAL	(PG(const_EARLY_PD_WIN)+EARLY_TBL)(BP), AX
	MOVL	AX, PG(const_EARLY_PDPT_WIN)(BP)(DX*8)

	// Window entries: va in [L, L+W) -> va + O, cached.
	MOVL	(PG(const_EARLY_GDT)+const_EARLY_SCRATCH)(BP), SI
	MOVL	(PG(const_EARLY_GDT)+const_EARLY_SCRATCH+4)(BP), CX
	ADDL	BX, CX			// window end
	MOVL	BX, AX
win_loop:
	MOVL	AX, DX
	SHRL	$21, DX
	ANDL	$511, DX
	MOVL	AX, DI
	ADDL	SI, DI
	ORL	$EARLY_PDE, DI
	MOVL	DI, PG(const_EARLY_PD_WIN)(BP)(DX*8)
	ADDL	$const_LARGE_PAGE, AX
	CMPL	AX, CX
	JCS	win_loop

	// GDT and its GDTR image (base: the physical address for now).
	MOVL	$GDT_CODE64_HI, (PG(const_EARLY_GDT)+12)(BP)
	MOVL	$GDT_DATA_HI, (PG(const_EARLY_GDT)+20)(BP)
	MOVW	$(3*8-1), (PG(const_EARLY_GDT)+const_EARLY_GDTR)(BP)
	LEAL	PG(const_EARLY_GDT)(BP), AX
	MOVL	AX, (PG(const_EARLY_GDT)+const_EARLY_GDTR+2)(BP)
	XORL	AX, AX
	RET

err_align:
	MOVL	$const_EARLY_ERR_ALIGN, AX
	RET
err_low:
	MOVL	$const_EARLY_ERR_LOW, AX
	RET
err_window:
	MOVL	$const_EARLY_ERR_WINDOW, AX
	RET
err_load:
	MOVL	$const_EARLY_ERR_LOAD, AX
	RET

// early_die prints "tamavisor: early boot error N" (N = AL, 1-9) on COM1
// and halts. Mode-neutral; needs a stack.
#define PUTC(c) MOVL $c, CX; CALL ·early_putc(SB)
TEXT ·early_die(SB),NOSPLIT|NOFRAME,$0
	MOVL	AX, BX
	PUTC('\r'); PUTC('\n')
	PUTC('t'); PUTC('a'); PUTC('m'); PUTC('a'); PUTC('v'); PUTC('i'); PUTC('s'); PUTC('o'); PUTC('r')
	PUTC(':'); PUTC(' '); PUTC('e'); PUTC('a'); PUTC('r'); PUTC('l'); PUTC('y'); PUTC(' ')
	PUTC('b'); PUTC('o'); PUTC('o'); PUTC('t'); PUTC(' ')
	PUTC('e'); PUTC('r'); PUTC('r'); PUTC('o'); PUTC('r'); PUTC(' ')
	MOVL	BX, CX
	ANDL	$0xf, CX
	ADDL	$'0', CX
	CALL	·early_putc(SB)
	PUTC('\r'); PUTC('\n')
die_loop:
	CLI
	HLT
	JMP	die_loop

// early_putc writes CL to COM1 once the transmitter is empty.
// Mode-neutral; clobbers AX, DX.
TEXT ·early_putc(SB),NOSPLIT|NOFRAME,$0
	MOVL	$COM1_LSR, DX
putc_wait:
	INB
	TESTB	$0x20, AL
	JZ	putc_wait
	MOVL	CX, AX
	MOVL	$COM1_THR, DX
	OUTB
	RET

// boot64: 64-bit code on the boot (identity) map, at the run-time
// address. BP = early pages. Moves to the physmap alias of itself, which
// both PML4s share, switches to the final map there, and jumps to
// ·start64 at its link address.
TEXT ·boot64(SB),NOSPLIT|NOFRAME,$0
	MOVL	BP, BP			// zero-extend: upper halves are undefined
	MOVL	$SEL_DATA, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	XORL	AX, AX
	MOVW	AX, FS
	MOVW	AX, GS
	LEAQ	·boot64_alias(SB), AX
	MOVQ	$const_PhysMapBase, CX
	ADDQ	CX, AX
	JMP	AX

TEXT ·boot64_alias(SB),NOSPLIT|NOFRAME,$0
	LEAQ	PG(const_EARLY_PML4)(BP), AX
	MOVQ	AX, CR3
	MOVQ	·linkAddrs(SB), AX
	JMP	AX

// start64 runs at its link address on the final map.
TEXT ·start64(SB),NOSPLIT|NOFRAME,$0
	// The GDTR still holds the GDT's physical address, which the window
	// may shadow: reload it with the virtual one.
	LEAQ	·earlyMem(SB), AX
	ADDQ	$0xfff, AX
	ANDQ	$~0xfff, AX
	LEAQ	PG(const_EARLY_GDT)(AX), CX
	MOVQ	CX, (PG(const_EARLY_GDT)+const_EARLY_GDTR+2)(AX)
	LGDT	(PG(const_EARLY_GDT)+const_EARLY_GDTR)(AX)
	MOVL	$SEL_DATA, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS

	// SSE for the Go runtime (SDM Vol. 3A 13.1.3): CR0.EM=0, CR0.MP=1;
	// CR4 set to PAE|OSFXSR|OSXMMEXCPT whatever the firmware left (UEFI
	// may have enabled OSXSAVE, PGE, SMEP...): XSAVE/AVX stay off, so Go
	// does not use AVX, on every boot path alike.
	MOVQ	CR0, AX
	ANDQ	$~CR0_EM, AX
	ORQ	$CR0_MP, AX
	MOVQ	AX, CR0
	MOVQ	$(CR4_PAE|CR4_OSFXSR|CR4_OSXMMEXCPT), AX
	MOVQ	AX, CR4

	JMP	_rt0_tamago_start(SB)

// efi64_mb2 is the Multiboot2 EFI amd64 entry (spec 2.0 3.1.11, 3.3):
// 64-bit mode, UEFI boot services running, RAX = magic, RBX = MBI.
// The system table and image handle come from MBI tags 12 and 20.
TEXT ·efi64_mb2(SB),NOSPLIT|NOFRAME,$0
	MOVL	AX, R12
	MOVQ	BX, R13
	XORL	R14, R14
	XORL	R15, R15
	MOVL	(R13), DX		// total_size
	LEAQ	(R13)(DX*1), DX		// end
	LEAQ	8(R13), SI
tag_loop:
	LEAQ	8(SI), AX
	CMPQ	AX, DX
	JHI	tags_done
	MOVL	(SI), AX		// type
	MOVL	4(SI), CX		// size
	CMPL	AX, $MB2_TAG_END
	JEQ	tags_done
	CMPL	CX, $8
	JCS	tags_done
	CMPL	AX, $MB2_TAG_EFI64
	JNE	tag_ih
	CMPL	CX, $16
	JCS	tag_next
	MOVQ	8(SI), R14
tag_ih:
	CMPL	AX, $MB2_TAG_EFI64_IH
	JNE	tag_next
	CMPL	CX, $16
	JCS	tag_next
	MOVQ	8(SI), R15
tag_next:
	ADDQ	$7, CX
	ANDQ	$~7, CX
	ADDQ	CX, SI
	JMP	tag_loop
tags_done:
	JMP	·efi_common(SB)

// efi_pe_entry is the PE32+ entry point (UEFI 2.10 4.1,
// EFI_IMAGE_ENTRY_POINT, Microsoft x64 calling convention): RCX = image
// handle, RDX = system table, at wherever the firmware loaded the PE
// image. It allocates the runtime's RAM window with AllocatePages (at the
// link address if free, else 2 MiB-aligned anywhere below 3 GiB), copies
// the image there and continues in the copy: the PE image itself is
// neither 2 MiB aligned nor big enough for the heap.
TEXT ·efi_pe_entry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CX, R15
	MOVQ	DX, R14
	MOVL	$const_UEFI_MAGIC, R12
	XORL	R13, R13
	ANDQ	$~15, SP
	SUBQ	$64, SP

	// Try the link address: AllocatePages(AllocateAddress, LoaderData,
	// W/4K, &addr=L).
	MOVQ	runtime·ramStart(SB), AX
	MOVQ	AX, 48(SP)
	MOVQ	runtime·ramSize(SB), R8
	SHRQ	$12, R8
	MOVL	$EFI_ALLOCATE_ADDRESS, CX
	MOVL	$EFI_LOADER_DATA, DX
	LEAQ	48(SP), R9
	MOVQ	EFI_ST_BOOTSERVICES(R14), AX
	CALL	EFI_BS_ALLOCATEPAGES(AX)
	TESTQ	AX, AX
	JNZ	pe_anywhere
	MOVQ	48(SP), BX		// P = L
	MOVL	$const_BOOT_PE_AT_LINK, DI
	JMP	pe_copy

pe_anywhere:
	// AllocatePages(AllocateMaxAddress, LoaderData, W/4K + 512, &addr)
	// with the address below MMIO_BASE, then align up to 2 MiB.
	MOVQ	$(const_MMIO_BASE-1), AX
	MOVQ	AX, 48(SP)
	MOVQ	runtime·ramSize(SB), R8
	SHRQ	$12, R8
	ADDQ	$(const_LARGE_PAGE/4096), R8
	MOVL	$EFI_ALLOCATE_MAX_ADDRESS, CX
	MOVL	$EFI_LOADER_DATA, DX
	LEAQ	48(SP), R9
	MOVQ	EFI_ST_BOOTSERVICES(R14), AX
	CALL	EFI_BS_ALLOCATEPAGES(AX)
	TESTQ	AX, AX
	JNZ	pe_fail
	MOVQ	48(SP), BX
	ADDQ	$(const_LARGE_PAGE-1), BX
	ANDQ	$~(const_LARGE_PAGE-1), BX
	XORL	DI, DI

pe_copy:
	// B = the PE image's address of L: run-time minus link of start64,
	// plus L. Copy [B, B + (end - L)) to P.
	MOVQ	BX, R8			// P
	MOVQ	DI, R9			// flags
	LEAQ	·start64(SB), AX
	SUBQ	·linkAddrs(SB), AX	// PE load offset
	MOVQ	runtime·ramStart(SB), SI
	ADDQ	AX, SI			// B
	LEAQ	runtime·end(SB), CX
	SUBQ	SI, CX			// image bytes, bss included
	MOVQ	BX, DI
	CLD
	REP;	MOVSB
	// Continue in the copy: efi_common + (P - B).
	LEAQ	·efi_common(SB), AX
	SUBQ	runtime·ramStart(SB), R8
	LEAQ	·start64(SB), CX
	SUBQ	·linkAddrs(SB), CX
	SUBQ	CX, R8			// P - B
	ADDQ	R8, AX
	MOVQ	R9, R8			// flags for efi_common
	ORQ	$const_BOOT_PE_ENTRY, R8
	JMP	AX

pe_fail:
	// No 2 MiB-aligned room for the window below MMIO_BASE.
	MOVL	$const_EARLY_ERR_NOMEM, AX
	CALL	·early_die(SB)

// efi_common: 64-bit, boot services running, firmware identity paging.
// R12 = magic, R13 = info, R14 = system table, R15 = image handle, R8 =
// initial flags (PE path only; 0 otherwise is set by the callers below).
// Records the boot parameters, calls ExitBootServices, then builds the
// early tables and joins the 32-bit path's boot64.
TEXT ·efi_common(SB),NOSPLIT|NOFRAME,$0
	ANDQ	$~15, SP
	SUBQ	$64, SP
	LEAQ	·boot(SB), BX
	MOVL	R12, bootParams_magic(BX)
	MOVL	R13, bootParams_info(BX)
	LEAQ	·start64(SB), AX
	SUBQ	·linkAddrs(SB), AX
	MOVL	AX, bootParams_offset(BX)
	MOVQ	R14, bootParams_systab(BX)
	MOVQ	R15, bootParams_handle(BX)
	CMPL	R12, $const_UEFI_MAGIC
	JEQ	efi_flags
	XORL	R8, R8
efi_flags:
	ORQ	$const_BOOT_EFI_ENTRY, R8
	MOVL	R8, bootParams_flags(BX)
	TESTQ	R14, R14
	JZ	ebs_notable
	TESTQ	R15, R15
	JZ	ebs_notable
	MOVQ	$0, bootParams_ebsTries(BX)

ebs_retry:
	// GetMemoryMap(&mapSize, efiMap, &mapKey, &descSize, &descVer)
	LEAQ	·boot(SB), BX
	INCQ	bootParams_ebsTries(BX)
	MOVQ	$const_EFI_MAP_MAX, AX
	MOVQ	AX, bootParams_mapSize(BX)
	LEAQ	bootParams_mapSize(BX), CX
	LEAQ	·efiMap(SB), DX
	LEAQ	bootParams_mapKey(BX), R8
	LEAQ	bootParams_descSize(BX), R9
	LEAQ	bootParams_descVer(BX), AX
	MOVQ	AX, 32(SP)
	MOVQ	EFI_ST_BOOTSERVICES(R14), AX
	CALL	EFI_BS_GETMEMORYMAP(AX)
	LEAQ	·boot(SB), BX
	MOVQ	AX, bootParams_ebsStatus(BX)
	TESTQ	AX, AX
	JNZ	ebs_again
	// ExitBootServices(ImageHandle, MapKey)
	MOVQ	R15, CX
	MOVQ	bootParams_mapKey(BX), DX
	MOVQ	EFI_ST_BOOTSERVICES(R14), AX
	CALL	EFI_BS_EXITBOOTSERVICES(AX)
	LEAQ	·boot(SB), BX
	MOVQ	AX, bootParams_ebsStatus(BX)
	TESTQ	AX, AX
	JZ	ebs_done
ebs_again:
	// The map changed between the two calls (EFI_INVALID_PARAMETER) or
	// the buffer is short: try again a few times, then go on with boot
	// services in an unknown state (Go reports the status).
	CMPQ	bootParams_ebsTries(BX), $EBS_MAX_TRIES
	JCS	ebs_retry
	JMP	efi_tables
ebs_done:
	ORL	$const_BOOT_EBS_DONE, bootParams_flags(BX)
	JMP	efi_tables
ebs_notable:
	ORL	$const_BOOT_EBS_NOTABLE, bootParams_flags(BX)

efi_tables:
	// From here on nothing of the firmware's is used.
	CLI
	CLD
	MOVL	$0xff, AX
	MOVL	$PIC1_DATA, DX
	OUTB
	MOVL	$PIC2_DATA, DX
	OUTB
	LEAQ	·earlyMem(SB), BP
	ADDQ	$0xfff, BP
	ANDQ	$~0xfff, BP
	LEAQ	PG(const_EARLY_PAGES)(BP), SP
	LEAQ	·start64(SB), SI
	SUBQ	·linkAddrs(SB), SI
	MOVL	runtime·ramStart(SB), BX
	MOVL	runtime·ramSize(SB), CX
	CALL	·early_tables(SB)
	TESTL	AX, AX
	JNZ	efi_die
	// Our identity map, our GDT, then a far return to reload CS.
	LEAQ	PG(const_EARLY_PML4_BOOT)(BP), AX
	MOVQ	AX, CR3
	LGDT	(PG(const_EARLY_GDT)+const_EARLY_GDTR)(BP)
	LEAQ	·boot64(SB), AX
	PUSHQ	$SEL_CODE
	PUSHQ	AX
	BYTE	$0x48; BYTE $0xcb	// RETFQ (REX.W far return)
efi_die:
	CALL	·early_die(SB)
