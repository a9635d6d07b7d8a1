// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && linkcpuinit

#include "go_asm.h"
#include "textflag.h"
#include "sysreg_arm64.h"

// cpuinit is the first code the image runs (runtime·_rt0_arm64_tamago
// branches here). tamavisor runs at Non-secure EL2:
//   - entered at EL2: set up EL2 and continue;
//   - entered at EL3 (QEMU virt,secure=on without firmware): give lower
//     ELs the FP unit and the GIC system registers, install a minimal EL3
//     PSCI shim (el3Vectors) and ERET to Non-secure EL2;
//   - entered at EL1 or EL0: there is no EL2 to run at, so stop.
// The MMU and caches are off; the stack is not set up yet, so no calls.
TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	MRS	CurrentEL, R0
	LSR	$2, R0, R0
	AND	$3, R0, R0
	MOVD	$·EntryEL(SB), R1
	MOVD	R0, (R1)

	CMP	$2, R0
	BEQ	el2
	CMP	$3, R0
	BNE	noel2

	// D19.2.117 SCR_EL3: lower ELs Non-secure, EL2 AArch64, HVC enabled.
	// SMD stays 0 so SMC reaches the EL3 shim.
	MOVD	$(SCR_NS|SCR_RES1|SCR_HCE|SCR_RW), R0
	MSR_X(SCR_EL3, X0)
	// D19.2.32 CPTR_EL3: no FP/SIMD traps.
	MOVD	$0, R0
	MSR_X(CPTR_EL3, X0)
	// IHI 0069H 12.2.12 ICC_SRE_EL3: let EL2/EL1 use the GIC system
	// register interface (otherwise ICC_SRE_EL2 accesses trap to EL3).
	MOVD	$(ICC_SRE_SRE|ICC_SRE_DFB|ICC_SRE_DIB|ICC_SRE_ENABLE), R0
	MSR_X(ICC_SRE_EL3, X0)
	ISB	$15
	MOVD	$·el3Vectors(SB), R0
	MSR_X(VBAR_EL3, X0)
	// C5.2.19 SPSR_EL3 / D19.2.44 ELR_EL3: return to EL2h at el2Entry.
	MOVD	$SPSR_EL2H_MASKED, R0
	MSR_X(SPSR_EL3, X0)
	MOVD	$·el2Entry(SB), R0
	MSR_X(ELR_EL3, X0)
	ISB	$15
	ERET

el2:
	B	·el2Entry(SB)

noel2:
	WFE
	B	noel2

// el2Entry sets up EL2 with the MMU and caches off, then starts the Go
// runtime. hwinit0 (EarlyInit) turns on the MMU.
TEXT ·el2Entry(SB),NOSPLIT|NOFRAME,$0
	// D19.2.48 HCR_EL2: EL1 is AArch64; no guest traps until a VM runs.
	MOVD	$HCR_RW, R0
	MSR_X(HCR_EL2, X0)
	// D19.2.31 CPTR_EL2: FP/SIMD untrapped (the Go runtime uses them).
	MOVD	$CPTR_EL2_RES1, R0
	MSR_X(CPTR_EL2, X0)
	// D19.2.27 CNTHCTL_EL2 / D19.12.x CNTVOFF_EL2
	MOVD	$(CNTHCTL_EL1PCTEN|CNTHCTL_EL1PCEN), R0
	MSR_X(CNTHCTL_EL2, X0)
	MOVD	$0, R0
	MSR_X(CNTVOFF_EL2, X0)
	// D19.2.118 SCTLR_EL2: MMU, caches and alignment checks off.
	MOVD	$SCTLR_EL2_RES1, R0
	MSR_X(SCTLR_EL2, X0)
	// D19.2.143 VBAR_EL2
	MOVD	$·el2Vectors(SB), R0
	MSR_X(VBAR_EL2, X0)
	// IHI 0069H 12.2.11 ICC_SRE_EL2: system register interface for EL2,
	// and allow EL1 to enable it.
	MOVD	$(ICC_SRE_SRE|ICC_SRE_DFB|ICC_SRE_DIB|ICC_SRE_ENABLE), R0
	MSR_X(ICC_SRE_EL2, X0)
	ISB	$15
	B	_rt0_tamago_start(SB)
