// image/multiboot2: encoder, parser and locator for the Multiboot2 header.
// SPDX-License-Identifier: BSD-3-Clause

// The Multiboot2 header (Multiboot2 spec 2.0, 3.1 "OS image format") is
// what a kernel image carries to tell a Multiboot2 boot loader how it
// wants to be loaded: 16 bytes of magic fields followed by tags, all
// within the first 32 KiB of the file and 8-byte aligned.
//
// ParseHeader and Find are written to be run on untrusted input: they
// never panic, they allocate at most a small multiple of the header's
// length, and every problem with a header is reported as a *HeaderError
// naming a byte offset.
//
// Choices made where the specification leaves room:
//
//   - header_length must end exactly at the end tag: the end tag (type 0,
//     size 8) must be the last 8 bytes of the header, so header_length is
//     always a multiple of 8 and at most HeaderSearch.
//   - Tags of the types defined in 3.1.4 to 3.1.13 must have exactly the
//     size the specification gives them (an information request must be
//     8 + 4n bytes), whether or not they are marked optional.
//   - Each tag type other than the information request may appear at
//     most once. Information requests accumulate.
//   - Unknown tag types are accepted and listed in ParsedHeader.Unknown;
//     a boot loader must refuse an image with an unknown tag that is not
//     optional (see ParsedHeader.UnsupportedRequired).
//   - Bytes between tags (padding to 8) and the reserved flag bits are
//     not checked.

package multiboot2

import (
	"errors"
	"fmt"
	"math/bits"
)

// Multiboot2 spec 2.0, 3.1.2 The magic fields of Multiboot2 header.
const (
	// HeaderMagic is the magic field of the Multiboot2 header.
	HeaderMagic = 0xE85250D6

	// ArchI386 is architecture 0: 32-bit protected mode of i386. It is
	// also the architecture of images booted through the EFI amd64
	// entry point.
	ArchI386 = 0
	// ArchMIPS32 is architecture 4: 32-bit MIPS.
	ArchMIPS32 = 4
)

// BootloaderMagic is the value a Multiboot2 boot loader leaves in EAX
// when it enters the OS image (Multiboot2 spec 2.0, 3.3 I386 machine
// state).
const BootloaderMagic = 0x36d76289

// Multiboot2 spec 2.0, 3.1 OS image format: the header must be contained
// completely within the first 32768 bytes of the image and be 64-bit
// aligned.
const (
	HeaderSearch = 32768
	HeaderAlign  = 8
)

// Multiboot2 spec 2.0, 3.1.1 The layout of Multiboot2 header: byte
// offsets of the magic fields.
const (
	magicOff        = 0
	architectureOff = 4
	headerLengthOff = 8
	checksumOff     = 12
	tagsOff         = 16 // first tag; also the size of the magic fields
)

// Multiboot2 spec 2.0, 3.1.3 General tag structure: u16 type, u16 flags,
// u32 size, then the tag's payload.
const (
	tagTypeOff  = 0
	tagFlagsOff = 2
	tagSizeOff  = 4
	tagHdrSize  = 8
)

// Header tag types (Multiboot2 spec 2.0, section given per tag).
const (
	HeaderTagEnd             = 0  // 3.1.3
	HeaderTagInfoRequest     = 1  // 3.1.4 Multiboot2 information request
	HeaderTagAddress         = 2  // 3.1.5 The address tag
	HeaderTagEntryAddress    = 3  // 3.1.6 The entry address tag
	HeaderTagConsoleFlags    = 4  // 3.1.9 Flags tag
	HeaderTagFramebuffer     = 5  // 3.1.10 The framebuffer tag
	HeaderTagModuleAlign     = 6  // 3.1.11 Module alignment tag
	HeaderTagEFIBootServices = 7  // 3.1.12 EFI boot services tag
	HeaderTagEFIi386Entry    = 8  // 3.1.7 EFI i386 entry address tag
	HeaderTagEFIAmd64Entry   = 9  // 3.1.8 EFI amd64 entry address tag
	HeaderTagRelocatable     = 10 // 3.1.13 Relocatable header tag

	maxKnownHeaderTag = HeaderTagRelocatable
)

// HeaderTagOptional is bit 0 of a header tag's flags (Multiboot2 spec
// 2.0, 3.1.3): the boot loader may ignore the tag if it lacks support
// for it.
const HeaderTagOptional = 1 << 0

// Multiboot2 spec 2.0, 3.1.9 Flags tag: console_flags bits.
const (
	ConsoleFlagsRequired = 1 << 0 // a supported console must be present and described in the MBI
	ConsoleFlagsEGAText  = 1 << 1 // the image supports EGA text mode
)

// Multiboot2 spec 2.0, 3.1.13 Relocatable header tag: preference values.
const (
	RelocPreferenceNone = 0
	RelocPreferenceLow  = 1 // lowest possible address not below min_addr
	RelocPreferenceHigh = 2 // highest possible address not above max_addr
)

// addressLoadFromStart is the special load_addr value -1 of the address
// tag (Multiboot2 spec 2.0, 3.1.5): load the file from its beginning.
const addressLoadFromStart = 0xffffffff

// headerTagSize is the exact size of the fixed-size header tags,
// header included. Zero means the type is variable-sized or unknown.
var headerTagSize = [maxKnownHeaderTag + 1]uint32{
	HeaderTagEnd:             8,
	HeaderTagAddress:         24,
	HeaderTagEntryAddress:    12,
	HeaderTagConsoleFlags:    12,
	HeaderTagFramebuffer:     20,
	HeaderTagModuleAlign:     8,
	HeaderTagEFIBootServices: 8,
	HeaderTagEFIi386Entry:    12,
	HeaderTagEFIAmd64Entry:   12,
	HeaderTagRelocatable:     24,
}

var headerTagNames = [maxKnownHeaderTag + 1]string{
	HeaderTagEnd:             "end",
	HeaderTagInfoRequest:     "information request",
	HeaderTagAddress:         "address",
	HeaderTagEntryAddress:    "entry address",
	HeaderTagConsoleFlags:    "console flags",
	HeaderTagFramebuffer:     "framebuffer",
	HeaderTagModuleAlign:     "module alignment",
	HeaderTagEFIBootServices: "EFI boot services",
	HeaderTagEFIi386Entry:    "EFI i386 entry address",
	HeaderTagEFIAmd64Entry:   "EFI amd64 entry address",
	HeaderTagRelocatable:     "relocatable",
}

// headerTagName names a header tag type for error messages.
func headerTagName(typ uint16) string {
	if typ <= maxKnownHeaderTag {
		return headerTagNames[typ] + " tag"
	}
	return fmt.Sprintf("tag type %d", typ)
}

// ErrNoHeader is returned (wrapped) by Find when no 8-byte aligned
// offset in the first HeaderSearch bytes holds the magic with a valid
// checksum.
var ErrNoHeader = errors.New("no multiboot2 header")

// HeaderError is the error returned for a malformed header. Offset is
// relative to the start of the header for ParseHeader and Encode, and
// to the start of the file for Find.
type HeaderError struct {
	Offset int
	Msg    string
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("multiboot2 header: offset %#x: %s", e.Offset, e.Msg)
}

func headerErr(off int, format string, a ...any) *HeaderError {
	return &HeaderError{Offset: off, Msg: fmt.Sprintf(format, a...)}
}

// HeaderTag is one header tag. Data is the payload after the 8-byte tag
// header (type, flags, size), without padding.
type HeaderTag struct {
	Type, Flags uint16
	Data        []byte
}

// Optional reports whether the tag's optional flag is set.
func (t HeaderTag) Optional() bool { return t.Flags&HeaderTagOptional != 0 }

// Header is a Multiboot2 header to be encoded. Tags excludes the end
// tag, which Encode appends.
type Header struct {
	Arch uint32
	Tags []HeaderTag
}

// u32s encodes words little-endian, the byte order of every x86 image.
func u32s(words ...uint32) []byte {
	b := make([]byte, 0, 4*len(words))
	for _, w := range words {
		b = le.AppendUint32(b, w)
	}
	return b
}

func optionalFlags(optional bool) uint16 {
	if optional {
		return HeaderTagOptional
	}
	return 0
}

// InfoRequest returns an information request tag (3.1.4) asking for the
// MBI tag types given (TagCmdline, TagMemoryMap, ...). If optional is
// false the boot loader must fail when it cannot supply one of them.
func InfoRequest(optional bool, types ...uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagInfoRequest, Flags: optionalFlags(optional), Data: u32s(types...)}
}

// LoadAddress returns an address tag (3.1.5). Images in ELF format do
// not need it.
func LoadAddress(headerAddr, loadAddr, loadEndAddr, bssEndAddr uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagAddress, Data: u32s(headerAddr, loadAddr, loadEndAddr, bssEndAddr)}
}

// EntryAddress returns an entry address tag (3.1.6).
func EntryAddress(addr uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagEntryAddress, Data: u32s(addr)}
}

// EFIi386Entry returns an EFI i386 entry address tag (3.1.7).
func EFIi386Entry(addr uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagEFIi386Entry, Data: u32s(addr)}
}

// EFIAmd64Entry returns an EFI amd64 entry address tag (3.1.8): the
// physical address the boot loader jumps to, in 64-bit mode with boot
// services still running, when the header also has EFIBootServices.
func EFIAmd64Entry(addr uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagEFIAmd64Entry, Data: u32s(addr)}
}

// ConsoleFlags returns a flags tag (3.1.9) with ConsoleFlags* bits.
func ConsoleFlags(flags uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagConsoleFlags, Data: u32s(flags)}
}

// FramebufferRequest returns a framebuffer tag (3.1.10); zero fields
// mean no preference.
func FramebufferRequest(width, height, depth uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagFramebuffer, Data: u32s(width, height, depth)}
}

// ModuleAlign returns a module alignment tag (3.1.11): modules must be
// page aligned.
func ModuleAlign() HeaderTag { return HeaderTag{Type: HeaderTagModuleAlign} }

// EFIBootServices returns an EFI boot services tag (3.1.12): the image
// starts with UEFI boot services not terminated.
func EFIBootServices() HeaderTag { return HeaderTag{Type: HeaderTagEFIBootServices} }

// Relocatable returns a relocatable header tag (3.1.13): the image may be
// loaded at any physical address in [min, max] aligned to align, with
// placement preference pref (RelocPreference*).
func Relocatable(min, max, align, pref uint32) HeaderTag {
	return HeaderTag{Type: HeaderTagRelocatable, Data: u32s(min, max, align, pref)}
}

// Encode returns the header's bytes: the magic fields with
// header_length and checksum computed, each tag padded to 8 bytes, and
// the end tag. The result is checked with ParseHeader, so an invalid tag
// (wrong size, relocatable min > max, a duplicate, ...) is an error, a
// *HeaderError whose offset is relative to the encoded header.
func (h *Header) Encode() ([]byte, error) {
	b := make([]byte, tagsOff, HeaderSearch/8)
	for _, t := range h.Tags {
		off := len(b)
		if t.Type == HeaderTagEnd {
			return nil, headerErr(off, "end tag given; Encode appends it")
		}
		size := uint64(tagHdrSize) + uint64(len(t.Data))
		if uint64(off)+size+tagHdrSize > HeaderSearch {
			return nil, headerErr(off, "%s of size %d: header longer than %d bytes", headerTagName(t.Type), size, HeaderSearch)
		}
		b = le.AppendUint16(b, t.Type)
		b = le.AppendUint16(b, t.Flags)
		b = le.AppendUint32(b, uint32(size))
		b = append(b, t.Data...)
		for len(b)%HeaderAlign != 0 {
			b = append(b, 0)
		}
	}
	b = le.AppendUint16(b, HeaderTagEnd)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, tagHdrSize)

	length := uint32(len(b))
	le.PutUint32(b[magicOff:], HeaderMagic)
	le.PutUint32(b[architectureOff:], h.Arch)
	le.PutUint32(b[headerLengthOff:], length)
	le.PutUint32(b[checksumOff:], -(HeaderMagic + h.Arch + length))
	if _, err := ParseHeader(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ParsedTag is a header tag and its offset relative to the header.
type ParsedTag struct {
	HeaderTag
	Offset int
}

// AddressTag is the address tag (3.1.5).
type AddressTag struct {
	HeaderAddr, LoadAddr, LoadEndAddr, BSSEndAddr uint32
}

// FramebufferTag is the framebuffer tag (3.1.10).
type FramebufferTag struct {
	Width, Height, Depth uint32
}

// RelocatableTag is the relocatable header tag (3.1.13).
type RelocatableTag struct {
	MinAddr, MaxAddr, Align, Preference uint32
}

// ParsedHeader is a decoded Multiboot2 header. Pointer fields are nil
// when the tag is absent. Slices are copies and do not alias the input.
type ParsedHeader struct {
	Arch   uint32
	Length uint32 // header_length, end tag included

	// Tags lists every tag before the end tag, in order.
	Tags []ParsedTag

	// InfoRequests lists the MBI tag types of every information
	// request tag, in order; InfoRequestsRequired those of the tags
	// not marked optional.
	InfoRequests         []uint32
	InfoRequestsRequired []uint32

	Address         *AddressTag
	EntryAddr       *uint32
	ConsoleFlags    *uint32
	Framebuffer     *FramebufferTag
	ModuleAlign     bool
	EFIBootServices bool
	EFIi386Entry    *uint32
	EFIAmd64Entry   *uint32
	Relocatable     *RelocatableTag

	// Unknown lists the tags of types this package does not know.
	Unknown []ParsedTag
}

// Header returns the tags as a Header that Encode turns back into an
// equivalent header (identical but for padding bytes between tags and
// the end tag's flags).
func (p *ParsedHeader) Header() *Header {
	h := &Header{Arch: p.Arch, Tags: make([]HeaderTag, len(p.Tags))}
	for i, t := range p.Tags {
		h.Tags[i] = t.HeaderTag
	}
	return h
}

// UnsupportedRequired returns the unknown tags not marked optional: a
// boot loader must not boot an image that has any.
func (p *ParsedHeader) UnsupportedRequired() []ParsedTag {
	var r []ParsedTag
	for _, t := range p.Unknown {
		if !t.Optional() {
			r = append(r, t)
		}
	}
	return r
}

// ParseHeader decodes the Multiboot2 header at the start of b. Bytes of
// b beyond header_length are ignored. Errors are *HeaderError with
// offsets relative to b.
func ParseHeader(b []byte) (*ParsedHeader, error) {
	if len(b) < tagsOff {
		return nil, headerErr(0, "buffer of %d bytes shorter than the %d-byte magic fields", len(b), tagsOff)
	}
	magic := le.Uint32(b[magicOff:])
	arch := le.Uint32(b[architectureOff:])
	length := le.Uint32(b[headerLengthOff:])
	checksum := le.Uint32(b[checksumOff:])
	if magic != HeaderMagic {
		return nil, headerErr(magicOff, "magic %#x, want %#x", magic, uint32(HeaderMagic))
	}
	if sum := magic + arch + length + checksum; sum != 0 {
		return nil, headerErr(checksumOff, "checksum %#x: magic+architecture+header_length+checksum = %#x, want 0", checksum, sum)
	}
	if length < tagsOff+tagHdrSize {
		return nil, headerErr(headerLengthOff, "header_length %d < %d (magic fields and end tag)", length, tagsOff+tagHdrSize)
	}
	if length > HeaderSearch {
		return nil, headerErr(headerLengthOff, "header_length %d > %d: the header cannot lie within the first %d bytes", length, HeaderSearch, HeaderSearch)
	}
	if uint64(length) > uint64(len(b)) {
		return nil, headerErr(headerLengthOff, "header_length %d runs past the buffer of %d bytes", length, len(b))
	}
	b = b[:length]
	n := int(length) // <= HeaderSearch
	p := &ParsedHeader{Arch: arch, Length: length}
	seen := make(map[uint16]int)

	off := tagsOff
	for {
		if off+tagHdrSize > n {
			return nil, headerErr(off, "missing end tag: no room for a tag before header_length %d", length)
		}
		typ := le.Uint16(b[off+tagTypeOff:])
		flags := le.Uint16(b[off+tagFlagsOff:])
		size := le.Uint32(b[off+tagSizeOff:])
		if size < tagHdrSize {
			return nil, headerErr(off, "%s size %d < %d", headerTagName(typ), size, tagHdrSize)
		}
		if uint64(off)+uint64(size) > uint64(n) {
			return nil, headerErr(off, "%s size %d runs past header_length %d", headerTagName(typ), size, length)
		}
		end := off + int(size)
		if typ == HeaderTagEnd {
			if size != tagHdrSize {
				return nil, headerErr(off, "end tag size %d, want %d", size, tagHdrSize)
			}
			if end != n {
				return nil, headerErr(off, "end tag ends at %d, header_length %d", end, length)
			}
			return p, nil
		}
		t := ParsedTag{
			HeaderTag: HeaderTag{Type: typ, Flags: flags, Data: append([]byte(nil), b[off+tagHdrSize:end]...)},
			Offset:    off,
		}
		if err := p.decode(t, seen); err != nil {
			return nil, err
		}
		p.Tags = append(p.Tags, t)
		off = (end + HeaderAlign - 1) &^ (HeaderAlign - 1)
	}
}

// decode checks one tag and records it in the typed fields. seen maps
// the single-instance tag types met so far to their offsets.
func (p *ParsedHeader) decode(t ParsedTag, seen map[uint16]int) error {
	typ, d := t.Type, t.Data
	if typ > maxKnownHeaderTag {
		p.Unknown = append(p.Unknown, t)
		return nil
	}
	fail := func(format string, a ...any) error {
		return headerErr(t.Offset, headerTagName(typ)+" "+format, a...)
	}
	size := uint32(tagHdrSize + len(d))
	if want := headerTagSize[typ]; want != 0 && size != want {
		return fail("size %d, want %d", size, want)
	}
	if typ != HeaderTagInfoRequest {
		if prev, ok := seen[typ]; ok {
			return fail("duplicates the one at offset %#x", prev)
		}
		seen[typ] = t.Offset
	}
	u32 := func(i int) uint32 { return le.Uint32(d[4*i:]) }
	switch typ {
	case HeaderTagInfoRequest:
		if len(d)%4 != 0 {
			return fail("size %d, want 8 + 4n", size)
		}
		for i := 0; i < len(d)/4; i++ {
			p.InfoRequests = append(p.InfoRequests, u32(i))
			if !t.Optional() {
				p.InfoRequestsRequired = append(p.InfoRequestsRequired, u32(i))
			}
		}
	case HeaderTagAddress:
		a := &AddressTag{HeaderAddr: u32(0), LoadAddr: u32(1), LoadEndAddr: u32(2), BSSEndAddr: u32(3)}
		if a.LoadAddr != addressLoadFromStart && a.LoadAddr > a.HeaderAddr {
			return fail("load_addr %#x > header_addr %#x", a.LoadAddr, a.HeaderAddr)
		}
		p.Address = a
	case HeaderTagEntryAddress:
		v := u32(0)
		p.EntryAddr = &v
	case HeaderTagConsoleFlags:
		v := u32(0)
		p.ConsoleFlags = &v
	case HeaderTagFramebuffer:
		p.Framebuffer = &FramebufferTag{Width: u32(0), Height: u32(1), Depth: u32(2)}
	case HeaderTagModuleAlign:
		p.ModuleAlign = true
	case HeaderTagEFIBootServices:
		p.EFIBootServices = true
	case HeaderTagEFIi386Entry:
		v := u32(0)
		p.EFIi386Entry = &v
	case HeaderTagEFIAmd64Entry:
		v := u32(0)
		p.EFIAmd64Entry = &v
	case HeaderTagRelocatable:
		r := &RelocatableTag{MinAddr: u32(0), MaxAddr: u32(1), Align: u32(2), Preference: u32(3)}
		if r.MinAddr > r.MaxAddr {
			return fail("min_addr %#x > max_addr %#x", r.MinAddr, r.MaxAddr)
		}
		if bits.OnesCount32(r.Align) > 1 {
			return fail("align %#x not a power of two", r.Align)
		}
		if r.Preference > RelocPreferenceHigh {
			return fail("preference %d > %d", r.Preference, RelocPreferenceHigh)
		}
		p.Relocatable = r
	}
	return nil
}

// checksumValid reports whether b starts with the magic fields of a
// header whose checksum is right; b must hold at least 16 bytes.
func checksumValid(b []byte) bool {
	var sum uint32
	for o := magicOff; o < tagsOff; o += 4 {
		sum += le.Uint32(b[o:])
	}
	return le.Uint32(b[magicOff:]) == HeaderMagic && sum == 0
}

// Find locates the Multiboot2 header of an OS image file the way a boot
// loader does: the header is the first 8-byte aligned offset in the
// first HeaderSearch bytes that holds the magic with a valid checksum
// (a magic with a bad checksum is skipped). That header must then lie
// entirely within the first HeaderSearch bytes and be well-formed (see
// ParseHeader); if not, Find returns a *HeaderError with an offset
// relative to file, and does not look further. If no offset qualifies,
// the error wraps ErrNoHeader. off is -1 when err is not nil.
func Find(file []byte) (off int, h *ParsedHeader, err error) {
	limit := min(len(file), HeaderSearch)
	skipped, firstSkipped := 0, -1
	for o := 0; o+4 <= limit; o += HeaderAlign {
		if le.Uint32(file[o+magicOff:]) != HeaderMagic {
			continue
		}
		if o+tagsOff > len(file) || !checksumValid(file[o:]) {
			if skipped == 0 {
				firstSkipped = o
			}
			skipped++
			continue
		}
		if o+tagsOff > HeaderSearch {
			return -1, nil, headerErr(o, "magic fields at %#x..%#x extend past the first %d bytes", o, o+tagsOff, HeaderSearch)
		}
		length := le.Uint32(file[o+headerLengthOff:])
		if end := uint64(o) + uint64(length); end > HeaderSearch {
			return -1, nil, headerErr(o+headerLengthOff, "header_length %d: header at %#x would end at %#x, past the first %d bytes",
				length, o, end, HeaderSearch)
		}
		h, err := ParseHeader(file[o:])
		if err != nil {
			var he *HeaderError
			if errors.As(err, &he) {
				return -1, nil, &HeaderError{Offset: o + he.Offset, Msg: fmt.Sprintf("header at %#x: %s", o, he.Msg)}
			}
			return -1, nil, err
		}
		return o, h, nil
	}
	if skipped > 0 {
		return -1, nil, fmt.Errorf("multiboot2 header: %w in the first %d bytes (%d magic value(s) with a bad checksum or truncated, first at %#x)",
			ErrNoHeader, limit, skipped, firstSkipped)
	}
	return -1, nil, fmt.Errorf("multiboot2 header: %w in the first %d bytes", ErrNoHeader, limit)
}
