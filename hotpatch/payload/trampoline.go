// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"encoding/binary"
	"fmt"
)

// Trampoline sizes.
const (
	// TrampolineAMD64 is JMP rel32.
	TrampolineAMD64 = X86_JMP_REL32_LEN
	// TrampolineARM64 is LDR X16, #8; BR X16; .quad target.
	TrampolineARM64 = 16
)

// TrampolineSize returns the number of bytes Trampoline writes over an
// old function's entry for a, or 0 for an unknown architecture. An old
// function must be at least this long.
//
// On amd64 it is a 5-byte JMP rel32, which reaches ±2 GiB; Check refuses
// a placement of the payload text farther than that from an old function.
// On arm64 it is the 16-byte long form rather than a 4-byte B, because a
// B reaches only ±128 MiB and the memory the hypervisor allocates for a
// payload may lie farther from its text than that; the literal form
// reaches any address.
func TrampolineSize(a Arch) int {
	switch a {
	case ArchAMD64:
		return TrampolineAMD64
	case ArchARM64:
		return TrampolineARM64
	}
	return 0
}

// Trampoline returns the bytes to write at the entry (from) of an old
// function so that a call to it continues at to.
//
// amd64: E9 rel32, rel32 = to - (from + 5), which must fit in a signed
// 32-bit integer (else ErrRange).
//
// arm64, four little-endian words:
//
//	from+0   0x58000050  LDR X16, #8   (LDR (literal), 64-bit: Rt = 16,
//	                                    imm19 = 2, so PC + 8)
//	from+4   0xd61f0200  BR X16        (Rn = 16)
//	from+8   to          .quad, low word first
//
// X16 (IP0) is a scratch register at a function call boundary in both
// AAPCS64 and Go's internal ABI, so clobbering it at the entry of a
// function is invisible to the caller and the callee. from must be 8-byte
// aligned, so the literal is naturally aligned and the 64-bit load cannot
// take an alignment fault (Go aligns function entries to 16 bytes), and
// to must be 4-byte aligned; otherwise Trampoline returns ErrRange.
//
// Writing the bytes, cache maintenance and stopping other CPUs are the
// caller's business.
func Trampoline(a Arch, from, to uint64) ([]byte, error) {
	b, err := trampoline(a, from, to)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return b, nil
}

// trampoline is Trampoline with errors not prefixed by the package name,
// for Check to wrap.
func trampoline(a Arch, from, to uint64) ([]byte, error) {
	le := binary.LittleEndian
	switch a {
	case ArchAMD64:
		rel := int64(to - (from + X86_JMP_REL32_LEN))
		if rel < -1<<31 || rel >= 1<<31 {
			return nil, fmt.Errorf("%w: JMP rel32 from %#x to %#x: distance %#x beyond ±2 GiB", ErrRange, from, to, rel)
		}
		return le.AppendUint32([]byte{X86_JMP_REL32}, uint32(rel)), nil
	case ArchARM64:
		if from%8 != 0 || to%4 != 0 {
			return nil, fmt.Errorf("%w: arm64 trampoline from %#x (want 8-byte aligned) to %#x (want 4-byte aligned)", ErrRange, from, to)
		}
		const literalOffset = 8 // bytes from the LDR to the .quad
		ldr := uint32(A64_LDR_LITERAL_64) | (literalOffset/4)&IMM19_MASK<<IMM19_SHIFT | A64_X16<<RT_SHIFT
		br := uint32(A64_BR) | A64_X16<<RN_SHIFT
		b := make([]byte, 0, TrampolineARM64)
		b = le.AppendUint32(b, ldr)
		b = le.AppendUint32(b, br)
		return le.AppendUint64(b, to), nil
	}
	return nil, fmt.Errorf("%w: no trampoline for %v", ErrArch, a)
}
