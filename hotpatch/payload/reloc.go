// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// RelocKind is a relocation type, numbered as the ELF psABI relocation it
// mirrors. In the descriptions S is the symbol's address in the running
// image, A the addend, P the address of the patched field, and
// Page(x) = x &^ 0xfff. Arithmetic is modulo 2^64; a range check applies
// to the result read as a signed 64-bit number.
type RelocKind uint32

// amd64 relocations (System V AMD64 psABI, 4.4.1 "Relocation Types").
const (
	// R_X86_64_64: word64 = S + A.
	R_X86_64_64 RelocKind = 1
	// R_X86_64_PC32: word32 = S + A - P, which must fit in a signed 32-bit
	// integer (the rel32 of a CALL, JMP or RIP-relative operand).
	R_X86_64_PC32 RelocKind = 2
)

// arm64 relocations (ELF for the Arm 64-bit Architecture (AAELF64),
// "Relocation", "Static AArch64 relocations"). The instruction kinds patch
// a little-endian 32-bit instruction at a 4-byte aligned offset, and Parse
// checks that the instruction is one the kind applies to.
const (
	// R_AARCH64_ABS64: 8 bytes = S + A.
	R_AARCH64_ABS64 RelocKind = 257
	// R_AARCH64_ADR_PREL_PG_HI21: ADRP immhi:immlo = (Page(S+A) -
	// Page(P)) >> 12, with -2^32 <= Page(S+A) - Page(P) < 2^32.
	R_AARCH64_ADR_PREL_PG_HI21 RelocKind = 275
	// R_AARCH64_ADD_ABS_LO12_NC: ADD (immediate) imm12 = (S + A) & 0xfff,
	// no check.
	R_AARCH64_ADD_ABS_LO12_NC RelocKind = 277
	// R_AARCH64_JUMP26: B imm26 = (S + A - P) >> 2, with
	// -2^27 <= S + A - P < 2^27 (±128 MiB) and S + A - P a multiple of 4.
	R_AARCH64_JUMP26 RelocKind = 282
	// R_AARCH64_CALL26: BL imm26, computed and checked as
	// R_AARCH64_JUMP26.
	R_AARCH64_CALL26 RelocKind = 283
	// R_AARCH64_LDST8_ABS_LO12_NC: 1-byte LDRB/STRB/LDRSB (unsigned
	// immediate) imm12 = (S + A) & 0xfff, no check.
	R_AARCH64_LDST8_ABS_LO12_NC RelocKind = 278
	// R_AARCH64_LDST16_ABS_LO12_NC: 2-byte LDRH/STRH/LDRSH or LDR/STR Ht
	// (unsigned immediate) imm12 = ((S + A) & 0xfff) >> 1. AAELF64 does
	// no check; this package refuses S + A not a multiple of 2, which the
	// scaled immediate cannot encode. The same holds, with their own
	// sizes, for the 32-, 64- and 128-bit kinds below.
	R_AARCH64_LDST16_ABS_LO12_NC RelocKind = 284
	// R_AARCH64_LDST32_ABS_LO12_NC: 4-byte LDR/STR Wt, LDRSW or LDR/STR
	// St (unsigned immediate) imm12 = ((S + A) & 0xfff) >> 2.
	R_AARCH64_LDST32_ABS_LO12_NC RelocKind = 285
	// R_AARCH64_LDST64_ABS_LO12_NC: 8-byte LDR/STR Xt or Dt, or PRFM
	// (unsigned immediate) imm12 = ((S + A) & 0xfff) >> 3.
	R_AARCH64_LDST64_ABS_LO12_NC RelocKind = 286
	// R_AARCH64_LDST128_ABS_LO12_NC: 16-byte LDR/STR Qt (unsigned
	// immediate) imm12 = ((S + A) & 0xfff) >> 4.
	R_AARCH64_LDST128_ABS_LO12_NC RelocKind = 299
)

// kindInfo describes a relocation kind.
type kindInfo struct {
	name string
	arch Arch
	size int        // bytes of the patched field
	insn *insnClass // instruction the field must hold, or nil for data
}

func (k RelocKind) info() (kindInfo, bool) {
	switch k {
	case R_X86_64_64:
		return kindInfo{"R_X86_64_64", ArchAMD64, 8, nil}, true
	case R_X86_64_PC32:
		return kindInfo{"R_X86_64_PC32", ArchAMD64, 4, nil}, true
	case R_AARCH64_ABS64:
		return kindInfo{"R_AARCH64_ABS64", ArchARM64, 8, nil}, true
	case R_AARCH64_ADR_PREL_PG_HI21:
		return kindInfo{"R_AARCH64_ADR_PREL_PG_HI21", ArchARM64, 4, insnADRP}, true
	case R_AARCH64_ADD_ABS_LO12_NC:
		return kindInfo{"R_AARCH64_ADD_ABS_LO12_NC", ArchARM64, 4, insnADD}, true
	case R_AARCH64_JUMP26:
		return kindInfo{"R_AARCH64_JUMP26", ArchARM64, 4, insnBranch}, true
	case R_AARCH64_CALL26:
		return kindInfo{"R_AARCH64_CALL26", ArchARM64, 4, insnBranch}, true
	case R_AARCH64_LDST8_ABS_LO12_NC:
		return kindInfo{"R_AARCH64_LDST8_ABS_LO12_NC", ArchARM64, 4, insnLDST8}, true
	case R_AARCH64_LDST16_ABS_LO12_NC:
		return kindInfo{"R_AARCH64_LDST16_ABS_LO12_NC", ArchARM64, 4, insnLDST16}, true
	case R_AARCH64_LDST32_ABS_LO12_NC:
		return kindInfo{"R_AARCH64_LDST32_ABS_LO12_NC", ArchARM64, 4, insnLDST32}, true
	case R_AARCH64_LDST64_ABS_LO12_NC:
		return kindInfo{"R_AARCH64_LDST64_ABS_LO12_NC", ArchARM64, 4, insnLDST64}, true
	case R_AARCH64_LDST128_ABS_LO12_NC:
		return kindInfo{"R_AARCH64_LDST128_ABS_LO12_NC", ArchARM64, 4, insnLDST128}, true
	}
	return kindInfo{}, false
}

func (k RelocKind) String() string {
	if i, ok := k.info(); ok {
		return i.name
	}
	return fmt.Sprintf("RelocKind(%d)", uint32(k))
}

// Arch returns the architecture k belongs to, or 0 for an unknown kind.
func (k RelocKind) Arch() Arch {
	i, _ := k.info()
	return i.arch
}

// ldstShift returns log2 of the access size of a LDST*_ABS_LO12_NC kind,
// the shift of its scaled imm12.
func (k RelocKind) ldstShift() uint {
	switch k {
	case R_AARCH64_LDST16_ABS_LO12_NC:
		return 1
	case R_AARCH64_LDST32_ABS_LO12_NC:
		return 2
	case R_AARCH64_LDST64_ABS_LO12_NC:
		return 3
	case R_AARCH64_LDST128_ABS_LO12_NC:
		return 4
	}
	return 0
}

// Range limits of the relocations (see the RelocKind constants).
const (
	branch26Limit = 1 << 27 // ±128 MiB
	adrpLimit     = 1 << 32 // ±4 GiB
	pageMask      = 0xfff
)

// apply computes k for S = s, A = a at P = pc and writes the result into
// field, which holds the kind's field (len(field) == size). It returns
// an error wrapping ErrRange when the result does not fit, leaving field
// unchanged.
func (k RelocKind) apply(field []byte, s uint64, a int64, pc uint64) error {
	le := binary.LittleEndian
	x := s + uint64(a) // S + A
	switch k {
	case R_X86_64_64, R_AARCH64_ABS64:
		le.PutUint64(field, x)
	case R_X86_64_PC32:
		v := int64(x - pc)
		if v < -1<<31 || v >= 1<<31 {
			return fmt.Errorf("%w: S+A-P = %#x does not fit a signed 32-bit field", ErrRange, v)
		}
		le.PutUint32(field, uint32(v))
	case R_AARCH64_JUMP26, R_AARCH64_CALL26:
		v := int64(x - pc)
		if v < -branch26Limit || v >= branch26Limit {
			return fmt.Errorf("%w: branch distance S+A-P = %#x outside ±128 MiB", ErrRange, v)
		}
		if v%4 != 0 {
			return fmt.Errorf("%w: branch target S+A = %#x not 4-byte aligned", ErrRange, x)
		}
		w := le.Uint32(field)
		w = w&^(IMM26_MASK<<IMM26_SHIFT) | uint32(v>>2)&IMM26_MASK<<IMM26_SHIFT
		le.PutUint32(field, w)
	case R_AARCH64_ADR_PREL_PG_HI21:
		v := int64(x&^pageMask - pc&^pageMask)
		if v < -adrpLimit || v >= adrpLimit {
			return fmt.Errorf("%w: page distance Page(S+A)-Page(P) = %#x outside ±4 GiB", ErrRange, v)
		}
		imm := uint32(v >> 12) // 21 significant bits: immhi:immlo
		w := le.Uint32(field)
		w &^= IMMLO_MASK<<IMMLO_SHIFT | IMMHI_MASK<<IMMHI_SHIFT
		w |= imm&IMMLO_MASK<<IMMLO_SHIFT | imm>>2&IMMHI_MASK<<IMMHI_SHIFT
		le.PutUint32(field, w)
	case R_AARCH64_ADD_ABS_LO12_NC:
		w := le.Uint32(field)
		w = w&^(IMM12_MASK<<IMM12_SHIFT) | uint32(x&pageMask)<<IMM12_SHIFT
		le.PutUint32(field, w)
	case R_AARCH64_LDST8_ABS_LO12_NC, R_AARCH64_LDST16_ABS_LO12_NC, R_AARCH64_LDST32_ABS_LO12_NC,
		R_AARCH64_LDST64_ABS_LO12_NC, R_AARCH64_LDST128_ABS_LO12_NC:
		shift := k.ldstShift()
		if x%(1<<shift) != 0 {
			return fmt.Errorf("%w: S+A = %#x not %d-byte aligned for a %d-bit load/store offset", ErrRange, x, 1<<shift, 8<<shift)
		}
		w := le.Uint32(field)
		w = w&^(IMM12_MASK<<IMM12_SHIFT) | uint32(x&pageMask>>shift)<<IMM12_SHIFT
		le.PutUint32(field, w)
	default:
		return fmt.Errorf("%w: %v", ErrReloc, k)
	}
	return nil
}

// Link returns a copy of p.Text with every relocation resolved for the
// text placed at textAddr, against the symbols of img.
//
// Preconditions: img is not nil, and Check(img, textAddr, ...) succeeded
// (Link does not look at build-ids, old function sizes or busy
// functions). Link nevertheless
// re-validates p, the architecture, textAddr and every relocation's range,
// and returns an error (never panics, never returns partly linked code)
// when one fails. It does not write trampolines; see Trampoline.
func (p *Payload) Link(img Image, textAddr uint64) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if a := img.Arch(); a != p.Arch {
		return nil, fmt.Errorf("payload: %w: payload %q is for %v, image is %v", ErrArch, p.Name, p.Arch, a)
	}
	if err := p.checkPlacement(textAddr); err != nil {
		return nil, err
	}
	out := bytes.Clone(p.Text)
	for _, r := range p.Relocs {
		s, _, ok := img.Symbol(r.Symbol)
		if !ok {
			return nil, fmt.Errorf("payload: %w: %q, the symbol of %v at offset %#x", ErrUnknownSymbol, r.Symbol, r.Kind, r.Offset)
		}
		k, _ := r.Kind.info() // validate checked the kind
		pc := textAddr + uint64(r.Offset)
		if err := r.Kind.apply(out[r.Offset:int(r.Offset)+k.size], s, r.Addend, pc); err != nil {
			return nil, fmt.Errorf("payload: %v at offset %#x against %q (S=%#x A=%#x P=%#x): %w",
				r.Kind, r.Offset, r.Symbol, s, r.Addend, pc, err)
		}
	}
	return out, nil
}

// checkPlacement checks that p's text can be placed at textAddr: aligned
// to TextAlign and not wrapping around the address space.
func (p *Payload) checkPlacement(textAddr uint64) error {
	if textAddr%TextAlign != 0 {
		return fmt.Errorf("payload: %w: text address %#x not %d-byte aligned", ErrRange, textAddr, TextAlign)
	}
	if textAddr+uint64(len(p.Text)) < textAddr {
		return fmt.Errorf("payload: %w: text [%#x, +%#x) wraps the address space", ErrRange, textAddr, len(p.Text))
	}
	return nil
}
