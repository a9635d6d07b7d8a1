// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

// A64 instruction encodings that relocations patch and trampolines use
// (Arm Architecture Reference Manual for A-profile, ARM DDI 0487, C4.1
// "A64 instruction set encoding" and the instruction pages of C6.2
// "Alphabetical list of A64 base instructions"). Each *_MASK/value pair
// selects an instruction class by its fixed opcode bits; each
// *_SHIFT/*_MASK pair is an immediate field.
const (
	// B and BL (C6.2 "B", "BL"): op(31) 0b00101(30:26) imm26(25:0).
	// Both match with op ignored.
	A64_B_BL_MASK = 0x7c000000
	A64_B_BL      = 0x14000000
	IMM26_SHIFT   = 0
	IMM26_MASK    = 0x03ffffff

	// ADRP (C6.2 "ADRP"): 1(31) immlo(30:29) 0b10000(28:24) immhi(23:5)
	// Rd(4:0).
	A64_ADRP_MASK = 0x9f000000
	A64_ADRP      = 0x90000000
	IMMLO_SHIFT   = 29
	IMMLO_MASK    = 0x3
	IMMHI_SHIFT   = 5
	IMMHI_MASK    = 0x7ffff

	// ADD (immediate) with sh = 0, 32- or 64-bit (C6.2 "ADD
	// (immediate)"): sf(31) 0(30) 0(29) 0b100010(28:23) sh(22)
	// imm12(21:10) Rn Rd.
	A64_ADD_IMM_MASK = 0x7fc00000
	A64_ADD_IMM      = 0x11000000

	// Load/store register (unsigned immediate) with size = 0b11, the
	// 8-byte accesses LDR/STR Xt, LDR/STR Dt and PRFM (C4.1, "Load/store
	// register (unsigned immediate)"; C6.2 "LDR (immediate)", "STR
	// (immediate)"): size(31:30) 0b111(29:27) V(26) 0b01(25:24)
	// opc(23:22) imm12(21:10) Rn Rt; matched with V ignored. imm12 is
	// the offset divided by 8.
	A64_LDST64_UIMM_MASK = 0xfb000000
	A64_LDST64_UIMM      = 0xf9000000
	IMM12_SHIFT          = 10
	IMM12_MASK           = 0xfff

	// The same class with size = 0b10 (4-byte accesses: LDR/STR Wt,
	// LDRSW, LDR/STR St) and size = 0b01 (2-byte: LDRH, STRH, LDRSH,
	// LDR/STR Ht), V ignored; imm12 is the offset divided by 4 or 2.
	A64_LDST32_UIMM_MASK = 0xfb000000
	A64_LDST32_UIMM      = 0xb9000000
	A64_LDST16_UIMM_MASK = 0xfb000000
	A64_LDST16_UIMM      = 0x79000000
	// size = 0b00 and V = 0: the 1-byte accesses LDRB, STRB, LDRSB
	// (C6.2 "LDRB (immediate)", "STRB (immediate)", "LDRSB
	// (immediate)"); imm12 is the offset. LDR/STR Bt (V = 1) is left
	// out: its V = 1, opc = 0b1x neighbours are the 16-byte accesses.
	A64_LDST8_UIMM_MASK = 0xff000000
	A64_LDST8_UIMM      = 0x39000000
	// size = 0b00, V = 1, opc = 0b1x: the 16-byte accesses LDR/STR Qt
	// (C6.2 "LDR (immediate, SIMD&FP)", "STR (immediate, SIMD&FP)");
	// imm12 is the offset divided by 16.
	A64_LDST128_UIMM_MASK = 0xff800000
	A64_LDST128_UIMM      = 0x3d800000

	// LDR (literal), 64-bit (C6.2 "LDR (literal)"): opc(31:30)=0b01
	// 0b011(29:27) V(26)=0 0b00(25:24) imm19(23:5) Rt(4:0). It loads
	// the doubleword at PC + imm19*4.
	A64_LDR_LITERAL_64 = 0x58000000
	IMM19_SHIFT        = 5
	IMM19_MASK         = 0x7ffff
	RT_SHIFT           = 0

	// BR (C6.2 "BR"): 0b1101011(31:25) 0(24) 0(23) 0b00(22:21)
	// 0b11111(20:16) 0b0000(15:12) 0(11) 0(10) Rn(9:5) 0b00000(4:0).
	A64_BR   = 0xd61f0000
	RN_SHIFT = 5

	// A64_X16 is register X16, IP0: the first intra-procedure-call
	// scratch register of the Procedure Call Standard for the Arm 64-bit
	// Architecture (AAPCS64, "General-purpose registers"), and a scratch
	// register of Go's internal ABI too (cmd/compile/abi-internal.md,
	// "arm64 architecture").
	A64_X16 = 16
)

// x86-64 encoding the amd64 trampoline uses (Intel 64 and IA-32
// Architectures Software Developer's Manual, Vol. 2A, "JMP—Jump": opcode
// E9 cd, "JMP rel32", jump near, relative, displacement relative to the
// next instruction).
const (
	X86_JMP_REL32     = 0xe9
	X86_JMP_REL32_LEN = 5
)

// insnClass is the instruction class a relocation kind may patch.
type insnClass struct {
	mask, value uint32
	what        string
}

var (
	insnBranch  = &insnClass{A64_B_BL_MASK, A64_B_BL, "B or BL"}
	insnADRP    = &insnClass{A64_ADRP_MASK, A64_ADRP, "ADRP"}
	insnADD     = &insnClass{A64_ADD_IMM_MASK, A64_ADD_IMM, "ADD (immediate) with LSL #0"}
	insnLDST8   = &insnClass{A64_LDST8_UIMM_MASK, A64_LDST8_UIMM, "a 1-byte general-register load/store (unsigned immediate)"}
	insnLDST16  = &insnClass{A64_LDST16_UIMM_MASK, A64_LDST16_UIMM, "a 2-byte load/store (unsigned immediate)"}
	insnLDST32  = &insnClass{A64_LDST32_UIMM_MASK, A64_LDST32_UIMM, "a 4-byte load/store (unsigned immediate)"}
	insnLDST64  = &insnClass{A64_LDST64_UIMM_MASK, A64_LDST64_UIMM, "an 8-byte load/store (unsigned immediate)"}
	insnLDST128 = &insnClass{A64_LDST128_UIMM_MASK, A64_LDST128_UIMM, "a 16-byte SIMD&FP load/store (unsigned immediate)"}
)
