// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

// siteKind is a kind of PC-relative reference in machine code.
type siteKind int

const (
	x86Branch siteKind = iota // CALL/JMP/Jcc rel8/rel16/rel32
	x86RIP                    // RIP-relative memory operand
	a64B                      // B imm26
	a64BL                     // BL imm26
	a64Imm19                  // B.cond, CBZ, CBNZ imm19
	a64Imm14                  // TBZ, TBNZ imm14
	a64ADR                    // ADR imm21
	a64LDRLit                 // LDR (literal), PRFM (literal) imm19
	a64ADRP                   // ADRP + ADD/LDR/STR (unsigned immediate)
)

var siteNames = [...]string{"rel branch", "RIP-relative operand", "B", "BL", "B.cond/CBZ/CBNZ", "TBZ/TBNZ", "ADR", "LDR (literal)", "ADRP pair"}

func (k siteKind) String() string { return siteNames[k] }

// site is one PC-relative reference of a function. Offsets are from the
// function's entry.
type site struct {
	kind   siteKind
	off    int    // the instruction
	field  int    // amd64: the displacement; arm64: off
	width  int    // amd64: bytes of the displacement
	end    int    // amd64: end of the instruction (the displacement is relative to it)
	lo     int    // arm64 ADRP: the consumer instruction
	access int    // arm64 ADRP: bytes of the consumer's access, 0 for ADD
	target uint64 // the address referenced
}

// fn is a function decoded for comparison: its bytes with every
// PC-relative field zeroed, and the references those fields held.
type fn struct {
	s       *sym
	code    []byte // the function's bytes
	masked  []byte
	sites   []site
	undec   int   // offset of the first byte that could not be decoded, or -1
	undecEr error // why
	imms    []imm // immediates that look like absolute addresses
}

// imm is an absolute value in an instruction or a literal pool that lies
// in the image's address range.
type imm struct {
	off int
	v   uint64
}

// decode decodes function s of im.
func (im *image) decode(s *sym) (*fn, error) {
	code, err := im.code(s)
	if err != nil {
		return nil, err
	}
	f := &fn{s: s, code: code, masked: bytes.Clone(code), undec: -1}
	if im.arch == payload.ArchAMD64 {
		im.decodeAMD64(f)
	} else {
		im.decodeARM64(f)
	}
	return f, nil
}

// decodeAMD64 walks the function with x86asm in 64-bit mode. Go does not
// put data in amd64 text, so an instruction that does not decode stops
// the walk: the rest compares as raw bytes, and makes the function
// impossible to patch.
func (im *image) decodeAMD64(f *fn) {
	for off := 0; off < len(f.code); {
		in, err := x86asm.Decode(f.code[off:], 64)
		if isVEX(f.code[off:]) || err != nil || in.Len == 0 {
			// x86asm knows only part of the VEX space (and can
			// take a wrong length there) and not every 0F-map
			// instruction (VMX, SHA): measure those with the
			// encoding rules alone.
			n, rip, ok := x86Length(f.code[off:])
			if !ok {
				if err == nil {
					err = errVEX
				}
				f.undec, f.undecEr = off, err
				return
			}
			if rip >= 0 {
				field := off + rip
				disp := int64(int32(binary.LittleEndian.Uint32(f.code[field:])))
				f.sites = append(f.sites, site{kind: x86RIP, off: off, field: field, width: 4, end: off + n,
					target: f.s.addr + uint64(int64(off+n)+disp)})
				clear(f.masked[field : field+4])
			}
			off += n
			continue
		}
		end := off + in.Len
		if in.PCRel > 0 {
			field := off + in.PCRelOff
			var disp int64
			switch in.PCRel {
			case 1:
				disp = int64(int8(f.code[field]))
			case 2:
				disp = int64(int16(binary.LittleEndian.Uint16(f.code[field:])))
			case 4:
				disp = int64(int32(binary.LittleEndian.Uint32(f.code[field:])))
			default:
				f.undec, f.undecEr = off, fmt.Errorf("PC-relative field of %d bytes", in.PCRel)
				return
			}
			k := x86Branch
			for _, a := range in.Args {
				if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RIP {
					k = x86RIP
				}
			}
			f.sites = append(f.sites, site{kind: k, off: off, field: field, width: in.PCRel, end: end,
				target: f.s.addr + uint64(int64(end)+disp)})
			clear(f.masked[field : field+in.PCRel])
		}
		// Absolute addresses (no PC-relative form) cannot be moved
		// soundly: collect them for the refusal.
		for _, a := range in.Args {
			switch a := a.(type) {
			case x86asm.Imm:
				if v := uint64(a); im.inImage(v) {
					f.imms = append(f.imms, imm{off, v})
				}
			case x86asm.Mem:
				if a.Base == 0 && a.Segment == 0 {
					if v := uint64(a.Disp); im.inImage(v) {
						f.imms = append(f.imms, imm{off, v})
					}
				}
			}
		}
		off = end
	}
}

// A64 PC-relative instruction classes (ARM DDI 0487, C4.1 "A64
// instruction set encoding"; the field layouts are on the instruction
// pages of C6.2). Each *_MASK/value pair selects a class by its fixed
// opcode bits.
const (
	// B.cond (C6.2 "B.cond"): 0b01010100(31:24) imm19(23:5) 0(4) cond.
	A64_BCOND_MASK = 0xff000010
	A64_BCOND      = 0x54000000
	// CBZ, CBNZ (C6.2 "CBZ", "CBNZ"): sf 0b011010(30:25) op(24)
	// imm19(23:5) Rt.
	A64_CBZ_MASK = 0x7e000000
	A64_CBZ      = 0x34000000
	// TBZ, TBNZ (C6.2 "TBZ", "TBNZ"): b5 0b011011(30:25) op b40(23:19)
	// imm14(18:5) Rt.
	A64_TBZ_MASK = 0x7e000000
	A64_TBZ      = 0x36000000
	IMM14_SHIFT  = 5
	IMM14_MASK   = 0x3fff
	// ADR (C6.2 "ADR"): 0(31) immlo(30:29) 0b10000(28:24) immhi(23:5) Rd.
	A64_ADR_MASK = 0x9f000000
	A64_ADR      = 0x10000000
	// Load register (literal) (C4.1 "Loads and stores", "Load register
	// (literal)"): opc(31:30) 0b011(29:27) V(26) 0b00(25:24) imm19 Rt.
	A64_LDR_LIT_MASK = 0x3b000000
	A64_LDR_LIT      = 0x18000000
	// Load/store register (unsigned immediate) (C4.1): size(31:30)
	// 0b111(29:27) V(26) 0b01(25:24) opc(23:22) imm12(21:10) Rn Rt.
	A64_LDST_UIMM_MASK = 0x3b000000
	A64_LDST_UIMM      = 0x39000000
	SIZE_SHIFT         = 30
	V_BIT              = 1 << 26
	OPC_SHIFT          = 22
	// Register fields.
	REG_MASK = 0x1f
	RD_SHIFT = 0
)

// decodeARM64 walks the function one 4-byte word at a time. Words that
// LDR (literal) loads are data (Go's literal pool after the code) and
// compare as raw bytes, as do words arm64asm does not decode (padding).
func (im *image) decodeARM64(f *fn) {
	le := binary.LittleEndian
	n := len(f.code) / 4
	data := make([]bool, n)
	sx := func(v uint32, bits uint) int64 { return int64(int32(v<<(32-bits))) >> (32 - bits) }
	for i := 0; i < n; i++ {
		if data[i] {
			continue
		}
		off := i * 4
		w := le.Uint32(f.code[off:])
		if !a64PCRelative(w) {
			continue
		}
		if _, err := arm64asm.Decode(f.code[off : off+4]); err != nil {
			continue
		}
		pc := f.s.addr + uint64(off)
		s := site{off: off, field: off}
		var mask uint32
		switch {
		case w&payload.A64_B_BL_MASK == payload.A64_B_BL:
			s.kind = a64B
			if w>>31 != 0 {
				s.kind = a64BL
			}
			s.target = pc + uint64(sx(w&payload.IMM26_MASK, 26)*4)
			mask = payload.IMM26_MASK << payload.IMM26_SHIFT
		case w&A64_BCOND_MASK == A64_BCOND, w&A64_CBZ_MASK == A64_CBZ:
			s.kind = a64Imm19
			s.target = pc + uint64(sx(w>>payload.IMM19_SHIFT&payload.IMM19_MASK, 19)*4)
			mask = payload.IMM19_MASK << payload.IMM19_SHIFT
		case w&A64_TBZ_MASK == A64_TBZ:
			s.kind = a64Imm14
			s.target = pc + uint64(sx(w>>IMM14_SHIFT&IMM14_MASK, 14)*4)
			mask = IMM14_MASK << IMM14_SHIFT
		case w&A64_ADR_MASK == A64_ADR:
			s.kind = a64ADR
			s.target = pc + uint64(sx(adrImm(w), 21))
			mask = payload.IMMLO_MASK<<payload.IMMLO_SHIFT | payload.IMMHI_MASK<<payload.IMMHI_SHIFT
		case w&A64_LDR_LIT_MASK == A64_LDR_LIT:
			s.kind = a64LDRLit
			s.target = pc + uint64(sx(w>>payload.IMM19_SHIFT&payload.IMM19_MASK, 19)*4)
			mask = payload.IMM19_MASK << payload.IMM19_SHIFT
			if size := ldrLiteralSize(w); size > 0 && s.target >= f.s.addr && s.target+uint64(size) <= f.s.end() && s.target%4 == 0 {
				j := int(s.target-f.s.addr) / 4
				for k := j; k < j+size/4; k++ {
					data[k] = true
				}
				if size >= 8 {
					for k := 0; k+8 <= size; k += 8 {
						if v := le.Uint64(f.code[j*4+k:]); im.inImage(v) {
							f.imms = append(f.imms, imm{j*4 + k, v})
						}
					}
				}
			}
		case w&payload.A64_ADRP_MASK == payload.A64_ADRP:
			s.kind = a64ADRP
			page := pc&^0xfff + uint64(sx(adrImm(w), 21)<<12)
			mask = payload.IMMLO_MASK<<payload.IMMLO_SHIFT | payload.IMMHI_MASK<<payload.IMMHI_SHIFT
			s.target = page
			s.lo = -1
			if i+1 < n && !data[i+1] {
				c := le.Uint32(f.code[off+4:])
				rd := w >> RD_SHIFT & REG_MASK
				rn := c >> payload.RN_SHIFT & REG_MASK
				lo12 := uint64(c >> payload.IMM12_SHIFT & payload.IMM12_MASK)
				switch {
				case rn != rd:
				case c&payload.A64_ADD_IMM_MASK == payload.A64_ADD_IMM:
					s.lo, s.target = off+4, page+lo12
				case c&A64_LDST_UIMM_MASK == A64_LDST_UIMM:
					size := ldstSize(c)
					s.lo, s.access, s.target = off+4, size, page+lo12*uint64(size)
				}
			}
			if s.lo >= 0 {
				le.PutUint32(f.masked[s.lo:], le.Uint32(f.masked[s.lo:])&^(payload.IMM12_MASK<<payload.IMM12_SHIFT))
				i++ // the consumer is part of this site
			}
		default:
			continue
		}
		le.PutUint32(f.masked[off:], w&^mask)
		f.sites = append(f.sites, s)
	}
}

// a64PCRelative reports whether w is in one of the PC-relative classes
// decodeARM64 handles.
func a64PCRelative(w uint32) bool {
	return w&payload.A64_B_BL_MASK == payload.A64_B_BL || w&A64_BCOND_MASK == A64_BCOND ||
		w&A64_CBZ_MASK == A64_CBZ || w&A64_TBZ_MASK == A64_TBZ || w&A64_ADR_MASK == A64_ADR ||
		w&A64_LDR_LIT_MASK == A64_LDR_LIT || w&payload.A64_ADRP_MASK == payload.A64_ADRP
}

// disasm returns the instruction(s) of site s, for messages.
func (f *fn) disasm(arch payload.Arch, s site) string {
	if arch == payload.ArchAMD64 {
		in, err := x86asm.Decode(f.code[s.off:], 64)
		if err != nil || isVEX(f.code[s.off:]) {
			return fmt.Sprintf("% x", f.code[s.off:s.end])
		}
		return x86asm.GoSyntax(in, 0, nil)
	}
	str := func(off int) string {
		in, err := arm64asm.Decode(f.code[off : off+4])
		if err != nil {
			return fmt.Sprintf("%#08x", binary.LittleEndian.Uint32(f.code[off:]))
		}
		return in.String()
	}
	if s.kind == a64ADRP && s.lo >= 0 {
		return str(s.off) + "; " + str(s.lo)
	}
	return str(s.off)
}

// adrImm returns the 21-bit immhi:immlo of an ADR or ADRP.
func adrImm(w uint32) uint32 {
	return (w>>payload.IMMHI_SHIFT&payload.IMMHI_MASK)<<2 | w>>payload.IMMLO_SHIFT&payload.IMMLO_MASK
}

// ldrLiteralSize returns the bytes an LDR (literal) loads, 0 for PRFM
// (C6.2 "LDR (literal)", "LDR (literal, SIMD&FP)", "LDRSW (literal)").
func ldrLiteralSize(w uint32) int {
	opc := w >> SIZE_SHIFT
	if w&V_BIT != 0 {
		return 4 << opc // S, D, Q
	}
	switch opc {
	case 0, 2:
		return 4 // W, LDRSW
	case 1:
		return 8
	}
	return 0
}

// ldstSize returns the bytes a load/store register (unsigned immediate)
// accesses, which scales its imm12: 1 << size, or 16 for the SIMD&FP
// 128-bit form (size 0b00, V 1, opc 0b1x).
func ldstSize(w uint32) int {
	size := w >> SIZE_SHIFT
	if w&V_BIT != 0 && size == 0 && w>>OPC_SHIFT&2 != 0 {
		return 16
	}
	return 1 << size
}

var errVEX = errors.New("VEX/EVEX-encoded instruction that cannot be measured")

// x86Length measures the amd64 instruction at the start of b, which is
// VEX- or EVEX-encoded or in the 0F, 0F38 or 0F3A opcode map, from the
// encoding rules alone (Intel SDM Vol. 2A, 2.1 "Instruction format", 2.2.1
// REX, 2.3 VEX, 2.7 EVEX): prefixes, opcode, ModRM, SIB, displacement and
// an imm8 for map 0F3A and the 0F opcodes that take one. Every such
// instruction has a ModRM byte but VZEROUPPER/VZEROALL; the 0F opcodes
// without one (SYSCALL, CPUID, RDMSR, Jcc rel32, BSWAP ...) are refused,
// x86asm decodes them. rip is the offset of a RIP-relative disp32
// (ModRM mod 00, r/m 101), or -1. ok is false for anything else (a
// one-byte-map opcode x86asm did not know, a truncated instruction).
func x86Length(b []byte) (n, rip int, ok bool) {
	i := 0
	for i < len(b) {
		switch b[i] {
		case 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67:
			i++
			continue
		}
		break
	}
	if i < len(b) && b[i]&0xf0 == 0x40 { // REX
		i++
	}
	if i >= len(b) {
		return 0, -1, false
	}
	var opmap byte
	vex := b[i] == 0xc4 || b[i] == 0xc5 || b[i] == 0x62
	switch b[i] {
	case 0xc5: // VEX2: C5 RvvvvLpp, map 0F
		opmap, i = 1, i+2
	case 0xc4: // VEX3: C4 RXBmmmmm WvvvvLpp
		if i+1 >= len(b) {
			return 0, -1, false
		}
		opmap, i = b[i+1]&0x1f, i+3
	case 0x62: // EVEX: 62 P0 P1 P2, map in P0[2:0]
		if i+1 >= len(b) {
			return 0, -1, false
		}
		opmap, i = b[i+1]&0x7, i+4
	case 0x0f:
		switch {
		case i+1 >= len(b):
			return 0, -1, false
		case b[i+1] == 0x38:
			opmap, i = 2, i+2
		case b[i+1] == 0x3a:
			opmap, i = 3, i+2
		default:
			opmap, i = 1, i+1
		}
	default:
		return 0, -1, false
	}
	if opmap < 1 || opmap > 3 || i+1 > len(b) {
		return 0, -1, false
	}
	op := b[i]
	if opmap == 1 {
		switch {
		case op == 0x77 && vex: // VZEROUPPER, VZEROALL: no ModRM
			return i + 1, -1, true
		case vex:
		case op >= 0x05 && op <= 0x0b, op == 0x0e, op >= 0x30 && op <= 0x37, op == 0x77,
			op >= 0x80 && op <= 0x8f, op >= 0xa0 && op <= 0xa2, op >= 0xa8 && op <= 0xaa, op >= 0xc8 && op <= 0xcf:
			// No ModRM (or a rel32): x86asm knows these.
			return 0, -1, false
		}
	}
	if i+2 > len(b) {
		return 0, -1, false
	}
	modrm := b[i+1]
	i += 2
	mod, rm := modrm>>6, modrm&7
	rip = -1
	if mod != 3 && rm == 4 { // SIB
		if i >= len(b) {
			return 0, -1, false
		}
		if mod == 0 && b[i]&7 == 5 {
			i += 4 // no base: disp32
		}
		i++
	}
	switch {
	case mod == 0 && rm == 5:
		rip = i
		i += 4
	case mod == 1:
		i++
	case mod == 2:
		i += 4
	}
	if opmap == 3 {
		i++
	} else if opmap == 1 {
		switch op {
		case 0x70, 0x71, 0x72, 0x73, 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6:
			i++
		}
	}
	if i > len(b) {
		return 0, -1, false
	}
	return i, rip, true
}

// isVEX reports whether the amd64 instruction b has a VEX (C4, C5) or
// EVEX (62) prefix: after the legacy prefixes, in 64-bit mode those
// bytes are no opcode (Intel SDM Vol. 2A, 2.3.5 and 2.7.1).
func isVEX(b []byte) bool {
	for _, c := range b {
		switch c {
		case 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67:
			continue
		case 0xc4, 0xc5, 0x62:
			return true
		}
		return false
	}
	return false
}
