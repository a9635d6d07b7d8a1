// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// Synthetic PVH kernels.

const (
	pvhBase  = 0x10_0000 // x86 kernels load at 1 MiB
	pvhEntry = pvhBase + 0x20
)

// elfNote returns one note (gABI "Note Section") starting at an offset
// aligned to pad: header, name, descriptor, each padded to pad.
func elfNote(name string, typ uint32, desc []byte, pad int) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, name...)
	for len(b)%pad != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%pad != 0 {
		b = append(b, 0)
	}
	return b
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// pvhNote is the note of a PVH kernel entered at entry.
func pvhNote(entry uint32) []byte {
	return elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, le32(entry), 4)
}

// gnuNote is a build ID note, as most kernels have.
func gnuNote() []byte { return elfNote("GNU\x00", 3, bytes.Repeat([]byte{0x5a}, 20), 4) }

// pvhELF is an x86-64 kernel at physical base: 0x40 bytes of code at
// base (e_entry base+0x10), a data page with bss at base+0x2000, and
// notes in a PT_NOTE segment (program header 2) unless notes is nil.
func pvhELF(base uint64, notes []byte) []byte {
	segs := []seg{
		{typ: elf.PT_LOAD, paddr: base, vaddr: base, data: bytes.Repeat([]byte{0x90}, 0x40)},
		{typ: elf.PT_LOAD, paddr: base + 0x2000, vaddr: base + 0x2000, data: []byte("data"), memsz: 0x1000},
	}
	if notes != nil {
		segs = append(segs, seg{typ: elf.PT_NOTE, data: notes})
	}
	return buildELF(elfSpec{machine: elf.EM_X86_64, typ: elf.ET_EXEC, entry: base + 0x10, segs: segs})
}

// setProg rewrites program header i of img through f.
func setProg(img []byte, i int, f func(*elf.Prog64)) []byte {
	img = bytes.Clone(img)
	const phoff, phsize = 64, 56
	var p elf.Prog64
	_, err := binary.Decode(img[phoff+i*phsize:], binary.LittleEndian, &p)
	must(err)
	f(&p)
	_, err = binary.Encode(img[phoff+i*phsize:], binary.LittleEndian, &p)
	must(err)
	return img
}

// withNoteSection appends notes and a section header table (a null
// section and one SHT_NOTE section holding them, no section names) to
// img, as objcopy --add-section does for a note without a segment.
func withNoteSection(img, notes []byte, align uint64, f func(*elf.Section64)) []byte {
	img = bytes.Clone(img)
	for len(img)%8 != 0 {
		img = append(img, 0)
	}
	noteOff := uint64(len(img))
	img = append(img, notes...)
	for len(img)%8 != 0 {
		img = append(img, 0)
	}
	var h elf.Header64
	_, err := binary.Decode(img, binary.LittleEndian, &h)
	must(err)
	h.Shoff, h.Shentsize, h.Shnum, h.Shstrndx = uint64(len(img)), 64, 2, 0
	s := elf.Section64{Type: uint32(elf.SHT_NOTE), Flags: uint64(elf.SHF_ALLOC), Off: noteOff, Size: uint64(len(notes)), Addralign: align}
	if f != nil {
		f(&s)
	}
	img, err = binary.Append(img, binary.LittleEndian, []elf.Section64{{}, s})
	must(err)
	_, err = binary.Encode(img, binary.LittleEndian, &h)
	must(err)
	return img
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// TestPVHFormatSizes checks the start info records against the layout
// drawn in Xen public/arch-x86/hvm/start_info.h (CONVENTIONS.md §4):
// sizes, and the offset of every field.
func TestPVHFormatSizes(t *testing.T) {
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"hvm_start_info", binary.Size(HVMStartInfo{}), HVMStartInfoSize},
		{"hvm_modlist_entry", binary.Size(HVMModlistEntry{}), HVMModlistEntrySize},
		{"hvm_memmap_table_entry", binary.Size(HVMMemmapTableEntry{}), HVMMemmapTableEntrySize},
		{"hvm_start_info", HVMStartInfoSize, 56},
		{"hvm_modlist_entry", HVMModlistEntrySize, 32},
		{"hvm_memmap_table_entry", HVMMemmapTableEntrySize, 24},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.what, c.got, c.want)
		}
	}
	enc := func(v any) []byte {
		b, err := binary.Append(nil, binary.LittleEndian, v)
		must(err)
		return b
	}
	le := binary.LittleEndian
	si := enc(&HVMStartInfo{Magic: 1, Version: 2, Flags: 3, NrModules: 4, ModlistPaddr: 5, CmdlinePaddr: 6, RSDPPaddr: 7,
		MemmapPaddr: 8, MemmapEntries: 9, Reserved: 10})
	mod := enc(&HVMModlistEntry{Paddr: 1, Size: 2, CmdlinePaddr: 3, Reserved: 4})
	mm := enc(&HVMMemmapTableEntry{Addr: 1, Size: 2, Type: 3, Reserved: 4})
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"magic @0", uint64(le.Uint32(si[0:])), 1},
		{"version @4", uint64(le.Uint32(si[4:])), 2},
		{"flags @8", uint64(le.Uint32(si[8:])), 3},
		{"nr_modules @12", uint64(le.Uint32(si[12:])), 4},
		{"modlist_paddr @16", le.Uint64(si[16:]), 5},
		{"cmdline_paddr @24", le.Uint64(si[24:]), 6},
		{"rsdp_paddr @32", le.Uint64(si[32:]), 7},
		{"memmap_paddr @40", le.Uint64(si[40:]), 8},
		{"memmap_entries @48", uint64(le.Uint32(si[48:])), 9},
		{"reserved @52", uint64(le.Uint32(si[52:])), 10},
		{"modlist paddr @0", le.Uint64(mod[0:]), 1},
		{"modlist size @8", le.Uint64(mod[8:]), 2},
		{"modlist cmdline_paddr @16", le.Uint64(mod[16:]), 3},
		{"modlist reserved @24", le.Uint64(mod[24:]), 4},
		{"memmap addr @0", le.Uint64(mm[0:]), 1},
		{"memmap size @8", le.Uint64(mm[8:]), 2},
		{"memmap type @16", uint64(le.Uint32(mm[16:])), 3},
		{"memmap reserved @20", uint64(le.Uint32(mm[20:])), 4},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	// "xEn3" with the 0x80 bit of the "E" set.
	if got := string(le32(PVH_START_MAGIC)); got != "x\xc5n3" {
		t.Errorf("PVH_START_MAGIC spells %q", got)
	}
}

func TestPVHEntry(t *testing.T) {
	xen8 := elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, le64(pvhEntry), 4)
	odd := elfNote("Linux", 1, []byte{1, 2, 3}, 4) // namesz and descsz need padding
	// An 8-aligned segment: descriptors at 16 after a 4-byte name.
	aligned8 := setProg(pvhELF(pvhBase, cat(
		elfNote("GNU\x00", 5, make([]byte, 12), 8),
		elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, le64(pvhEntry), 8))), 2, func(p *elf.Prog64) { p.Align = 8 })
	if got := binary.LittleEndian.Uint32(aligned8[len(aligned8)-8:]); got != pvhEntry {
		t.Fatalf("8-aligned note layout: %#x", got)
	}
	unpaddedLast := cat(gnuNote(), elfNote("GNU\x00", 1, []byte{1, 2, 3}, 4)[:19])
	header := func(namesz, descsz, typ uint32) []byte { return cat(le32(namesz), le32(descsz), le32(typ)) }
	manyNotes := make([]byte, (MaxNotes+1)*noteHeaderSize)
	cases := []struct {
		name  string
		img   []byte
		entry uint32
		ok    bool
		err   error
		msg   string
	}{
		{"PT_NOTE, 4-byte descriptor", pvhELF(pvhBase, pvhNote(pvhEntry)), pvhEntry, true, nil, ""},
		{"PT_NOTE, 8-byte descriptor", pvhELF(pvhBase, xen8), pvhEntry, true, nil, ""},
		{"after other notes", pvhELF(pvhBase, cat(gnuNote(), odd, make([]byte, 12), pvhNote(pvhEntry))), pvhEntry, true, nil, ""},
		{"8-aligned PT_NOTE", aligned8, pvhEntry, true, nil, ""},
		{"section only (objcopy)", withNoteSection(pvhELF(pvhBase, nil), xen8, 1, nil), pvhEntry, true, nil, ""},
		{"section, PT_NOTE without it", withNoteSection(pvhELF(pvhBase, gnuNote()), pvhNote(pvhEntry), 4, nil), pvhEntry, true, nil, ""},
		{"PT_NOTE before section", withNoteSection(pvhELF(pvhBase, pvhNote(pvhEntry)), pvhNote(pvhEntry+0x10), 4, nil), pvhEntry, true, nil, ""},
		{"unpadded last note", withNoteSection(pvhELF(pvhBase, unpaddedLast), pvhNote(pvhEntry), 4, nil), pvhEntry, true, nil, ""},
		{"compressed section skipped", withNoteSection(pvhELF(pvhBase, nil), pvhNote(pvhEntry), 4, func(s *elf.Section64) {
			s.Flags |= uint64(elf.SHF_COMPRESSED)
			s.Size = 24 // room for the compression header debug/elf reads
		}), 0, false, nil, ""},
		{"no notes", pvhELF(pvhBase, nil), 0, false, nil, ""},
		{"other notes", pvhELF(pvhBase, cat(gnuNote(), odd)), 0, false, nil, ""},
		{"empty notes", pvhELF(pvhBase, make([]byte, 2*noteHeaderSize)), 0, false, nil, ""},
		{"other Xen note", pvhELF(pvhBase, elfNote(xenNoteName, 1, le64(pvhEntry), 4)), 0, false, nil, ""},
		{"name without NUL", pvhELF(pvhBase, elfNote("Xen", XEN_ELFNOTE_PHYS32_ENTRY, le32(pvhEntry), 4)), 0, false, nil, ""},
		{"other name", pvhELF(pvhBase, elfNote("Xem\x00", XEN_ELFNOTE_PHYS32_ENTRY, le32(pvhEntry), 4)), 0, false, nil, ""},
		{"arm64 Image", buildImage(0, 0x1000, 0, 0x100), 0, false, nil, ""},

		{"aarch64 ELF, bad \"note\" note", simpleELF(elf.EM_AARCH64, pvhBase, pvhBase), 0, false, ErrMalformed, "program header 1: 4 bytes at note offset 0x0"},
		{"not a kernel", []byte("hello"), 0, false, ErrUnknownFormat, ""},
		{"2-byte descriptor", pvhELF(pvhBase, elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, []byte{1, 2}, 4)), 0, false, ErrMalformed, "descriptor of 2 bytes"},
		{"empty descriptor", pvhELF(pvhBase, elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, nil, 4)), 0, false, ErrMalformed, "descriptor of 0 bytes"},
		{"entry above 4 GiB", pvhELF(pvhBase, elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, le64(1<<32|pvhEntry), 4)), 0, false, ErrMalformed, "0x100100020 is not a 32-bit address"},
		{"huge namesz", pvhELF(pvhBase, cat(header(0xffff_ffff, 4, 18), []byte("Xen\x00"), le32(pvhEntry))), 0, false, ErrMalformed, "program header 2: note at offset 0x0 (namesz 0xffffffff"},
		{"huge descsz", pvhELF(pvhBase, cat(gnuNote(), header(4, 0xffff_fffc, 18), []byte("Xen\x00"), le32(pvhEntry))), 0, false, ErrMalformed, "note at offset 0x24"},
		{"descriptor overruns", pvhELF(pvhBase, pvhNote(pvhEntry)[:18]), 0, false, ErrMalformed, "overruns"},
		{"partial header", pvhELF(pvhBase, cat(gnuNote(), []byte{4, 0, 0, 0, 4})), 0, false, ErrMalformed, "5 bytes at note offset 0x24"},
		{"PT_NOTE beyond the file", setProg(pvhELF(pvhBase, pvhNote(pvhEntry)), 2, func(p *elf.Prog64) { p.Off = 1 << 20 }), 0, false, ErrMalformed, "beyond the"},
		{"PT_NOTE size wraps", setProg(pvhELF(pvhBase, pvhNote(pvhEntry)), 2, func(p *elf.Prog64) { p.Off, p.Filesz = 0x100, 1<<64-0x80 }), 0, false, ErrMalformed, ""},
		{"section beyond the file", withNoteSection(pvhELF(pvhBase, nil), pvhNote(pvhEntry), 4, func(s *elf.Section64) { s.Size = 1 << 20 }), 0, false, ErrMalformed, "section 1"},
		{"too many notes", pvhELF(pvhBase, manyNotes), 0, false, ErrUnsupported, "more than 1024"},
	}
	for _, tc := range cases {
		img := bytes.Clone(tc.img)
		entry, ok, err := PVHEntry(img)
		if entry != tc.entry || ok != tc.ok || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) ||
			(err != nil && !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("%s: PVHEntry = %#x, %v, %v; want %#x, %v, %v containing %q", tc.name, entry, ok, err, tc.entry, tc.ok, tc.err, tc.msg)
		}
		if !bytes.Equal(img, tc.img) {
			t.Errorf("%s: image written", tc.name)
		}
	}
}

func TestBuildPVHStartInfo(t *testing.T) {
	const at = 0x6000
	mem := []PVHMemory{{0, 0x9fc00, XEN_HVM_MEMMAP_TYPE_RAM}, {0x10_0000, 0x3ff0_0000, XEN_HVM_MEMMAP_TYPE_RAM}, {0xfee0_0000, 0x1000, XEN_HVM_MEMMAP_TYPE_RESERVED}}
	mod := &PVHModule{Addr: 0x20_0000, Size: 0x1801, Cmdline: "initrd"}
	b, err := BuildPVHStartInfo(at, "console=ttyS0", mem, mod)
	if err != nil {
		t.Fatal(err)
	}
	const memOff, modOff, cmdOff = 56, 56 + 3*24, 56 + 3*24 + 32
	want := cmdOff + len("console=ttyS0\x00initrd\x00")
	if len(b) != want {
		t.Fatalf("%d bytes, want %d", len(b), want)
	}
	le := binary.LittleEndian
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"magic", uint64(le.Uint32(b[0:])), PVH_START_MAGIC},
		{"version", uint64(le.Uint32(b[4:])), 1},
		{"flags", uint64(le.Uint32(b[8:])), 0},
		{"nr_modules", uint64(le.Uint32(b[12:])), 1},
		{"modlist_paddr", le.Uint64(b[16:]), at + modOff},
		{"cmdline_paddr", le.Uint64(b[24:]), at + cmdOff},
		{"rsdp_paddr", le.Uint64(b[32:]), 0},
		{"memmap_paddr", le.Uint64(b[40:]), at + memOff},
		{"memmap_entries", uint64(le.Uint32(b[48:])), 3},
		{"memmap[1].addr", le.Uint64(b[memOff+24:]), 0x10_0000},
		{"memmap[1].size", le.Uint64(b[memOff+24+8:]), 0x3ff0_0000},
		{"memmap[2].type", uint64(le.Uint32(b[memOff+48+16:])), 2},
		{"module paddr", le.Uint64(b[modOff:]), 0x20_0000},
		{"module size", le.Uint64(b[modOff+8:]), 0x1801},
		{"module cmdline_paddr", le.Uint64(b[modOff+16:]), at + cmdOff + 14},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.what, c.got, c.want)
		}
	}
	if s := string(b[cmdOff:]); s != "console=ttyS0\x00initrd\x00" {
		t.Errorf("strings %q", s)
	}
	bi, err := ParsePVHStartInfo(b, at)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Cmdline != "console=ttyS0" || !reflect.DeepEqual(bi.Memory, mem) || !reflect.DeepEqual(bi.Modules, []PVHModule{*mod}) {
		t.Errorf("ParsePVHStartInfo = %+v", bi)
	}

	// Nothing optional: only the header, every pointer 0.
	b, err = BuildPVHStartInfo(8, "", nil, nil)
	if want := (HVMStartInfo{Magic: PVH_START_MAGIC, Version: 1}); err != nil || len(b) != HVMStartInfoSize {
		t.Errorf("empty start info: %d bytes, %v", len(b), err)
	} else if bi, err := ParsePVHStartInfo(b, 8); err != nil || bi.Header != want || bi.Cmdline != "" || bi.Memory != nil || bi.Modules != nil {
		t.Errorf("empty start info parses as %+v, %v", bi, err)
	}

	// Largest: every limit reached, still within MaxPVHStartInfo, and
	// ending exactly at 4 GiB.
	big := make([]PVHMemory, MaxPVHMemmap)
	for i := range big {
		big[i] = PVHMemory{uint64(i) << 20, 1 << 20, XEN_HVM_MEMMAP_TYPE_PMEM}
	}
	long := strings.Repeat("~", MaxPVHCmdline)
	size := HVMStartInfoSize + MaxPVHMemmap*HVMMemmapTableEntrySize + HVMModlistEntrySize + 2*(MaxPVHCmdline+1)
	top := hv.IPA(1<<32-size) &^ 7
	b, err = BuildPVHStartInfo(top, long, big, &PVHModule{Addr: 1 << 40, Size: 1, Cmdline: long})
	if err != nil || len(b) != size || size > MaxPVHStartInfo {
		t.Fatalf("largest start info: %d bytes, %v", len(b), err)
	}
	if bi, err := ParsePVHStartInfo(b, top); err != nil || bi.Cmdline != long || len(bi.Memory) != MaxPVHMemmap || bi.Modules[0].Cmdline != long {
		t.Errorf("largest start info parses: %v", err)
	}
}

func TestBuildPVHStartInfoErrors(t *testing.T) {
	ram := []PVHMemory{{0, 1 << 30, XEN_HVM_MEMMAP_TYPE_RAM}}
	mod := func(addr hv.IPA, size uint64, cmdline string) *PVHModule { return &PVHModule{addr, size, cmdline} }
	cases := []struct {
		name    string
		at      hv.IPA
		cmdline string
		mem     []PVHMemory
		mod     *PVHModule
		err     error
		msg     string
	}{
		{"misaligned", 0x1004, "", ram, nil, ErrStartInfo, "multiple of 8"},
		{"at 0", 0, "", ram, nil, ErrStartInfo, "non-zero"},
		{"too many entries", 0x1000, "", make([]PVHMemory, MaxPVHMemmap+1), nil, ErrTooLarge, "129 memory map entries"},
		{"empty entry", 0x1000, "", []PVHMemory{ram[0], {0x1000, 0, 1}}, nil, ErrStartInfo, "entry 1"},
		{"wrapping entry", 0x1000, "", []PVHMemory{{1<<64 - 0x1000, 0x1000, 1}}, nil, ErrStartInfo, "wraps"},
		{"type 0", 0x1000, "", []PVHMemory{{0, 0x1000, 0}}, nil, ErrStartInfo, "type 0"},
		{"type 8", 0x1000, "", []PVHMemory{{0, 0x1000, 8}}, nil, ErrStartInfo, "type 8"},
		{"long command line", 0x1000, strings.Repeat("a", MaxPVHCmdline+1), ram, nil, ErrTooLarge, "2049 bytes"},
		{"newline", 0x1000, "a\nb", ram, nil, ErrStartInfo, "byte 1 is 0xa"},
		{"NUL", 0x1000, "a\x00", ram, nil, ErrStartInfo, "byte 1 is 0x0"},
		{"DEL", 0x1000, "\x7f", ram, nil, ErrStartInfo, "0x7f"},
		{"UTF-8", 0x1000, "é", ram, nil, ErrStartInfo, "0xc3"},
		{"initrd at 0", 0x1000, "", ram, mod(0, 1, ""), ErrStartInfo, "initrd"},
		{"initrd wraps", 0x1000, "", ram, mod(1<<64-0x1000, 0x2000, ""), ErrStartInfo, "wraps"},
		{"initrd command line", 0x1000, "", ram, mod(0x1000, 1, "\t"), ErrStartInfo, "initrd command line byte 0"},
		{"long initrd command line", 0x1000, "", ram, mod(0x1000, 1, strings.Repeat("a", MaxPVHCmdline+1)), ErrTooLarge, "initrd command line"},
		{"above 4 GiB", 1 << 32, "", ram, nil, ErrStartInfo, "below 4 GiB"},
		{"crosses 4 GiB", 1<<32 - 0x40, "", ram, nil, ErrStartInfo, "[0xffffffc0,0x100000010)"},
		{"wraps 2^64", 1<<64 - 8, "", nil, nil, ErrStartInfo, "below 4 GiB"},
	}
	for _, tc := range cases {
		b, err := BuildPVHStartInfo(tc.at, tc.cmdline, tc.mem, tc.mod)
		if b != nil || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: BuildPVHStartInfo = %d bytes, %v; want %v containing %q", tc.name, len(b), err, tc.err, tc.msg)
		}
	}
}

func TestParsePVHStartInfoErrors(t *testing.T) {
	const at = 0x1000
	good, err := BuildPVHStartInfo(at, "cmd", []PVHMemory{{0, 0x1000, 1}}, &PVHModule{Addr: 0x8000, Size: 1, Cmdline: "m"})
	must(err)
	le := binary.LittleEndian
	edit := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	v0 := edit(func(b []byte) { le.PutUint32(b[4:], 0); le.PutUint64(b[40:], 1); le.PutUint32(b[52:], 1) })
	if bi, err := ParsePVHStartInfo(v0, at); err != nil || bi.Memory != nil || bi.Cmdline != "cmd" {
		t.Errorf("version 0: %+v, %v", bi, err)
	}
	cases := []struct {
		name string
		b    []byte
		at   hv.IPA
		msg  string
	}{
		{"short", good[:HVMStartInfoSize-1], at, "55 bytes"},
		{"bad magic", edit(func(b []byte) { b[0] ^= 1 }), at, "magic 0x336ec579"},
		{"wraps", good, 1<<64 - 8, "wrap"},
		{"reserved", edit(func(b []byte) { b[52] = 1 }), at, "reserved field 0x1"},
		{"cmdline below", edit(func(b []byte) { le.PutUint64(b[24:], at-1) }), at, "command line [0xfff,+0x0) outside"},
		{"cmdline above", edit(func(b []byte) { le.PutUint64(b[24:], at+uint64(len(good))+1) }), at, "outside"},
		{"cmdline at the end", edit(func(b []byte) { le.PutUint64(b[24:], at+uint64(len(good))) }), at, "no NUL"},
		{"cmdline without NUL", good[:len(good)-1], at, "module 0 command line at 0x1074 has no NUL within 1 bytes"},
		{"cmdline too long", edit(func(b []byte) { copy(b[len(b)-2:], "xx") }), at, "no NUL"},
		{"too many entries", edit(func(b []byte) { le.PutUint32(b[48:], MaxPVHMemmap+1) }), at, "129 memory map entries"},
		{"entries outside", edit(func(b []byte) { le.PutUint32(b[48:], 4) }), at, "memory map [0x1038,+0x60) outside"},
		{"entries at 0", edit(func(b []byte) { le.PutUint64(b[40:], 0) }), at, "memory map [0x0,+0x18)"},
		{"entry reserved", edit(func(b []byte) { b[HVMStartInfoSize+20] = 1 }), at, "memory map entry 0: reserved"},
		{"modules outside", edit(func(b []byte) { le.PutUint32(b[12:], 1<<31) }), at, "module list"},
		{"modules at 0", edit(func(b []byte) { le.PutUint64(b[16:], 0) }), at, "module list [0x0,+0x20)"},
		{"module reserved", edit(func(b []byte) { b[HVMStartInfoSize+24+24] = 1 }), at, "module 0: reserved"},
	}
	for _, tc := range cases {
		if _, err := ParsePVHStartInfo(tc.b, tc.at); !errors.Is(err, ErrStartInfo) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: ParsePVHStartInfo error %v, want one containing %q", tc.name, err, tc.msg)
		}
	}
}

func TestLoadPVH(t *testing.T) {
	// A kernel ending off a page boundary, an initrd of a page and a
	// bit: initrd at the next page, start info at the page after it.
	img := setProg(pvhELF(pvhBase, pvhNote(pvhEntry)), 1, func(p *elf.Prog64) { p.Memsz = 0x1001 })
	initrd := bytes.Repeat([]byte("initrd!"), 0x1801/7+1)[:0x1801]
	ram := dirtyRAM(4 << 20)
	const cmdline = "console=ttyS0 earlyprintk"
	l, err := LoadPVH(img, 0, ram, cmdline, initrd)
	if err != nil {
		t.Fatal(err)
	}
	size := hv.IPA(HVMStartInfoSize + HVMMemmapTableEntrySize + HVMModlistEntrySize + len(cmdline) + 1)
	want := LoadedPVH{Entry: pvhEntry, StartInfo: 0x10_6000, KernelEnd: 0x10_3001, Initrd: 0x10_4000, End: 0x10_6000 + size}
	if l != want {
		t.Fatalf("LoadPVH = %+v, want %+v", l, want)
	}
	if !bytes.Equal(ram[pvhBase:pvhBase+0x40], bytes.Repeat([]byte{0x90}, 0x40)) || string(ram[0x10_2000:0x10_2004]) != "data" ||
		!bytes.Equal(ram[0x10_2004:0x10_3001], make([]byte, 0xffd)) {
		t.Error("kernel not loaded")
	}
	if !bytes.Equal(ram[l.Initrd:][:len(initrd)], initrd) {
		t.Error("initrd not copied")
	}
	bi, err := ParsePVHStartInfo(ram[l.StartInfo:l.End], l.StartInfo)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Cmdline != cmdline || !reflect.DeepEqual(bi.Memory, []PVHMemory{{0, 4 << 20, XEN_HVM_MEMMAP_TYPE_RAM}}) ||
		!reflect.DeepEqual(bi.Modules, []PVHModule{{Addr: 0x10_4000, Size: 0x1801}}) {
		t.Errorf("start info %+v", bi)
	}
	for _, r := range [][2]int{{0, pvhBase}, {pvhBase + 0x40, 0x10_2000}, {0x10_3001, 0x10_4000}, {0x10_5801, 0x10_6000}, {int(l.End), len(ram)}} {
		if got := ram[r[0]:r[1]]; !bytes.Equal(got, dirtyRAM(len(got))) {
			t.Errorf("RAM [%#x,%#x) written", r[0], r[1])
		}
	}

	// No initrd, RAM not at 0: the start info follows the kernel.
	const base = 0x4000_0000
	ram = dirtyRAM(1 << 20)
	l, err = LoadPVH(pvhELF(base, pvhNote(base+0x2010)), base, ram, "", nil)
	if want := (LoadedPVH{Entry: base + 0x2010, StartInfo: base + 0x3000, KernelEnd: base + 0x3000, End: base + 0x3000 + 80}); err != nil || l != want {
		t.Fatalf("LoadPVH without initrd = %+v, %v; want %+v", l, err, want)
	}
	bi, err = ParsePVHStartInfo(ram[0x3000:0x3000+80], l.StartInfo)
	if err != nil || bi.Cmdline != "" || bi.Modules != nil || !reflect.DeepEqual(bi.Memory, []PVHMemory{{base, 1 << 20, 1}}) {
		t.Errorf("start info %+v, %v", bi, err)
	}
	if got := ram[0x3000+80:]; !bytes.Equal(got, dirtyRAM(len(got))) {
		t.Error("RAM after the start info written")
	}
}

func TestLoadPVHErrors(t *testing.T) {
	good := pvhELF(pvhBase, pvhNote(pvhEntry))
	const top = 0xffff_d000 // kernel ends at 4 GiB
	cases := []struct {
		name    string
		img     []byte
		base    hv.IPA
		ramSize int
		cmdline string
		initrd  []byte
		err     error
		msg     string
	}{
		{"no note", pvhELF(pvhBase, nil), 0, 4 << 20, "", nil, ErrUnsupported, "boot only through the Xen PVH entry"},
		{"other notes", pvhELF(pvhBase, gnuNote()), 0, 4 << 20, "", nil, ErrUnsupported, "no XEN_ELFNOTE_PHYS32_ENTRY"},
		{"bad note", pvhELF(pvhBase, pvhNote(pvhEntry)[:18]), 0, 4 << 20, "", nil, ErrMalformed, "overruns"},
		{"aarch64 ELF", simpleELF(elf.EM_AARCH64, pvhBase, pvhBase), 0, 4 << 20, "", nil, ErrMachine, "ELF64 AArch64"},
		{"arm64 Image", buildImage(0, 0x1000, 0, 0x100), 0, 4 << 20, "", nil, ErrMachine, "arm64 Linux Image"},
		{"not a kernel", []byte("hello"), 0, 4 << 20, "", nil, ErrUnknownFormat, ""},
		{"entry between segments", pvhELF(pvhBase, pvhNote(pvhBase+0x1000)), 0, 4 << 20, "", nil, ErrEntry, "PVH entry 0x101000"},
		{"entry past the code", pvhELF(pvhBase, pvhNote(pvhBase+0x40)), 0, 4 << 20, "", nil, ErrEntry, "0x100040"},
		{"kernel outside RAM", good, 0x20_0000, 4 << 20, "", nil, ErrOutsideRAM, "outside RAM"},
		{"initrd too large", good, 0, 4 << 20, "", make([]byte, 4<<20), ErrOutsideRAM, "initrd"},
		{"no page for the start info", good, 0, 0x10_3000, "", nil, ErrOutsideRAM, "no page for the start info"},
		{"start info overruns RAM", good, 0, 0x10_3040, "", nil, ErrOutsideRAM, "start info of 0x50 bytes"},
		{"initrd fills RAM", good, 0, 0x10_4000, "", make([]byte, 0x1000), ErrOutsideRAM, "no page"},
		{"bad command line", good, 0, 4 << 20, "a\x00b", nil, ErrStartInfo, "not printable"},
		{"long command line", good, 0, 4 << 20, strings.Repeat("x", MaxPVHCmdline+1), nil, ErrTooLarge, "command line"},
		{"start info above 4 GiB", pvhELF(top, pvhNote(top+0x10)), 0xfff0_0000, 4 << 20, "", nil, ErrStartInfo, "below 4 GiB"},
	}
	for _, tc := range cases {
		ram := dirtyRAM(tc.ramSize)
		l, err := LoadPVH(tc.img, tc.base, ram, tc.cmdline, tc.initrd)
		if l != (LoadedPVH{}) || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: LoadPVH = %+v, %v; want %v containing %q", tc.name, l, err, tc.err, tc.msg)
		}
		if !bytes.Equal(ram, dirtyRAM(len(ram))) {
			t.Errorf("%s: RAM written on error", tc.name)
		}
	}
}

// memmapRecord is how FuzzPVHStartInfo encodes one PVHMemory in its
// []byte argument: addr, size (8 bytes each), type (4 bytes).
const memmapRecord = 20

func encodeMemmap(mem []PVHMemory) []byte {
	var b []byte
	for _, m := range mem {
		b = binary.LittleEndian.AppendUint64(b, m.Addr)
		b = binary.LittleEndian.AppendUint64(b, m.Size)
		b = binary.LittleEndian.AppendUint32(b, m.Type)
	}
	return b
}

// decodeMemmap reads up to MaxPVHMemmap+1 entries, one past the limit.
func decodeMemmap(b []byte) []PVHMemory {
	var mem []PVHMemory
	for ; len(b) >= memmapRecord && len(mem) <= MaxPVHMemmap; b = b[memmapRecord:] {
		le := binary.LittleEndian
		mem = append(mem, PVHMemory{Addr: le.Uint64(b), Size: le.Uint64(b[8:]), Type: le.Uint32(b[16:])})
	}
	return mem
}

// pvhSeeds returns the corpus of FuzzPVHEntry and FuzzPVHStartInfo.
func pvhSeeds(target string) []seed {
	const b = uint64(fuzzELFBase)
	entry := uint32(b + 0x20)
	switch target {
	case "FuzzPVHEntry":
		return []seed{
			{name: "valid", data: pvhELF(b, pvhNote(entry))},
			{name: "section-desc8", data: withNoteSection(pvhELF(b, gnuNote()), elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, le64(uint64(entry)), 4), 1, nil)},
			{name: "aligned8", data: setProg(pvhELF(b, cat(elfNote("GNU\x00", 5, make([]byte, 12), 8),
				elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, le64(uint64(entry)), 8))), 2, func(p *elf.Prog64) { p.Align = 8 })},
			{name: "no-note", data: pvhELF(b, gnuNote())},
			{name: "entry-outside", data: pvhELF(b, pvhNote(entry+0x1000))},
			{name: "bad-descsz", data: pvhELF(b, elfNote(xenNoteName, XEN_ELFNOTE_PHYS32_ENTRY, []byte{1, 2}, 4))},
			{name: "huge-namesz", data: pvhELF(b, cat(le32(0xffff_ffff), le32(4), le32(XEN_ELFNOTE_PHYS32_ENTRY), []byte(xenNoteName), le32(entry)))},
			{name: "truncated-note", data: pvhELF(b, pvhNote(entry)[:18])},
			{name: "aarch64", data: simpleELF(elf.EM_AARCH64, b, b)},
		}
	case "FuzzPVHStartInfo":
		const at, cmdline = 0x10_6000, "console=ttyS0 root=/dev/vda"
		mem := []PVHMemory{{0, 0x9fc00, XEN_HVM_MEMMAP_TYPE_RAM}, {0x10_0000, 0x3ff0_0000, XEN_HVM_MEMMAP_TYPE_RAM},
			{0xfee0_0000, 0x1000, XEN_HVM_MEMMAP_TYPE_RESERVED}}
		blob, err := BuildPVHStartInfo(at, cmdline, mem, &PVHModule{Addr: 0x10_4000, Size: 0x1801, Cmdline: "initrd"})
		must(err)
		badMagic := bytes.Clone(blob)
		badMagic[0] ^= 1
		outside := bytes.Clone(blob)
		binary.LittleEndian.PutUint64(outside[24:], 0x1000)
		args := func(at uint64, cmdline string, mem []PVHMemory, initrd bool, addr, size uint64, mcmd string, raw []byte) []any {
			return []any{at, cmdline, encodeMemmap(mem), initrd, addr, size, mcmd, raw}
		}
		return []seed{
			{name: "linux", args: args(at, cmdline, mem, true, 0x10_4000, 0x1801, "initrd", blob)},
			{name: "minimal", args: args(8, "", nil, false, 0, 0, "", blob[:HVMStartInfoSize])},
			{name: "misaligned", args: args(at+4, cmdline, mem, false, 0, 0, "", badMagic)},
			{name: "bad-cmdline", args: args(at, "a\nb", mem, true, 0x10_4000, 1, "", outside)},
			{name: "above-4g", args: args(1<<32-8, "", mem, false, 0, 0, "", blob[:len(blob)-1])},
			{name: "entry-types", args: args(at, "", []PVHMemory{{0, 1, 0}, {1, 1, XEN_HVM_MEMMAP_TYPE_PMEM}, {2, 1, 8}}, false, 0, 0, "", nil)},
			{name: "initrd-wraps", args: args(at, "", mem, true, 1<<64-0x1000, 0x2000, "", nil)},
		}
	}
	return nil
}

// TestPVHSeeds checks that the valid seeds are valid.
func TestPVHSeeds(t *testing.T) {
	ram := make([]byte, fuzzELFSize)
	if _, err := LoadPVH(pvhSeeds("FuzzPVHEntry")[0].data, fuzzELFBase, ram, "", nil); err != nil {
		t.Errorf("valid PVH seed: %v", err)
	}
	for _, s := range pvhSeeds("FuzzPVHEntry")[1:3] {
		if _, ok, err := PVHEntry(s.data); !ok || err != nil {
			t.Errorf("seed %s: %v, %v", s.name, ok, err)
		}
	}
	if a := pvhSeeds("FuzzPVHStartInfo")[0].args; !bytes.Equal(encodeMemmap(decodeMemmap(a[2].([]byte))), a[2].([]byte)) {
		t.Error("memmap encoding")
	}
}
