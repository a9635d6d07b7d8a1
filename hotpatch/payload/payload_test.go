// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"crypto/ed25519"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestRecordSizes checks the on-file structs against the sizes the
// format and the ELF-64 spec give.
func TestRecordSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		want int
	}{
		{"funcRecord", funcRecord{}, funcRecordSize},
		{"relocRecord", relocRecord{}, relocRecordSize},
		{"Elf64_Ehdr", elf64Ehdr{}, ehdrSize},
		{"Elf64_Shdr", elf64Shdr{}, shdrSize},
	} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("binary.Size(%s) = %d, want %d", c.name, got, c.want)
		}
	}
	if funcRecordSize != 24 || relocRecordSize != 24 || ehdrSize != 64 || shdrSize != 64 {
		t.Error("record sizes differ from doc.go / ELF-64 1.5")
	}
	// The reserved word sits at offset 12 of both records.
	f, _ := binary.Append(nil, binary.LittleEndian, funcRecord{Name: 1, Offset: 2, Size: 3, OldSize: 4})
	r, _ := binary.Append(nil, binary.LittleEndian, relocRecord{Offset: 1, Kind: 2, Symbol: 3, Addend: 4})
	for _, b := range [][]byte{f, r} {
		if binary.LittleEndian.Uint32(b[recordReserved:]) != 0 || binary.LittleEndian.Uint64(b[16:]) != 4 {
			t.Errorf("record layout % x", b)
		}
	}
	if TrailerSize != 104 || len(TrailerMagic) != 28 {
		t.Errorf("TrailerSize %d, magic %d bytes", TrailerSize, len(TrailerMagic))
	}
}

// TestConstantsMatchDebugELF checks the spec constants against the
// standard library's copy of the same specs.
func TestConstantsMatchDebugELF(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"EM_X86_64", EM_X86_64, uint64(elf.EM_X86_64)},
		{"EM_AARCH64", EM_AARCH64, uint64(elf.EM_AARCH64)},
		{"ET_REL", ET_REL, uint64(elf.ET_REL)},
		{"ELFCLASS64", ELFCLASS64, uint64(elf.ELFCLASS64)},
		{"ELFDATA2LSB", ELFDATA2LSB, uint64(elf.ELFDATA2LSB)},
		{"EV_CURRENT", EV_CURRENT, uint64(elf.EV_CURRENT)},
		{"EI_CLASS", EI_CLASS, uint64(elf.EI_CLASS)},
		{"EI_DATA", EI_DATA, uint64(elf.EI_DATA)},
		{"EI_VERSION", EI_VERSION, uint64(elf.EI_VERSION)},
		{"EI_OSABI", EI_OSABI, uint64(elf.EI_OSABI)},
		{"SHT_PROGBITS", SHT_PROGBITS, uint64(elf.SHT_PROGBITS)},
		{"SHT_STRTAB", SHT_STRTAB, uint64(elf.SHT_STRTAB)},
		{"SHF_ALLOC", SHF_ALLOC, uint64(elf.SHF_ALLOC)},
		{"SHF_EXECINSTR", SHF_EXECINSTR, uint64(elf.SHF_EXECINSTR)},
		{"R_X86_64_64", uint64(R_X86_64_64), uint64(elf.R_X86_64_64)},
		{"R_X86_64_PC32", uint64(R_X86_64_PC32), uint64(elf.R_X86_64_PC32)},
		{"R_AARCH64_ABS64", uint64(R_AARCH64_ABS64), uint64(elf.R_AARCH64_ABS64)},
		{"R_AARCH64_ADR_PREL_PG_HI21", uint64(R_AARCH64_ADR_PREL_PG_HI21), uint64(elf.R_AARCH64_ADR_PREL_PG_HI21)},
		{"R_AARCH64_ADD_ABS_LO12_NC", uint64(R_AARCH64_ADD_ABS_LO12_NC), uint64(elf.R_AARCH64_ADD_ABS_LO12_NC)},
		{"R_AARCH64_JUMP26", uint64(R_AARCH64_JUMP26), uint64(elf.R_AARCH64_JUMP26)},
		{"R_AARCH64_CALL26", uint64(R_AARCH64_CALL26), uint64(elf.R_AARCH64_CALL26)},
		{"R_AARCH64_LDST64_ABS_LO12_NC", uint64(R_AARCH64_LDST64_ABS_LO12_NC), uint64(elf.R_AARCH64_LDST64_ABS_LO12_NC)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, debug/elf says %d", c.name, c.got, c.want)
		}
	}
	for _, k := range []RelocKind{R_X86_64_64, R_X86_64_PC32, R_AARCH64_ABS64, R_AARCH64_ADR_PREL_PG_HI21,
		R_AARCH64_ADD_ABS_LO12_NC, R_AARCH64_JUMP26, R_AARCH64_CALL26, R_AARCH64_LDST64_ABS_LO12_NC} {
		var want string
		if k.Arch() == ArchAMD64 {
			want = elf.R_X86_64(k).String()
		} else {
			want = elf.R_AARCH64(k).String()
		}
		if k.String() != want {
			t.Errorf("%v: debug/elf calls it %s", k, want)
		}
	}
}

// TestRoundTrip encodes, signs, opens and parses the test payloads.
func TestRoundTrip(t *testing.T) {
	key := testKey()
	for _, p := range []*Payload{arm64Payload(), amd64Payload(), pclnPayload()} {
		t.Run(fmt.Sprintf("%v-%d", p.Arch, len(p.PCLN)), func(t *testing.T) {
			e := mustEncode(t, p)
			got, err := Parse(e)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("Parse(Encode(p)) =\n%+v\nwant\n%+v", got, p)
			}
			signed := Sign(e, key)
			if len(signed) != len(e)+TrailerSize || !bytes.Equal(signed[:len(e)], e) {
				t.Fatalf("Sign did not append a %d-byte trailer", TrailerSize)
			}
			got, err = Open(signed, []ed25519.PublicKey{pub(otherKey()), pub(key)})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("Open(Sign(Encode(p))) =\n%+v\nwant\n%+v", got, p)
			}
			// The result must not alias the input.
			for i := range signed {
				signed[i] = 0xa5
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatal("payload from Open aliases the signed bytes")
			}
			// debug/elf, a second reader, agrees on the sections.
			f, err := elf.NewFile(bytes.NewReader(e))
			if err != nil {
				t.Fatalf("debug/elf: %v", err)
			}
			if f.Type != elf.ET_REL || uint16(f.Machine) != uint16(p.Arch) {
				t.Errorf("debug/elf: type %v machine %v", f.Type, f.Machine)
			}
			text := f.Section(SectionText)
			if text == nil || text.Flags != elf.SHF_ALLOC|elf.SHF_EXECINSTR || text.Addralign != TextAlign {
				t.Fatalf("debug/elf: %s = %+v", SectionText, text)
			}
			if d, err := text.Data(); err != nil || !bytes.Equal(d, p.Text) {
				t.Errorf("debug/elf: text %x, %v", d, err)
			}
			if pc := f.Section(SectionPCLN); (pc == nil) != (p.PCLN == nil) {
				t.Errorf("debug/elf: %s = %+v", SectionPCLN, pc)
			} else if pc != nil {
				if d, err := pc.Data(); err != nil || !bytes.Equal(d, p.PCLN) || pc.Addralign != 8 || pc.Offset%8 != 0 {
					t.Errorf("debug/elf: %s %+v: % x, %v", SectionPCLN, pc, d, err)
				}
			}
			if n := f.Section(SectionName); n == nil {
				t.Error("debug/elf: no name section")
			} else if d, _ := n.Data(); string(d) != p.Name {
				t.Errorf("debug/elf: name %q", d)
			}
		})
	}
	// Encoding is deterministic.
	if !bytes.Equal(mustEncode(t, arm64Payload()), mustEncode(t, arm64Payload())) {
		t.Error("Encode is not deterministic")
	}
}

// TestOptionalSections checks that .tvpatch.relocs, .tvpatch.depends and
// .tvpatch.pcln may be absent and come back as nil.
func TestOptionalSections(t *testing.T) {
	p := arm64Payload()
	p.Relocs, p.Depends = nil, nil
	e := mustEncode(t, p)
	got, err := Parse(e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Relocs != nil || got.Depends != nil || got.PCLN != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("got %+v", got)
	}
	if bytes.Contains(e, []byte(SectionRelocs)) || bytes.Contains(e, []byte(SectionDepends)) || bytes.Contains(e, []byte(SectionPCLN)) {
		t.Error("empty optional sections were written")
	}
	// An empty .tvpatch.pcln is refused, like an empty .tvpatch.depends.
	e = mustEncode(t, pclnPayload())
	i, s := shdrOf(t, e, SectionPCLN)
	s.Size = 0
	_, err = Parse(setShdr(t, e, i, s))
	wantErr(t, err, "empty .tvpatch.pcln", ErrFormat)
	// Its contents are opaque here, at any alignment of their length.
	for _, n := range []int{1, 7, 8, 4097} {
		q := pclnPayload()
		q.PCLN = bytes.Repeat([]byte{0xa5}, n)
		if got, err := Parse(mustEncode(t, q)); err != nil || !reflect.DeepEqual(got, q) {
			t.Errorf("pcln of %d bytes: %v", n, err)
		}
	}
	// An empty .tvpatch.relocs section is accepted too.
	i, s = shdrOf(t, mustEncode(t, arm64Payload()), SectionRelocs)
	s.Size = 0
	if got, err := Parse(setShdr(t, mustEncode(t, arm64Payload()), i, s)); err != nil || got.Relocs != nil {
		t.Errorf("empty relocs section: %v, %+v", err, got)
	}
	// An empty .tvpatch.depends is not.
	q := amd64Payload()
	e = mustEncode(t, q)
	i, s = shdrOf(t, e, SectionDepends)
	s.Size = 0
	_, err = Parse(setShdr(t, e, i, s))
	wantErr(t, err, "empty .tvpatch.depends", ErrFormat)
}

// TestPayloadRefused checks every refusal of validate, through both
// Encode (a Payload in memory) and Parse (the same Payload written
// without validation).
func TestPayloadRefused(t *testing.T) {
	long := strings.Repeat("n", MaxName+1)
	cases := []struct {
		name   string
		mutate func(p *Payload)
		sub    string
		errs   []error
		psub   string // what Parse says, if it differs from sub
	}{
		{"name too long (129 bytes)", func(p *Payload) { p.Name = long }, "of 129 bytes, want 1..128", nil, ""},
		{"empty name", func(p *Payload) { p.Name = "" }, "payload name \"\" of 0 bytes", nil, ""},
		{"NUL in name", func(p *Payload) { p.Name = "a\x00b" }, "control byte 0x00 at 1", nil, ""},
		{"newline in name", func(p *Payload) { p.Name = "a\nb" }, "control byte 0x0a at 1", nil, ""},
		{"name not UTF-8", func(p *Payload) { p.Name = "a\xffb" }, "not UTF-8", nil, ""},
		{"no build-id", func(p *Payload) { p.BuildID = nil }, "build-id of 0 bytes", nil, ""},
		{"build-id too long", func(p *Payload) { p.BuildID = make([]byte, 65) }, "build-id of 65 bytes", nil, ""},
		{"depends too long", func(p *Payload) { p.Depends = make([]byte, 65) }, "depends build-id of 65 bytes", nil, ""},
		{"pcln too large", func(p *Payload) { p.PCLN = make([]byte, MaxPCLN+1) }, ".tvpatch.pcln of 1048577 bytes, want 0..1048576", nil, ""},
		{"text too large", func(p *Payload) { p.Text = append(p.Text, make([]byte, MaxText)...) }, "text of 1048616 bytes", nil, ""},
		{"no functions", func(p *Payload) { p.Funcs = nil; p.Relocs = nil }, "0 functions", nil, ".tvpatch.funcs of 0 bytes"},
		{"too many functions", func(p *Payload) {
			p.Text = make([]byte, 16*(MaxFuncs+1))
			p.Funcs, p.Relocs = nil, nil
			for i := 0; i <= MaxFuncs; i++ {
				p.Funcs = append(p.Funcs, Func{Name: "f" + strings.Repeat("x", i), Offset: uint32(16 * i), Size: 16, OldSize: 16})
			}
		}, "65 functions, want 1..64", nil, ".tvpatch.funcs of 1560 bytes: want 1..64 records"},
		{"too many relocations", func(p *Payload) {
			p.Relocs = make([]Reloc, MaxRelocs+1)
		}, "4097 relocations", nil, ".tvpatch.relocs of 98328 bytes: want 0..4096 records"},
		{"function name too long", func(p *Payload) { p.Funcs[1].Name = strings.Repeat("s", MaxSymbol+1) }, "function name", nil, ""},
		{"function replaced twice", func(p *Payload) { p.Funcs[1].Name = p.Funcs[0].Name }, `function "hv.handleHVC" replaced twice`, nil, ""},
		{"function without code", func(p *Payload) { p.Funcs[1].Size = 0 }, `function "hv.small": no new code`, nil, ""},
		{"function misaligned", func(p *Payload) { p.Funcs[1].Offset = 0x24; p.Funcs[1].Size = 4 }, "offset 0x24 not a multiple of 16", nil, ""},
		{"function outside text", func(p *Payload) { p.Funcs[1].Size = 9 }, `function "hv.small": [0x20, +0x9) outside the text of 0x28 bytes`, nil, ""},
		{"function far outside text", func(p *Payload) { p.Funcs[1].Offset = 0xfffffff0; p.Funcs[1].Size = 0x20 }, "outside the text", nil, ""},
		{"functions overlap", func(p *Payload) { p.Funcs[0].Size = 0x21 }, `functions "hv.handleHVC" [0x0, +0x21) and "hv.small" [0x20, +0x8) overlap`, nil, ""},
		{"unknown relocation kind", func(p *Payload) { p.Relocs[0].Kind = 9999 }, "RelocKind(9999) at offset 0x0 for arm64", []error{ErrReloc}, ""},
		{"relocation of the other arch", func(p *Payload) { p.Relocs[5].Kind = R_X86_64_64 }, "R_X86_64_64 at offset 0x18 for arm64", []error{ErrReloc}, ""},
		{"relocation outside text", func(p *Payload) { p.Relocs[5].Offset = 0x24 }, "R_AARCH64_ABS64 at [0x24, 0x2c) is not inside one function", nil, ""},
		{"relocation far outside text", func(p *Payload) { p.Relocs[5].Offset = 0xfffffffc }, "is not inside one function", nil, ""},
		{"relocation across functions", func(p *Payload) { p.Funcs[0].Size = 0x1c }, "R_AARCH64_ABS64 at [0x18, 0x20) is not inside one function", nil, ""},
		{"relocations overlap", func(p *Payload) {
			p.Relocs = append(p.Relocs, Reloc{Offset: 0x14, Kind: R_AARCH64_ABS64, Symbol: "x"})
		}, "R_AARCH64_ABS64 at 0x14 and R_AARCH64_ABS64 at 0x18 overlap", nil, ""},
		{"same offset twice", func(p *Payload) {
			p.Relocs = append(p.Relocs, Reloc{Offset: 0x18, Kind: R_AARCH64_ABS64, Symbol: "y"})
		}, "R_AARCH64_ABS64 at 0x18 and R_AARCH64_ABS64 at 0x18 overlap", nil, ""},
		{"instruction relocation misaligned", func(p *Payload) { p.Relocs[3].Offset = 0x0e }, "offset 0xe: instruction not 4-byte aligned", nil, ""},
		{"relocation symbol empty", func(p *Payload) { p.Relocs[2].Symbol = "" }, "relocation symbol name", nil, ""},
		{"CALL26 on a CBZ", func(p *Payload) { copy(p.Text[0x0c:], words(a64CBZx0)) }, "R_AARCH64_CALL26 at offset 0xc patches 0xb4000000, not B or BL", []error{ErrReloc}, ""},
		{"ADRP reloc on ADR", func(p *Payload) { copy(p.Text, words(a64ADRx0)) }, "not ADRP", []error{ErrReloc}, ""},
		{"ADD reloc on shifted ADD", func(p *Payload) { copy(p.Text[4:], words(a64ADDx0x0sh)) }, "not ADD (immediate)", []error{ErrReloc}, ""},
		{"LDST64 reloc on 32-bit LDR", func(p *Payload) { copy(p.Text[8:], words(a64LDRw1x0)) }, "not an 8-byte load/store", []error{ErrReloc}, ""},
		{"bad arch", func(p *Payload) { p.Arch = 3 }, "Arch(3)", []error{ErrArch}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := arm64Payload()
			c.mutate(p)
			_, err := Encode(p)
			wantErr(t, err, c.sub, append([]error{ErrFormat}, c.errs...)...)
			if c.name == "bad arch" {
				return // not writable as an ELF this reader accepts
			}
			b, err := p.write()
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			sub := c.sub
			if c.psub != "" {
				sub = c.psub
			}
			_, err = Parse(b)
			wantErr(t, err, sub, append([]error{ErrFormat}, c.errs...)...)
		})
	}
	// An LDST64 relocation may patch STR X and LDR D too.
	p := arm64Payload()
	copy(p.Text[8:], words(a64STRx1x0))
	if _, err := Encode(p); err != nil {
		t.Errorf("STR X: %v", err)
	}
	copy(p.Text[8:], words(0xfd400001)) // LDR D1, [X0]
	if _, err := Encode(p); err != nil {
		t.Errorf("LDR D: %v", err)
	}
}

// TestParseRefusesELF checks the refusals of the ELF framing.
func TestParseRefusesELF(t *testing.T) {
	good := mustEncode(t, arm64Payload())
	le := binary.LittleEndian
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	withShdr := func(name string, f func(s *elf64Shdr)) []byte {
		i, s := shdrOf(t, good, name)
		f(&s)
		return setShdr(t, good, i, s)
	}
	_, text := shdrOf(t, good, SectionText)
	_, funcs := shdrOf(t, good, SectionFuncs)
	cases := []struct {
		name string
		b    []byte
		sub  string
	}{
		{"empty", nil, "0 bytes is shorter than the ELF header"},
		{"garbage", bytes.Repeat([]byte("tamavisor"), 40), "no ELF magic"},
		{"too large", make([]byte, MaxFile+1), "exceeds MaxFile"},
		{"ELFCLASS32", edit(func(b []byte) { b[EI_CLASS] = 1 }), "EI_CLASS 1"},
		{"big-endian", edit(func(b []byte) { b[EI_DATA] = 2 }), "EI_DATA 2"},
		{"EI_VERSION", edit(func(b []byte) { b[EI_VERSION] = 2 }), "EI_VERSION 2"},
		{"OS ABI", edit(func(b []byte) { b[EI_OSABI] = 3 }), "EI_OSABI 3"},
		{"ident padding", edit(func(b []byte) { b[15] = 1 }), "e_ident padding"},
		{"ET_EXEC", edit(func(b []byte) { le.PutUint16(b[16:], 2) }), "e_type 2"},
		{"EM_386", edit(func(b []byte) { le.PutUint16(b[18:], 3) }), "e_machine 3"},
		{"e_version", edit(func(b []byte) { le.PutUint32(b[20:], 0) }), "e_version 0"},
		{"e_entry", edit(func(b []byte) { le.PutUint64(b[24:], 0x1000) }), "e_entry 0x1000"},
		{"program headers", edit(func(b []byte) { le.PutUint16(b[56:], 1) }), "program headers"},
		{"e_shentsize", edit(func(b []byte) { le.PutUint16(b[58:], 40) }), "e_shentsize 40"},
		{"e_shnum 0", edit(func(b []byte) { le.PutUint16(b[60:], 0) }), "e_shnum 0"},
		{"e_shnum 200", edit(func(b []byte) { le.PutUint16(b[60:], 200) }), "e_shnum 200"},
		{"e_shstrndx 0", edit(func(b []byte) { le.PutUint16(b[62:], 0) }), "e_shstrndx 0"},
		{"e_shstrndx too big", edit(func(b []byte) { le.PutUint16(b[62:], 20) }), "e_shstrndx 20"},
		{"e_shstrndx not the shstrtab", edit(func(b []byte) { le.PutUint16(b[62:], 6) }), "section"},
		{"e_shoff past the end", edit(func(b []byte) { le.PutUint64(b[40:], uint64(len(good))) }), "section header table at"},
		{"e_shoff huge", edit(func(b []byte) { le.PutUint64(b[40:], 1<<63) }), "section header table at"},
		{"e_shoff in the header", edit(func(b []byte) { le.PutUint64(b[40:], 8) }), "section header table at 0x8"},
		{"null section not null", edit(func(b []byte) { b[le.Uint64(b[40:])+4] = 1 }), "section 0 is not the null section"},
		{"section past the end", withShdr(SectionBuildID, func(s *elf64Shdr) { s.Size = uint64(len(good)) }), "outside the file"},
		{"section offset huge", withShdr(SectionBuildID, func(s *elf64Shdr) { s.Offset = 1 << 63 }), "outside the file"},
		{"size wraps", withShdr(SectionBuildID, func(s *elf64Shdr) { s.Size = ^uint64(0) }), "outside the file"},
		{"sections overlap", withShdr(SectionFuncs, func(s *elf64Shdr) { s.Offset = text.Offset; s.Addralign = 1 }), "overlaps"},
		{"section over the ELF header", withShdr(SectionBuildID, func(s *elf64Shdr) { s.Offset = 8 }), "overlaps"},
		{"section over the section table", withShdr(SectionBuildID, func(s *elf64Shdr) { s.Offset = le.Uint64(good[40:]) }), "overlaps"},
		{"sh_addr", withShdr(SectionText, func(s *elf64Shdr) { s.Addr = 0x1000 }), "sh_addr 0x1000"},
		{"sh_link", withShdr(SectionText, func(s *elf64Shdr) { s.Link = 1 }), "sh_link 1"},
		{"bad alignment", withShdr(SectionText, func(s *elf64Shdr) { s.Addralign = 3 }), "sh_addralign 0x3"},
		{"huge alignment", withShdr(SectionText, func(s *elf64Shdr) { s.Addralign = 1 << 40 }), "sh_addralign 0x10000000000"},
		{"misaligned offset", withShdr(SectionFuncs, func(s *elf64Shdr) { s.Addralign = 1 << 12 }), "not a multiple of sh_addralign"},
		{"text not executable", withShdr(SectionText, func(s *elf64Shdr) { s.Flags = SHF_ALLOC }), "section .tvpatch.text: sh_type 1 sh_flags 0x2"},
		{"funcs entsize", withShdr(SectionFuncs, func(s *elf64Shdr) { s.Entsize = 16 }), "sh_entsize 16"},
		{"strtab type", withShdr(SectionStrtab, func(s *elf64Shdr) { s.Type = SHT_PROGBITS }), "section .strtab: sh_type 1"},
		{"shstrtab type", withShdr(SectionShstrtab, func(s *elf64Shdr) { s.Type = SHT_PROGBITS }), "not SHT_STRTAB"},
		{"sh_name out of range", withShdr(SectionText, func(s *elf64Shdr) { s.Name = 0x10000 }), "sh_name 0x10000 outside"},
		{"unnamed section", withShdr(SectionText, func(s *elf64Shdr) { s.Name = 0 }), `unknown section ""`},
		{"second name section", withShdr(SectionBuildID, func(s *elf64Shdr) {
			_, n := shdrOf(t, good, SectionName)
			s.Name = n.Name
		}), "second .tvpatch.name section"},
		{"funcs not whole records", withShdr(SectionFuncs, func(s *elf64Shdr) { s.Size-- }), ".tvpatch.funcs of 47 bytes"},
		{"funcs empty", withShdr(SectionFuncs, func(s *elf64Shdr) { s.Size = 0 }), ".tvpatch.funcs of 0 bytes"},
		{"relocs not whole records", withShdr(SectionRelocs, func(s *elf64Shdr) { s.Size -= 8 }), ".tvpatch.relocs of 136 bytes"},
		{"func reserved word", edit(func(b []byte) { b[funcs.Offset+recordReserved] = 1 }), "function 0: reserved word 0x1"},
		{"reloc reserved word", edit(func(b []byte) { sectionData(t, b, SectionRelocs)[relocRecordSize+recordReserved+3] = 1 }), "relocation 1: reserved word 0x1000000"},
		{"func name outside strtab", edit(func(b []byte) { le.PutUint32(b[funcs.Offset:], 0xffff) }), "function 0: name offset 0xffff outside .strtab"},
		{"reloc name outside strtab", edit(func(b []byte) { le.PutUint32(sectionData(t, b, SectionRelocs)[8:], 0xffffffff) }), "relocation 0: name offset 0xffffffff outside .strtab"},
		{"strtab unterminated", edit(func(b []byte) { s := sectionData(t, b, SectionStrtab); s[len(s)-1] = 'x' }), ".strtab: string table"},
		{"shstrtab unterminated", edit(func(b []byte) { s := sectionData(t, b, SectionShstrtab); s[0] = 'x' }), "section name table"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.b)
			if p != nil {
				t.Error("payload returned with an error")
			}
			wantErr(t, err, c.sub, ErrFormat)
		})
	}

	// Unknown, duplicate and missing sections, written directly.
	sec := func(name string, data []byte) outSection { return outSection{name, data} }
	valid := []outSection{
		sec(SectionText, bytes.Repeat([]byte{0xc3}, 16)),
		sec(SectionFuncs, mustRecord(t, funcRecord{Name: 1, Size: 16, OldSize: 16})),
		sec(SectionBuildID, []byte{1}),
		sec(SectionName, []byte("n")),
		sec(SectionStrtab, []byte("\x00f\x00")),
	}
	if _, err := Parse(mustELF(t, valid)); err != nil {
		t.Fatalf("minimal file: %v", err)
	}
	for _, c := range []struct {
		name string
		secs []outSection
		sub  string
	}{
		{"unknown section", append(valid[:len(valid):len(valid)], sec(".comment", []byte("x"))), `unknown section ".comment"`},
		{"duplicate text", append(valid[:len(valid):len(valid)], sec(SectionText, []byte{0x90})), "second .tvpatch.text section"},
		{"missing buildid", []outSection{valid[0], valid[1], valid[3], valid[4]}, "no .tvpatch.buildid section"},
		{"missing strtab", valid[:4], "no .strtab section"},
	} {
		_, err := Parse(mustELF(t, c.secs))
		wantErr(t, err, c.sub, ErrFormat)
	}
}

func mustRecord(t *testing.T, v any) []byte {
	t.Helper()
	b, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustELF(t *testing.T, secs []outSection) []byte {
	t.Helper()
	b, err := writeELF(EM_X86_64, secs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseTruncated cuts an encoded payload at every length: each must
// be refused, never panic.
func TestParseTruncated(t *testing.T) {
	for _, p := range []*Payload{arm64Payload(), amd64Payload()} {
		e := mustEncode(t, p)
		for n := 0; n < len(e); n++ {
			if _, err := Parse(e[:n]); err == nil {
				t.Fatalf("%v: Parse of the first %d of %d bytes succeeded", p.Arch, n, len(e))
			}
		}
	}
}

// TestLimitsFit checks the claim in MaxFile's comment: a payload at every
// limit at once still encodes.
func TestLimitsFit(t *testing.T) {
	p := &Payload{
		Name:    strings.Repeat("n", MaxName),
		Arch:    ArchAMD64,
		BuildID: make([]byte, MaxBuildID),
		Depends: make([]byte, MaxBuildID),
		Text:    make([]byte, MaxText),
		PCLN:    make([]byte, MaxPCLN),
	}
	uniq := func(prefix string, i int) string { // MaxSymbol bytes
		return fmt.Sprintf("%s%06d", prefix, i) + strings.Repeat("x", MaxSymbol-7)
	}
	fsize := uint32(MaxText / MaxFuncs)
	for i := 0; i < MaxFuncs; i++ {
		p.Funcs = append(p.Funcs, Func{Name: uniq("f", i), Offset: uint32(i) * fsize, Size: fsize, OldSize: 64})
	}
	for i := 0; i < MaxRelocs; i++ {
		p.Relocs = append(p.Relocs, Reloc{Offset: uint32(i) * 8, Kind: R_X86_64_64, Symbol: uniq("r", i)})
	}
	e, err := Encode(p)
	if err != nil {
		t.Fatalf("Encode at the limits: %v", err)
	}
	got, err := Parse(e)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("Parse at the limits: %v", err)
	}
	t.Logf("largest payload: %d bytes of %d", len(e), MaxFile)
}
