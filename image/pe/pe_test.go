// image/pe: tests for the ELF to PE32+ converter.
// SPDX-License-Identifier: BSD-3-Clause

package pe

import (
	"bytes"
	"debug/elf"
	dpe "debug/pe"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the named seed files in testdata/fuzz/FuzzFromELF")

// testSeg is one program header of a synthetic ELF file.
type testSeg struct {
	typ    elf.ProgType // 0 means PT_LOAD
	flags  elf.ProgFlag
	off    uint64
	vaddr  uint64
	filesz uint64
	memsz  uint64
}

// testSection is one section header of a synthetic ELF file; its file
// offset is derived from the PT_LOAD that contains addr.
type testSection struct {
	name  string
	typ   elf.SectionType
	flags elf.SectionFlag
	addr  uint64
	size  uint64
}

// testELF describes a synthetic ELF64 file.
type testELF struct {
	class    elf.Class // 0 means ELFCLASS64
	data     elf.Data  // 0 means ELFDATA2LSB
	machine  elf.Machine
	typ      elf.Type
	entry    uint64
	segs     []testSeg
	sections []testSection
	// zeroHeaderPage clears the bytes between the program headers and
	// offset 0x1000 (keeps seed files small).
	zeroHeaderPage bool
}

// pattern is the byte at file offset x of every synthetic file: varied,
// so that a misplaced copy shows.
func pattern(x uint64) byte { return byte(x*7 ^ x>>8 ^ x>>16 ^ 0x5a) }

// build assembles the ELF file: the bytes covered by segments follow
// pattern, then the ELF header and program headers are written at offset
// 0 (inside the first segment when it starts at 0, as with TamaGo), and
// section headers with their .shstrtab go at the end.
func (e testELF) build() []byte {
	le := binary.LittleEndian
	size := uint64(64 + 56*len(e.segs))
	for _, s := range e.segs {
		// Bogus ranges (error tests) do not grow the file.
		if s.off < 1<<24 && s.filesz < 1<<24 {
			size = max(size, s.off+s.filesz)
		}
	}
	b := make([]byte, size)
	for x := range b {
		b[x] = pattern(uint64(x))
	}
	if e.zeroHeaderPage {
		clear(b[64+56*len(e.segs) : min(0x1000, len(b))])
	}

	var shoff uint64
	var shnum, shstrndx uint16
	if len(e.sections) > 0 {
		strtab := []byte{0}
		type sh struct {
			name            uint32
			typ             elf.SectionType
			flags           elf.SectionFlag
			addr, off, size uint64
		}
		shs := []sh{{}} // SHT_NULL
		for _, s := range e.sections {
			h := sh{name: uint32(len(strtab)), typ: s.typ, flags: s.flags, addr: s.addr, size: s.size}
			for _, g := range e.segs {
				if (g.typ == 0 || g.typ == elf.PT_LOAD) && s.addr >= g.vaddr && s.addr < g.vaddr+g.filesz {
					h.off = g.off + s.addr - g.vaddr
				}
			}
			if s.typ == elf.SHT_NOBITS {
				h.off = 0
			}
			strtab = append(append(strtab, s.name...), 0)
			shs = append(shs, h)
		}
		shs = append(shs, sh{name: uint32(len(strtab)), typ: elf.SHT_STRTAB, off: uint64(len(b)), size: uint64(len(strtab)) + 10})
		strtab = append(append(strtab, ".shstrtab"...), 0)
		b = append(b, strtab...)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		shoff = uint64(len(b))
		shnum = uint16(len(shs))
		shstrndx = shnum - 1
		for _, h := range shs {
			b = le.AppendUint32(b, h.name)
			b = le.AppendUint32(b, uint32(h.typ))
			b = le.AppendUint64(b, uint64(h.flags))
			b = le.AppendUint64(b, h.addr)
			b = le.AppendUint64(b, h.off)
			b = le.AppendUint64(b, h.size)
			b = le.AppendUint32(b, 0) // sh_link
			b = le.AppendUint32(b, 0) // sh_info
			b = le.AppendUint64(b, 1) // sh_addralign
			b = le.AppendUint64(b, 0) // sh_entsize
		}
	}

	class, data := e.class, e.data
	if class == 0 {
		class = elf.ELFCLASS64
	}
	if data == 0 {
		data = elf.ELFDATA2LSB
	}
	h := []byte{0x7f, 'E', 'L', 'F', byte(class), byte(data), byte(elf.EV_CURRENT), 0, 0, 0, 0, 0, 0, 0, 0, 0}
	h = le.AppendUint16(h, uint16(e.typ))
	h = le.AppendUint16(h, uint16(e.machine))
	h = le.AppendUint32(h, uint32(elf.EV_CURRENT))
	h = le.AppendUint64(h, e.entry)
	h = le.AppendUint64(h, 64) // e_phoff
	h = le.AppendUint64(h, shoff)
	h = le.AppendUint32(h, 0)  // e_flags
	h = le.AppendUint16(h, 64) // e_ehsize
	h = le.AppendUint16(h, 56) // e_phentsize
	h = le.AppendUint16(h, uint16(len(e.segs)))
	if shnum > 0 {
		h = le.AppendUint16(h, 64) // e_shentsize
	} else {
		h = le.AppendUint16(h, 0)
	}
	h = le.AppendUint16(h, shnum)
	h = le.AppendUint16(h, shstrndx)
	for _, s := range e.segs {
		typ := s.typ
		if typ == 0 {
			typ = elf.PT_LOAD
		}
		h = le.AppendUint32(h, uint32(typ))
		h = le.AppendUint32(h, uint32(s.flags))
		h = le.AppendUint64(h, s.off)
		h = le.AppendUint64(h, s.vaddr)
		h = le.AppendUint64(h, s.vaddr) // p_paddr
		h = le.AppendUint64(h, s.filesz)
		h = le.AppendUint64(h, s.memsz)
		h = le.AppendUint64(h, 0x1000) // p_align
	}
	copy(b, h)
	return b
}

// TamaGo-like layout: the first PT_LOAD maps the file from offset 0, so
// its first page holds the ELF headers and notes and .text starts at
// vaddr+0x1000; then read-only data, then data with bss.
const (
	tgBase     = 0x10000000
	tgText     = tgBase + 0x1000
	tgTextSize = 0x2345
	tgEntry    = tgText + 0x20
	tgRodata   = 0x100d2000
	tgData     = 0x100e0000
)

func tamagoELF() testELF {
	return testELF{
		machine: elf.EM_X86_64,
		typ:     elf.ET_EXEC,
		entry:   tgEntry,
		segs: []testSeg{
			{typ: elf.PT_NOTE, flags: elf.PF_R, off: 0xf60, vaddr: tgBase + 0xf60, filesz: 0x18, memsz: 0x18},
			{flags: elf.PF_R | elf.PF_X, off: 0, vaddr: tgBase, filesz: 0x1000 + tgTextSize, memsz: 0x1000 + tgTextSize},
			{flags: elf.PF_R, off: 0x4000, vaddr: tgRodata, filesz: 0x1234, memsz: 0x1234},
			{flags: elf.PF_R | elf.PF_W, off: 0x6000, vaddr: tgData, filesz: 0x800, memsz: 0x5000},
			{typ: elf.PT_GNU_STACK, flags: elf.PF_R | elf.PF_W},
		},
		sections: []testSection{
			{".text", elf.SHT_PROGBITS, elf.SHF_ALLOC | elf.SHF_EXECINSTR, tgText, tgTextSize},
			{".rodata", elf.SHT_PROGBITS, elf.SHF_ALLOC, tgRodata, 0x1234},
			{".data", elf.SHT_PROGBITS, elf.SHF_ALLOC | elf.SHF_WRITE, tgData, 0x800},
			{".bss", elf.SHT_NOBITS, elf.SHF_ALLOC | elf.SHF_WRITE, tgData + 0x800, 0x4800},
			{".note.go.pvh", elf.SHT_NOTE, elf.SHF_ALLOC, tgBase + 0xf60, 0x18},
		},
	}
}

// compactELF needs no SkipHeaderPage: its text segment is one page above
// the default image base and its segments are packed in the file.
func compactELF() testELF {
	return testELF{
		machine: elf.EM_X86_64,
		typ:     elf.ET_EXEC,
		entry:   0x10001010,
		segs: []testSeg{
			{flags: elf.PF_R | elf.PF_X, off: 0x100, vaddr: 0x10001000, filesz: 0x40, memsz: 0x40},
			{flags: elf.PF_R, off: 0x140, vaddr: 0x10002000, filesz: 0x20, memsz: 0x20},
			{flags: elf.PF_R | elf.PF_W, off: 0x160, vaddr: 0x10003000, filesz: 0x20, memsz: 0x2000},
		},
	}
}

// validatePE parses out with debug/pe and checks the invariants every
// FromELF output must satisfy, whatever its input. It returns the parsed
// file for further checks.
func validatePE(out []byte) (*dpe.File, error) {
	f, err := dpe.NewFile(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("debug/pe: %w", err)
	}
	if f.Machine != IMAGE_FILE_MACHINE_AMD64 {
		return nil, fmt.Errorf("machine %#x", f.Machine)
	}
	if f.Characteristics&IMAGE_FILE_RELOCS_STRIPPED != 0 {
		return nil, errors.New("IMAGE_FILE_RELOCS_STRIPPED set")
	}
	want := uint16(IMAGE_FILE_EXECUTABLE_IMAGE | IMAGE_FILE_LARGE_ADDRESS_AWARE)
	if f.Characteristics != want {
		return nil, fmt.Errorf("characteristics %#x, want %#x", f.Characteristics, want)
	}
	if f.TimeDateStamp != 0 {
		return nil, fmt.Errorf("TimeDateStamp %#x", f.TimeDateStamp)
	}
	oh, ok := f.OptionalHeader.(*dpe.OptionalHeader64)
	if !ok {
		return nil, fmt.Errorf("optional header is %T", f.OptionalHeader)
	}
	if oh.Magic != IMAGE_NT_OPTIONAL_HDR64_MAGIC {
		return nil, fmt.Errorf("magic %#x", oh.Magic)
	}
	if oh.SectionAlignment != SectionAlignment || oh.FileAlignment != FileAlignment {
		return nil, fmt.Errorf("alignments %#x/%#x", oh.SectionAlignment, oh.FileAlignment)
	}
	if oh.SizeOfHeaders%FileAlignment != 0 || oh.SizeOfImage%SectionAlignment != 0 {
		return nil, fmt.Errorf("SizeOfHeaders %#x SizeOfImage %#x not aligned", oh.SizeOfHeaders, oh.SizeOfImage)
	}
	if oh.Subsystem < IMAGE_SUBSYSTEM_EFI_APPLICATION || oh.Subsystem > IMAGE_SUBSYSTEM_EFI_ROM {
		return nil, fmt.Errorf("subsystem %d", oh.Subsystem)
	}
	if oh.NumberOfRvaAndSizes != IMAGE_NUMBEROF_DIRECTORY_ENTRIES {
		return nil, fmt.Errorf("NumberOfRvaAndSizes %d", oh.NumberOfRvaAndSizes)
	}
	hdrEnd := uint64(sectionTableOff + len(f.Sections)*sectionHeaderSize)
	if uint64(oh.SizeOfHeaders) < hdrEnd {
		return nil, fmt.Errorf("SizeOfHeaders %#x < end of section table %#x", oh.SizeOfHeaders, hdrEnd)
	}
	if len(f.Sections) < 2 || f.Sections[len(f.Sections)-1].Name != ".reloc" {
		return nil, fmt.Errorf("%d sections, last must be .reloc", len(f.Sections))
	}
	nextVA := alignUp(uint64(oh.SizeOfHeaders), SectionAlignment)
	nextRaw := uint64(oh.SizeOfHeaders)
	entryOK := false
	for _, s := range f.Sections {
		if s.VirtualAddress%SectionAlignment != 0 || uint64(s.VirtualAddress) < nextVA {
			return nil, fmt.Errorf("section %s VA %#x (next free %#x)", s.Name, s.VirtualAddress, nextVA)
		}
		if s.VirtualSize == 0 {
			return nil, fmt.Errorf("section %s is empty", s.Name)
		}
		nextVA = alignUp(uint64(s.VirtualAddress)+uint64(s.VirtualSize), SectionAlignment)
		if s.Size > 0 {
			if uint64(s.Offset) != nextRaw || s.Size%FileAlignment != 0 {
				return nil, fmt.Errorf("section %s raw [%#x+%#x], expected at %#x", s.Name, s.Offset, s.Size, nextRaw)
			}
			if s.Size > uint32(alignUp(uint64(s.VirtualSize), FileAlignment)) {
				return nil, fmt.Errorf("section %s raw size %#x > virtual size %#x", s.Name, s.Size, s.VirtualSize)
			}
			nextRaw += uint64(s.Size)
		} else if s.Offset != 0 {
			return nil, fmt.Errorf("section %s has no raw data but offset %#x", s.Name, s.Offset)
		}
		if s.Characteristics&IMAGE_SCN_CNT_CODE != 0 && oh.AddressOfEntryPoint >= s.VirtualAddress &&
			oh.AddressOfEntryPoint-s.VirtualAddress < s.VirtualSize {
			entryOK = true
		}
	}
	if nextRaw != uint64(len(out)) {
		return nil, fmt.Errorf("file is %#x bytes, sections end at %#x", len(out), nextRaw)
	}
	if uint64(oh.SizeOfImage) != nextVA {
		return nil, fmt.Errorf("SizeOfImage %#x, last section ends at %#x", oh.SizeOfImage, nextVA)
	}
	if !entryOK {
		return nil, fmt.Errorf("entry RVA %#x not in a code section", oh.AddressOfEntryPoint)
	}
	if first := f.Sections[0]; first.Characteristics&IMAGE_SCN_CNT_CODE != 0 && oh.BaseOfCode != first.VirtualAddress {
		return nil, fmt.Errorf("BaseOfCode %#x, first section (code) at %#x", oh.BaseOfCode, first.VirtualAddress)
	}

	// The base relocation table: one block, PageRVA = first section,
	// padding entries only.
	dd := oh.DataDirectory[IMAGE_DIRECTORY_ENTRY_BASERELOC]
	reloc := f.Sections[len(f.Sections)-1]
	if dd.VirtualAddress != reloc.VirtualAddress || dd.Size != relocBlockSize {
		return nil, fmt.Errorf("BaseRelocationTable %#x+%#x, .reloc at %#x", dd.VirtualAddress, dd.Size, reloc.VirtualAddress)
	}
	if want := uint32(IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_DISCARDABLE); reloc.Characteristics != want {
		return nil, fmt.Errorf(".reloc characteristics %#x", reloc.Characteristics)
	}
	for i, d := range oh.DataDirectory {
		if i != IMAGE_DIRECTORY_ENTRY_BASERELOC && (d.VirtualAddress != 0 || d.Size != 0) {
			return nil, fmt.Errorf("data directory %d is %#x+%#x", i, d.VirtualAddress, d.Size)
		}
	}
	rd, err := reloc.Data()
	if err != nil {
		return nil, fmt.Errorf(".reloc data: %w", err)
	}
	le := binary.LittleEndian
	if page, size := le.Uint32(rd), le.Uint32(rd[4:]); page != f.Sections[0].VirtualAddress || size != dd.Size {
		return nil, fmt.Errorf("reloc block PageRVA %#x BlockSize %#x", page, size)
	}
	for off := IMAGE_SIZEOF_BASE_RELOCATION; off < relocBlockSize; off += 2 {
		if e := le.Uint16(rd[off:]); e>>IMAGE_REL_BASED_TYPE_SHIFT != IMAGE_REL_BASED_ABSOLUTE {
			return nil, fmt.Errorf("reloc entry %#x is not IMAGE_REL_BASED_ABSOLUTE", e)
		}
	}
	if !allZero(rd[relocBlockSize:]) {
		return nil, errors.New(".reloc padding is not zero")
	}
	return f, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

type wantSection struct {
	name  string
	va    uint32
	vsize uint32
	chars uint32
	data  []byte // expected file-backed bytes
}

// checkSections compares f's sections (but .reloc) with want, including
// the raw bytes and their zero padding.
func checkSections(t *testing.T, f *dpe.File, want []wantSection) {
	t.Helper()
	if len(f.Sections) != len(want)+1 {
		t.Fatalf("%d sections, want %d + .reloc", len(f.Sections), len(want))
	}
	for i, w := range want {
		s := f.Sections[i]
		if s.Name != w.name || s.VirtualAddress != w.va || s.VirtualSize != w.vsize || s.Characteristics != w.chars {
			t.Errorf("section %d: %s VA %#x size %#x chars %#x, want %s VA %#x size %#x chars %#x",
				i, s.Name, s.VirtualAddress, s.VirtualSize, s.Characteristics, w.name, w.va, w.vsize, w.chars)
		}
		if s.Size != uint32(alignUp(uint64(len(w.data)), FileAlignment)) {
			t.Errorf("section %s SizeOfRawData %#x for %#x bytes", s.Name, s.Size, len(w.data))
		}
		raw, err := s.Data()
		if err != nil {
			t.Fatalf("section %s: %v", s.Name, err)
		}
		if len(raw) < len(w.data) {
			t.Fatalf("section %s has %#x raw bytes, want at least %#x", s.Name, len(raw), len(w.data))
		}
		if !bytes.Equal(raw[:len(w.data)], w.data) {
			t.Errorf("section %s raw data differs from the ELF segment", s.Name)
		}
		if !allZero(raw[len(w.data):]) {
			t.Errorf("section %s padding is not zero", s.Name)
		}
	}
}

const (
	textChars  = IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ
	rdataChars = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
	dataChars  = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE
	bssChars   = IMAGE_SCN_CNT_UNINITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE
	relocChars = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_DISCARDABLE
)

func mustConvert(t *testing.T, in []byte, o Options) (*dpe.File, []byte) {
	t.Helper()
	out, err := FromELF(in, o)
	if err != nil {
		t.Fatalf("FromELF: %v", err)
	}
	f, err := validatePE(out)
	if err != nil {
		t.Fatalf("invalid output: %v", err)
	}
	return f, out
}

func TestStructSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		want int
	}{
		{"IMAGE_DOS_HEADER", dosHeader{}, dosHeaderSize},
		{"IMAGE_FILE_HEADER", fileHeader{}, fileHeaderSize},
		{"IMAGE_OPTIONAL_HEADER64", optionalHeader64{}, optionalHeader64Size},
		{"IMAGE_SECTION_HEADER", sectionHeader{}, sectionHeaderSize},
		{"IMAGE_BASE_RELOCATION", baseRelocation{}, IMAGE_SIZEOF_BASE_RELOCATION},
		{"IMAGE_DATA_DIRECTORY", dataDirectory{}, 8},
	} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("binary.Size(%s) = %d, want %d", c.name, got, c.want)
		}
	}
	// e_lfanew sits at 0x3c (PE Format, MS-DOS Stub).
	b, err := binary.Append(nil, binary.LittleEndian, dosHeader{ELfanew: 0x11223344})
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b[0x3c:]); got != 0x11223344 {
		t.Errorf("e_lfanew at 0x3c = %#x", got)
	}
	if sectionTableOff != 0x148 {
		t.Errorf("section table at %#x, want 0x148", sectionTableOff)
	}
}

func TestTamaGoLayout(t *testing.T) {
	in := tamagoELF().build()
	orig := bytes.Clone(in)
	f, out := mustConvert(t, in, Options{Entry: tgEntry, SkipHeaderPage: true})
	if !bytes.Equal(in, orig) {
		t.Fatal("FromELF modified its input")
	}
	if string(out[:2]) != "MZ" || binary.LittleEndian.Uint32(out[0x3c:]) != 0x40 || string(out[0x40:0x44]) != IMAGE_NT_SIGNATURE {
		t.Errorf("bad MS-DOS header or PE signature: % x", out[:0x44])
	}
	oh := f.OptionalHeader.(*dpe.OptionalHeader64)
	if oh.ImageBase != tgBase {
		t.Errorf("ImageBase %#x, want %#x", oh.ImageBase, tgBase)
	}
	if oh.AddressOfEntryPoint != tgEntry-tgBase {
		t.Errorf("AddressOfEntryPoint %#x, want %#x", oh.AddressOfEntryPoint, tgEntry-tgBase)
	}
	if oh.Subsystem != IMAGE_SUBSYSTEM_EFI_APPLICATION {
		t.Errorf("Subsystem %d", oh.Subsystem)
	}
	if oh.SizeOfHeaders != 0x200 {
		t.Errorf("SizeOfHeaders %#x, want 0x200", oh.SizeOfHeaders)
	}
	if oh.BaseOfCode != 0x1000 || oh.SizeOfCode != 0x2400 {
		t.Errorf("BaseOfCode %#x SizeOfCode %#x, want 0x1000 0x2400", oh.BaseOfCode, oh.SizeOfCode)
	}
	if oh.SizeOfInitializedData != 0x1400+0x800+0x200 || oh.SizeOfUninitializedData != 0 {
		t.Errorf("SizeOfInitializedData %#x SizeOfUninitializedData %#x", oh.SizeOfInitializedData, oh.SizeOfUninitializedData)
	}
	checkSections(t, f, []wantSection{
		{".text", tgText - tgBase, tgTextSize, textChars, in[0x1000 : 0x1000+tgTextSize]},
		{".rdata", tgRodata - tgBase, 0x1234, rdataChars, in[0x4000 : 0x4000+0x1234]},
		{".data", tgData - tgBase, 0x5000, dataChars, in[0x6000 : 0x6000+0x800]},
	})
	reloc := f.Sections[3]
	if reloc.VirtualAddress != tgData-tgBase+0x5000 || reloc.VirtualSize != relocBlockSize || reloc.Characteristics != relocChars {
		t.Errorf(".reloc VA %#x size %#x chars %#x", reloc.VirtualAddress, reloc.VirtualSize, reloc.Characteristics)
	}
	last := f.Sections[2]
	if oh.SizeOfImage < last.VirtualAddress+last.VirtualSize || oh.SizeOfImage != reloc.VirtualAddress+SectionAlignment {
		t.Errorf("SizeOfImage %#x", oh.SizeOfImage)
	}

	// Deterministic.
	out2, err := FromELF(in, Options{Entry: tgEntry, SkipHeaderPage: true})
	if err != nil || !bytes.Equal(out, out2) {
		t.Errorf("second conversion differs (err %v)", err)
	}
	// The result does not alias the input.
	out[0x1000] ^= 0xff
	if !bytes.Equal(in, orig) {
		t.Error("output aliases input")
	}
}

func TestExplicitImageBaseKeepsHeaderPage(t *testing.T) {
	// Without SkipHeaderPage, a lower ImageBase makes room for the PE
	// headers and the ELF header page becomes part of .text.
	in := tamagoELF().build()
	const base = tgBase - 0x10000
	f, _ := mustConvert(t, in, Options{Entry: tgEntry, ImageBase: base, Subsystem: IMAGE_SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER})
	oh := f.OptionalHeader.(*dpe.OptionalHeader64)
	if oh.ImageBase != base || oh.AddressOfEntryPoint != tgEntry-base || oh.Subsystem != IMAGE_SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER {
		t.Errorf("ImageBase %#x entry %#x subsystem %d", oh.ImageBase, oh.AddressOfEntryPoint, oh.Subsystem)
	}
	checkSections(t, f, []wantSection{
		{".text", tgBase - base, 0x1000 + tgTextSize, textChars, in[:0x1000+tgTextSize]},
		{".rdata", tgRodata - base, 0x1234, rdataChars, in[0x4000 : 0x4000+0x1234]},
		{".data", tgData - base, 0x5000, dataChars, in[0x6000 : 0x6000+0x800]},
	})
}

func TestCompactDefaultBase(t *testing.T) {
	e := compactELF()
	in := e.build()
	f, _ := mustConvert(t, in, Options{Entry: e.entry})
	oh := f.OptionalHeader.(*dpe.OptionalHeader64)
	if oh.ImageBase != 0x10000000 || oh.AddressOfEntryPoint != 0x1010 {
		t.Errorf("ImageBase %#x entry %#x", oh.ImageBase, oh.AddressOfEntryPoint)
	}
	checkSections(t, f, []wantSection{
		{".text", 0x1000, 0x40, textChars, in[0x100:0x140]},
		{".rdata", 0x2000, 0x20, rdataChars, in[0x140:0x160]},
		{".data", 0x3000, 0x2000, dataChars, in[0x160:0x180]},
	})
}

func TestNamesAndFlags(t *testing.T) {
	// Repeated kinds get numbered names; a bss-only segment is .bss; a
	// writable and executable segment keeps MEM_WRITE; empty PT_LOADs
	// are ignored.
	e := testELF{
		machine: elf.EM_X86_64,
		typ:     elf.ET_EXEC,
		segs: []testSeg{
			{flags: elf.PF_R | elf.PF_X, off: 0x1000, vaddr: 0x401000, filesz: 0x10, memsz: 0x10},
			{flags: elf.PF_R, off: 0x1010, vaddr: 0x402000, filesz: 0x10, memsz: 0x10},
			{flags: elf.PF_R | elf.PF_W, off: 0x1020, vaddr: 0x403000, filesz: 0x10, memsz: 0x10},
			{flags: elf.PF_R, off: 0x1030, vaddr: 0x404000, filesz: 0x10, memsz: 0x10},
			{flags: elf.PF_R | elf.PF_W, off: 0x1040, vaddr: 0x405000, filesz: 0x10, memsz: 0x10},
			{flags: elf.PF_R | elf.PF_W, off: 0x1050, vaddr: 0x406000, filesz: 0, memsz: 0x3000},
			{flags: elf.PF_R | elf.PF_W, off: 0x1050, vaddr: 0x409000, filesz: 0, memsz: 0},
			{flags: elf.PF_R | elf.PF_W | elf.PF_X, off: 0x1050, vaddr: 0x40a000, filesz: 0x10, memsz: 0x10},
			{flags: elf.PF_R | elf.PF_W, off: 0x1060, vaddr: 0x40b000, filesz: 0, memsz: 0x10},
		},
	}
	in := e.build()
	f, _ := mustConvert(t, in, Options{Entry: 0x40a008})
	oh := f.OptionalHeader.(*dpe.OptionalHeader64)
	if oh.ImageBase != 0x400000 || oh.AddressOfEntryPoint != 0xa008 {
		t.Errorf("ImageBase %#x entry %#x", oh.ImageBase, oh.AddressOfEntryPoint)
	}
	checkSections(t, f, []wantSection{
		{".text", 0x1000, 0x10, textChars, in[0x1000:0x1010]},
		{".rdata", 0x2000, 0x10, rdataChars, in[0x1010:0x1020]},
		{".data", 0x3000, 0x10, dataChars, in[0x1020:0x1030]},
		{".rdata1", 0x4000, 0x10, rdataChars, in[0x1030:0x1040]},
		{".data1", 0x5000, 0x10, dataChars, in[0x1040:0x1050]},
		{".bss", 0x6000, 0x3000, bssChars, nil},
		{".text1", 0xa000, 0x10, textChars | IMAGE_SCN_MEM_WRITE, in[0x1050:0x1060]},
		{".bss1", 0xb000, 0x10, bssChars, nil},
	})
	if oh.BaseOfCode != 0x1000 || oh.SizeOfCode != 0x400 {
		t.Errorf("BaseOfCode %#x SizeOfCode %#x", oh.BaseOfCode, oh.SizeOfCode)
	}
	if oh.SizeOfInitializedData != 5*0x200 || oh.SizeOfUninitializedData != 0x3000+0x200 {
		t.Errorf("SizeOfInitializedData %#x SizeOfUninitializedData %#x", oh.SizeOfInitializedData, oh.SizeOfUninitializedData)
	}
}

func TestErrors(t *testing.T) {
	ok := tamagoELF()
	okOpts := Options{Entry: tgEntry, SkipHeaderPage: true}
	if _, err := FromELF(ok.build(), okOpts); err != nil {
		t.Fatalf("base case: %v", err)
	}
	withSeg := func(i int, mod func(*testSeg)) testELF {
		e := tamagoELF()
		e.segs = append([]testSeg(nil), e.segs...)
		mod(&e.segs[i])
		return e
	}
	type tc struct {
		name string
		in   []byte
		o    Options
		want error
		msg  string
	}
	cases := []tc{
		{"empty", nil, okOpts, ErrNotELF, "ELF"},
		{"not ELF", []byte("MZ\x90\x00 this is not an ELF file at all, just text padding it out"), okOpts, ErrNotELF, "ELF"},
		{"truncated", ok.build()[:40], okOpts, ErrNotELF, "ELF"},
		{"ELFCLASS32", func() []byte { e := tamagoELF(); e.class = elf.ELFCLASS32; return e.build() }(), okOpts, ErrNotELF, "ELFCLASS32"},
		{"big endian", func() []byte { e := tamagoELF(); e.data = elf.ELFDATA2MSB; return e.build() }(), okOpts, ErrNotELF, "ELFDATA2MSB"},
		{"wrong machine", func() []byte { e := tamagoELF(); e.machine = elf.EM_AARCH64; return e.build() }(), okOpts, ErrUnsupported, "EM_AARCH64"},
		{"ET_DYN", func() []byte { e := tamagoELF(); e.typ = elf.ET_DYN; return e.build() }(), okOpts, ErrUnsupported, "ET_DYN"},
		{"ET_REL", func() []byte { e := tamagoELF(); e.typ = elf.ET_REL; return e.build() }(), okOpts, ErrUnsupported, "ET_REL"},
		{"overlapping segments", withSeg(2, func(s *testSeg) { s.vaddr = tgBase + 0x3000 }).build(), okOpts, ErrSegment, "overlaps"},
		{"unsorted segments", withSeg(3, func(s *testSeg) { s.vaddr = tgBase - 0x100000 }).build(), okOpts, ErrSegment, "not sorted"},
		{"unaligned vaddr", withSeg(2, func(s *testSeg) { s.vaddr += 0x10 }).build(), okOpts, ErrSegment, "aligned"},
		{"filesz > memsz", withSeg(3, func(s *testSeg) { s.filesz = s.memsz + 1 }).build(), okOpts, ErrSegment, "p_filesz"},
		{"segment past end of file", withSeg(3, func(s *testSeg) { s.off = 1 << 40 }).build(), okOpts, ErrSegment, "past the end"},
		{"segment size past end of file", withSeg(3, func(s *testSeg) { s.filesz = ^uint64(0) - 0x10; s.memsz = ^uint64(0) - 0x10 }).build(), okOpts, ErrNotELF, "file size"}, // debug/elf rejects it
		{"address wrap", withSeg(3, func(s *testSeg) { s.memsz = ^uint64(0) }).build(), okOpts, ErrSegment, "wraps"},
		{"no PT_LOAD", func() []byte {
			e := tamagoELF()
			e.segs = e.segs[:1]
			return e.build()
		}(), okOpts, ErrSegment, "no PT_LOAD"},
		{"entry in rodata", ok.build(), Options{Entry: tgRodata + 4, SkipHeaderPage: true}, ErrEntry, "entry point"},
		{"entry in data", ok.build(), Options{Entry: tgData, SkipHeaderPage: true}, ErrEntry, "entry point"},
		{"entry past text", ok.build(), Options{Entry: tgText + tgTextSize, SkipHeaderPage: true}, ErrEntry, "entry point"},
		{"entry zero", ok.build(), Options{SkipHeaderPage: true}, ErrEntry, "entry point"},
		{"entry in skipped page", ok.build(), Options{Entry: tgBase + 0x100, SkipHeaderPage: true}, ErrEntry, "entry point"},
		{"entry in bss of text", withSeg(1, func(s *testSeg) { s.memsz += 0x1000 }).build(),
			Options{Entry: tgText + tgTextSize + 0x10, SkipHeaderPage: true}, ErrEntry, "file-backed"},
		{"header overlap", ok.build(), Options{Entry: tgEntry}, ErrHeaderOverlap, "overlaps the PE headers"},
		{"header overlap explicit base", ok.build(), Options{Entry: tgEntry, ImageBase: tgBase}, ErrHeaderOverlap, "SkipHeaderPage"},
		{"skip: first PT_LOAD not at offset 0", withSeg(1, func(s *testSeg) { s.off = 0x10; s.filesz -= 0x10 }).build(), okOpts, ErrSegment, "offset"},
		{"skip: first PT_LOAD too short", func() []byte {
			e := compactELF()
			e.segs[0].off = 0
			return e.build()
		}(), Options{Entry: 0x10001010, SkipHeaderPage: true}, ErrSegment, "shorter than the header page"},
		{"skip: code in header page", func() []byte {
			e := tamagoELF()
			e.sections = append(e.sections, testSection{".init", elf.SHT_PROGBITS, elf.SHF_ALLOC | elf.SHF_EXECINSTR, tgBase + 0xf00, 0x20})
			return e.build()
		}(), okOpts, ErrSegment, `".init"`},
		{"ImageBase above first section", ok.build(), Options{Entry: tgEntry, ImageBase: tgText + 0x1000, SkipHeaderPage: true}, ErrImageBase, "above"},
		{"ImageBase unaligned", ok.build(), Options{Entry: tgEntry, ImageBase: tgBase - 0x10, SkipHeaderPage: true}, ErrImageBase, "SectionAlignment"},
		{"span beyond 4 GiB", withSeg(3, func(s *testSeg) { s.vaddr = tgBase + 1<<32 }).build(), okOpts, ErrTooLarge, "4 GiB"},
		{"SizeOfImage beyond 4 GiB", withSeg(3, func(s *testSeg) { s.vaddr = tgBase + 1<<32 - 0x6000 }).build(), okOpts, ErrTooLarge, "SizeOfImage"},
		{"not an EFI subsystem", ok.build(), Options{Entry: tgEntry, SkipHeaderPage: true, Subsystem: 2}, ErrOptions, "subsystem 2"},
		{"too many sections", func() []byte {
			e := testELF{machine: elf.EM_X86_64, typ: elf.ET_EXEC}
			for i := range maxSections {
				e.segs = append(e.segs, testSeg{flags: elf.PF_R | elf.PF_X, off: 0x2000, vaddr: 0x100000 + uint64(i)*0x1000, filesz: 0x10, memsz: 0x10})
			}
			return e.build()
		}(), Options{Entry: 0x100000}, ErrTooLarge, "sections"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := FromELF(c.in, c.o)
			if err == nil {
				t.Fatalf("no error; output %d bytes", len(out))
			}
			if out != nil {
				t.Error("output with error")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("error %q does not wrap %q", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
			t.Log(err)
		})
	}
}

// The largest number of sections is accepted and its names fit.
func TestMaxSections(t *testing.T) {
	e := testELF{machine: elf.EM_X86_64, typ: elf.ET_EXEC}
	for i := range maxSections - 1 {
		e.segs = append(e.segs, testSeg{flags: elf.PF_R, off: 0x2000, vaddr: 0x112000 + uint64(i)*0x1000, filesz: 0x10, memsz: 0x10})
	}
	e.segs[0].flags |= elf.PF_X
	f, _ := mustConvert(t, e.build(), Options{Entry: 0x112000})
	if n := len(f.Sections); n != maxSections {
		t.Fatalf("%d sections", n)
	}
	if got := f.Sections[maxSections-2].Name; got != fmt.Sprintf(".rdata%d", maxSections-3) {
		t.Errorf("last name %q", got)
	}
}

const tamavisorELF = "../../build/qemu-q35-amd64/tamavisor.elf"

func TestTamavisorImage(t *testing.T) {
	in, err := os.ReadFile(tamavisorELF)
	if err != nil {
		t.Skipf("no %s: %v", tamavisorELF, err)
	}
	ef, err := elf.NewFile(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := mustConvert(t, in, Options{Entry: ef.Entry, SkipHeaderPage: true})
	oh := f.OptionalHeader.(*dpe.OptionalHeader64)
	var want []wantSection
	first := true
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		va, memsz, off, filesz := p.Vaddr, p.Memsz, p.Off, p.Filesz
		if first {
			va, memsz, off, filesz = va+HeaderPageSize, memsz-HeaderPageSize, off+HeaderPageSize, filesz-HeaderPageSize
			first = false
		}
		w := wantSection{va: uint32(va - oh.ImageBase), vsize: uint32(memsz), data: in[off : off+filesz]}
		switch {
		case p.Flags&elf.PF_X != 0:
			w.name, w.chars = ".text", textChars
		case p.Flags&elf.PF_W != 0:
			w.name, w.chars = ".data", dataChars
		default:
			w.name, w.chars = ".rdata", rdataChars
		}
		want = append(want, w)
	}
	checkSections(t, f, want)
	if uint64(oh.AddressOfEntryPoint)+oh.ImageBase != ef.Entry {
		t.Errorf("entry %#x + base %#x != e_entry %#x", oh.AddressOfEntryPoint, oh.ImageBase, ef.Entry)
	}
	t.Logf("ImageBase %#x, entry RVA %#x, SizeOfImage %#x, %d sections", oh.ImageBase, oh.AddressOfEntryPoint, oh.SizeOfImage, len(f.Sections))
}

// fuzzSeeds are the named seed files under testdata/fuzz/FuzzFromELF,
// rewritten with -update-seeds.
func fuzzSeeds() map[string][]byte {
	tg := tamagoELF()
	tg.zeroHeaderPage = true
	// Small segments packed after the header page.
	tg.segs = append([]testSeg(nil), tg.segs...)
	tg.segs[1].filesz, tg.segs[1].memsz = 0x1100, 0x1100
	tg.segs[2].off, tg.segs[2].filesz, tg.segs[2].memsz = 0x1100, 0x30, 0x30
	tg.segs[3].off, tg.segs[3].filesz = 0x1130, 0x20
	tg.sections = tg.sections[4:] // the note only
	tamago := tg.build()

	compact := compactELF().build()

	badMachine := bytes.Clone(compact)
	binary.LittleEndian.PutUint16(badMachine[18:], uint16(elf.EM_AARCH64))

	overlap := func() []byte {
		e := compactELF()
		e.segs[1].vaddr = 0x10001000
		return e.build()
	}()

	return map[string][]byte{
		"tamago_layout": tamago,
		"compact":       compact,
		"wrong_machine": badMachine,
		"overlap":       overlap,
		"truncated":     compact[:0x150],
		"not_elf":       []byte("MZ"),
	}
}

func TestFuzzSeedCorpus(t *testing.T) {
	seeds := fuzzSeeds()
	// The valid seeds convert, so the fuzzer starts from inputs that
	// reach the layout code.
	for _, c := range []struct {
		name string
		skip bool
	}{{"tamago_layout", true}, {"compact", false}} {
		b := seeds[c.name]
		if _, err := FromELF(b, Options{Entry: fuzzEntry(b), SkipHeaderPage: c.skip}); err != nil {
			t.Errorf("seed %s: %v", c.name, err)
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzFromELF")
	for name, b := range seeds {
		path := filepath.Join(dir, name)
		enc := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, enc, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("seed %s: %v (run go test -run TestFuzzSeedCorpus -update-seeds)", name, err)
			continue
		}
		if !bytes.Equal(got, enc) {
			t.Errorf("seed %s is stale (run go test -run TestFuzzSeedCorpus -update-seeds)", name)
		}
	}
}

// fuzzEntry is the Entry the fuzz target uses: the input's e_entry.
func fuzzEntry(b []byte) uint64 {
	if len(b) < 32 {
		return 0
	}
	return binary.LittleEndian.Uint64(b[24:])
}

// FuzzFromELF guards the ELF parsing and PE layout (PE Format, Section
// Table and .reloc): FromELF must never panic or modify its input, every
// error must wrap a sentinel, and every output must pass validatePE.
func FuzzFromELF(f *testing.F) {
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	f.Add(tamagoELF().build())
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		for _, skip := range []bool{false, true} {
			out, err := FromELF(b, Options{Entry: fuzzEntry(b), SkipHeaderPage: skip})
			if !bytes.Equal(b, orig) {
				t.Fatal("FromELF modified its input")
			}
			if err != nil {
				var e Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v does not wrap an Error", err)
				}
				if out != nil {
					t.Fatal("output with error")
				}
				continue
			}
			if _, err := validatePE(out); err != nil {
				t.Fatalf("SkipHeaderPage=%v: invalid output: %v", skip, err)
			}
		}
	})
}
