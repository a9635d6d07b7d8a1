// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

#include "go_asm.h"
#include "textflag.h"

// VMX instructions (Intel SDM Vol. 3C, chapter "VMX Instruction
// Reference"; opcodes from its tables). The Go assembler has none of
// them. In 64-bit mode VMREAD, VMWRITE, INVEPT and INVVPID take 64-bit
// register operands without REX.W.
//
//	VMXON m64         F3 0F C7 /6    ModRM 30: [RAX]
//	VMCLEAR m64       66 0F C7 /6    ModRM 30: [RAX]
//	VMPTRLD m64          0F C7 /6    ModRM 30: [RAX]
//	VMREAD r/m64, r64    0F 78 /r    ModRM D0: RAX <- field RDX
//	VMWRITE r64, r/m64   0F 79 /r    ModRM D0: field RDX <- RAX
//	VMLAUNCH             0F 01 C2
//	VMRESUME             0F 01 C3
//	INVEPT r64, m128  66 0F 38 80 /r ModRM 01: type RAX, descriptor [RCX]
//	INVVPID r64, m128 66 0F 38 81 /r ModRM 01: type RAX, descriptor [RCX]
#define VMXON_AX BYTE $0xf3; BYTE $0x0f; BYTE $0xc7; BYTE $0x30
#define VMCLEAR_AX BYTE $0x66; BYTE $0x0f; BYTE $0xc7; BYTE $0x30
#define VMPTRLD_AX BYTE $0x0f; BYTE $0xc7; BYTE $0x30
#define VMREAD_DX_AX BYTE $0x0f; BYTE $0x78; BYTE $0xd0
#define VMWRITE_DX_AX BYTE $0x0f; BYTE $0x79; BYTE $0xd0
#define VMLAUNCH BYTE $0x0f; BYTE $0x01; BYTE $0xc2
#define VMRESUME BYTE $0x0f; BYTE $0x01; BYTE $0xc3
#define INVEPT_AX_CX BYTE $0x66; BYTE $0x0f; BYTE $0x38; BYTE $0x80; BYTE $0x01
#define INVVPID_AX_CX BYTE $0x66; BYTE $0x0f; BYTE $0x38; BYTE $0x81; BYTE $0x01

// VMX_STATUS stores the outcome of the VMX instruction just executed
// ("Conventions" in the same chapter): 0 VMsucceed, 1 VMfailInvalid
// (CF), 2 VMfailValid (ZF), as the Status type. Clobbers BX and CX.
#define VMX_STATUS(dst) \
	SETCS	BX; \
	SETEQ	CX; \
	MOVBQZX	BX, BX; \
	MOVBQZX	CX, CX; \
	SHLQ	$1, CX; \
	ORQ	CX, BX; \
	MOVQ	BX, dst

// MAKE_CURRENT makes the VMCS whose physical address is the argument at
// arg(FP) the current one unless it already is (VMPTRLD), and records it
// in ·currentVMCS; on failure it jumps to fail with the flags of VMPTRLD.
#define MAKE_CURRENT(arg, fail) \
	MOVQ	arg, AX; \
	CMPQ	AX, ·currentVMCS(SB); \
	JEQ	3(PC); \
	CALL	·vmx_make_current(SB); \
	JNE	fail

// vmx_make_current: AX = physical address of a VMCS. VMPTRLD it and
// record it in ·currentVMCS. Returns ZF = 1 on success (CMP of the
// recorded value), ZF = 0 with CF/ZF of VMPTRLD in BX (the Status
// encoding) on failure. Clobbers BX, CX.
TEXT ·vmx_make_current(SB),NOSPLIT|NOFRAME,$0-0
	PUSHQ	AX
	MOVQ	SP, AX			// [RAX] = the address pushed
	VMPTRLD_AX
	VMX_STATUS(BX)
	POPQ	AX
	TESTQ	BX, BX
	JNE	failed
	MOVQ	AX, ·currentVMCS(SB)
	CMPQ	AX, AX			// ZF = 1
	RET
failed:
	CMPQ	BX, $0			// ZF = 0
	RET

// func vmx_vmxon(region uint64) uint64
TEXT ·vmx_vmxon(SB),NOSPLIT,$0-16
	LEAQ	region+0(FP), AX
	VMXON_AX
	VMX_STATUS(ret+8(FP))
	RET

// func vmx_vmclear(vmcs uint64) uint64
//
// VMCLEAR writes the VMCS data back to its region, marks it clear (the
// next entry must be VMLAUNCH) and, if it was current, leaves no current
// VMCS.
TEXT ·vmx_vmclear(SB),NOSPLIT,$0-16
	LEAQ	vmcs+0(FP), AX
	VMCLEAR_AX
	VMX_STATUS(ret+8(FP))
	MOVQ	vmcs+0(FP), AX
	CMPQ	AX, ·currentVMCS(SB)
	JNE	done
	MOVQ	$0, ·currentVMCS(SB)
done:
	RET

// func vmx_vmread(vmcs, field uint64) (val, status uint64)
TEXT ·vmx_vmread(SB),NOSPLIT,$0-32
	MOVQ	$0, val+16(FP)
	MAKE_CURRENT(vmcs+0(FP), fail)
	MOVQ	field+8(FP), DX
	VMREAD_DX_AX
	VMX_STATUS(status+24(FP))
	MOVQ	AX, val+16(FP)
	RET
fail:
	MOVQ	BX, status+24(FP)
	RET

// func vmx_vmwrite(vmcs, field, val uint64) uint64
TEXT ·vmx_vmwrite(SB),NOSPLIT,$0-32
	MAKE_CURRENT(vmcs+0(FP), fail)
	MOVQ	field+8(FP), DX
	MOVQ	val+16(FP), AX
	VMWRITE_DX_AX
	VMX_STATUS(ret+24(FP))
	RET
fail:
	MOVQ	BX, ret+24(FP)
	RET

// func vmx_invept(typ, eptp uint64) uint64
//
// The INVEPT descriptor (chapter "VMX Instruction Reference", INVEPT):
// the EPTP in bits 63:0, bits 127:64 reserved (0).
TEXT ·vmx_invept(SB),NOSPLIT,$16-24
	MOVQ	eptp+8(FP), AX
	MOVQ	AX, 0(SP)
	MOVQ	$0, 8(SP)
	MOVQ	typ+0(FP), AX
	LEAQ	0(SP), CX
	INVEPT_AX_CX
	VMX_STATUS(ret+16(FP))
	RET

// func vmx_invvpid(typ, vpid uint64) uint64
//
// The INVVPID descriptor: the VPID in bits 15:0, bits 63:16 reserved
// (0), the linear address (unused by the context types) in 127:64.
TEXT ·vmx_invvpid(SB),NOSPLIT,$16-24
	MOVQ	vpid+8(FP), AX
	ANDQ	$0xffff, AX
	MOVQ	AX, 0(SP)
	MOVQ	$0, 8(SP)
	MOVQ	typ+0(FP), AX
	LEAQ	0(SP), CX
	INVVPID_AX_CX
	VMX_STATUS(ret+16(FP))
	RET

// Host state for the VMCS host-state area (25.5) and VMX operation
// (24.8 "Restrictions on VMX Operation": CR0 and CR4 fixed bits,
// CR4.VMXE).

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

// func read_cr4() uint64
TEXT ·read_cr4(SB),NOSPLIT,$0-8
	MOVQ	CR4, AX
	MOVQ	AX, ret+0(FP)
	RET

// func write_cr0(v uint64)
TEXT ·write_cr0(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR0
	RET

// func write_cr4(v uint64)
TEXT ·write_cr4(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR4
	RET

// func host_selectors() (cs, ss, ds, es, fs, gs, tr uint16)
//
// MOV from a segment register and STR (Vol. 2, "MOV", "STR").
TEXT ·host_selectors(SB),NOSPLIT,$0-14
	MOVW	CS, AX
	MOVW	AX, cs+0(FP)
	MOVW	SS, AX
	MOVW	AX, ss+2(FP)
	MOVW	DS, AX
	MOVW	AX, ds+4(FP)
	MOVW	ES, AX
	MOVW	AX, es+6(FP)
	MOVW	FS, AX
	MOVW	AX, fs+8(FP)
	MOVW	GS, AX
	MOVW	AX, gs+10(FP)
	STRW	AX
	MOVW	AX, tr+12(FP)
	RET

// func host_gdtr() (base uint64, limit uint16)
//
// SGDT stores the 16-bit limit, then the 64-bit base (Vol. 2, "SGDT").
TEXT ·host_gdtr(SB),NOSPLIT,$16-10
	SGDT	0(SP)
	MOVW	0(SP), AX
	MOVW	AX, limit+8(FP)
	MOVQ	2(SP), AX
	MOVQ	AX, base+0(FP)
	RET

// func host_idtr() (base uint64, limit uint16)
TEXT ·host_idtr(SB),NOSPLIT,$16-10
	SIDT	0(SP)
	MOVW	0(SP), AX
	MOVW	AX, limit+8(FP)
	MOVQ	2(SP), AX
	MOVQ	AX, base+0(FP)
	RET

// func load_gdt_tr(base uint64, limit, tr uint16)
//
// LGDT a GDT that keeps the current code and data descriptors at the same
// selectors (no segment register is reloaded), then LTR its available
// TSS descriptor, which the processor marks busy (Vol. 2, "LGDT", "LTR").
TEXT ·load_gdt_tr(SB),NOSPLIT,$16-12
	MOVW	limit+8(FP), AX
	MOVW	AX, 0(SP)
	MOVQ	base+0(FP), AX
	MOVQ	AX, 2(SP)
	LGDT	0(SP)
	MOVW	tr+10(FP), AX
	LTR	AX
	RET

// func vmx_exit_addr() uint64
TEXT ·vmx_exit_addr(SB),NOSPLIT,$0-8
	MOVQ	$·vmx_exit_entry(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// LOAD_GUEST loads the guest registers from the GPRs at AX, AX last.
#define LOAD_GUEST \
	MOVQ	GPRs_RBX(AX), BX; \
	MOVQ	GPRs_RCX(AX), CX; \
	MOVQ	GPRs_RDX(AX), DX; \
	MOVQ	GPRs_RSI(AX), SI; \
	MOVQ	GPRs_RDI(AX), DI; \
	MOVQ	GPRs_RBP(AX), BP; \
	MOVQ	GPRs_R8(AX), R8; \
	MOVQ	GPRs_R9(AX), R9; \
	MOVQ	GPRs_R10(AX), R10; \
	MOVQ	GPRs_R11(AX), R11; \
	MOVQ	GPRs_R12(AX), R12; \
	MOVQ	GPRs_R13(AX), R13; \
	MOVQ	GPRs_R14(AX), R14; \
	MOVQ	GPRs_R15(AX), R15; \
	MOVQ	GPRs_RAX(AX), AX

// func vmx_run(vmcs, launched uint64, gprs *GPRs, fpu uintptr) (status uint64)
//
// One world switch (Vol. 3C, 27 "VM Entries", 28 "VM Exits"). The
// processor loads the guest's RSP, RIP, RFLAGS, segment, control and
// debug registers, EFER and PAT from the VMCS at entry and the host's
// from the host-state area at exit; this function switches the rest:
// the general-purpose registers (gprs) and the FPU/SSE state (FXSAVE
// image of the guest at fpu, the host's saved at fpu+512).
//
// Stack: HOST_RSP is set so the VM exit, landing at vmx_exit_entry (a
// bare RET), returns into this function just after its CALL of
// vmx_enter, exactly as a failed VMLAUNCH/VMRESUME does. Locals:
// 0(SP) the RunStatus (written by vmx_enter on failure), 8 and 16 the
// goroutine's R14 and R15, 24 the frame pointer, 32 the guest RAX while
// the others are stored.
//
// Interrupts: CLI before the entry; external-interrupt exiting makes a
// pending or arriving interrupt exit the guest, and with "acknowledge
// interrupt on exit" 0 it stays pending. A VM exit clears RFLAGS.IF, so
// after the exit a window of one instruction between STI and CLI lets
// that interrupt reach the host IDT (which acknowledges it) while Go
// code is not running. The function returns with interrupts disabled,
// as svm_run does.
TEXT ·vmx_run(SB),NOSPLIT,$40-40
	MOVQ	$0, 0(SP)
	MOVQ	R14, 8(SP)
	MOVQ	R15, 16(SP)
	MOVQ	BP, 24(SP)
	MOVQ	fpu+24(FP), AX
	FXSAVE64	512(AX)
	FXRSTOR64	0(AX)
	CLI

	MOVQ	vmcs+0(FP), AX
	CMPQ	AX, ·currentVMCS(SB)
	JEQ	current
	CALL	·vmx_make_current(SB)
	JEQ	current
	// BX = 1 (CF) or 2 (ZF): RunStatus RUN_CF (bit 0) or RUN_ZF (bit 8).
	MOVQ	BX, CX
	ANDQ	$1, CX
	SHRQ	$1, BX
	SHLQ	$8, BX
	ORQ	CX, BX
	ORQ	$(const_RUN_STEP_VMPTRLD<<const_RUN_STEP_SHIFT), BX
	MOVQ	BX, 0(SP)
	JMP	done

current:
	// HOST_RSP = the stack pointer vmx_enter runs with (below the
	// return address its CALL pushes).
	MOVQ	$const_HOST_RSP, DX
	LEAQ	-8(SP), AX
	VMWRITE_DX_AX
	SETCS	0(SP)
	SETEQ	1(SP)
	JCS	rspfail
	JEQ	rspfail

	MOVQ	gprs+16(FP), AX
	MOVQ	launched+8(FP), BX
	CALL	·vmx_enter(SB)

	// VM exit or failed VM entry: every register but RSP (and RIP)
	// holds the guest's value.
	MOVQ	AX, 32(SP)
	MOVQ	gprs+16(FP), AX
	MOVQ	BX, GPRs_RBX(AX)
	MOVQ	CX, GPRs_RCX(AX)
	MOVQ	DX, GPRs_RDX(AX)
	MOVQ	SI, GPRs_RSI(AX)
	MOVQ	DI, GPRs_RDI(AX)
	MOVQ	BP, GPRs_RBP(AX)
	MOVQ	R8, GPRs_R8(AX)
	MOVQ	R9, GPRs_R9(AX)
	MOVQ	R10, GPRs_R10(AX)
	MOVQ	R11, GPRs_R11(AX)
	MOVQ	R12, GPRs_R12(AX)
	MOVQ	R13, GPRs_R13(AX)
	MOVQ	R14, GPRs_R14(AX)
	MOVQ	R15, GPRs_R15(AX)
	MOVQ	32(SP), BX
	MOVQ	BX, GPRs_RAX(AX)
	JMP	done

rspfail:
	MOVB	$const_RUN_STEP_HOST_RSP, 2(SP)

done:
	MOVQ	8(SP), R14
	MOVQ	16(SP), R15
	MOVQ	24(SP), BP
	STI
	// The instruction in STI's shadow: a taken branch, which also ends
	// an emulator's translation block, where it looks for pending
	// interrupts. (NOP is a pseudo-instruction: it assembles to nothing.)
	JMP	window
window:
	CLI
	MOVQ	fpu+24(FP), AX
	FXSAVE64	0(AX)
	FXRSTOR64	512(AX)
	XORPS	X15, X15
	MOVQ	0(SP), AX
	MOVQ	AX, status+32(FP)
	RET

// vmx_enter: AX = *GPRs, BX = launched. It loads the guest registers
// and executes VMLAUNCH (BX = 0) or VMRESUME. It returns only when that
// instruction fails, recording CF and ZF in the caller's RunStatus
// (8(SP) here is vmx_run's 0(SP)); a VM exit continues at
// vmx_exit_entry with RSP = HOST_RSP, this function's stack pointer.
TEXT ·vmx_enter(SB),NOSPLIT|NOFRAME,$0-0
	TESTQ	BX, BX
	JNE	resume
	LOAD_GUEST
	VMLAUNCH
	JMP	failed
resume:
	LOAD_GUEST
	VMRESUME
failed:
	SETCS	8(SP)
	SETEQ	9(SP)
	MOVB	$const_RUN_STEP_ENTRY, 10(SP)
	RET

// vmx_exit_entry is HOST_RIP. A VM exit arrives with RSP = HOST_RSP,
// whose top is vmx_enter's return address, RFLAGS = 2 and the guest's
// general-purpose registers.
TEXT ·vmx_exit_entry(SB),NOSPLIT|NOFRAME,$0-0
	RET
