// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// Placement and symbols of the test images. Every expected byte in the
// Link tests is computed by hand from these numbers.
const (
	arm64Text = 0x40800000 // where the arm64 test text is linked
	amd64Text = 0x20000000 // where the amd64 test text is linked
)

var testBuildID = []byte{0xb1, 0xd0, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11}

// a64 words used in the arm64 test text (encodings checked by objdump in
// TestObjdumpLinked).
const (
	a64ADRPx0     = 0x90000000 // ADRP X0, #0
	a64ADDx0x0    = 0x91000000 // ADD X0, X0, #0
	a64LDRx1x0    = 0xf9400001 // LDR X1, [X0]
	a64BL0        = 0x94000000 // BL .
	a64B0         = 0x14000000 // B .
	a64RET        = 0xd65f03c0 // RET
	a64MOVx0imm1  = 0xd2800020 // MOV X0, #1
	a64NOP        = 0xd503201f // NOP
	a64STRx1x0    = 0xf9000001 // STR X1, [X0]
	a64ADDx0x0sh  = 0x91400000 // ADD X0, X0, #0, LSL #12
	a64LDRw1x0    = 0xb9400001 // LDR W1, [X0] (4-byte: not for LDST64)
	a64ADRx0      = 0x10000000 // ADR X0, . (not ADRP)
	a64CBZx0      = 0xb4000000 // CBZ X0, . (not B/BL)
	a64ReservedUD = 0x00000000 // UDF #0
)

func words(ws ...uint32) []byte {
	var b []byte
	for _, w := range ws {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// arm64Payload replaces hv.handleHVC (0x20 bytes of new code using every
// arm64 relocation kind) and hv.small.
func arm64Payload() *Payload {
	text := words(
		a64ADRPx0,  // 0x00 ADRP X0, hv.counters
		a64ADDx0x0, // 0x04 ADD X0, X0, :lo12:hv.counters
		a64LDRx1x0, // 0x08 LDR X1, [X0, :lo12:hv.table+8]
		a64BL0,     // 0x0c BL hv.log
		a64B0,      // 0x10 B hv.exit
		a64RET,     // 0x14
		0, 0,       // 0x18 .quad hv.counters+0x10
		a64MOVx0imm1, // 0x20 hv.small: MOV X0, #1
		a64RET,       // 0x24
	)
	return &Payload{
		Name:    "fix-hvc-counter",
		Arch:    ArchARM64,
		BuildID: slices.Clone(testBuildID),
		Text:    text,
		Funcs: []Func{
			{Name: "hv.handleHVC", Offset: 0, Size: 0x20, OldSize: 0x40},
			{Name: "hv.small", Offset: 0x20, Size: 8, OldSize: 0x18},
		},
		Relocs: []Reloc{
			{Offset: 0x00, Kind: R_AARCH64_ADR_PREL_PG_HI21, Symbol: "hv.counters"},
			{Offset: 0x04, Kind: R_AARCH64_ADD_ABS_LO12_NC, Symbol: "hv.counters"},
			{Offset: 0x08, Kind: R_AARCH64_LDST64_ABS_LO12_NC, Symbol: "hv.table", Addend: 8},
			{Offset: 0x0c, Kind: R_AARCH64_CALL26, Symbol: "hv.log"},
			{Offset: 0x10, Kind: R_AARCH64_JUMP26, Symbol: "hv.exit"},
			{Offset: 0x18, Kind: R_AARCH64_ABS64, Symbol: "hv.counters", Addend: 0x10},
		},
	}
}

// amd64Payload replaces hv.handleVMCALL and hv.small using both amd64
// relocation kinds.
func amd64Payload() *Payload {
	text := []byte{
		0xe8, 0, 0, 0, 0, // 0x00 CALL hv.log (rel32 at 0x01)
		0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, // 0x05 MOVABS RAX, hv.counters+0x10 (imm64 at 0x07)
		0xc3,             // 0x0f RET
		0xe9, 0, 0, 0, 0, // 0x10 hv.small: JMP hv.exit (rel32 at 0x11)
		0xc3, // 0x15 RET
	}
	return &Payload{
		Name:    "fix-vmcall",
		Arch:    ArchAMD64,
		BuildID: slices.Clone(testBuildID),
		Depends: []byte("base-patch-id"),
		Text:    text,
		Funcs: []Func{
			{Name: "hv.handleVMCALL", Offset: 0, Size: 0x10, OldSize: 0x20},
			{Name: "hv.small", Offset: 0x10, Size: 6, OldSize: 0x10},
		},
		Relocs: []Reloc{
			{Offset: 0x01, Kind: R_X86_64_PC32, Symbol: "hv.log", Addend: -4},
			{Offset: 0x07, Kind: R_X86_64_64, Symbol: "hv.counters", Addend: 0x10},
			{Offset: 0x11, Kind: R_X86_64_PC32, Symbol: "hv.exit", Addend: -4},
		},
	}
}

// pclnPayload is arm64Payload with a .tvpatch.pcln section (opaque to
// this package: the bytes only begin like gofunc's encoding).
func pclnPayload() *Payload {
	p := arm64Payload()
	p.Name = "fix-hvc-counter-pcln"
	p.PCLN = append([]byte("TVGOFUNC\x01\x00\x04\x08"), bytes.Repeat([]byte{0x5a, 0x00, 0xff}, 11)...)
	return p
}

type sym struct{ addr, size uint64 }

// fakeImage is an Image backed by a map.
type fakeImage struct {
	arch Arch
	id   []byte
	syms map[string]sym
}

func (m *fakeImage) Arch() Arch      { return m.arch }
func (m *fakeImage) BuildID() []byte { return m.id }
func (m *fakeImage) Symbol(name string) (uint64, uint64, bool) {
	s, ok := m.syms[name]
	return s.addr, s.size, ok
}

func arm64Image() *fakeImage {
	return &fakeImage{ArchARM64, slices.Clone(testBuildID), map[string]sym{
		"hv.handleHVC": {0x40210000, 0x40},
		"hv.small":     {0x40210100, 0x18},
		"hv.counters":  {0x40b12348, 0x100},
		"hv.table":     {0x40b20ab0, 0x200},
		"hv.log":       {0x40300000, 0x80},
		"hv.exit":      {0x40900020, 0x40},
	}}
}

func amd64Image() *fakeImage {
	return &fakeImage{ArchAMD64, slices.Clone(testBuildID), map[string]sym{
		"hv.handleVMCALL": {0x10010000, 0x20},
		"hv.small":        {0x10010100, 0x10},
		"hv.counters":     {0x10500008, 0x100},
		"hv.log":          {0x10020000, 0x80},
		"hv.exit":         {0x10030000, 0x40},
	}}
}

// testKey is the fixed signing key of the tests and fuzz seeds.
func testKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tamavisor hotpatch payload test key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func otherKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("some other key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func mustEncode(t testing.TB, p *Payload) []byte {
	t.Helper()
	b, err := Encode(p)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

// mustWrite encodes p without validation, for files Parse must refuse.
func mustWrite(t testing.TB, p *Payload) []byte {
	t.Helper()
	b, err := p.write()
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return b
}

// wantErr fails unless err wraps every one of want and its message
// contains sub.
func wantErr(t *testing.T, err error, sub string, want ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v (%q)", want, sub)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("error %q does not wrap %q", err, w)
		}
	}
	if !strings.Contains(err.Error(), sub) {
		t.Errorf("error %q does not mention %q", err, sub)
	}
}

// shdrOf returns the index and header of the section called name in an
// encoded payload.
func shdrOf(t *testing.T, b []byte, name string) (int, elf64Shdr) {
	t.Helper()
	var h elf64Ehdr
	if _, err := binary.Decode(b, binary.LittleEndian, &h); err != nil {
		t.Fatal(err)
	}
	shdrs := make([]elf64Shdr, h.Shnum)
	if _, err := binary.Decode(b[h.Shoff:], binary.LittleEndian, shdrs); err != nil {
		t.Fatal(err)
	}
	str := shdrs[h.Shstrndx]
	tab := b[str.Offset : str.Offset+str.Size]
	for i, s := range shdrs {
		if n, _ := cstring(tab, s.Name); i > 0 && n == name {
			return i, s
		}
	}
	t.Fatalf("no section %s", name)
	return 0, elf64Shdr{}
}

// setShdr returns a copy of b with section i's header replaced.
func setShdr(t *testing.T, b []byte, i int, s elf64Shdr) []byte {
	t.Helper()
	b = bytes.Clone(b)
	shoff := binary.LittleEndian.Uint64(b[0x28:])
	if _, err := binary.Encode(b[shoff+uint64(i)*shdrSize:], binary.LittleEndian, &s); err != nil {
		t.Fatal(err)
	}
	return b
}

// sectionData returns the contents of section name in b (aliasing b).
func sectionData(t *testing.T, b []byte, name string) []byte {
	t.Helper()
	_, s := shdrOf(t, b, name)
	return b[s.Offset : s.Offset+s.Size]
}
