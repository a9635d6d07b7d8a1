// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func notBusy(string) bool { return false }

func TestCheckAccepts(t *testing.T) {
	if err := arm64Payload().Check(arm64Image(), arm64Text, notBusy); err != nil {
		t.Errorf("arm64: %v", err)
	}
	if err := amd64Payload().Check(amd64Image(), amd64Text, nil); err != nil {
		t.Errorf("amd64: %v", err)
	}
	// A relocation may name a function the payload replaces: it resolves
	// to the old entry, whose trampoline forwards to the new code.
	p := arm64Payload()
	p.Relocs[3].Symbol = "hv.small"
	if err := p.Check(arm64Image(), arm64Text, notBusy); err != nil {
		t.Errorf("reloc to a replaced function: %v", err)
	}
}

func TestCheckRefused(t *testing.T) {
	type env struct {
		p    *Payload
		img  *fakeImage
		text uint64
		busy func(string) bool
	}
	arm := func() env { return env{arm64Payload(), arm64Image(), arm64Text, notBusy} }
	amd := func() env { return env{amd64Payload(), amd64Image(), amd64Text, notBusy} }
	cases := []struct {
		name  string
		setup func() env
		sub   string
		err   error
	}{
		{"another build-id", func() env { e := arm(); e.img.id = []byte{1, 2, 3}; return e },
			`payload "fix-hvc-counter" is for build-id b1d0`, ErrBuildID},
		{"build-id prefix", func() env { e := arm(); e.img.id = testBuildID[:19]; return e }, "image is b1d0", ErrBuildID},
		{"wrong arch", func() env { e := amd(); e.img = arm64Image(); return e }, "is for amd64, image is arm64", ErrArch},
		{"unknown function", func() env { e := arm(); delete(e.img.syms, "hv.small"); return e }, `function "hv.small"`, ErrUnknownSymbol},
		{"unknown reloc symbol", func() env { e := arm(); delete(e.img.syms, "hv.table"); return e },
			`"hv.table", the symbol of R_AARCH64_LDST64_ABS_LO12_NC at offset 0x8`, ErrUnknownSymbol},
		{"busy", func() env {
			e := arm()
			e.busy = func(fn string) bool { return fn == "hv.small" }
			return e
		}, `function "hv.small"`, ErrBusy},
		{"size mismatch", func() env { e := arm(); e.img.syms["hv.small"] = sym{0x40210100, 0x1c}; return e },
			`function "hv.small" is 0x1c bytes in the image, the payload expects 0x18`, ErrSizeMismatch},
		{"arm64 old function too small", func() env {
			e := arm()
			e.img.syms["hv.small"] = sym{0x40210100, 12}
			e.p.Funcs[1].OldSize = 12
			return e
		}, `function "hv.small" is 12 bytes, the arm64 trampoline 16`, ErrTooSmall},
		{"amd64 old function too small", func() env {
			e := amd()
			e.img.syms["hv.small"] = sym{0x10010100, 4}
			e.p.Funcs[1].OldSize = 4
			return e
		}, `function "hv.small" is 4 bytes, the amd64 trampoline 5`, ErrTooSmall},
		{"text misaligned", func() env { e := arm(); e.text += 8; return e }, "text address 0x40800008 not 16-byte aligned", ErrRange},
		{"text wraps", func() env { e := arm(); e.text = 0xfffffffffffffff0; return e }, "wraps the address space", ErrRange},
		{"old function wraps", func() env {
			e := arm()
			e.img.syms["hv.small"] = sym{0xfffffffffffffff8, 0x18}
			return e
		}, `function "hv.small" [0xfffffffffffffff8, +0x18) wraps`, ErrRange},
		{"old function overlaps the text", func() env { e := arm(); e.img.syms["hv.small"] = sym{arm64Text + 0x10, 0x18}; return e },
			"overlaps the new text", ErrRange},
		{"old functions overlap", func() env { e := arm(); e.img.syms["hv.small"] = sym{0x40210020, 0x18}; return e },
			`old functions "hv.handleHVC" [0x40210000, 0x40210040) and "hv.small" [0x40210020, 0x40210038) overlap`, ErrRange},
		{"arm64 old entry misaligned", func() env { e := arm(); e.img.syms["hv.small"] = sym{0x40210104, 0x18}; return e },
			`function "hv.small": value out of range: arm64 trampoline from 0x40210104`, ErrRange},
		{"amd64 trampoline beyond 2 GiB", func() env { e := amd(); e.text = 0x90010010; return e },
			`function "hv.handleVMCALL": value out of range: JMP rel32 from 0x10010000 to 0x90010010`, ErrRange},
		{"unsupported reloc kind", func() env { e := arm(); e.p.Relocs[5].Kind = R_X86_64_64; return e }, "R_X86_64_64 at offset 0x18 for arm64", ErrReloc},
		{"malformed payload", func() env { e := arm(); e.p.Funcs[0].Size = 0x21; return e }, "overlap", ErrFormat},

		// Relocation ranges. P of a relocation at offset o is
		// textAddr + o; S is set so that S + A - P hits the edge.
		{"amd64 PC32 beyond +2 GiB", func() env {
			e := amd()
			e.img.syms["hv.log"] = sym{amd64Text + 1 + 4 + 1<<31, 1} // S-4-P = 2^31
			return e
		}, "R_X86_64_PC32 at offset 0x1 against \"hv.log\" (S=0xa0000005 A=-0x4 P=0x20000001): value out of range: S+A-P = 0x80000000", ErrRange},
		{"amd64 PC32 beyond -2 GiB", func() env {
			e := amd()
			e.text = 0x90000000
			e.img.syms["hv.handleVMCALL"] = sym{0x90000000 - 1<<30, 0x20}
			e.img.syms["hv.small"] = sym{0x90000000 - 1<<30 + 0x100, 0x10}
			e.img.syms["hv.log"] = sym{0x90000000 + 1 + 4 - 1<<31 - 1, 1} // S-4-P = -2^31-1
			return e
		}, "S+A-P = -0x80000001", ErrRange},
		{"arm64 CALL26 beyond +128 MiB", func() env {
			e := arm()
			e.img.syms["hv.log"] = sym{arm64Text + 0xc + 1<<27, 4}
			return e
		}, "R_AARCH64_CALL26 at offset 0xc against \"hv.log\" (S=0x4880000c A=0x0 P=0x4080000c): value out of range: branch distance S+A-P = 0x8000000 outside ±128 MiB", ErrRange},
		{"arm64 CALL26 beyond -128 MiB", func() env {
			e := arm()
			e.img.syms["hv.log"] = sym{arm64Text + 0xc - 1<<27 - 4, 4}
			return e
		}, "S+A-P = -0x8000004", ErrRange},
		{"arm64 JUMP26 beyond +128 MiB", func() env {
			e := arm()
			e.img.syms["hv.exit"] = sym{arm64Text + 0x10 + 1<<27, 4}
			return e
		}, "R_AARCH64_JUMP26 at offset 0x10", ErrRange},
		{"arm64 CALL26 misaligned target", func() env { e := arm(); e.img.syms["hv.log"] = sym{0x40300002, 4}; return e },
			"branch target S+A = 0x40300002 not 4-byte aligned", ErrRange},
		{"arm64 ADRP beyond +4 GiB", func() env {
			e := arm()
			e.img.syms["hv.counters"] = sym{arm64Text + 1<<32, 8}
			return e
		}, "R_AARCH64_ADR_PREL_PG_HI21 at offset 0x0", ErrRange},
		{"arm64 ADRP beyond -4 GiB", func() env {
			e := arm()
			e.text = 0x140800000
			e.img.syms["hv.counters"] = sym{0x140800000 - 1<<32 - 0x1000, 8}
			return e
		}, "Page(S+A)-Page(P) = -0x100001000", ErrRange},
		{"arm64 LDST64 misaligned", func() env { e := arm(); e.img.syms["hv.table"] = sym{0x40b20ab4, 8}; return e },
			"R_AARCH64_LDST64_ABS_LO12_NC at offset 0x8 against \"hv.table\" (S=0x40b20ab4 A=0x8 P=0x40800008): value out of range: S+A = 0x40b20abc not 8-byte aligned", ErrRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.setup()
			err := e.p.Check(e.img, e.text, e.busy)
			wantErr(t, err, c.sub, c.err)
		})
	}
}

// TestRelocEdges checks each range limit from both sides.
func TestRelocEdges(t *testing.T) {
	field := func(k RelocKind) []byte {
		switch k {
		case R_AARCH64_JUMP26, R_AARCH64_CALL26:
			return words(a64BL0)
		case R_AARCH64_ADR_PREL_PG_HI21:
			return words(a64ADRPx0)
		}
		return make([]byte, 4)
	}
	const pc = 0x4000_0000_0000
	for _, c := range []struct {
		kind RelocKind
		dist int64 // S - P
		ok   bool
	}{
		{R_X86_64_PC32, 1<<31 - 1, true},
		{R_X86_64_PC32, 1 << 31, false},
		{R_X86_64_PC32, -1 << 31, true},
		{R_X86_64_PC32, -1<<31 - 1, false},
		{R_AARCH64_CALL26, 1<<27 - 4, true},
		{R_AARCH64_CALL26, 1 << 27, false},
		{R_AARCH64_CALL26, -1 << 27, true},
		{R_AARCH64_CALL26, -1<<27 - 4, false},
		{R_AARCH64_JUMP26, 1<<27 - 4, true},
		{R_AARCH64_JUMP26, -1<<27 - 4, false},
		{R_AARCH64_ADR_PREL_PG_HI21, 1<<32 - 0x1000, true},
		{R_AARCH64_ADR_PREL_PG_HI21, 1 << 32, false},
		{R_AARCH64_ADR_PREL_PG_HI21, -1 << 32, true},
		{R_AARCH64_ADR_PREL_PG_HI21, -1<<32 - 0x1000, false},
	} {
		f := field(c.kind)
		err := c.kind.apply(f, uint64(pc+c.dist), 0, pc)
		if (err == nil) != c.ok {
			t.Errorf("%v distance %#x: error %v, want ok=%v", c.kind, c.dist, err, c.ok)
		}
	}
	// The extremes encode as the extreme immediates.
	f := words(a64BL0)
	if err := R_AARCH64_CALL26.apply(f, pc-1<<27, 0, pc); err != nil || binary.LittleEndian.Uint32(f) != 0x96000000 {
		t.Errorf("BL -128 MiB = %#08x, %v; want 0x96000000 (imm26 = 0x2000000)", binary.LittleEndian.Uint32(f), err)
	}
	f = words(a64ADRPx0)
	// Page distance -4 GiB: imm21 = 0x100000, immlo = 0, immhi = 0x40000.
	if err := R_AARCH64_ADR_PREL_PG_HI21.apply(f, pc-1<<32, 0, pc); err != nil || binary.LittleEndian.Uint32(f) != 0x90800000 {
		t.Errorf("ADRP -4 GiB = %#08x, %v; want 0x90800000", binary.LittleEndian.Uint32(f), err)
	}
	// An error leaves the field as it was.
	f = words(a64BL0)
	if R_AARCH64_CALL26.apply(f, pc+1<<27, 0, pc) == nil || !bytes.Equal(f, words(a64BL0)) {
		t.Error("failed relocation changed its field")
	}
}

// TestLinkARM64 checks the exact linked bytes for every arm64 kind. The
// text is at P0 = 0x40800000.
func TestLinkARM64(t *testing.T) {
	got, err := arm64Payload().Link(arm64Image(), arm64Text)
	if err != nil {
		t.Fatal(err)
	}
	want := words(
		// 0x00 ADRP X0, hv.counters: S = 0x40b12348, P = 0x40800000,
		// Page(S)-Page(P) = 0x40b12000-0x40800000 = 0x312000, imm21 =
		// 0x312, immlo = 0x312&3 = 2 (bits 30:29), immhi = 0x312>>2 =
		// 0xc4 (bits 23:5): 0x90000000|2<<29|0xc4<<5 = 0xd0001880.
		0xd0001880,
		// 0x04 ADD X0, X0, #0x348: imm12 = 0x348 (bits 21:10):
		// 0x91000000|0x348<<10 = 0x910d2000.
		0x910d2000,
		// 0x08 LDR X1, [X0, #0xab8]: S+A = 0x40b20ab0+8 = 0x40b20ab8,
		// imm12 = 0xab8>>3 = 0x157: 0xf9400001|0x157<<10 = 0xf9455c01.
		0xf9455c01,
		// 0x0c BL hv.log: S-P = 0x40300000-0x4080000c = -0x50000c,
		// imm26 = (-0x50000c>>2)&0x3ffffff = 0x3ebfffd: 0x97ebfffd.
		0x97ebfffd,
		// 0x10 B hv.exit: S-P = 0x40900020-0x40800010 = 0x100010,
		// imm26 = 0x40004: 0x14040004.
		0x14040004,
		a64RET,
		// 0x18 .quad hv.counters+0x10 = 0x40b12358.
		0x40b12358, 0,
		a64MOVx0imm1, a64RET,
	)
	if !bytes.Equal(got, want) {
		t.Errorf("linked arm64 text\n got % x\nwant % x", got, want)
	}
	if !bytes.Equal(arm64Payload().Text, arm64Payload().Text) || bytes.Equal(got, arm64Payload().Text) {
		t.Error("Link modified or did not copy the text")
	}
}

// TestLinkAMD64 checks the exact linked bytes for both amd64 kinds. The
// text is at P0 = 0x20000000.
func TestLinkAMD64(t *testing.T) {
	p := amd64Payload()
	orig := bytes.Clone(p.Text)
	got, err := p.Link(amd64Image(), amd64Text)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		// CALL hv.log: S+A-P = 0x10020000-4-0x20000001 = -0xffe0005
		// = 0xf001fffb as u32.
		0xe8, 0xfb, 0xff, 0x01, 0xf0,
		// MOVABS RAX, hv.counters+0x10 = 0x10500018.
		0x48, 0xb8, 0x18, 0x00, 0x50, 0x10, 0, 0, 0, 0,
		0xc3,
		// JMP hv.exit: S+A-P = 0x10030000-4-0x20000011 = -0xffd0015
		// = 0xf002ffeb.
		0xe9, 0xeb, 0xff, 0x02, 0xf0,
		0xc3,
	}
	if !bytes.Equal(got, want) {
		t.Errorf("linked amd64 text\n got % x\nwant % x", got, want)
	}
	if !bytes.Equal(p.Text, orig) {
		t.Error("Link modified p.Text")
	}
}

// TestLinkRevalidates calls Link without Check on bad input: errors, no
// panics.
func TestLinkRevalidates(t *testing.T) {
	p := arm64Payload()
	p.Relocs[0].Offset = 0x1000 // outside the text
	if _, err := p.Link(arm64Image(), arm64Text); err == nil {
		t.Error("reloc outside the text linked")
	}
	if _, err := arm64Payload().Link(amd64Image(), arm64Text); err == nil {
		t.Error("linked for the wrong architecture")
	}
	if _, err := arm64Payload().Link(arm64Image(), arm64Text+4); err == nil {
		t.Error("linked at a misaligned address")
	}
	img := arm64Image()
	img.syms["hv.log"] = sym{arm64Text + 1<<30, 4}
	if _, err := arm64Payload().Link(img, arm64Text); err == nil {
		t.Error("linked an out-of-range branch")
	}
	var nilp *Payload
	if _, err := nilp.Link(arm64Image(), arm64Text); err == nil {
		t.Error("linked a nil payload")
	}
}

// funcImage is a fakeImage that also tells functions from data objects.
type funcImage struct {
	*fakeImage
	objects map[string]bool
}

func (i funcImage) IsFunc(name string) bool { return !i.objects[name] }

// TestCheckRefusesObject: an image that knows its data objects (a
// FuncImage, as selfimage.Image is) makes CHECK refuse to write a
// trampoline over one, and accept the same payload when the symbol is a
// function.
func TestCheckRefusesObject(t *testing.T) {
	p := arm64Payload()
	img := funcImage{arm64Image(), map[string]bool{p.Funcs[0].Name: true}}
	wantErr(t, p.Check(img, arm64Text, notBusy), "is a data object of the image, not a function", ErrUnknownSymbol)
	img.objects = nil
	if err := p.Check(img, arm64Text, notBusy); err != nil {
		t.Errorf("same payload, symbol a function: %v", err)
	}
}
