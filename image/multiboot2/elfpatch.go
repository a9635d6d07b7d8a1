// image/multiboot2: insertion of a Multiboot2 header into a linked ELF64 image.
// SPDX-License-Identifier: BSD-3-Clause

// PatchELF makes a TamaGo-linked amd64 ELF bootable by a Multiboot2
// boot loader without relinking. TamaGo's linker puts the ELF header,
// the program header table and the section header table at the start of
// the file, and the NOTE sections just before .text at file offset
// 0x1000; the first PT_LOAD covers file offset 0. The zero bytes between
// the section header table and the first NOTE lie within the first
// 32 KiB and belong to no section, so a header written there is found
// by the boot loader and changes nothing else in the image.

package multiboot2

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Errors returned (wrapped) by PatchELF, SymbolValue and ReadVirtual.
var (
	ErrELF          = errors.New("unsupported or malformed ELF image")
	ErrNoRoom       = errors.New("no room for the multiboot2 header")
	ErrHeaderExists = errors.New("image already has a multiboot2 header")
	ErrReserveEnd   = errors.New("ReserveEnd below the end of the image in memory")
	ErrNoSymbol     = errors.New("symbol not found")
	ErrNotMapped    = errors.New("address not in the file-backed part of a PT_LOAD segment")
)

// ELF-64 Object File Format 1.5, Figure 2 (ELF-64 Header) and Figure 4
// (ELF-64 Section Header), Figure 6 (ELF-64 Program Header): sizes of
// Elf64_Ehdr, Elf64_Shdr and Elf64_Phdr, which debug/elf's Header64,
// Section64 and Prog64 reproduce field for field.
const (
	elf64EhdrSize = 64
	elf64ShdrSize = 64
	elf64PhdrSize = 56
)

// PatchOptions says what PatchELF does.
type PatchOptions struct {
	// Header is an encoded Multiboot2 header (Header.Encode) with
	// architecture ArchI386, and nothing after its end tag.
	Header []byte
	// ReserveEnd, if nonzero, is the virtual address at which the
	// PT_LOAD segment that ends highest in memory must end: its p_memsz
	// is grown so that p_vaddr+p_memsz == ReserveEnd. A boot loader
	// then zeroes that memory and keeps modules and the MBI out of it.
	// It must not be below the segment's current end.
	ReserveEnd uint64
}

// PatchResult describes what PatchELF did.
type PatchResult struct {
	// HeaderOffset is the file offset of the header.
	HeaderOffset int
	// Replaced is set when an existing header of the same length was
	// overwritten.
	Replaced bool
	// OldMemEnd and NewMemEnd are p_vaddr+p_memsz of the PT_LOAD segment
	// that ends highest, before and after patching.
	OldMemEnd, NewMemEnd uint64
}

// fileRange is a half-open range of file offsets, with what it holds.
type fileRange struct {
	start, end uint64
	what       string
}

// elfFile is an ELF64 little-endian file parsed with debug/elf, with
// the raw header fields debug/elf does not keep.
type elfFile struct {
	f   *elf.File
	hdr elf.Header64
}

// openELF parses img and checks that it is an ELF64 little-endian x86-64
// executable whose program and section header tables lie within img.
func openELF(img []byte) (*elfFile, error) {
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("multiboot2: %w: %w", ErrELF, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("multiboot2: %w: %s", ErrELF, fmt.Sprintf(format, a...))
	}
	switch {
	case f.Class != elf.ELFCLASS64:
		return nil, bad("class %v, want ELFCLASS64", f.Class)
	case f.Data != elf.ELFDATA2LSB:
		return nil, bad("data %v, want ELFDATA2LSB", f.Data)
	case f.Machine != elf.EM_X86_64:
		return nil, bad("machine %v, want EM_X86_64", f.Machine)
	case f.Type != elf.ET_EXEC:
		return nil, bad("type %v, want ET_EXEC", f.Type)
	}
	e := &elfFile{f: f}
	if _, err := binary.Decode(img, binary.LittleEndian, &e.hdr); err != nil {
		return nil, bad("ELF header: %v", err)
	}
	if len(f.Progs) > 0 && e.hdr.Phentsize < elf64PhdrSize {
		return nil, bad("e_phentsize %d < %d", e.hdr.Phentsize, elf64PhdrSize)
	}
	if len(f.Sections) > 0 && e.hdr.Shentsize < elf64ShdrSize {
		return nil, bad("e_shentsize %d < %d", e.hdr.Shentsize, elf64ShdrSize)
	}
	for _, r := range e.tables() {
		if r.end < r.start || r.end > uint64(len(img)) {
			return nil, bad("%s [%#x, %#x) outside the file of %d bytes", r.what, r.start, r.end, len(img))
		}
	}
	return e, nil
}

// tables returns the file ranges of the ELF header and the program and
// section header tables.
func (e *elfFile) tables() []fileRange {
	r := []fileRange{{0, max(elf64EhdrSize, uint64(e.hdr.Ehsize)), "ELF header"}}
	if n := uint64(len(e.f.Progs)); n > 0 {
		r = append(r, fileRange{e.hdr.Phoff, e.hdr.Phoff + n*uint64(e.hdr.Phentsize), "program header table"})
	}
	if n := uint64(len(e.f.Sections)); n > 0 && e.hdr.Shoff != 0 {
		r = append(r, fileRange{e.hdr.Shoff, e.hdr.Shoff + n*uint64(e.hdr.Shentsize), "section header table"})
	}
	return r
}

// occupied returns the file ranges that hold something: the tables,
// every section with contents in the file (NOTE sections included), and
// every non-PT_LOAD segment with contents in the file. PT_LOAD segments
// are not counted: they span the gaps between sections.
func (e *elfFile) occupied() ([]fileRange, error) {
	r := e.tables()
	for _, s := range e.f.Sections {
		if s.Type == elf.SHT_NULL || s.Type == elf.SHT_NOBITS || s.FileSize == 0 {
			continue
		}
		end := s.Offset + s.FileSize
		if end < s.Offset {
			return nil, fmt.Errorf("multiboot2: %w: section %q offset %#x size %#x overflows", ErrELF, s.Name, s.Offset, s.FileSize)
		}
		r = append(r, fileRange{s.Offset, end, "section " + s.Name})
	}
	for i, p := range e.f.Progs {
		if p.Type == elf.PT_LOAD || p.Filesz == 0 {
			continue
		}
		end := p.Off + p.Filesz
		if end < p.Off {
			return nil, fmt.Errorf("multiboot2: %w: segment %d offset %#x size %#x overflows", ErrELF, i, p.Off, p.Filesz)
		}
		r = append(r, fileRange{p.Off, end, fmt.Sprintf("segment %d (%v)", i, p.Type)})
	}
	sort.Slice(r, func(i, j int) bool { return r[i].start < r[j].start })
	return r, nil
}

// free reports whether [off, off+n) is inside img, overlaps no occupied
// range and holds only zero bytes.
func free(img []byte, occ []fileRange, off, n int) bool {
	if off+n > len(img) {
		return false
	}
	s, t := uint64(off), uint64(off+n)
	for _, r := range occ {
		if r.start < t && s < r.end {
			return false
		}
	}
	for _, c := range img[off : off+n] {
		if c != 0 {
			return false
		}
	}
	return true
}

// PatchELF returns a copy of the TamaGo-linked x86-64 ELF executable
// elfImage with the Multiboot2 header o.Header written into it, and, if
// o.ReserveEnd is set, the p_memsz of its highest-ending PT_LOAD grown.
// The input is never modified.
//
// If the image already has a header (Find succeeds), it is overwritten
// in place when the new header has the same length, and otherwise
// ErrHeaderExists is returned. Else the header goes at the first 8-byte
// aligned offset where len(o.Header) bytes lie within the first
// HeaderSearch bytes, belong to no ELF table, section or non-PT_LOAD
// segment, and are all zero, and where Find on the result then returns
// that offset (so that no earlier 8-byte aligned offset is mistaken for
// a header); if there is none, ErrNoRoom.
func PatchELF(elfImage []byte, o PatchOptions) ([]byte, *PatchResult, error) {
	hdr, err := ParseHeader(o.Header)
	if err != nil {
		return nil, nil, fmt.Errorf("multiboot2: patch: header: %w", err)
	}
	if int(hdr.Length) != len(o.Header) {
		return nil, nil, fmt.Errorf("multiboot2: patch: header: %w",
			headerErr(int(hdr.Length), "%d bytes after the end tag", len(o.Header)-int(hdr.Length)))
	}
	if hdr.Arch != ArchI386 {
		return nil, nil, fmt.Errorf("multiboot2: patch: header: %w",
			headerErr(architectureOff, "architecture %d, want %d (i386) for an x86-64 image", hdr.Arch, ArchI386))
	}
	e, err := openELF(elfImage)
	if err != nil {
		return nil, nil, fmt.Errorf("multiboot2: patch: %w", err)
	}
	res := &PatchResult{}
	out := bytes.Clone(elfImage)
	n := len(o.Header)

	oldOff, old, err := Find(elfImage)
	switch {
	case err == nil:
		if int(old.Length) != n {
			return nil, nil, fmt.Errorf("multiboot2: patch: %w at %#x, of length %d; the new one has length %d",
				ErrHeaderExists, oldOff, old.Length, n)
		}
		copy(out[oldOff:], o.Header)
		if got, _, err := Find(out); err != nil || got != oldOff {
			return nil, nil, fmt.Errorf("multiboot2: patch: replacing the header at %#x: Find on the result gives offset %#x, error %v",
				oldOff, got, err)
		}
		res.HeaderOffset, res.Replaced = oldOff, true
	case errors.Is(err, ErrNoHeader):
		off, err := place(out, e, o.Header)
		if err != nil {
			return nil, nil, err
		}
		res.HeaderOffset = off
	default:
		return nil, nil, fmt.Errorf("multiboot2: patch: %w (malformed): %w", ErrHeaderExists, err)
	}

	if err := reserve(out, e, o.ReserveEnd, res); err != nil {
		return nil, nil, err
	}
	return out, res, nil
}

// place writes h into out (a copy of the image e) at the first offset
// that qualifies (see PatchELF) and returns it.
func place(out []byte, e *elfFile, h []byte) (int, error) {
	occ, err := e.occupied()
	if err != nil {
		return 0, fmt.Errorf("multiboot2: patch: %w", err)
	}
	n := len(h)
	zero := make([]byte, n)
	rejected := 0
	for off := 0; off+n <= HeaderSearch; off += HeaderAlign {
		if !free(out, occ, off, n) {
			continue
		}
		copy(out[off:], h)
		if got, _, err := Find(out); err == nil && got == off {
			return off, nil
		}
		// An earlier magic would combine with these bytes into a
		// header with a valid checksum: try further on.
		copy(out[off:], zero)
		rejected++
	}
	return 0, fmt.Errorf("multiboot2: patch: %w: no %d free zero bytes at an 8-byte aligned offset below %#x "+
		"(%d free places rejected because an earlier offset would be taken for a header); occupied: %s",
		ErrNoRoom, n, HeaderSearch, rejected, describe(occ, HeaderSearch))
}

// describe lists the ranges that start below limit.
func describe(occ []fileRange, limit uint64) string {
	var b bytes.Buffer
	for _, r := range occ {
		if r.start >= limit {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s [%#x, %#x)", r.what, r.start, r.end)
	}
	return b.String()
}

// reserve applies o.ReserveEnd to out and fills in the memory ends of
// res.
func reserve(out []byte, e *elfFile, reserveEnd uint64, res *PatchResult) error {
	idx := -1
	var end uint64
	for i, p := range e.f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		pe := p.Vaddr + p.Memsz
		if pe < p.Vaddr {
			return fmt.Errorf("multiboot2: patch: %w: PT_LOAD %d p_vaddr %#x p_memsz %#x overflows", ErrELF, i, p.Vaddr, p.Memsz)
		}
		if idx < 0 || pe > end {
			idx, end = i, pe
		}
	}
	res.OldMemEnd, res.NewMemEnd = end, end
	if reserveEnd == 0 {
		return nil
	}
	if idx < 0 {
		return fmt.Errorf("multiboot2: patch: %w: no PT_LOAD segment", ErrELF)
	}
	if reserveEnd < end {
		return fmt.Errorf("multiboot2: patch: %w: ReserveEnd %#x < end %#x of PT_LOAD %d", ErrReserveEnd, reserveEnd, end, idx)
	}
	// ELF-64 Object File Format 1.5, Figure 6: Elf64_Phdr, decoded and
	// re-encoded whole so that no field offset is counted by hand.
	at := e.hdr.Phoff + uint64(idx)*uint64(e.hdr.Phentsize)
	phdr := out[at : at+elf64PhdrSize] // within the file: checked by openELF
	var ph elf.Prog64
	if _, err := binary.Decode(phdr, binary.LittleEndian, &ph); err != nil {
		return fmt.Errorf("multiboot2: patch: %w: program header %d: %v", ErrELF, idx, err)
	}
	ph.Memsz = reserveEnd - ph.Vaddr
	if _, err := binary.Encode(phdr, binary.LittleEndian, &ph); err != nil {
		return fmt.Errorf("multiboot2: patch: program header %d: %w", idx, err)
	}
	res.NewMemEnd = reserveEnd
	return nil
}

// SymbolValue returns the value of the symbol name in the symbol table
// (.symtab) of the ELF image elfImage; for a function or variable of an
// executable this is its virtual address.
func SymbolValue(elfImage []byte, name string) (uint64, error) {
	f, err := elf.NewFile(bytes.NewReader(elfImage))
	if err != nil {
		return 0, fmt.Errorf("multiboot2: %w: %w", ErrELF, err)
	}
	syms, err := f.Symbols()
	if err != nil {
		return 0, fmt.Errorf("multiboot2: symbol %q: %w: %w", name, ErrELF, err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value, nil
		}
	}
	return 0, fmt.Errorf("multiboot2: %w: %q", ErrNoSymbol, name)
}

// ReadVirtual returns a copy of the n bytes at virtual address va of the
// ELF image elfImage, as the PT_LOAD segment holding them is laid out in
// the file. The bytes must all lie in the file-backed part (p_filesz) of
// one segment; memory that a loader zeroes (p_memsz beyond p_filesz)
// cannot be read.
func ReadVirtual(elfImage []byte, va uint64, n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("multiboot2: read %#x: negative length %d", va, n)
	}
	f, err := elf.NewFile(bytes.NewReader(elfImage))
	if err != nil {
		return nil, fmt.Errorf("multiboot2: %w: %w", ErrELF, err)
	}
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD || va < p.Vaddr || va-p.Vaddr >= p.Memsz {
			continue
		}
		rel := va - p.Vaddr
		if rel > p.Filesz || p.Filesz-rel < uint64(n) {
			return nil, fmt.Errorf("multiboot2: %w: [%#x, +%#x) runs past p_filesz %#x of PT_LOAD %d at %#x",
				ErrNotMapped, va, n, p.Filesz, i, p.Vaddr)
		}
		start := p.Off + rel
		if start < p.Off || start > uint64(len(elfImage)) || uint64(len(elfImage))-start < uint64(n) {
			return nil, fmt.Errorf("multiboot2: %w: PT_LOAD %d at file offset %#x runs past the file of %d bytes",
				ErrELF, i, p.Off, len(elfImage))
		}
		return bytes.Clone(elfImage[start : start+uint64(n)]), nil
	}
	return nil, fmt.Errorf("multiboot2: %w: %#x in no PT_LOAD segment", ErrNotMapped, va)
}
