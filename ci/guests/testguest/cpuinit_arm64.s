// testguest: the bare-metal arm64 test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

#include "textflag.h"

// The guest's translation table: one level-1 table at the bottom of its
// RAM (below the image, linked at 0x40010000), mapping the first 8 GiB
// of its guest-physical space with 1 GiB blocks (D8.3, 4 KiB granule,
// 39-bit VA, lookup from level 1):
//   0-1 GiB  Device-nGnRnE, execute-never (GIC, UART, MMIO)
//   1-8 GiB  Normal write-back, read/write (RAM at 0x40000000 and the
//            unbacked addresses the fault tests probe)
#define L1_TABLE 0x40001000
#define BLOCK_NORMAL 0x705  // AF | SH inner | AttrIndx 1 | block | valid
#define BLOCK_DEVICE 0x60000000000401 // UXN | PXN | AF | AttrIndx 0 | block | valid

// cpuinit runs first (runtime·_rt0_arm64_tamago), at EL1 with the MMU off.
// x0 holds the boot argument (0 for an ELF guest).
TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	MOVD	$·bootArg(SB), R1
	MOVD	R0, (R1)

	// D19.2.30 CPACR_EL1: FP/SIMD at EL1 and EL0 (the runtime uses it).
	MOVD	$(3<<20), R0
	MSR	R0, CPACR_EL1
	ISB	$15

	MOVD	$·vectors(SB), R0
	MSR	R0, VBAR_EL1

	// Level-1 table: zero it, then the blocks.
	MOVD	$L1_TABLE, R0
	MOVD	$512, R1
zero:
	MOVD	ZR, (R0)
	ADD	$8, R0
	SUB	$1, R1
	CBNZ	R1, zero
	MOVD	$L1_TABLE, R0
	MOVD	$BLOCK_DEVICE, R2
	MOVD	R2, (R0)
	MOVD	$1, R1
	MOVD	$0x40000000, R3
normal:
	MOVD	$BLOCK_NORMAL, R2
	ORR	R3, R2, R2
	MOVD	R2, (R0)(R1<<3)
	ADD	$0x40000000, R3
	ADD	$1, R1
	CMP	$8, R1
	BNE	normal
	DSB	$15

	// D19.2.97 MAIR_EL1: index 0 Device-nGnRnE, index 1 Normal WB.
	MOVD	$0xff00, R0
	MSR	R0, MAIR_EL1
	// D19.2.139 TCR_EL1: T0SZ=25, inner/outer WB-WA, inner shareable,
	// 4 KiB granule; TTBR1 walks disabled (EPD1) with a valid TG1; IPS
	// 40 bits.
	MOVD	$(25 | 1<<8 | 1<<10 | 3<<12 | 1<<23 | 2<<30 | 2<<32), R0
	MSR	R0, TCR_EL1
	MOVD	$L1_TABLE, R0
	MSR	R0, TTBR0_EL1
	ISB	$15
	WORD	$0xd508871f	// TLBI VMALLE1
	DSB	$15
	ISB	$15
	// D19.2.118 SCTLR_EL1: RES1 bits, M, C, I.
	MOVD	$(0x30d00800 | 1<<0 | 1<<2 | 1<<12), R0
	MSR	R0, SCTLR_EL1
	ISB	$15
	B	_rt0_tamago_start(SB)

// secondaryEntry is where PSCI CPU_ON starts vCPU 1, with the MMU off and
// x0 = the context id: the address of a 16-byte mailbox. It writes a
// magic value and its MPIDR there, then turns itself off.
TEXT ·secondaryEntry(SB),NOSPLIT|NOFRAME,$0
	MRS	MPIDR_EL1, R1
	MOVD	R1, 8(R0)
	MOVD	$0x5ec0dead, R1
	MOVD	R1, (R0)
	DSB	$15
	MOVD	$0x84000002, R0	// PSCI CPU_OFF
	WORD	$0xd4000003	// SMC #0
park:
	WFI
	B	park

#define VEC_ALIGN PCALIGN $128

// D1.10.2 exception vectors for EL1 (2 KiB aligned, 0x80 per entry).
TEXT ·vectors(SB),NOSPLIT|NOFRAME,$0
	PCALIGN	$2048
	B	·syncException(SB)	// current EL, SP0
	VEC_ALIGN
	B	·irqException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)	// current EL, SPx: synchronous
	VEC_ALIGN
	B	·irqException(SB)	// current EL, SPx: IRQ
	VEC_ALIGN
	B	·syncException(SB)	// FIQ
	VEC_ALIGN
	B	·syncException(SB)	// SError
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)
	VEC_ALIGN
	B	·syncException(SB)

// syncException: when a probe is armed, record the syndrome, skip the
// faulting instruction and return; otherwise report and stop.
TEXT ·syncException(SB),NOSPLIT|NOFRAME,$0
	SUB	$32, RSP
	STP	(R0, R1), (RSP)
	MOVD	$·probe(SB), R0
	MOVD	(R0), R1
	CBZ	R1, fatal
	MRS	ESR_EL1, R1
	MOVD	R1, 8(R0)
	MRS	FAR_EL1, R1
	MOVD	R1, 16(R0)
	MOVD	$1, R1
	MOVD	R1, 24(R0)
	MOVD	ZR, (R0)
	MRS	ELR_EL1, R1
	ADD	$4, R1
	MSR	R1, ELR_EL1
	LDP	(RSP), (R0, R1)
	ADD	$32, RSP
	ERET
fatal:
	MRS	ESR_EL1, R1
	MOVD	R1, 8(R0)
	MRS	ELR_EL1, R1
	MOVD	R1, 16(R0)
	BL	·fatalException(SB)
hang:
	WFI
	B	hang

// irqException: the virtual timer interrupt and the passthrough RTC's.
// Acknowledge
// (ICC_IAR1_EL1), count, move the compare value one period on, end
// (ICC_EOIR1_EL1). Flags come back with SPSR_EL1 on ERET.
TEXT ·irqException(SB),NOSPLIT|NOFRAME,$0
	SUB	$32, RSP
	STP	(R0, R1), (RSP)
	STP	(R2, R3), 16(RSP)
	MRS	ICC_IAR1_EL1, R0
	CMP	$1023, R0
	BEQ	done
	MOVD	$·irqs(SB), R1
	CMP	$27, R0
	BNE	other
	MOVD	(R1), R2	// ticks
	ADD	$1, R2
	MOVD	R2, (R1)
	MOVD	8(R1), R2	// period (counts)
	MRS	CNTV_CVAL_EL0, R3
	ADD	R2, R3
	MSR	R3, CNTV_CVAL_EL0
	B	eoi
other:
	CMP	$34, R0
	BNE	count
	// The passthrough PL031's alarm (SPI 2): clear it at the device
	// (RTCICR) before completing it, as a level-sensitive source needs.
	MOVD	$0x0901001c, R2
	MOVW	$1, R3
	MOVW	R3, (R2)
	MOVD	24(R1), R2
	ADD	$1, R2
	MOVD	R2, 24(R1)
	B	eoi
count:
	MOVD	16(R1), R2
	ADD	$1, R2
	MOVD	R2, 16(R1)
eoi:
	MSR	R0, ICC_EOIR1_EL1
done:
	LDP	16(RSP), (R2, R3)
	LDP	(RSP), (R0, R1)
	ADD	$32, RSP
	ERET

// func secondaryEntryAddr() uint64
TEXT ·secondaryEntryAddr(SB),NOSPLIT,$0-8
	MOVD	$·secondaryEntry(SB), R0
	MOVD	R0, ret+0(FP)
	RET
