// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// The Go assembler has no names for most EL2/EL3 system registers, so the
// MRS/MSR instructions are encoded here from the register's
// (op0, op1, CRn, CRm, op2) coordinates.
//
// C6.2.227 MRS, C6.2.230 MSR (register) (ARM DDI 0487K.a):
//   MRS <Xt>, <sysreg>: 0xd5300000 | o0<<19 | op1<<16 | CRn<<12 | CRm<<8 | op2<<5 | Rt
//   MSR <sysreg>, <Xt>: 0xd5100000 | (same fields)
// where o0 is op0-2 (op0 is 2 or 3 for these registers).

#define SYSREG(op0, op1, crn, crm, op2) (((op0)-2)<<19 | (op1)<<16 | (crn)<<12 | (crm)<<8 | (op2)<<5)

#define MRS_X(sysreg, rt) WORD $(0xd5300000 | (sysreg) | (rt))
#define MSR_X(sysreg, rt) WORD $(0xd5100000 | (sysreg) | (rt))

// D19 AArch64 system register descriptions: (op0, op1, CRn, CRm, op2)
#define SCTLR_EL2   SYSREG(3, 4, 1, 0, 0)
#define HCR_EL2     SYSREG(3, 4, 1, 1, 0)
#define MDCR_EL2    SYSREG(3, 4, 1, 1, 1)
#define CPTR_EL2    SYSREG(3, 4, 1, 1, 2)
#define TTBR0_EL2   SYSREG(3, 4, 2, 0, 0)
#define TCR_EL2     SYSREG(3, 4, 2, 0, 2)
#define SPSR_EL2    SYSREG(3, 4, 4, 0, 0)
#define ELR_EL2     SYSREG(3, 4, 4, 0, 1)
#define ESR_EL2     SYSREG(3, 4, 5, 2, 0)
#define FAR_EL2     SYSREG(3, 4, 6, 0, 0)
#define HPFAR_EL2   SYSREG(3, 4, 6, 0, 4)
#define MAIR_EL2    SYSREG(3, 4, 10, 2, 0)
#define VBAR_EL2    SYSREG(3, 4, 12, 0, 0)
#define ICC_SRE_EL2 SYSREG(3, 4, 12, 9, 5)
#define CNTVOFF_EL2 SYSREG(3, 4, 14, 0, 3)
#define CNTHCTL_EL2 SYSREG(3, 4, 14, 1, 0)

// Virtualization registers (D19.2 / D19.12, IHI 0069H 12.4 for ICH_*)
#define VPIDR_EL2      SYSREG(3, 4, 0, 0, 0)
#define VMPIDR_EL2     SYSREG(3, 4, 0, 0, 5)
#define HSTR_EL2       SYSREG(3, 4, 1, 1, 3)
#define VTTBR_EL2      SYSREG(3, 4, 2, 1, 0)
#define VTCR_EL2       SYSREG(3, 4, 2, 1, 2)
#define TPIDR_EL2      SYSREG(3, 4, 13, 0, 2)
#define CNTHP_TVAL_EL2 SYSREG(3, 4, 14, 2, 0)
#define CNTHP_CTL_EL2  SYSREG(3, 4, 14, 2, 1)
#define CNTHP_CVAL_EL2 SYSREG(3, 4, 14, 2, 2)
#define ICH_AP0R0_EL2  SYSREG(3, 4, 12, 8, 0)
#define ICH_AP1R0_EL2  SYSREG(3, 4, 12, 9, 0)
#define ICH_HCR_EL2    SYSREG(3, 4, 12, 11, 0)
#define ICH_VTR_EL2    SYSREG(3, 4, 12, 11, 1)
#define ICH_MISR_EL2   SYSREG(3, 4, 12, 11, 2)
#define ICH_VMCR_EL2   SYSREG(3, 4, 12, 11, 7)
#define ICH_LR0_EL2    SYSREG(3, 4, 12, 12, 0)
#define ICH_LR1_EL2    SYSREG(3, 4, 12, 12, 1)
#define ICH_LR2_EL2    SYSREG(3, 4, 12, 12, 2)
#define ICH_LR3_EL2    SYSREG(3, 4, 12, 12, 3)

#define SCTLR_EL3   SYSREG(3, 6, 1, 0, 0)
#define SCR_EL3     SYSREG(3, 6, 1, 1, 0)
#define CPTR_EL3    SYSREG(3, 6, 1, 1, 2)
#define SPSR_EL3    SYSREG(3, 6, 4, 0, 0)
#define ELR_EL3     SYSREG(3, 6, 4, 0, 1)
#define VBAR_EL3    SYSREG(3, 6, 12, 0, 0)
#define ICC_SRE_EL3 SYSREG(3, 6, 12, 12, 5)

// Register numbers for the Rt field.
#define X0 0
#define X1 1
#define X2 2
#define X3 3
#define X4 4
#define X5 5
#define X6 6
#define X7 7

// C6.2.372 TLBI ALLE2: SYS #4, C8, C7, #0, XZR
#define TLBI_ALLE2 WORD $0xd50c871f
// C6.2.372 TLBI VMALLS12E1IS: SYS #4, C8, C3, #6, XZR (stage 1 and 2,
// current VMID, Inner Shareable)
#define TLBI_VMALLS12E1IS WORD $0xd50c83df
// C6.2.123 IC IALLU: SYS #0, C7, C5, #0, XZR
#define IC_IALLU WORD $0xd508751f
// C6.2.287 SMC #0
#define SMC_0 WORD $0xd4000003
// C6.2.120 HLT #0xf000: the A64 semihosting trap (Arm semihosting spec 2.0)
#define HLT_SEMIHOSTING WORD $0xd45e0000

// D19.2.118 SCTLR_EL2 (non-VHE): RES1 bits 29,28,23,22,18,16,11,5,4
#define SCTLR_EL2_RES1 0x30c50830
#define SCTLR_M (1<<0)
#define SCTLR_C (1<<2)
#define SCTLR_I (1<<12)

// D19.2.48 HCR_EL2: RW, EL1 is AArch64
#define HCR_RW (1<<31)

// D19.2.31 CPTR_EL2 (non-VHE): RES1 bits 13:12 and 9:0; TFP (bit 10) = 0
#define CPTR_EL2_RES1 0x33ff

// D19.2.27 CNTHCTL_EL2 (non-VHE): EL1PCTEN, EL1PCEN
#define CNTHCTL_EL1PCTEN (1<<0)
#define CNTHCTL_EL1PCEN  (1<<1)

// D19.2.117 SCR_EL3: NS, RES1 bits 5:4, HCE, RW
#define SCR_NS   (1<<0)
#define SCR_RES1 (3<<4)
#define SCR_HCE  (1<<8)
#define SCR_RW   (1<<10)

// C5.2.19 SPSR_EL3 for an exception return to EL2h with D, A, I, F masked
#define SPSR_EL2H_MASKED 0x3c9

// ICC_SRE_ELx (IHI 0069H 12.2.x): SRE, DFB, DIB, Enable (EL2/EL3 only)
#define ICC_SRE_SRE    (1<<0)
#define ICC_SRE_DFB    (1<<1)
#define ICC_SRE_DIB    (1<<2)
#define ICC_SRE_ENABLE (1<<3)

// D19.2.133 RNDR, Random Number (FEAT_RNG)
#define RNDR SYSREG(3, 3, 2, 4, 0)
