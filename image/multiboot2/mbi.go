// image/multiboot2: parser for the Multiboot2 boot information structure.
// SPDX-License-Identifier: BSD-3-Clause

// Package multiboot2 parses the Multiboot2 boot information structure
// (MBI) that a Multiboot2 boot loader such as GRUB 2 hands to a kernel,
// as described in section 3.6 "Boot information format" of the
// Multiboot2 specification 2.0.
//
// Parse is written to be run on untrusted input: it never panics, it
// never allocates more than a small multiple of len(b) whatever sizes
// the structure claims, and every error is an *Error naming the byte
// offset (relative to the start of the MBI) at which the problem lies.
//
// Choices made where the specification leaves room:
//
//   - total_size need not be a multiple of 8, but every tag must start
//     at an 8-byte aligned offset; the next tag is always looked for at
//     the current tag's end rounded up to 8.
//   - The end tag (type 0) must have size exactly 8. Bytes after it, up
//     to total_size, are allowed only if they are all zero (padding);
//     anything else is an error.
//   - A memory map (type 6) whose entry area is not a whole number of
//     entries is an error, as is an EFI memory map (type 17) with
//     descriptor_size >= 40 whose area is not a whole number of
//     descriptors. With descriptor_size < 40 the EFI map is kept raw.
//   - Repeated modules (type 3) accumulate; any other repeated tag keeps
//     the first instance and records a warning in Info.Warnings.
//   - Unknown tag types are skipped by size and listed in Info.Unknown.
//   - Byte slices in Info are copies; Info does not alias b.
package multiboot2

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Tag types defined by the Multiboot2 specification 2.0.
const (
	TagEnd                    = 0
	TagCmdline                = 1
	TagBootLoaderName         = 2
	TagModule                 = 3
	TagBasicMemInfo           = 4
	TagBootDevice             = 5
	TagMemoryMap              = 6
	TagVBE                    = 7
	TagFramebuffer            = 8
	TagELFSections            = 9
	TagAPM                    = 10
	TagEFI32SystemTable       = 11
	TagEFI64SystemTable       = 12
	TagSMBIOS                 = 13
	TagACPIOldRSDP            = 14
	TagACPINewRSDP            = 15
	TagNetwork                = 16
	TagEFIMemoryMap           = 17
	TagEFIBootServicesNotTerm = 18
	TagEFI32ImageHandle       = 19
	TagEFI64ImageHandle       = 20
	TagLoadBaseAddr           = 21

	maxKnownTag = TagLoadBaseAddr
)

// headerSize is the size of the fixed MBI header (total_size, reserved)
// and also of every tag header (type, size).
const headerSize = 8

// Error is the error returned by Parse. Offset is relative to the start
// of the MBI. Tag is the type of the tag being parsed; it is meaningless
// for errors in the fixed MBI header (Offset < 8). For a missing end tag,
// Offset is where the end tag was expected (total_size or beyond, when
// total_size is not a multiple of 8) and Tag is 0.
type Error struct {
	Offset int
	Tag    uint32
	Msg    string
}

func (e *Error) Error() string {
	if e.Offset < headerSize {
		return fmt.Sprintf("multiboot2: header at offset %#x: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("multiboot2: tag %d at offset %#x: %s", e.Tag, e.Offset, e.Msg)
}

// TagRef locates one tag in the MBI.
type TagRef struct {
	Type   uint32
	Offset int
	Size   uint32
}

// Module is a boot module (tag 3).
type Module struct {
	Start, End uint32
	Cmdline    string
}

// BasicMemInfo is tag 4: amounts of lower and upper memory in KiB.
type BasicMemInfo struct {
	MemLower, MemUpper uint32
}

// BootDevice is tag 5: the BIOS boot device.
type BootDevice struct {
	BIOSDev, Partition, SubPartition uint32
}

// MemoryMapEntry is one entry of the memory map (tag 6).
type MemoryMapEntry struct {
	Base, Length uint64
	Type         uint32
	Reserved     uint32
}

// Memory map entry types.
const (
	MemAvailable       = 1
	MemReserved        = 2
	MemACPIReclaimable = 3
	MemNVS             = 4
	MemBadRAM          = 5
)

// MemoryMap is tag 6. Bytes of an entry beyond the 24 decoded ones are
// ignored.
type MemoryMap struct {
	EntrySize, EntryVersion uint32
	Entries                 []MemoryMapEntry
}

// VBEInfo is tag 7.
type VBEInfo struct {
	Mode         uint16
	InterfaceSeg uint16
	InterfaceOff uint16
	InterfaceLen uint16
	ControlInfo  [512]byte
	ModeInfo     [256]byte
}

// Framebuffer is tag 8. Only the common part is decoded; the
// type-specific color information (from offset 32 of the tag on) is kept
// raw in ColorInfo.
type Framebuffer struct {
	Addr                 uint64
	Pitch, Width, Height uint32
	BPP                  uint8
	Type                 uint8
	ColorInfo            []byte
}

// Framebuffer types.
const (
	FramebufferIndexed = 0
	FramebufferRGB     = 1
	FramebufferEGAText = 2
)

// ELFSections is tag 9. Headers holds the raw section headers.
type ELFSections struct {
	Num, EntSize, Shndx uint32
	Headers             []byte
}

// APMTable is tag 10.
type APMTable struct {
	Version   uint16
	CSeg      uint16
	Offset    uint32
	CSeg16    uint16
	DSeg      uint16
	Flags     uint16
	CSegLen   uint16
	CSeg16Len uint16
	DSegLen   uint16
}

// SMBIOS is tag 13. Tables holds the raw SMBIOS tables.
type SMBIOS struct {
	Major, Minor uint8
	Tables       []byte
}

// EFIMemoryDescriptor is one UEFI memory descriptor.
type EFIMemoryDescriptor struct {
	Type      uint32
	PhysStart uint64
	VirtStart uint64
	NumPages  uint64
	Attribute uint64
}

// EFIMemoryMap is tag 17. Raw holds all descriptors as passed; if
// DescriptorSize >= 40 they are also decoded into Descriptors (and the
// descriptor area must then be a whole number of descriptors), otherwise
// Descriptors is nil and only Raw is available.
type EFIMemoryMap struct {
	DescriptorSize, DescriptorVersion uint32
	Raw                               []byte
	Descriptors                       []EFIMemoryDescriptor
}

// Info is the decoded MBI. Pointer fields are nil when the tag is
// absent; for string, byte-slice and scalar fields use Has.
type Info struct {
	TotalSize uint32

	Cmdline          string
	BootLoaderName   string
	Modules          []Module
	BasicMemInfo     *BasicMemInfo
	BootDevice       *BootDevice
	MemoryMap        *MemoryMap
	VBE              *VBEInfo
	Framebuffer      *Framebuffer
	ELFSections      *ELFSections
	APM              *APMTable
	EFI32SystemTable uint32
	EFI64SystemTable uint64
	SMBIOS           *SMBIOS
	ACPIOldRSDP      []byte
	ACPINewRSDP      []byte
	DHCPAck          []byte
	EFIMemoryMap     *EFIMemoryMap
	// EFIBootServicesNotTerminated is set by tag 18.
	EFIBootServicesNotTerminated bool
	EFI32ImageHandle             uint32
	EFI64ImageHandle             uint64
	LoadBaseAddr                 uint32

	// Tags lists every tag before the end tag, in order, including
	// duplicates and unknown tags.
	Tags []TagRef
	// Unknown lists the tags of types this package does not know.
	Unknown []TagRef
	// Warnings describes tolerated oddities, such as repeated
	// single-instance tags (of which the first is kept).
	Warnings []string
}

// Has reports whether a tag of type typ appears in the MBI.
func (i *Info) Has(typ uint32) bool {
	for _, t := range i.Tags {
		if t.Type == typ {
			return true
		}
	}
	return false
}

// minSize is the smallest valid size of each known tag, header included.
var minSize = [maxKnownTag + 1]uint32{
	TagEnd:                    8,
	TagCmdline:                9,  // at least the NUL
	TagBootLoaderName:         9,  // at least the NUL
	TagModule:                 17, // mod_start, mod_end, NUL
	TagBasicMemInfo:           16,
	TagBootDevice:             20,
	TagMemoryMap:              16,
	TagVBE:                    784,
	TagFramebuffer:            32,
	TagELFSections:            20,
	TagAPM:                    28,
	TagEFI32SystemTable:       12,
	TagEFI64SystemTable:       16,
	TagSMBIOS:                 16,
	TagACPIOldRSDP:            8,
	TagACPINewRSDP:            8,
	TagNetwork:                8,
	TagEFIMemoryMap:           16,
	TagEFIBootServicesNotTerm: 8,
	TagEFI32ImageHandle:       12,
	TagEFI64ImageHandle:       16,
	TagLoadBaseAddr:           12,
}

const (
	mmapEntryMin   = 24
	efiDescMinSize = 40
)

var le = binary.LittleEndian

// Parse decodes the MBI at the start of b. Bytes of b beyond total_size
// are ignored.
func Parse(b []byte) (*Info, error) {
	if len(b) < headerSize {
		return nil, &Error{Offset: 0, Msg: fmt.Sprintf("buffer of %d bytes shorter than the 8-byte header", len(b))}
	}
	total := le.Uint32(b[0:4])
	if total < 2*headerSize {
		return nil, &Error{Offset: 0, Msg: fmt.Sprintf("total_size %d < 16", total)}
	}
	if uint64(total) > uint64(len(b)) {
		return nil, &Error{Offset: 0, Msg: fmt.Sprintf("total_size %d > buffer length %d", total, len(b))}
	}
	b = b[:total]
	info := &Info{TotalSize: total}
	n := len(b)

	off := headerSize
	for {
		if off+headerSize > n {
			return nil, &Error{Offset: off, Msg: fmt.Sprintf("missing end tag: no room for a tag header before total_size %d", total)}
		}
		typ := le.Uint32(b[off:])
		size := le.Uint32(b[off+4:])
		if size < headerSize {
			return nil, &Error{Offset: off, Tag: typ, Msg: fmt.Sprintf("size %d < 8", size)}
		}
		if uint64(off)+uint64(size) > uint64(n) {
			return nil, &Error{Offset: off, Tag: typ, Msg: fmt.Sprintf("size %d runs past total_size %d", size, total)}
		}
		end := off + int(size)
		if typ == TagEnd {
			if size != headerSize {
				return nil, &Error{Offset: off, Tag: typ, Msg: fmt.Sprintf("end tag size %d != 8", size)}
			}
			for i := end; i < n; i++ {
				if b[i] != 0 {
					return nil, &Error{Offset: i, Tag: typ, Msg: "non-zero byte after end tag"}
				}
			}
			return info, nil
		}
		ref := TagRef{Type: typ, Offset: off, Size: size}
		info.Tags = append(info.Tags, ref)
		if err := info.decode(ref, b[off:end]); err != nil {
			return nil, err
		}
		// The next tag starts at the next 8-byte boundary; end <= n
		// fits in an int, so end+7 cannot overflow in practice.
		off = (end + 7) &^ 7
	}
}

// decode decodes one tag; t is the tag's bytes, header included, and
// len(t) == ref.Size.
func (i *Info) decode(ref TagRef, t []byte) error {
	typ := ref.Type
	if typ > maxKnownTag {
		i.Unknown = append(i.Unknown, ref)
		return nil
	}
	fail := func(format string, a ...any) error {
		return &Error{Offset: ref.Offset, Tag: typ, Msg: fmt.Sprintf(format, a...)}
	}
	if want := minSize[typ]; ref.Size < want {
		return fail("size %d < %d", ref.Size, want)
	}
	if typ != TagModule {
		for _, prev := range i.Tags[:len(i.Tags)-1] {
			if prev.Type == typ {
				i.Warnings = append(i.Warnings, fmt.Sprintf(
					"tag %d at offset %#x: duplicate of tag at offset %#x, ignored", typ, ref.Offset, prev.Offset))
				return nil
			}
		}
	}
	cstr := func(from int) (string, error) {
		s := t[from:]
		j := bytes.IndexByte(s, 0)
		if j < 0 {
			return "", fail("string not NUL-terminated within tag")
		}
		return string(s[:j]), nil
	}
	clone := func(from int) []byte { return bytes.Clone(t[from:]) }
	u16 := func(o int) uint16 { return le.Uint16(t[o:]) }
	u32 := func(o int) uint32 { return le.Uint32(t[o:]) }
	u64 := func(o int) uint64 { return le.Uint64(t[o:]) }

	var err error
	switch typ {
	case TagCmdline:
		i.Cmdline, err = cstr(8)
	case TagBootLoaderName:
		i.BootLoaderName, err = cstr(8)
	case TagModule:
		m := Module{Start: u32(8), End: u32(12)}
		if m.Start > m.End {
			return fail("mod_start %#x > mod_end %#x", m.Start, m.End)
		}
		if m.Cmdline, err = cstr(16); err == nil {
			i.Modules = append(i.Modules, m)
		}
	case TagBasicMemInfo:
		i.BasicMemInfo = &BasicMemInfo{MemLower: u32(8), MemUpper: u32(12)}
	case TagBootDevice:
		i.BootDevice = &BootDevice{BIOSDev: u32(8), Partition: u32(12), SubPartition: u32(16)}
	case TagMemoryMap:
		mm := &MemoryMap{EntrySize: u32(8), EntryVersion: u32(12)}
		es := mm.EntrySize
		if es < mmapEntryMin || es%8 != 0 {
			return fail("memory map entry_size %d not a multiple of 8 >= %d", es, mmapEntryMin)
		}
		area := t[16:]
		if uint64(len(area))%uint64(es) != 0 {
			return fail("memory map area of %d bytes not a multiple of entry_size %d", len(area), es)
		}
		cnt := uint64(len(area)) / uint64(es)
		mm.Entries = make([]MemoryMapEntry, 0, cnt)
		for k := uint64(0); k < cnt; k++ {
			o := 16 + int(k*uint64(es))
			mm.Entries = append(mm.Entries, MemoryMapEntry{
				Base: u64(o), Length: u64(o + 8), Type: u32(o + 16), Reserved: u32(o + 20),
			})
		}
		i.MemoryMap = mm
	case TagVBE:
		v := &VBEInfo{Mode: u16(8), InterfaceSeg: u16(10), InterfaceOff: u16(12), InterfaceLen: u16(14)}
		copy(v.ControlInfo[:], t[16:16+512])
		copy(v.ModeInfo[:], t[16+512:16+512+256])
		i.VBE = v
	case TagFramebuffer:
		i.Framebuffer = &Framebuffer{
			Addr: u64(8), Pitch: u32(16), Width: u32(20), Height: u32(24),
			BPP: t[28], Type: t[29], ColorInfo: clone(32),
		}
	case TagELFSections:
		i.ELFSections = &ELFSections{Num: u32(8), EntSize: u32(12), Shndx: u32(16), Headers: clone(20)}
	case TagAPM:
		i.APM = &APMTable{
			Version: u16(8), CSeg: u16(10), Offset: u32(12), CSeg16: u16(16), DSeg: u16(18),
			Flags: u16(20), CSegLen: u16(22), CSeg16Len: u16(24), DSegLen: u16(26),
		}
	case TagEFI32SystemTable:
		i.EFI32SystemTable = u32(8)
	case TagEFI64SystemTable:
		i.EFI64SystemTable = u64(8)
	case TagSMBIOS:
		i.SMBIOS = &SMBIOS{Major: t[8], Minor: t[9], Tables: clone(16)}
	case TagACPIOldRSDP:
		i.ACPIOldRSDP = clone(8)
	case TagACPINewRSDP:
		i.ACPINewRSDP = clone(8)
	case TagNetwork:
		i.DHCPAck = clone(8)
	case TagEFIMemoryMap:
		em := &EFIMemoryMap{DescriptorSize: u32(8), DescriptorVersion: u32(12), Raw: clone(16)}
		ds := uint64(em.DescriptorSize)
		if ds >= efiDescMinSize {
			if uint64(len(em.Raw))%ds != 0 {
				return fail("EFI memory map area of %d bytes not a multiple of descriptor_size %d", len(em.Raw), ds)
			}
			cnt := uint64(len(em.Raw)) / ds
			em.Descriptors = make([]EFIMemoryDescriptor, 0, cnt)
			for k := uint64(0); k < cnt; k++ {
				o := 16 + int(k*ds)
				em.Descriptors = append(em.Descriptors, EFIMemoryDescriptor{
					Type: u32(o), PhysStart: u64(o + 8), VirtStart: u64(o + 16),
					NumPages: u64(o + 24), Attribute: u64(o + 32),
				})
			}
		}
		i.EFIMemoryMap = em
	case TagEFIBootServicesNotTerm:
		i.EFIBootServicesNotTerminated = true
	case TagEFI32ImageHandle:
		i.EFI32ImageHandle = u32(8)
	case TagEFI64ImageHandle:
		i.EFI64ImageHandle = u64(8)
	case TagLoadBaseAddr:
		i.LoadBaseAddr = u32(8)
	}
	return err
}
