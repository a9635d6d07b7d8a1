// image/pe: converter from a TamaGo x86-64 ELF executable to a PE32+ EFI image.
// SPDX-License-Identifier: BSD-3-Clause

// Package pe converts a statically linked x86-64 ELF executable, as
// produced by the TamaGo Go compiler, into a PE32+ EFI application image
// that UEFI firmware (OVMF/EDK2) can load with LoadImage and start with
// StartImage. It is a build tool: it runs on the host (any GOOS/GOARCH),
// never on the target, and reads its input as untrusted bytes, so it
// returns an error, never panics, on malformed input.
//
// Only the PT_LOAD program headers of the ELF file are used. Each one
// becomes one PE section at the same virtual address relative to the image
// base, so the program runs at the address it was linked for whenever the
// firmware loads it at ImageBase, and the output carries a base-relocation
// directory with no fixups so that firmware may load it anywhere else (the
// program then relocates itself through paging; it has no absolute fixups
// for the firmware to apply).
//
// Layout of the output file (offsets in the file, RVAs in memory):
//
//	file offset  RVA          contents
//	0x0000       0x0000       MS-DOS header: "MZ", e_lfanew = 0x40
//	0x0040       0x0040       "PE\0\0"
//	0x0044       0x0044       COFF file header (20 bytes)
//	0x0058       0x0058       PE32+ optional header with 16 data directories (240 bytes)
//	0x0148       0x0148       section table, 40 bytes per section
//	...          ...          zero padding up to SizeOfHeaders (multiple of FileAlignment)
//	SizeOfHeaders vaddr0-base first PT_LOAD: .text, .rdata, .data or .bss
//	...          ...          one section per further PT_LOAD, in vaddr order
//	last         after last   .reloc: one IMAGE_BASE_RELOCATION block of 12 bytes
//
// Each section's raw data is the segment's file bytes padded with zeros to
// a multiple of FileAlignment (0x200); its VirtualSize is p_memsz, so the
// loader zero-fills the bss tail. Sections are placed at RVA
// p_vaddr - ImageBase, which must be a multiple of SectionAlignment
// (0x1000) and must not overlap the headers, which occupy RVA 0 up to
// SizeOfHeaders rounded up to SectionAlignment.
//
// TamaGo's first PT_LOAD starts at file offset 0 and so carries the ELF
// header, the program headers and the ELF notes in its first page, before
// .text. Options.SkipHeaderPage drops that page, so the image base can be
// the segment's own vaddr with the PE headers in its place.
//
// The output is deterministic: TimeDateStamp and CheckSum are zero.
package pe

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Error is the type of the sentinel errors returned by FromELF; every
// error FromELF returns wraps exactly one of them.
type Error string

func (e Error) Error() string { return string(e) }

// Problems FromELF reports.
const (
	ErrNotELF        = Error("pe: not a well-formed ELF64 little-endian file")
	ErrUnsupported   = Error("pe: unsupported ELF file")
	ErrSegment       = Error("pe: invalid PT_LOAD segment")
	ErrEntry         = Error("pe: invalid entry point")
	ErrImageBase     = Error("pe: invalid image base")
	ErrHeaderOverlap = Error("pe: first section overlaps the PE headers")
	ErrTooLarge      = Error("pe: image too large")
	ErrOptions       = Error("pe: invalid options")
)

// Options for FromELF.
type Options struct {
	// Entry is the virtual address of the EFI entry point
	// (EFI_IMAGE_ENTRY_POINT, called with the image handle in RCX and the
	// system table in RDX). It must lie in the file-backed part of an
	// executable PT_LOAD; it is not taken from e_entry, which for TamaGo
	// is the ELF/PVH entry.
	Entry uint64
	// ImageBase is the preferred load address. 0 means: the lowest
	// PT_LOAD p_vaddr rounded down to 64 KiB. Otherwise it must be a
	// multiple of SectionAlignment and no higher than the first section.
	ImageBase uint64
	// Subsystem is the PE subsystem, one of the IMAGE_SUBSYSTEM_EFI_*
	// values. 0 means IMAGE_SUBSYSTEM_EFI_APPLICATION.
	Subsystem uint16
	// SkipHeaderPage drops the first 0x1000 bytes of the first PT_LOAD,
	// which must start at file offset 0 (TamaGo's layout: that page holds
	// only the ELF header, program headers and notes). Its section then
	// starts at p_vaddr+0x1000. If the ELF file has section headers, no
	// allocated section other than a note may lie in the dropped page.
	SkipHeaderPage bool
}

// MS-DOS header, PE Format (Microsoft), MS-DOS Stub (Image Only) and
// Signature (Image Only).
const (
	IMAGE_DOS_SIGNATURE = 0x5a4d // "MZ", e_magic
	IMAGE_NT_SIGNATURE  = "PE\x00\x00"
)

// PE Format (Microsoft), COFF File Header, Machine Types.
const (
	IMAGE_FILE_MACHINE_AMD64 = 0x8664
)

// PE Format (Microsoft), COFF File Header, Characteristics.
const (
	IMAGE_FILE_RELOCS_STRIPPED     = 0x0001
	IMAGE_FILE_EXECUTABLE_IMAGE    = 0x0002
	IMAGE_FILE_LARGE_ADDRESS_AWARE = 0x0020
)

// PE Format (Microsoft), Optional Header Standard Fields (Image Only).
const (
	IMAGE_NT_OPTIONAL_HDR64_MAGIC = 0x20b // PE32+
)

// PE Format (Microsoft), Optional Header Windows-Specific Fields, Windows
// Subsystem.
const (
	IMAGE_SUBSYSTEM_EFI_APPLICATION         = 10
	IMAGE_SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER = 11
	IMAGE_SUBSYSTEM_EFI_RUNTIME_DRIVER      = 12
	IMAGE_SUBSYSTEM_EFI_ROM                 = 13
)

// PE Format (Microsoft), Optional Header Data Directories (Image Only).
const (
	IMAGE_NUMBEROF_DIRECTORY_ENTRIES = 16
	IMAGE_DIRECTORY_ENTRY_BASERELOC  = 5 // Base Relocation Table
)

// PE Format (Microsoft), Section Flags.
const (
	IMAGE_SCN_CNT_CODE               = 0x00000020
	IMAGE_SCN_CNT_INITIALIZED_DATA   = 0x00000040
	IMAGE_SCN_CNT_UNINITIALIZED_DATA = 0x00000080
	IMAGE_SCN_MEM_DISCARDABLE        = 0x02000000
	IMAGE_SCN_MEM_EXECUTE            = 0x20000000
	IMAGE_SCN_MEM_READ               = 0x40000000
	IMAGE_SCN_MEM_WRITE              = 0x80000000
)

// PE Format (Microsoft), The .reloc Section (Image Only), Base
// Relocation Types. An entry is a 16-bit word: type in bits 15:12, page
// offset in bits 11:0.
const (
	IMAGE_REL_BASED_ABSOLUTE = 0 // skipped; used to pad a block

	IMAGE_REL_BASED_TYPE_SHIFT   = 12
	IMAGE_REL_BASED_OFFSET_MASK  = 0x0fff
	IMAGE_SIZEOF_BASE_RELOCATION = 8 // PageRVA + BlockSize
)

// Alignments and limits used for the output.
const (
	// SectionAlignment is the optional header SectionAlignment: the
	// x86-64 page size, which every PT_LOAD p_vaddr must be aligned to.
	SectionAlignment = 0x1000
	// FileAlignment is the optional header FileAlignment: the spec's
	// default and minimum (PE Format, Optional Header Windows-Specific
	// Fields).
	FileAlignment = 0x200
	// HeaderPageSize is the number of bytes SkipHeaderPage drops.
	HeaderPageSize = 0x1000
	// imageBaseAlign is the alignment of a default ImageBase: PE Format,
	// Optional Header Windows-Specific Fields, ImageBase ("must be a
	// multiple of 64 K").
	imageBaseAlign = 0x10000
	// maxSections is the Windows loader's limit on NumberOfSections
	// (PE Format, COFF File Header), including .reloc. It also keeps
	// every generated section name within 8 bytes.
	maxSections = 96
	// dosHeaderSize is the MS-DOS header; e_lfanew points just past it.
	dosHeaderSize = 64
	// IMAGE_SIZEOF_SHORT_NAME is the size of a section name (PE Format,
	// Section Table (Section Headers)).
	IMAGE_SIZEOF_SHORT_NAME = 8
)

// dosHeader is the MS-DOS header (IMAGE_DOS_HEADER). UEFI loaders read
// only e_magic and e_lfanew; there is no MS-DOS stub program.
type dosHeader struct {
	EMagic  uint16     // e_magic: IMAGE_DOS_SIGNATURE
	_       [29]uint16 // e_cblp ... e_res2
	ELfanew uint32     // e_lfanew: file offset of the PE signature
}

// fileHeader is the COFF File Header (Object and Image),
// IMAGE_FILE_HEADER.
type fileHeader struct {
	Machine              uint16
	NumberOfSections     uint16
	TimeDateStamp        uint32
	PointerToSymbolTable uint32
	NumberOfSymbols      uint32
	SizeOfOptionalHeader uint16
	Characteristics      uint16
}

// dataDirectory is IMAGE_DATA_DIRECTORY (PE Format, Optional Header Data
// Directories (Image Only)).
type dataDirectory struct {
	VirtualAddress uint32
	Size           uint32
}

// optionalHeader64 is the PE32+ Optional Header (Image Only),
// IMAGE_OPTIONAL_HEADER64: standard fields, Windows-specific fields and
// the data directories.
type optionalHeader64 struct {
	Magic                       uint16
	MajorLinkerVersion          uint8
	MinorLinkerVersion          uint8
	SizeOfCode                  uint32
	SizeOfInitializedData       uint32
	SizeOfUninitializedData     uint32
	AddressOfEntryPoint         uint32
	BaseOfCode                  uint32
	ImageBase                   uint64
	SectionAlignment            uint32
	FileAlignment               uint32
	MajorOperatingSystemVersion uint16
	MinorOperatingSystemVersion uint16
	MajorImageVersion           uint16
	MinorImageVersion           uint16
	MajorSubsystemVersion       uint16
	MinorSubsystemVersion       uint16
	Win32VersionValue           uint32
	SizeOfImage                 uint32
	SizeOfHeaders               uint32
	CheckSum                    uint32
	Subsystem                   uint16
	DllCharacteristics          uint16
	SizeOfStackReserve          uint64
	SizeOfStackCommit           uint64
	SizeOfHeapReserve           uint64
	SizeOfHeapCommit            uint64
	LoaderFlags                 uint32
	NumberOfRvaAndSizes         uint32
	DataDirectory               [IMAGE_NUMBEROF_DIRECTORY_ENTRIES]dataDirectory
}

// sectionHeader is a Section Table entry, IMAGE_SECTION_HEADER.
type sectionHeader struct {
	Name                 [IMAGE_SIZEOF_SHORT_NAME]byte
	VirtualSize          uint32
	VirtualAddress       uint32
	SizeOfRawData        uint32
	PointerToRawData     uint32
	PointerToRelocations uint32
	PointerToLinenumbers uint32
	NumberOfRelocations  uint16
	NumberOfLinenumbers  uint16
	Characteristics      uint32
}

// baseRelocation is the Base Relocation Block header,
// IMAGE_BASE_RELOCATION; BlockSize includes this header and the 16-bit
// entries that follow it.
type baseRelocation struct {
	PageRVA   uint32
	BlockSize uint32
}

// relocEntries is the number of IMAGE_REL_BASED_ABSOLUTE entries in the
// .reloc block: two, so that the block size (8 + 2*2 = 12) is a multiple
// of 4 as the spec requires of each block's start.
const relocEntries = 2

// Sizes of the encoded header structures (checked against binary.Size in
// the tests).
const (
	fileHeaderSize       = 20
	optionalHeader64Size = 240
	sectionHeaderSize    = 40
	relocBlockSize       = IMAGE_SIZEOF_BASE_RELOCATION + 2*relocEntries
	// sectionTableOff is the file offset of the section table.
	sectionTableOff = dosHeaderSize + len(IMAGE_NT_SIGNATURE) + fileHeaderSize + optionalHeader64Size
)

// segment is a validated PT_LOAD, possibly trimmed by SkipHeaderPage.
type segment struct {
	index int // program header index, for messages
	vaddr uint64
	memsz uint64
	data  []byte // file-backed bytes (p_filesz of them); aliases the input
	flags elf.ProgFlag
}

// section is one output section.
type section struct {
	name    string
	rva     uint32
	vsize   uint32
	data    []byte
	chars   uint32
	rawOff  uint32
	rawSize uint32
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// FromELF converts elfImage, a statically linked ELF64 little-endian
// x86-64 ET_EXEC file, into a PE32+ image as laid out in the package
// documentation. elfImage is not modified and is not aliased by the
// result. Every error wraps one of the Err* sentinels.
func FromELF(elfImage []byte, o Options) ([]byte, error) {
	subsystem := o.Subsystem
	if subsystem == 0 {
		subsystem = IMAGE_SUBSYSTEM_EFI_APPLICATION
	}
	if subsystem < IMAGE_SUBSYSTEM_EFI_APPLICATION || subsystem > IMAGE_SUBSYSTEM_EFI_ROM {
		return nil, fmt.Errorf("%w: subsystem %d is not an EFI subsystem (10-13)", ErrOptions, subsystem)
	}

	// Check e_ident before debug/elf, which would parse a 32-bit or
	// big-endian file and report its problems in those terms.
	if len(elfImage) >= elf.EI_NIDENT && string(elfImage[:len(elf.ELFMAG)]) == elf.ELFMAG {
		class, data := elf.Class(elfImage[elf.EI_CLASS]), elf.Data(elfImage[elf.EI_DATA])
		if class != elf.ELFCLASS64 || data != elf.ELFDATA2LSB {
			return nil, fmt.Errorf("%w: %v %v, want ELFCLASS64 ELFDATA2LSB", ErrNotELF, class, data)
		}
	}
	f, err := elf.NewFile(bytes.NewReader(elfImage))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotELF, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%w: %v %v, want ELFCLASS64 ELFDATA2LSB", ErrNotELF, f.Class, f.Data)
	}
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: machine %v, want EM_X86_64", ErrUnsupported, f.Machine)
	}
	if f.Type != elf.ET_EXEC {
		return nil, fmt.Errorf("%w: type %v, want ET_EXEC", ErrUnsupported, f.Type)
	}

	segs, err := loadSegments(f, elfImage)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: no PT_LOAD segment with p_memsz > 0", ErrSegment)
	}

	lowest := segs[0].vaddr
	if o.SkipHeaderPage {
		if segs, err = skipHeaderPage(f, segs); err != nil {
			return nil, err
		}
		if len(segs) == 0 {
			return nil, fmt.Errorf("%w: nothing left after SkipHeaderPage", ErrSegment)
		}
	}

	base := o.ImageBase
	if base == 0 {
		base = lowest &^ (imageBaseAlign - 1)
	} else if base%SectionAlignment != 0 {
		return nil, fmt.Errorf("%w: %#x is not a multiple of SectionAlignment %#x", ErrImageBase, base, SectionAlignment)
	}
	if base > segs[0].vaddr {
		return nil, fmt.Errorf("%w: %#x is above the first section at %#x", ErrImageBase, base, segs[0].vaddr)
	}

	secs, err := makeSections(segs, base)
	if err != nil {
		return nil, err
	}

	entry, err := entryRVA(segs, secs, o.Entry, base)
	if err != nil {
		return nil, err
	}

	return layout(secs, base, entry, subsystem)
}

// loadSegments returns the PT_LOAD headers of f with p_memsz > 0, after
// checking every PT_LOAD: p_vaddr aligned to SectionAlignment,
// p_filesz <= p_memsz, file range inside b, no address wrap, ascending
// and non-overlapping virtual ranges.
func loadSegments(f *elf.File, b []byte) ([]segment, error) {
	var segs []segment
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if p.Vaddr%SectionAlignment != 0 {
			return nil, fmt.Errorf("%w: PT_LOAD %d p_vaddr %#x is not %#x-aligned", ErrSegment, i, p.Vaddr, SectionAlignment)
		}
		if p.Filesz > p.Memsz {
			return nil, fmt.Errorf("%w: PT_LOAD %d p_filesz %#x > p_memsz %#x", ErrSegment, i, p.Filesz, p.Memsz)
		}
		if p.Off > uint64(len(b)) || p.Filesz > uint64(len(b))-p.Off {
			return nil, fmt.Errorf("%w: PT_LOAD %d file range [%#x+%#x] is past the end of the file (%#x bytes)",
				ErrSegment, i, p.Off, p.Filesz, len(b))
		}
		if p.Memsz > math.MaxUint64-p.Vaddr {
			return nil, fmt.Errorf("%w: PT_LOAD %d [%#x+%#x] wraps the address space", ErrSegment, i, p.Vaddr, p.Memsz)
		}
		if p.Memsz == 0 {
			continue
		}
		if n := len(segs); n > 0 {
			prev := segs[n-1]
			if p.Vaddr < prev.vaddr {
				return nil, fmt.Errorf("%w: PT_LOAD %d p_vaddr %#x is below PT_LOAD %d p_vaddr %#x (not sorted)",
					ErrSegment, i, p.Vaddr, prev.index, prev.vaddr)
			}
			if p.Vaddr < prev.vaddr+prev.memsz {
				return nil, fmt.Errorf("%w: PT_LOAD %d [%#x,%#x) overlaps PT_LOAD %d [%#x,%#x)",
					ErrSegment, i, p.Vaddr, p.Vaddr+p.Memsz, prev.index, prev.vaddr, prev.vaddr+prev.memsz)
			}
		}
		segs = append(segs, segment{
			index: i,
			vaddr: p.Vaddr,
			memsz: p.Memsz,
			data:  b[p.Off : p.Off+p.Filesz],
			flags: p.Flags,
		})
	}
	return segs, nil
}

// skipHeaderPage drops the first HeaderPageSize bytes of segs[0], after
// checking that they are the start of the file and that no allocated
// section other than a note lies in them.
func skipHeaderPage(f *elf.File, segs []segment) ([]segment, error) {
	first := segs[0]
	p := f.Progs[first.index]
	if p.Off != 0 {
		return nil, fmt.Errorf("%w: SkipHeaderPage: first PT_LOAD %d starts at file offset %#x, not 0",
			ErrSegment, first.index, p.Off)
	}
	if p.Filesz < HeaderPageSize {
		return nil, fmt.Errorf("%w: SkipHeaderPage: first PT_LOAD %d p_filesz %#x is shorter than the header page %#x",
			ErrSegment, first.index, p.Filesz, HeaderPageSize)
	}
	lo, hi := first.vaddr, first.vaddr+HeaderPageSize
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOTE || s.Type == elf.SHT_NULL || s.Size == 0 {
			continue
		}
		end := s.Addr + s.Size
		if end < s.Addr {
			end = math.MaxUint64 // a bogus size; treat as reaching the top
		}
		if s.Addr < hi && end > lo {
			return nil, fmt.Errorf("%w: SkipHeaderPage: section %q at [%#x,%#x) lies in the header page [%#x,%#x)",
				ErrSegment, s.Name, s.Addr, end, lo, hi)
		}
	}
	first.vaddr += HeaderPageSize
	first.memsz -= HeaderPageSize
	first.data = first.data[HeaderPageSize:]
	if first.memsz == 0 {
		return segs[1:], nil
	}
	out := append([]segment{first}, segs[1:]...)
	return out, nil
}

// makeSections names the sections, sets their characteristics and
// checks that their RVAs fit in 32 bits.
func makeSections(segs []segment, base uint64) ([]section, error) {
	if len(segs)+1 > maxSections {
		return nil, fmt.Errorf("%w: %d PT_LOAD segments, at most %d sections (with .reloc)",
			ErrTooLarge, len(segs), maxSections)
	}
	seen := map[string]int{}
	secs := make([]section, 0, len(segs)+1)
	for _, s := range segs {
		rva := s.vaddr - base
		if rva > math.MaxUint32 || s.memsz > math.MaxUint32-rva {
			return nil, fmt.Errorf("%w: PT_LOAD %d [%#x,%#x) is beyond 4 GiB of image base %#x",
				ErrTooLarge, s.index, s.vaddr, s.vaddr+s.memsz, base)
		}
		var name string
		var chars uint32
		switch {
		case s.flags&elf.PF_X != 0:
			name = ".text"
			chars = IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ
		case len(s.data) == 0:
			name = ".bss"
			chars = IMAGE_SCN_CNT_UNINITIALIZED_DATA | IMAGE_SCN_MEM_READ
		case s.flags&elf.PF_W != 0:
			name = ".data"
			chars = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
		default:
			name = ".rdata"
			chars = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
		}
		if s.flags&elf.PF_W != 0 {
			chars |= IMAGE_SCN_MEM_WRITE
		}
		n := seen[name]
		seen[name] = n + 1
		if n > 0 {
			name += strconv.Itoa(n)
		}
		if len(name) > IMAGE_SIZEOF_SHORT_NAME {
			// Unreachable with maxSections <= 100; kept so that a
			// change of limit cannot silently truncate names.
			return nil, fmt.Errorf("%w: section name %q is longer than %d bytes", ErrTooLarge, name, IMAGE_SIZEOF_SHORT_NAME)
		}
		secs = append(secs, section{
			name:  name,
			rva:   uint32(rva),
			vsize: uint32(s.memsz),
			data:  s.data,
			chars: chars,
		})
	}
	return secs, nil
}

// entryRVA checks that entry lies in the file-backed part of an
// executable segment and returns its RVA.
func entryRVA(segs []segment, secs []section, entry, base uint64) (uint32, error) {
	for i, s := range segs {
		if s.flags&elf.PF_X == 0 {
			continue
		}
		if entry >= s.vaddr && entry-s.vaddr < uint64(len(s.data)) {
			return secs[i].rva + uint32(entry-s.vaddr), nil
		}
	}
	return 0, fmt.Errorf("%w: entry point %#x is not in the file-backed part of an executable PT_LOAD (image base %#x)",
		ErrEntry, entry, base)
}

// layout assigns file offsets, appends .reloc and encodes the image.
func layout(secs []section, base uint64, entry uint32, subsystem uint16) ([]byte, error) {
	nsec := len(secs) + 1 // with .reloc
	sizeOfHeaders := alignUp(uint64(sectionTableOff+nsec*sectionHeaderSize), FileAlignment)
	if hdrEnd := alignUp(sizeOfHeaders, SectionAlignment); uint64(secs[0].rva) < hdrEnd {
		return nil, fmt.Errorf("%w: first section %s at RVA %#x, headers occupy RVA [0,%#x) (image base %#x; use SkipHeaderPage or a lower ImageBase)",
			ErrHeaderOverlap, secs[0].name, secs[0].rva, hdrEnd, base)
	}

	last := secs[len(secs)-1]
	relocRVA := alignUp(uint64(last.rva)+uint64(last.vsize), SectionAlignment)
	sizeOfImage := alignUp(relocRVA+relocBlockSize, SectionAlignment)
	if sizeOfImage > math.MaxUint32 {
		return nil, fmt.Errorf("%w: SizeOfImage %#x does not fit in 32 bits", ErrTooLarge, sizeOfImage)
	}
	secs = append(secs, section{
		name:  ".reloc",
		rva:   uint32(relocRVA),
		vsize: relocBlockSize,
		chars: IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_DISCARDABLE,
	})
	reloc := &secs[len(secs)-1]
	reloc.data = make([]byte, relocBlockSize)
	if _, err := binary.Encode(reloc.data, binary.LittleEndian, baseRelocation{
		PageRVA:   secs[0].rva,
		BlockSize: relocBlockSize,
	}); err != nil {
		return nil, fmt.Errorf("pe: encoding base relocation block: %w", err)
	}
	for i := range relocEntries {
		// Type ABSOLUTE, offset 0: padding the loader skips.
		const pad = IMAGE_REL_BASED_ABSOLUTE << IMAGE_REL_BASED_TYPE_SHIFT
		binary.LittleEndian.PutUint16(reloc.data[IMAGE_SIZEOF_BASE_RELOCATION+2*i:], pad)
	}

	var sizeOfCode, sizeOfInit, sizeOfUninit uint64
	var baseOfCode uint32
	fileOff := sizeOfHeaders
	for i := range secs {
		s := &secs[i]
		if len(s.data) > 0 {
			s.rawOff = uint32(fileOff)
			raw := alignUp(uint64(len(s.data)), FileAlignment)
			s.rawSize = uint32(raw)
			fileOff += raw
			if fileOff > math.MaxUint32 {
				return nil, fmt.Errorf("%w: output file exceeds 4 GiB", ErrTooLarge)
			}
		}
		switch {
		case s.chars&IMAGE_SCN_CNT_CODE != 0:
			if sizeOfCode == 0 {
				baseOfCode = s.rva
			}
			sizeOfCode += uint64(s.rawSize)
		case s.chars&IMAGE_SCN_CNT_INITIALIZED_DATA != 0:
			sizeOfInit += uint64(s.rawSize)
		case s.chars&IMAGE_SCN_CNT_UNINITIALIZED_DATA != 0:
			sizeOfUninit += alignUp(uint64(s.vsize), FileAlignment)
		}
	}
	// Each sum is bounded by the file size or SizeOfImage, both checked
	// to fit in 32 bits above.

	out := make([]byte, fileOff)
	dos := dosHeader{EMagic: IMAGE_DOS_SIGNATURE, ELfanew: dosHeaderSize}
	fh := fileHeader{
		Machine:              IMAGE_FILE_MACHINE_AMD64,
		NumberOfSections:     uint16(len(secs)),
		SizeOfOptionalHeader: optionalHeader64Size,
		// Not IMAGE_FILE_RELOCS_STRIPPED: the image may be loaded
		// anywhere (see .reloc).
		Characteristics: IMAGE_FILE_EXECUTABLE_IMAGE | IMAGE_FILE_LARGE_ADDRESS_AWARE,
	}
	oh := optionalHeader64{
		Magic:                   IMAGE_NT_OPTIONAL_HDR64_MAGIC,
		SizeOfCode:              uint32(sizeOfCode),
		SizeOfInitializedData:   uint32(sizeOfInit),
		SizeOfUninitializedData: uint32(sizeOfUninit),
		AddressOfEntryPoint:     entry,
		BaseOfCode:              baseOfCode,
		ImageBase:               base,
		SectionAlignment:        SectionAlignment,
		FileAlignment:           FileAlignment,
		SizeOfImage:             uint32(sizeOfImage),
		SizeOfHeaders:           uint32(sizeOfHeaders),
		Subsystem:               subsystem,
		NumberOfRvaAndSizes:     IMAGE_NUMBEROF_DIRECTORY_ENTRIES,
	}
	oh.DataDirectory[IMAGE_DIRECTORY_ENTRY_BASERELOC] = dataDirectory{
		VirtualAddress: reloc.rva,
		Size:           relocBlockSize,
	}

	off := 0
	put := func(what string, v any) error {
		n, err := binary.Encode(out[off:], binary.LittleEndian, v)
		if err != nil {
			return fmt.Errorf("pe: encoding %s: %w", what, err)
		}
		off += n
		return nil
	}
	if err := put("MS-DOS header", dos); err != nil {
		return nil, err
	}
	off += copy(out[off:], IMAGE_NT_SIGNATURE)
	if err := put("COFF file header", fh); err != nil {
		return nil, err
	}
	if err := put("optional header", oh); err != nil {
		return nil, err
	}
	for _, s := range secs {
		sh := sectionHeader{
			VirtualSize:      s.vsize,
			VirtualAddress:   s.rva,
			SizeOfRawData:    s.rawSize,
			PointerToRawData: s.rawOff,
			Characteristics:  s.chars,
		}
		copy(sh.Name[:], s.name)
		if err := put("section header "+s.name, sh); err != nil {
			return nil, err
		}
		copy(out[s.rawOff:], s.data)
	}
	return out, nil
}
