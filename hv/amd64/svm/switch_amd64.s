// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

#include "go_asm.h"
#include "textflag.h"

// SVM instructions (AMD APM Vol. 3, "VMRUN", "VMLOAD", "VMSAVE", "STGI",
// "CLGI"): each takes the physical address of a VMCB in RAX.
#define VMRUN BYTE $0x0f; BYTE $0x01; BYTE $0xd8
#define VMLOAD BYTE $0x0f; BYTE $0x01; BYTE $0xda
#define VMSAVE BYTE $0x0f; BYTE $0x01; BYTE $0xdb
#define STGI BYTE $0x0f; BYTE $0x01; BYTE $0xdc
#define CLGI BYTE $0x0f; BYTE $0x01; BYTE $0xdd

// func svm_run(vmcb, hostVMCB uint64, gprs *GPRs, fpu uintptr)
//
// One world switch (APM Vol. 2 15.5 "VMRUN Instruction", 15.17 "Global
// Interrupt Flag"). VMRUN itself saves and restores the host's RAX, RSP,
// RIP, RFLAGS, segment registers, CR0/CR3/CR4 and EFER in the VM_HSAVE_PA
// area; VMSAVE/VMLOAD switch the rest (FS/GS/TR/LDTR with their hidden
// bases, KernelGSBase, STAR family, SYSENTER). The Go runtime keeps its
// TLS in FS, so the host's VMSAVE state is reloaded before any Go code
// runs. The FPU/SSE state is not switched by VMRUN: FXSAVE/FXRSTOR do it
// (guest image at fpu, host at fpu+512).
//
// Interrupts: GIF is cleared around the switch and host RFLAGS.IF set
// before VMRUN, so with V_INTR_MASKING a physical interrupt (the
// preemption timer) exits the guest with an INTR intercept instead of
// being taken; after #VMEXIT IF is cleared before GIF is set, then one
// STI/NOP/CLI window lets that interrupt reach the host IDT (which
// acknowledges it) while Go code is not running.
//
// R14 (the goroutine pointer) and R15 are saved in the frame because the
// guest's values replace them; BP is restored by the frame epilogue.
TEXT ·svm_run(SB),NOSPLIT,$32-32
	MOVQ	fpu+24(FP), AX
	FXSAVE64	512(AX)
	FXRSTOR64	0(AX)
	MOVQ	R14, 0(SP)
	MOVQ	R15, 8(SP)

	CLI
	CLGI
	MOVQ	hostVMCB+8(FP), AX
	VMSAVE
	MOVQ	vmcb+0(FP), AX
	VMLOAD
	STI

	MOVQ	gprs+16(FP), AX
	MOVQ	GPRs_RBX(AX), BX
	MOVQ	GPRs_RCX(AX), CX
	MOVQ	GPRs_RDX(AX), DX
	MOVQ	GPRs_RSI(AX), SI
	MOVQ	GPRs_RDI(AX), DI
	MOVQ	GPRs_RBP(AX), BP
	MOVQ	GPRs_R8(AX), R8
	MOVQ	GPRs_R9(AX), R9
	MOVQ	GPRs_R10(AX), R10
	MOVQ	GPRs_R11(AX), R11
	MOVQ	GPRs_R12(AX), R12
	MOVQ	GPRs_R13(AX), R13
	MOVQ	GPRs_R14(AX), R14
	MOVQ	GPRs_R15(AX), R15
	MOVQ	vmcb+0(FP), AX
	VMRUN

	// #VMEXIT: RAX and RSP are the host's again; the guest's are in
	// the VMCB. Everything else is still the guest's.
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

	MOVQ	vmcb+0(FP), AX
	VMSAVE
	MOVQ	hostVMCB+8(FP), AX
	VMLOAD
	CLI
	STGI
	STI
	NOP
	// A taken branch ends QEMU's translation block, where TCG looks for
	// pending interrupts; on hardware it is one more instruction in the
	// window.
	JMP	window
	NOP
window:
	CLI

	MOVQ	0(SP), R14
	MOVQ	8(SP), R15
	MOVQ	fpu+24(FP), AX
	FXSAVE64	0(AX)
	FXRSTOR64	512(AX)
	XORPS	X15, X15
	RET

// func svmRunAddr() uint64: svm_run's ABI0 entry, for an application
// processor's mailbox (amd64.RemoteCall).
TEXT ·svmRunAddr(SB),NOSPLIT,$0-8
	MOVQ	$·svm_run(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
