// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && linkcpuinit

#include "textflag.h"
#include "sysreg_arm64.h"

// The EL3 PSCI shim. When QEMU virt runs with secure=on and no firmware,
// tamavisor enters at EL3 and keeps only this much there: an SMC from
// Non-secure EL2 with
//   PSCI_VERSION (0x84000000)  returns 1.0;
//   SYSTEM_OFF   (0x84000008)  ends the emulation through Arm semihosting
//                              SYS_EXIT, as TF-A's QEMU port does (needs
//                              QEMU -semihosting-config enable=on);
//   anything else              returns SMCCC NOT_SUPPORTED (-1).
// It uses no memory but the constant exit block and no stack. It is not
// secure-world firmware: the OP-TEE test double replaces it later.

#define PSCI_VERSION    0x84000000
#define PSCI_SYSTEM_OFF 0x84000008
// Arm semihosting 2.0: SYS_EXIT and ADP_Stopped_ApplicationExit
#define SEMIHOSTING_SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

DATA	·semihostingExit+0(SB)/8, $ADP_STOPPED_APPLICATION_EXIT
DATA	·semihostingExit+8(SB)/8, $0	// exit status
GLOBL	·semihostingExit(SB),RODATA,$16

#define PARK \
	WFE; \
	B	-1(PC)

// D1.10.2 Exception vectors: 16 entries of 0x80 bytes, 2 KiB aligned.
TEXT ·el3Vectors(SB),NOSPLIT|NOFRAME,$0
	PCALIGN	$2048
	// current EL with SP_EL0, then current EL with SP_ELx: EL3 itself
	// faulting is fatal, park the CPU.
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	// lower EL using AArch64: synchronous (SMC)
	PCALIGN	$128
	B	·el3SMC(SB)
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	// lower EL using AArch32
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK
	PCALIGN	$128
	PARK

TEXT ·el3SMC(SB),NOSPLIT|NOFRAME,$0
	MOVW	$PSCI_VERSION, R9
	CMPW	R9, R0
	BEQ	version
	MOVW	$PSCI_SYSTEM_OFF, R9
	CMPW	R9, R0
	BEQ	off
	MOVD	$-1, R0
	ERET
version:
	MOVD	$0x10000, R0
	ERET
off:
	MOVD	$SEMIHOSTING_SYS_EXIT, R0
	MOVD	$·semihostingExit(SB), R1
	HLT_SEMIHOSTING
	// Only reached if the semihosting call returns: report failure.
	// (Without -semihosting-config the HLT is UNDEFINED and the CPU
	// parks in this table's current-EL entry instead.)
	MOVD	$-1, R0
	ERET
