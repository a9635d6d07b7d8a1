// image/multiboot2: tests for inserting a Multiboot2 header into an ELF64 image.
// SPDX-License-Identifier: BSD-3-Clause

package multiboot2

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Layout of the synthetic TamaGo-like image built by synthELF.
const (
	synthBase     = 0x10000000 // p_vaddr of the first PT_LOAD (file offset 0)
	synthPhoff    = elf64EhdrSize
	synthPhnum    = 4
	synthShoff    = synthPhoff + synthPhnum*elf64PhdrSize // 0x120
	synthShnum    = 8
	synthShdrEnd  = synthShoff + synthShnum*elf64ShdrSize // 0x320
	synthNoteOff  = 0xf60
	synthTextOff  = 0x1000
	synthTextSize = 0x100
	synthDataOff  = 0x2000
	synthDataSize = 0x100
	synthDataMem  = 0x1000 // p_memsz of the RW PT_LOAD (.data + .bss)
	synthRWIndex  = 3      // index of the RW PT_LOAD
	synthEntry    = synthBase + synthTextOff + 0x20
)

type synthOpts struct {
	machine  elf.Machine
	typ      elf.Type
	noteOff  uint64 // file offset of .note.go.pvh, which ends at 0x1000
	zeroNote bool   // the note's contents are zero bytes
}

// synthELF builds an ELF64 executable laid out as TamaGo's linker lays
// out amd64 images: the ELF header, program headers at 64 and section
// headers right after them, a NOTE section ending at 0x1000 and .text
// at 0x1000, with a first PT_LOAD from file offset 0; a RW PT_LOAD with
// .data and .bss; and a .symtab with two symbols.
func synthELF(t testing.TB, o synthOpts) []byte {
	t.Helper()
	if o.machine == 0 {
		o.machine = elf.EM_X86_64
	}
	if o.typ == 0 {
		o.typ = elf.ET_EXEC
	}
	if o.noteOff == 0 {
		o.noteOff = synthNoteOff
	}
	noteSize := synthTextOff - o.noteOff

	shstr := []byte("\x00.text\x00.data\x00.bss\x00.note.go.pvh\x00.symtab\x00.strtab\x00.shstrtab\x00")
	name := func(s string) uint32 { return uint32(bytes.Index(shstr, []byte("\x00"+s+"\x00")) + 1) }
	strtab := []byte("\x00mbEntry\x00someData\x00")
	syms := []elf.Sym64{
		{},
		{Name: 1, Info: elf.ST_INFO(elf.STB_GLOBAL, elf.STT_FUNC), Shndx: 1, Value: synthEntry, Size: 0x10},
		{Name: 9, Info: elf.ST_INFO(elf.STB_GLOBAL, elf.STT_OBJECT), Shndx: 2, Value: synthBase + synthDataOff + 0x10, Size: 8},
	}
	symOff := uint64(synthDataOff + synthDataSize)
	symSize := uint64(len(syms) * 24)
	strOff := symOff + symSize
	shstrOff := strOff + uint64(len(strtab))
	fileSize := shstrOff + uint64(len(shstr))

	progs := []elf.Prog64{
		{Type: uint32(elf.PT_PHDR), Flags: uint32(elf.PF_R), Off: synthPhoff, Vaddr: synthBase + synthPhoff, Paddr: synthBase + synthPhoff,
			Filesz: synthPhnum * elf64PhdrSize, Memsz: synthPhnum * elf64PhdrSize, Align: 0x1000},
		{Type: uint32(elf.PT_NOTE), Flags: uint32(elf.PF_R), Off: o.noteOff, Vaddr: synthBase + o.noteOff, Paddr: synthBase + o.noteOff,
			Filesz: noteSize, Memsz: noteSize, Align: 4},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: 0, Vaddr: synthBase, Paddr: synthBase,
			Filesz: synthTextOff + synthTextSize, Memsz: synthTextOff + synthTextSize, Align: 0x1000},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W), Off: synthDataOff, Vaddr: synthBase + synthDataOff,
			Paddr: synthBase + synthDataOff, Filesz: synthDataSize, Memsz: synthDataMem, Align: 0x1000},
	}
	sects := []elf.Section64{
		{},
		{Name: name(".text"), Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC | elf.SHF_EXECINSTR),
			Addr: synthBase + synthTextOff, Off: synthTextOff, Size: synthTextSize, Addralign: 32},
		{Name: name(".data"), Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC | elf.SHF_WRITE),
			Addr: synthBase + synthDataOff, Off: synthDataOff, Size: synthDataSize, Addralign: 32},
		{Name: name(".bss"), Type: uint32(elf.SHT_NOBITS), Flags: uint64(elf.SHF_ALLOC | elf.SHF_WRITE),
			Addr: synthBase + synthDataOff + synthDataSize, Off: synthDataOff + synthDataSize, Size: synthDataMem - synthDataSize, Addralign: 32},
		{Name: name(".note.go.pvh"), Type: uint32(elf.SHT_NOTE), Flags: uint64(elf.SHF_ALLOC),
			Addr: synthBase + o.noteOff, Off: o.noteOff, Size: noteSize, Addralign: 4},
		{Name: name(".symtab"), Type: uint32(elf.SHT_SYMTAB), Off: symOff, Size: symSize, Link: 6, Info: 1, Addralign: 8, Entsize: 24},
		{Name: name(".strtab"), Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(strtab)), Addralign: 1},
		{Name: name(".shstrtab"), Type: uint32(elf.SHT_STRTAB), Off: shstrOff, Size: uint64(len(shstr)), Addralign: 1},
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	eh := elf.Header64{
		Ident: ident, Type: uint16(o.typ), Machine: uint16(o.machine), Version: uint32(elf.EV_CURRENT),
		Entry: synthEntry, Phoff: synthPhoff, Shoff: synthShoff, Ehsize: elf64EhdrSize,
		Phentsize: elf64PhdrSize, Phnum: synthPhnum, Shentsize: elf64ShdrSize, Shnum: synthShnum, Shstrndx: 7,
	}

	img := make([]byte, fileSize)
	put := func(off uint64, v any) {
		b, err := binary.Append(nil, binary.LittleEndian, v)
		if err != nil {
			t.Fatal(err)
		}
		copy(img[off:], b)
	}
	put(0, &eh)
	put(synthPhoff, progs)
	put(synthShoff, sects)
	if !o.zeroNote {
		for i := o.noteOff; i < synthTextOff; i++ {
			img[i] = byte(i) | 1
		}
	}
	for i := 0; i < synthTextSize; i++ {
		img[synthTextOff+i] = 0x90 + byte(i%7)
	}
	for i := 0; i < synthDataSize; i++ {
		img[synthDataOff+i] = byte(0xa0 + i)
	}
	put(symOff, syms)
	copy(img[strOff:], strtab)
	copy(img[shstrOff:], shstr)
	return img
}

func TestELFStructSizes(t *testing.T) {
	// ELF-64 Object File Format 1.5: Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr.
	for _, c := range []struct {
		v    any
		want int
	}{{elf.Header64{}, elf64EhdrSize}, {elf.Prog64{}, elf64PhdrSize}, {elf.Section64{}, elf64ShdrSize}} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("binary.Size(%T) = %d, want %d", c.v, got, c.want)
		}
	}
}

func TestSynthELF(t *testing.T) {
	img := synthELF(t, synthOpts{})
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Section(".note.go.pvh"); s == nil || s.Offset != synthNoteOff || s.Offset+s.Size != synthTextOff {
		t.Fatalf("note section %+v", s)
	}
	if f.Progs[2].Off != 0 || f.Progs[2].Vaddr != synthBase || f.Progs[synthRWIndex].Memsz <= f.Progs[synthRWIndex].Filesz {
		t.Fatalf("program headers %+v %+v", f.Progs[2], f.Progs[synthRWIndex])
	}
}

func mustPatch(t *testing.T, img []byte, o PatchOptions) ([]byte, *PatchResult) {
	t.Helper()
	orig := bytes.Clone(img)
	out, res, err := PatchELF(img, o)
	if err != nil {
		t.Fatalf("PatchELF: %v", err)
	}
	if !bytes.Equal(img, orig) {
		t.Fatal("PatchELF modified its input")
	}
	return out, res
}

// diffRanges returns the offsets at which a and b differ, as ranges.
func diffRanges(a, b []byte) [][2]int {
	var r [][2]int
	for i := 0; i < len(a); i++ {
		if a[i] == b[i] {
			continue
		}
		if n := len(r); n > 0 && r[n-1][1] == i {
			r[n-1][1] = i + 1
		} else {
			r = append(r, [2]int{i, i + 1})
		}
	}
	return r
}

// within reports whether every range of d lies in one of the spans.
func within(d [][2]int, spans ...[2]int) bool {
next:
	for _, r := range d {
		for _, s := range spans {
			if r[0] >= s[0] && r[1] <= s[1] {
				continue next
			}
		}
		return false
	}
	return true
}

func TestPatchELF(t *testing.T) {
	img := synthELF(t, synthOpts{})
	hdr := mustEncode(t, realisticHeader())
	out, res := mustPatch(t, img, PatchOptions{Header: hdr})

	if res.HeaderOffset != synthShdrEnd || res.Replaced {
		t.Fatalf("result %+v, want the header at %#x (end of the section header table)", res, synthShdrEnd)
	}
	if res.HeaderOffset%HeaderAlign != 0 || res.HeaderOffset+len(hdr) > HeaderSearch {
		t.Fatalf("header at %#x", res.HeaderOffset)
	}
	if len(out) != len(img) {
		t.Fatalf("length %d, want %d", len(out), len(img))
	}
	off, p, err := Find(out)
	if err != nil || off != res.HeaderOffset || p.EFIAmd64Entry == nil || *p.EFIAmd64Entry != 0x10078ca0 {
		t.Fatalf("Find = %#x, %+v, %v", off, p, err)
	}
	if !bytes.Equal(out[off:off+len(hdr)], hdr) {
		t.Fatal("header bytes differ")
	}
	if d := diffRanges(img, out); !within(d, [2]int{off, off + len(hdr)}) {
		t.Fatalf("bytes changed outside the header: %v", d)
	}
	if res.OldMemEnd != synthBase+synthDataOff+synthDataMem || res.NewMemEnd != res.OldMemEnd {
		t.Fatalf("mem ends %#x %#x", res.OldMemEnd, res.NewMemEnd)
	}
	// The header is loaded with the first PT_LOAD.
	if b, err := ReadVirtual(out, synthBase+uint64(off), len(hdr)); err != nil || !bytes.Equal(b, hdr) {
		t.Fatalf("ReadVirtual of the header: %v", err)
	}
	if _, err := elf.NewFile(bytes.NewReader(out)); err != nil {
		t.Fatalf("result no longer parses: %v", err)
	}
}

func TestPatchELFReserveEnd(t *testing.T) {
	img := synthELF(t, synthOpts{})
	hdr := mustEncode(t, realisticHeader())
	const reserveEnd = 0x10400000
	out, res := mustPatch(t, img, PatchOptions{Header: hdr, ReserveEnd: reserveEnd})
	if res.OldMemEnd != synthBase+synthDataOff+synthDataMem || res.NewMemEnd != reserveEnd {
		t.Fatalf("result %+v", res)
	}
	f, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range f.Progs {
		want := p.Memsz
		if i == synthRWIndex {
			want = reserveEnd - (synthBase + synthDataOff)
		}
		orig, err := elf.NewFile(bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		if i != synthRWIndex && p.ProgHeader != orig.Progs[i].ProgHeader {
			t.Errorf("program header %d changed: %+v", i, p.ProgHeader)
		}
		if p.Memsz != want || p.Filesz != orig.Progs[i].Filesz {
			t.Errorf("program header %d: memsz %#x filesz %#x, want memsz %#x", i, p.Memsz, p.Filesz, want)
		}
	}
	// p_memsz is the u64 at offset 40 of Elf64_Phdr.
	memsz := synthPhoff + synthRWIndex*elf64PhdrSize + 40
	if d := diffRanges(img, out); !within(d, [2]int{res.HeaderOffset, res.HeaderOffset + len(hdr)}, [2]int{memsz, memsz + 8}) {
		t.Fatalf("bytes changed outside the header and p_memsz: %v", d)
	}

	// ReserveEnd equal to the current end changes nothing.
	out2, res2 := mustPatch(t, img, PatchOptions{Header: hdr, ReserveEnd: res.OldMemEnd})
	if res2.NewMemEnd != res.OldMemEnd || !within(diffRanges(img, out2), [2]int{res2.HeaderOffset, res2.HeaderOffset + len(hdr)}) {
		t.Fatalf("ReserveEnd == end: %+v", res2)
	}

	_, _, err = PatchELF(img, PatchOptions{Header: hdr, ReserveEnd: res.OldMemEnd - 1})
	if !errors.Is(err, ErrReserveEnd) {
		t.Fatalf("ReserveEnd below end: error %v", err)
	}
}

func TestPatchELFAvoidsEarlierCandidate(t *testing.T) {
	// A magic at 0x320 followed by an architecture value such that,
	// with a header written at 0x328, its header_length and checksum
	// fields (the new header's magic and architecture) would make a
	// valid checksum: Find would then take 0x320 for the header.
	img := synthELF(t, synthOpts{})
	le.PutUint32(img[synthShdrEnd:], HeaderMagic)
	magic := uint32(HeaderMagic)
	le.PutUint32(img[synthShdrEnd+4:], -(magic + magic))
	hdr := mustEncode(t, realisticHeader())
	out, res := mustPatch(t, img, PatchOptions{Header: hdr})
	if res.HeaderOffset != synthShdrEnd+16 {
		t.Fatalf("header at %#x, want %#x", res.HeaderOffset, synthShdrEnd+16)
	}
	if off, _, err := Find(out); err != nil || off != res.HeaderOffset {
		t.Fatalf("Find = %#x, %v", off, err)
	}
}

func TestPatchELFSkipsNonZero(t *testing.T) {
	img := synthELF(t, synthOpts{})
	img[synthShdrEnd+0x30] = 0xcc // not in any section, but not free
	hdr := mustEncode(t, realisticHeader())
	_, res := mustPatch(t, img, PatchOptions{Header: hdr})
	if res.HeaderOffset != synthShdrEnd+0x38 {
		t.Fatalf("header at %#x, want %#x", res.HeaderOffset, synthShdrEnd+0x38)
	}
}

func TestPatchELFNoRoom(t *testing.T) {
	// The zero-filled note occupies the whole gap after the section
	// headers; the zero bytes between .text and .data belong to no
	// section, so fill them.
	img := synthELF(t, synthOpts{noteOff: synthShdrEnd, zeroNote: true})
	for i := synthTextOff + synthTextSize; i < synthDataOff; i++ {
		img[i] = 0xcc
	}
	_, res, err := PatchELF(img, PatchOptions{Header: mustEncode(t, realisticHeader())})
	if !errors.Is(err, ErrNoRoom) || res != nil {
		t.Fatalf("error %v, result %+v; want ErrNoRoom", err, res)
	}
	if !strings.Contains(err.Error(), "section .note.go.pvh [0x320, 0x1000)") {
		t.Errorf("error %q does not describe the occupied ranges", err)
	}

	// Without the filler, the space between .text and .data is used.
	img = synthELF(t, synthOpts{noteOff: synthShdrEnd, zeroNote: true})
	_, res = mustPatch(t, img, PatchOptions{Header: mustEncode(t, realisticHeader())})
	if res.HeaderOffset != synthTextOff+synthTextSize {
		t.Fatalf("header at %#x, want %#x", res.HeaderOffset, synthTextOff+synthTextSize)
	}
}

func TestPatchELFExisting(t *testing.T) {
	img := synthELF(t, synthOpts{})
	first, res1 := mustPatch(t, img, PatchOptions{Header: mustEncode(t, realisticHeader())})

	h := realisticHeader()
	h.Tags[3] = EFIAmd64Entry(0x10001020)
	same := mustEncode(t, h)
	out, res := mustPatch(t, first, PatchOptions{Header: same})
	if !res.Replaced || res.HeaderOffset != res1.HeaderOffset {
		t.Fatalf("result %+v, want replaced at %#x", res, res1.HeaderOffset)
	}
	if _, p, err := Find(out); err != nil || *p.EFIAmd64Entry != 0x10001020 {
		t.Fatalf("Find: %+v, %v", p, err)
	}
	if !within(diffRanges(first, out), [2]int{res.HeaderOffset, res.HeaderOffset + len(same)}) {
		t.Fatal("bytes changed outside the header")
	}

	h.Tags = append(h.Tags, ConsoleFlags(0))
	_, _, err := PatchELF(first, PatchOptions{Header: mustEncode(t, h)})
	if !errors.Is(err, ErrHeaderExists) {
		t.Fatalf("different length: error %v, want ErrHeaderExists", err)
	}

	// A malformed header (valid checksum) already in the image.
	bad := bytes.Clone(img)
	copy(bad[synthShdrEnd:], rawHeader(htag(HeaderTagRelocatable, 0, 20, uint32(0), uint32(1), uint32(0)), endTag))
	_, _, err = PatchELF(bad, PatchOptions{Header: same})
	var he *HeaderError
	if !errors.Is(err, ErrHeaderExists) || !errors.As(err, &he) {
		t.Fatalf("malformed existing header: error %v", err)
	}
}

func TestPatchELFErrors(t *testing.T) {
	hdr := mustEncode(t, realisticHeader())
	img := synthELF(t, synthOpts{})
	truncatedPhdrs := bytes.Clone(img[:synthPhoff+10])
	for _, c := range []struct {
		name string
		img  []byte
		o    PatchOptions
		want error
	}{
		{"not ELF", []byte("#!/bin/sh\necho not an ELF image\n"), PatchOptions{Header: hdr}, ErrELF},
		{"empty", nil, PatchOptions{Header: hdr}, ErrELF},
		{"truncated", truncatedPhdrs, PatchOptions{Header: hdr}, ErrELF},
		{"arm64", synthELF(t, synthOpts{machine: elf.EM_AARCH64}), PatchOptions{Header: hdr}, ErrELF},
		{"ET_DYN", synthELF(t, synthOpts{typ: elf.ET_DYN}), PatchOptions{Header: hdr}, ErrELF},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, res, err := PatchELF(c.img, c.o)
			if !errors.Is(err, c.want) || out != nil || res != nil {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
	for _, c := range []struct {
		name   string
		header []byte
		off    int
		substr string
	}{
		{"no header", nil, 0, "shorter than"},
		{"bad header", hdr[:len(hdr)-8], 8, "runs past the buffer"},
		{"trailing bytes", append(bytes.Clone(hdr), 0, 0, 0, 0, 0, 0, 0, 0), len(hdr), "8 bytes after the end tag"},
		{"MIPS", mustEncode(t, &Header{Arch: ArchMIPS32}), 4, "architecture 4, want 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := PatchELF(img, PatchOptions{Header: c.header})
			wantHeaderErr(t, err, c.off, c.substr)
		})
	}
}

func TestSymbolValue(t *testing.T) {
	img := synthELF(t, synthOpts{})
	for name, want := range map[string]uint64{"mbEntry": synthEntry, "someData": synthBase + synthDataOff + 0x10} {
		if v, err := SymbolValue(img, name); err != nil || v != want {
			t.Errorf("SymbolValue(%q) = %#x, %v; want %#x", name, v, err, want)
		}
	}
	if _, err := SymbolValue(img, "missing"); !errors.Is(err, ErrNoSymbol) {
		t.Errorf("missing symbol: error %v", err)
	}
	if _, err := SymbolValue([]byte("junk"), "mbEntry"); !errors.Is(err, ErrELF) {
		t.Errorf("junk: error %v", err)
	}
}

func TestReadVirtual(t *testing.T) {
	img := synthELF(t, synthOpts{})
	entry, err := SymbolValue(img, "mbEntry")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadVirtual(img, entry, 16)
	if want := img[synthTextOff+0x20 : synthTextOff+0x30]; err != nil || !bytes.Equal(b, want) {
		t.Fatalf("ReadVirtual(entry) = % x, %v; want % x", b, err, want)
	}
	b[0] ^= 0xff
	if img[synthTextOff+0x20] == b[0] {
		t.Fatal("ReadVirtual aliases the image")
	}
	data, err := ReadVirtual(img, synthBase+synthDataOff+synthDataSize-4, 4)
	if err != nil || !bytes.Equal(data, img[synthDataOff+synthDataSize-4:synthDataOff+synthDataSize]) {
		t.Fatalf("last bytes of .data: % x, %v", data, err)
	}
	if b, err := ReadVirtual(img, synthBase, 0); err != nil || len(b) != 0 {
		t.Fatalf("zero bytes: %v, %v", b, err)
	}
	for _, c := range []struct {
		name string
		va   uint64
		n    int
		want error
	}{
		{"bss", synthBase + synthDataOff + synthDataSize, 4, ErrNotMapped},
		{"across filesz", synthBase + synthDataOff + synthDataSize - 4, 8, ErrNotMapped},
		{"unmapped", 0x20000000, 1, ErrNotMapped},
		{"below", synthBase - 1, 1, ErrNotMapped},
		{"huge", synthBase, 1 << 40, ErrNotMapped},
	} {
		if _, err := ReadVirtual(img, c.va, c.n); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := ReadVirtual(img, synthBase, -1); err == nil {
		t.Error("negative length accepted")
	}
	if _, err := ReadVirtual(nil, synthBase, 1); !errors.Is(err, ErrELF) {
		t.Errorf("nil image: error %v", err)
	}
}

// TestPatchTamavisorELF patches the real image when it has been built.
func TestPatchTamavisorELF(t *testing.T) {
	path := filepath.Join("..", "..", "build", "qemu-q35-amd64", "tamavisor.elf.link") // as linked, before cmd/tvimage
	img, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not built", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := SymbolValue(img, "_rt0_amd64_tamago"); err != nil || v != f.Entry {
		t.Errorf("SymbolValue(_rt0_amd64_tamago) = %#x, %v; entry %#x", v, err, f.Entry)
	}
	h := realisticHeader()
	h.Tags[3] = EFIAmd64Entry(uint32(f.Entry))
	hdr := mustEncode(t, h)

	var firstNote uint64 = HeaderSearch
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOTE && s.Offset < firstNote {
			firstNote = s.Offset
		}
	}
	out, res := mustPatch(t, img, PatchOptions{Header: hdr, ReserveEnd: 0})
	off, p, err := Find(out)
	if err != nil || off != res.HeaderOffset || *p.EFIAmd64Entry != uint32(f.Entry) {
		t.Fatalf("Find = %#x, %v; PatchELF put it at %#x", off, err, res.HeaderOffset)
	}
	if off+len(hdr) > int(firstNote) {
		t.Errorf("header [%#x, %#x) runs into the first note at %#x", off, off+len(hdr), firstNote)
	}
	if !within(diffRanges(img, out), [2]int{off, off + len(hdr)}) {
		t.Error("bytes changed outside the header")
	}
	t.Logf("header at %#x..%#x, image ends in memory at %#x", off, off+len(hdr), res.OldMemEnd)

	// Reserve 16 MiB beyond the end.
	out, res = mustPatch(t, img, PatchOptions{Header: hdr, ReserveEnd: res.OldMemEnd + 16<<20})
	g, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var end uint64
	for _, p := range g.Progs {
		if p.Type == elf.PT_LOAD {
			end = max(end, p.Vaddr+p.Memsz)
		}
	}
	if end != res.NewMemEnd || res.NewMemEnd != res.OldMemEnd+16<<20 {
		t.Errorf("end %#x, result %+v", end, res)
	}
}
