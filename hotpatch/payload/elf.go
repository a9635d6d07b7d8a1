// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// The ELF reader and writer below know only what the payload format
// uses. They are written for this format rather than built on debug/elf,
// so every size is checked against the file and the format's limits
// before anything is allocated or sliced.

// ELF identification and header values (System V ABI, generic part
// (gABI), chapter 4 "Object Files", "ELF Header" and "ELF
// Identification"; ELF-64 Object File Format 1.5, "File header").
const (
	EI_CLASS      = 4  // e_ident index of the file class
	EI_DATA       = 5  // e_ident index of the data encoding
	EI_VERSION    = 6  // e_ident index of the file version
	EI_OSABI      = 7  // e_ident index of the OS/ABI
	EI_NIDENT     = 16 // size of e_ident
	ELFCLASS64    = 2
	ELFDATA2LSB   = 1
	EV_CURRENT    = 1
	ELFOSABI_NONE = 0
	ET_REL        = 1 // relocatable file
	EM_X86_64     = 62
	EM_AARCH64    = 183
)

// elfMagic is e_ident[EI_MAG0..EI_MAG3].
const elfMagic = "\x7fELF"

// Section header values (gABI chapter 4, "Sections" and "Special Section
// Indexes"; ELF-64 Object File Format 1.5, "Sections").
const (
	SHN_UNDEF     = 0
	SHT_NULL      = 0
	SHT_PROGBITS  = 1
	SHT_STRTAB    = 3
	SHF_ALLOC     = 0x2
	SHF_EXECINSTR = 0x4
)

// elf64Ehdr is Elf64_Ehdr (ELF-64 Object File Format 1.5, "File header").
type elf64Ehdr struct {
	Ident     [EI_NIDENT]byte // e_ident
	Type      uint16          // e_type
	Machine   uint16          // e_machine
	Version   uint32          // e_version
	Entry     uint64          // e_entry
	Phoff     uint64          // e_phoff
	Shoff     uint64          // e_shoff
	Flags     uint32          // e_flags
	Ehsize    uint16          // e_ehsize
	Phentsize uint16          // e_phentsize
	Phnum     uint16          // e_phnum
	Shentsize uint16          // e_shentsize
	Shnum     uint16          // e_shnum
	Shstrndx  uint16          // e_shstrndx
}

// elf64Shdr is Elf64_Shdr (ELF-64 Object File Format 1.5, "Section
// header entries").
type elf64Shdr struct {
	Name      uint32 // sh_name
	Type      uint32 // sh_type
	Flags     uint64 // sh_flags
	Addr      uint64 // sh_addr
	Offset    uint64 // sh_offset
	Size      uint64 // sh_size
	Link      uint32 // sh_link
	Info      uint32 // sh_info
	Addralign uint64 // sh_addralign
	Entsize   uint64 // sh_entsize
}

// Sizes of Elf64_Ehdr and Elf64_Shdr; TestRecordSizes checks them against
// binary.Size of the structs.
const (
	ehdrSize = 64
	shdrSize = 64
)

// Section names of the payload format (doc.go describes each).
const (
	SectionText     = ".tvpatch.text"
	SectionFuncs    = ".tvpatch.funcs"
	SectionRelocs   = ".tvpatch.relocs"
	SectionBuildID  = ".tvpatch.buildid"
	SectionDepends  = ".tvpatch.depends"
	SectionName     = ".tvpatch.name"
	SectionPCLN     = ".tvpatch.pcln"
	SectionStrtab   = ".strtab"
	SectionShstrtab = ".shstrtab"
)

// sectionRule is what the format requires of one section's header.
type sectionRule struct {
	typ      uint32
	flags    uint64
	entsize  uint64
	align    uint64 // sh_addralign Encode writes
	required bool
}

// sectionRules lists every section a payload may have.
var sectionRules = map[string]sectionRule{
	SectionText:     {SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0, TextAlign, true},
	SectionFuncs:    {SHT_PROGBITS, 0, funcRecordSize, 8, true},
	SectionRelocs:   {SHT_PROGBITS, 0, relocRecordSize, 8, false},
	SectionBuildID:  {SHT_PROGBITS, 0, 0, 1, true},
	SectionDepends:  {SHT_PROGBITS, 0, 0, 1, false},
	SectionName:     {SHT_PROGBITS, 0, 0, 1, true},
	SectionPCLN:     {SHT_PROGBITS, 0, 0, 8, false},
	SectionStrtab:   {SHT_STRTAB, 0, 0, 1, true},
	SectionShstrtab: {SHT_STRTAB, 0, 0, 1, true},
}

// maxSections bounds e_shnum: the null section and one of each rule.
const maxSections = 1 + 9

// maxAlign bounds sh_addralign.
const maxAlign = 4096

// formatErr returns an ErrFormat error with a formatted detail.
func formatErr(format string, a ...any) error {
	return fmt.Errorf("payload: %w: %s", ErrFormat, fmt.Sprintf(format, a...))
}

// span is a half-open range of file offsets.
type span struct {
	start, end uint64
	what       string
}

// readELF checks the ELF framing of a payload file and returns its
// e_machine and the contents of its sections by name, as subslices of b.
// It checks everything doc.go says about the ELF header, the section
// header table and the section headers; it does not look inside the
// sections except the section-name string table.
func readELF(b []byte) (machine uint16, secs map[string][]byte, err error) {
	if uint64(len(b)) > MaxFile {
		return 0, nil, formatErr("file of %d bytes exceeds MaxFile (%d)", len(b), MaxFile)
	}
	if len(b) < ehdrSize {
		return 0, nil, formatErr("file of %d bytes is shorter than the ELF header", len(b))
	}
	var h elf64Ehdr
	if _, err := binary.Decode(b, binary.LittleEndian, &h); err != nil {
		return 0, nil, formatErr("ELF header: %v", err)
	}
	id := h.Ident
	switch {
	case string(id[:len(elfMagic)]) != elfMagic:
		return 0, nil, formatErr("no ELF magic: % x", id[:4])
	case id[EI_CLASS] != ELFCLASS64:
		return 0, nil, formatErr("EI_CLASS %d, want ELFCLASS64", id[EI_CLASS])
	case id[EI_DATA] != ELFDATA2LSB:
		return 0, nil, formatErr("EI_DATA %d, want ELFDATA2LSB", id[EI_DATA])
	case id[EI_VERSION] != EV_CURRENT:
		return 0, nil, formatErr("EI_VERSION %d, want EV_CURRENT", id[EI_VERSION])
	case id[EI_OSABI] != ELFOSABI_NONE:
		return 0, nil, formatErr("EI_OSABI %d, want ELFOSABI_NONE", id[EI_OSABI])
	case !allZero(id[EI_OSABI+1:]):
		return 0, nil, formatErr("e_ident padding not zero: % x", id[EI_OSABI+1:])
	case h.Type != ET_REL:
		return 0, nil, formatErr("e_type %d, want ET_REL", h.Type)
	case h.Machine != EM_X86_64 && h.Machine != EM_AARCH64:
		return 0, nil, fmt.Errorf("payload: %w: %w: e_machine %d, want EM_X86_64 or EM_AARCH64", ErrFormat, ErrArch, h.Machine)
	case h.Version != EV_CURRENT:
		return 0, nil, formatErr("e_version %d, want EV_CURRENT", h.Version)
	case h.Entry != 0 || h.Flags != 0:
		return 0, nil, formatErr("e_entry %#x e_flags %#x, want 0", h.Entry, h.Flags)
	case h.Phoff != 0 || h.Phnum != 0 || h.Phentsize != 0:
		return 0, nil, formatErr("program headers (e_phoff %#x e_phnum %d e_phentsize %d) in a relocatable payload", h.Phoff, h.Phnum, h.Phentsize)
	case h.Ehsize != ehdrSize || h.Shentsize != shdrSize:
		return 0, nil, formatErr("e_ehsize %d e_shentsize %d, want %d, %d", h.Ehsize, h.Shentsize, ehdrSize, shdrSize)
	case h.Shnum < 2 || h.Shnum > maxSections:
		return 0, nil, formatErr("e_shnum %d, want 2..%d", h.Shnum, maxSections)
	case h.Shstrndx == SHN_UNDEF || h.Shstrndx >= h.Shnum:
		return 0, nil, formatErr("e_shstrndx %d out of 1..%d", h.Shstrndx, h.Shnum-1)
	}
	tableSize := uint64(h.Shnum) * shdrSize
	if h.Shoff < ehdrSize || h.Shoff > uint64(len(b)) || uint64(len(b))-h.Shoff < tableSize {
		return 0, nil, formatErr("section header table at %#x (%d entries) outside the file of %d bytes", h.Shoff, h.Shnum, len(b))
	}
	shdrs := make([]elf64Shdr, h.Shnum)
	if _, err := binary.Decode(b[h.Shoff:], binary.LittleEndian, shdrs); err != nil {
		return 0, nil, formatErr("section header table: %v", err)
	}
	if shdrs[0] != (elf64Shdr{}) {
		return 0, nil, formatErr("section 0 is not the null section")
	}

	spans := []span{{0, ehdrSize, "ELF header"}, {h.Shoff, h.Shoff + tableSize, "section header table"}}
	for i := 1; i < len(shdrs); i++ {
		s := &shdrs[i]
		switch {
		case s.Addr != 0 || s.Link != 0 || s.Info != 0:
			return 0, nil, formatErr("section %d: sh_addr %#x sh_link %d sh_info %d, want 0", i, s.Addr, s.Link, s.Info)
		case s.Addralign > maxAlign || s.Addralign&(s.Addralign-1) != 0:
			return 0, nil, formatErr("section %d: sh_addralign %#x is not 0 or a power of two up to %d", i, s.Addralign, maxAlign)
		case s.Addralign > 1 && s.Offset%s.Addralign != 0:
			return 0, nil, formatErr("section %d: sh_offset %#x not a multiple of sh_addralign %d", i, s.Offset, s.Addralign)
		case s.Offset > uint64(len(b)) || s.Size > uint64(len(b))-s.Offset:
			return 0, nil, formatErr("section %d: [%#x, +%#x) outside the file of %d bytes", i, s.Offset, s.Size, len(b))
		}
		if s.Size > 0 {
			spans = append(spans, span{s.Offset, s.Offset + s.Size, fmt.Sprintf("section %d", i)})
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.start, y.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return 0, nil, formatErr("%s [%#x, %#x) overlaps %s [%#x, %#x)",
				spans[i].what, spans[i].start, spans[i].end, spans[i-1].what, spans[i-1].start, spans[i-1].end)
		}
	}

	data := func(s *elf64Shdr) []byte { return b[s.Offset : s.Offset+s.Size] }
	shstrtab := data(&shdrs[h.Shstrndx])
	if shdrs[h.Shstrndx].Type != SHT_STRTAB {
		return 0, nil, formatErr("e_shstrndx %d names a section of type %d, not SHT_STRTAB", h.Shstrndx, shdrs[h.Shstrndx].Type)
	}
	if err := checkStrtab(shstrtab); err != nil {
		return 0, nil, formatErr("section name table: %v", err)
	}
	secs = make(map[string][]byte, len(shdrs))
	for i := 1; i < len(shdrs); i++ {
		s := &shdrs[i]
		name, ok := cstring(shstrtab, s.Name)
		if !ok {
			return 0, nil, formatErr("section %d: sh_name %#x outside the section name table", i, s.Name)
		}
		rule, known := sectionRules[name]
		switch {
		case !known:
			return 0, nil, formatErr("section %d: unknown section %q", i, name)
		case hasKey(secs, name):
			return 0, nil, formatErr("section %d: second %s section", i, name)
		case s.Type != rule.typ || s.Flags != rule.flags || s.Entsize != rule.entsize:
			return 0, nil, formatErr("section %s: sh_type %d sh_flags %#x sh_entsize %d, want %d, %#x, %d",
				name, s.Type, s.Flags, s.Entsize, rule.typ, rule.flags, rule.entsize)
		case (name == SectionShstrtab) != (i == int(h.Shstrndx)):
			return 0, nil, formatErr("section %d: %s is section %d, e_shstrndx says %d", i, SectionShstrtab, i, h.Shstrndx)
		}
		secs[name] = data(s)
	}
	for name, rule := range sectionRules {
		if rule.required && !hasKey(secs, name) {
			return 0, nil, formatErr("no %s section", name)
		}
	}
	return h.Machine, secs, nil
}

// checkStrtab checks the gABI rules for a string table (chapter 4,
// "String Table"): not empty, a NUL byte first and last.
func checkStrtab(t []byte) error {
	if len(t) == 0 || t[0] != 0 || t[len(t)-1] != 0 {
		return fmt.Errorf("string table of %d bytes does not start and end with NUL", len(t))
	}
	return nil
}

// cstring returns the NUL-terminated string at off in the string table t.
func cstring(t []byte, off uint32) (string, bool) {
	if uint64(off) >= uint64(len(t)) {
		return "", false
	}
	n := bytes.IndexByte(t[off:], 0)
	if n < 0 {
		return "", false
	}
	return string(t[off : int(off)+n]), true
}

func hasKey(m map[string][]byte, k string) bool {
	_, ok := m[k]
	return ok
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// strtab builds a string table with each string stored once.
type strtab struct {
	b   []byte
	off map[string]uint32
}

func newStrtab() *strtab { return &strtab{b: []byte{0}, off: map[string]uint32{"": 0}} }

func (t *strtab) add(s string) uint32 {
	if o, ok := t.off[s]; ok {
		return o
	}
	o := uint32(len(t.b))
	t.b = append(append(t.b, s...), 0)
	t.off[s] = o
	return o
}

// outSection is one section for writeELF.
type outSection struct {
	name string
	data []byte
}

// writeELF lays out an ELF64 relocatable file for machine with the given
// sections (all names must be in sectionRules; the .shstrtab section is
// added here) and returns it. It does not validate the contents.
func writeELF(machine uint16, in []outSection) ([]byte, error) {
	shstr := newStrtab()
	names := make([]uint32, len(in))
	for i, s := range in {
		names[i] = shstr.add(s.name)
	}
	shstrName := shstr.add(SectionShstrtab)
	all := append(slices.Clone(in), outSection{SectionShstrtab, shstr.b})
	names = append(names, shstrName)

	shdrs := make([]elf64Shdr, 1, 1+len(all))
	off := uint64(ehdrSize)
	for i, s := range all {
		rule := sectionRules[s.name]
		off = alignUp(off, rule.align)
		shdrs = append(shdrs, elf64Shdr{
			Name: names[i], Type: rule.typ, Flags: rule.flags, Offset: off,
			Size: uint64(len(s.data)), Addralign: rule.align, Entsize: rule.entsize,
		})
		off += uint64(len(s.data))
	}
	shoff := alignUp(off, 8)
	total := shoff + uint64(len(shdrs))*shdrSize
	if total > MaxFile {
		return nil, formatErr("encoded file of %d bytes exceeds MaxFile (%d)", total, MaxFile)
	}
	h := elf64Ehdr{
		Type: ET_REL, Machine: machine, Version: EV_CURRENT, Shoff: shoff,
		Ehsize: ehdrSize, Shentsize: shdrSize, Shnum: uint16(len(shdrs)),
		Shstrndx: uint16(len(shdrs) - 1),
	}
	copy(h.Ident[:], elfMagic)
	h.Ident[EI_CLASS] = ELFCLASS64
	h.Ident[EI_DATA] = ELFDATA2LSB
	h.Ident[EI_VERSION] = EV_CURRENT
	h.Ident[EI_OSABI] = ELFOSABI_NONE

	out := make([]byte, total)
	if _, err := binary.Encode(out, binary.LittleEndian, &h); err != nil {
		return nil, fmt.Errorf("payload: encoding the ELF header: %w", err)
	}
	for i, s := range all {
		copy(out[shdrs[i+1].Offset:], s.data)
	}
	if _, err := binary.Encode(out[shoff:], binary.LittleEndian, shdrs); err != nil {
		return nil, fmt.Errorf("payload: encoding the section headers: %w", err)
	}
	return out, nil
}

// alignUp rounds x up to a multiple of a (0 or 1 mean no alignment).
func alignUp(x, a uint64) uint64 {
	if a <= 1 {
		return x
	}
	return (x + a - 1) &^ (a - 1)
}
