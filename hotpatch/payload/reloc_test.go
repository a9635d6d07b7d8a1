// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"
)

// TestLDSTKinds checks the scaled load/store kinds: numbering against
// debug/elf, the instructions each accepts, the imm12 each writes and the
// alignment each refuses.
func TestLDSTKinds(t *testing.T) {
	le := binary.LittleEndian
	for _, c := range []struct {
		kind  RelocKind
		elf   elf.R_AARCH64
		shift uint
		ok    []uint32 // instructions the kind patches
		bad   []uint32 // instructions it refuses
	}{
		{R_AARCH64_LDST8_ABS_LO12_NC, elf.R_AARCH64_LDST8_ABS_LO12_NC, 0,
			[]uint32{0x39400001 /* LDRB W1, [X0] */, 0x39000001 /* STRB W1, [X0] */, 0x39800001 /* LDRSB X1, [X0] */},
			[]uint32{0x3dc00001 /* LDR Q1, [X0] */, 0x79400001 /* LDRH W1, [X0] */, a64ADDx0x0}},
		{R_AARCH64_LDST16_ABS_LO12_NC, elf.R_AARCH64_LDST16_ABS_LO12_NC, 1,
			[]uint32{0x79400001 /* LDRH W1, [X0] */, 0x79000001 /* STRH W1, [X0] */, 0x7d400001 /* LDR H1, [X0] */},
			[]uint32{0x39400001, a64LDRw1x0, a64LDRx1x0}},
		{R_AARCH64_LDST32_ABS_LO12_NC, elf.R_AARCH64_LDST32_ABS_LO12_NC, 2,
			[]uint32{a64LDRw1x0, 0xb9000001 /* STR W1, [X0] */, 0xbd400001 /* LDR S1, [X0] */, 0xb9800001 /* LDRSW X1, [X0] */},
			[]uint32{a64LDRx1x0, 0x79400001}},
		{R_AARCH64_LDST64_ABS_LO12_NC, elf.R_AARCH64_LDST64_ABS_LO12_NC, 3,
			[]uint32{a64LDRx1x0, a64STRx1x0, 0xfd400001 /* LDR D1, [X0] */},
			[]uint32{a64LDRw1x0}},
		{R_AARCH64_LDST128_ABS_LO12_NC, elf.R_AARCH64_LDST128_ABS_LO12_NC, 4,
			[]uint32{0x3dc00001 /* LDR Q1, [X0] */, 0x3d800001 /* STR Q1, [X0] */},
			[]uint32{0x39400001, 0x3d400001 /* LDR B1, [X0] */, a64LDRx1x0}},
	} {
		if uint32(c.kind) != uint32(c.elf) || c.kind.String() != c.elf.String() || c.kind.Arch() != ArchARM64 {
			t.Errorf("%v (%d): debug/elf has %v (%d)", c.kind, uint32(c.kind), c.elf, uint32(c.elf))
		}
		info, _ := c.kind.info()
		for _, w := range c.ok {
			if w&info.insn.mask != info.insn.value {
				t.Errorf("%v refuses %#08x", c.kind, w)
			}
			// imm12 = lo12(S+A) >> shift, the other bits kept.
			const s = 0x4012_3000 + 0x7f0
			f := words(w)
			if err := c.kind.apply(f, s, 0x10, 0x40800000); err != nil {
				t.Errorf("%v on %#08x: %v", c.kind, w, err)
			} else if got, want := le.Uint32(f), w|uint32(0x800>>c.shift)<<IMM12_SHIFT; got != want {
				t.Errorf("%v on %#08x: %#08x, want %#08x", c.kind, w, got, want)
			}
			if c.shift > 0 {
				err := c.kind.apply(words(w), s+1, 0, 0x40800000)
				if err == nil || !strings.Contains(err.Error(), "aligned") {
					t.Errorf("%v: misaligned S+A accepted: %v", c.kind, err)
				}
			}
		}
		for _, w := range c.bad {
			if w&info.insn.mask == info.insn.value {
				t.Errorf("%v accepts %#08x", c.kind, w)
			}
		}
		// Parse and Encode check the instruction class.
		p := &Payload{Name: "ldst", Arch: ArchARM64, BuildID: testBuildID, Text: words(c.ok[0], a64RET, c.bad[0], a64RET),
			Funcs:  []Func{{Name: "f", Size: 16, OldSize: 32}},
			Relocs: []Reloc{{Offset: 0, Kind: c.kind, Symbol: "v"}}}
		if b, err := Encode(p); err != nil {
			t.Errorf("%v: %v", c.kind, err)
		} else if q, err := Parse(b); err != nil || q.Relocs[0].Kind != c.kind {
			t.Errorf("%v: Parse: %v", c.kind, err)
		}
		p.Relocs[0].Offset = 8
		if _, err := Encode(p); err == nil {
			t.Errorf("%v on %#08x encoded", c.kind, c.bad[0])
		}
	}
}
