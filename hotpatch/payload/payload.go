// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"unicode/utf8"
)

// Arch is a payload's target architecture, as its ELF e_machine value.
type Arch uint16

// Architectures a payload can target (gABI e_machine values).
const (
	ArchAMD64 Arch = EM_X86_64
	ArchARM64 Arch = EM_AARCH64
)

func (a Arch) String() string {
	switch a {
	case ArchAMD64:
		return "amd64"
	case ArchARM64:
		return "arm64"
	}
	return fmt.Sprintf("Arch(%d)", uint16(a))
}

// Limits of the format. Parse refuses a file that exceeds any of them and
// Encode refuses to write one.
const (
	MaxFuncs   = 64      // records in .tvpatch.funcs
	MaxRelocs  = 4096    // records in .tvpatch.relocs
	MaxText    = 1 << 20 // bytes of .tvpatch.text
	MaxName    = 128     // bytes of .tvpatch.name
	MaxSymbol  = 512     // bytes of one symbol name in .strtab
	MaxBuildID = 64      // bytes of .tvpatch.buildid and .tvpatch.depends
	MaxPCLN    = 1 << 20 // bytes of .tvpatch.pcln
	// MaxFile bounds the ELF part of a payload file. A payload within the
	// other limits always encodes to less.
	MaxFile = 6 << 20
	// TextAlign is the alignment of every function's new code within
	// .tvpatch.text, and of the address the text is linked at.
	TextAlign = 16
)

// Func is one function the payload replaces.
type Func struct {
	// Name is the old function's symbol in the running image.
	Name string
	// Offset and Size locate the new code in Payload.Text. Offset is a
	// multiple of TextAlign; Size > 0.
	Offset, Size uint32
	// OldSize is the symbol size the old function must have in the
	// running image, which guards against a payload built against a
	// different function of the same name.
	OldSize uint64
}

// Reloc is one relocation to resolve in Payload.Text when it is linked.
type Reloc struct {
	// Offset is the position of the patched field in Payload.Text (P is
	// the text's address plus Offset).
	Offset uint32
	// Kind says how the field is computed and encoded.
	Kind RelocKind
	// Symbol names S, a symbol of the running image.
	Symbol string
	// Addend is A.
	Addend int64
}

// Payload is a decoded payload. Parse returns payloads whose slices do not
// alias its input; Encode and the methods do not modify a Payload.
type Payload struct {
	Name    string // 1..MaxName bytes of UTF-8, no control characters
	Arch    Arch
	BuildID []byte // build-id of the image the payload applies to
	Depends []byte // build-id of the payload it stacks on, or nil
	Text    []byte // new code of every function, unrelocated
	Funcs   []Func // 1..MaxFuncs
	Relocs  []Reloc
	// PCLN is the Go runtime metadata of the new code (.tvpatch.pcln),
	// or nil. This package carries it as opaque bytes; package
	// hotpatch/gofunc defines and decodes its contents.
	PCLN []byte
}

// funcRecord is one .tvpatch.funcs entry (doc.go, "File format").
type funcRecord struct {
	Name    uint32 // offset of the symbol name in .strtab
	Offset  uint32 // new code offset in .tvpatch.text
	Size    uint32 // new code size
	_       uint32 // reserved, zero
	OldSize uint64 // expected size of the old function
}

// relocRecord is one .tvpatch.relocs entry (doc.go, "File format").
type relocRecord struct {
	Offset uint32 // field offset in .tvpatch.text
	Kind   uint32 // RelocKind
	Symbol uint32 // offset of the symbol name in .strtab
	_      uint32 // reserved, zero
	Addend int64
}

// Record sizes (checked against binary.Size in TestRecordSizes) and the
// offset of the reserved word in both records.
const (
	funcRecordSize  = 24
	relocRecordSize = 24
	recordReserved  = 12
)

// Encode checks p against the format and returns it as an ELF file,
// unsigned (see Sign). The output is deterministic: the same Payload
// always encodes to the same bytes.
func Encode(p *Payload) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p.write()
}

// write encodes p without validating it (tests use it to build invalid
// files for Parse).
func (p *Payload) write() ([]byte, error) {
	le := binary.LittleEndian
	str := newStrtab()
	funcs := make([]funcRecord, len(p.Funcs))
	for i, f := range p.Funcs {
		funcs[i] = funcRecord{Name: str.add(f.Name), Offset: f.Offset, Size: f.Size, OldSize: f.OldSize}
	}
	relocs := make([]relocRecord, len(p.Relocs))
	for i, r := range p.Relocs {
		relocs[i] = relocRecord{Offset: r.Offset, Kind: uint32(r.Kind), Symbol: str.add(r.Symbol), Addend: r.Addend}
	}
	fb, err := binary.Append(nil, le, funcs)
	if err != nil {
		return nil, fmt.Errorf("payload: encoding %s: %w", SectionFuncs, err)
	}
	secs := []outSection{{SectionText, p.Text}, {SectionFuncs, fb}}
	if len(relocs) > 0 {
		rb, err := binary.Append(nil, le, relocs)
		if err != nil {
			return nil, fmt.Errorf("payload: encoding %s: %w", SectionRelocs, err)
		}
		secs = append(secs, outSection{SectionRelocs, rb})
	}
	secs = append(secs, outSection{SectionBuildID, p.BuildID})
	if len(p.Depends) > 0 {
		secs = append(secs, outSection{SectionDepends, p.Depends})
	}
	if len(p.PCLN) > 0 {
		secs = append(secs, outSection{SectionPCLN, p.PCLN})
	}
	secs = append(secs, outSection{SectionName, []byte(p.Name)}, outSection{SectionStrtab, str.b})
	return writeELF(uint16(p.Arch), secs)
}

// Parse decodes an unsigned payload ELF file and checks it against the
// format (doc.go). elf is untrusted: Parse bounds-checks every offset and
// size, caps every count before allocating, never panics, and returns an
// error wrapping ErrFormat (and ErrReloc for a bad relocation, ErrArch for
// an unknown e_machine) for anything the format does not allow. It does
// not check the payload against an image; see Check. The Payload it
// returns shares no memory with elf.
func Parse(elf []byte) (*Payload, error) {
	machine, secs, err := readELF(elf)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	str := secs[SectionStrtab]
	if err := checkStrtab(str); err != nil {
		return nil, formatErr("%s: %v", SectionStrtab, err)
	}
	name := func(what string, i int, off uint32) (string, error) {
		s, ok := cstring(str, off)
		if !ok {
			return "", formatErr("%s %d: name offset %#x outside %s of %d bytes", what, i, off, SectionStrtab, len(str))
		}
		return s, nil
	}

	fb := secs[SectionFuncs]
	if len(fb)%funcRecordSize != 0 || len(fb) == 0 || len(fb)/funcRecordSize > MaxFuncs {
		return nil, formatErr("%s of %d bytes: want 1..%d records of %d bytes", SectionFuncs, len(fb), MaxFuncs, funcRecordSize)
	}
	frecs := make([]funcRecord, len(fb)/funcRecordSize)
	if _, err := binary.Decode(fb, le, frecs); err != nil {
		return nil, formatErr("%s: %v", SectionFuncs, err)
	}
	funcs := make([]Func, len(frecs))
	for i, r := range frecs {
		if v := le.Uint32(fb[i*funcRecordSize+recordReserved:]); v != 0 {
			return nil, formatErr("function %d: reserved word %#x, want 0", i, v)
		}
		n, err := name("function", i, r.Name)
		if err != nil {
			return nil, err
		}
		funcs[i] = Func{Name: n, Offset: r.Offset, Size: r.Size, OldSize: r.OldSize}
	}

	var relocs []Reloc
	if rb := secs[SectionRelocs]; len(rb) > 0 {
		if len(rb)%relocRecordSize != 0 || len(rb)/relocRecordSize > MaxRelocs {
			return nil, formatErr("%s of %d bytes: want 0..%d records of %d bytes", SectionRelocs, len(rb), MaxRelocs, relocRecordSize)
		}
		rrecs := make([]relocRecord, len(rb)/relocRecordSize)
		if _, err := binary.Decode(rb, le, rrecs); err != nil {
			return nil, formatErr("%s: %v", SectionRelocs, err)
		}
		relocs = make([]Reloc, len(rrecs))
		for i, r := range rrecs {
			if v := le.Uint32(rb[i*relocRecordSize+recordReserved:]); v != 0 {
				return nil, formatErr("relocation %d: reserved word %#x, want 0", i, v)
			}
			n, err := name("relocation", i, r.Symbol)
			if err != nil {
				return nil, err
			}
			relocs[i] = Reloc{Offset: r.Offset, Kind: RelocKind(r.Kind), Symbol: n, Addend: r.Addend}
		}
	}

	var depends []byte
	if d, ok := secs[SectionDepends]; ok {
		if len(d) == 0 {
			return nil, formatErr("empty %s section", SectionDepends)
		}
		depends = bytes.Clone(d)
	}
	var pcln []byte
	if d, ok := secs[SectionPCLN]; ok {
		if len(d) == 0 {
			return nil, formatErr("empty %s section", SectionPCLN)
		}
		pcln = bytes.Clone(d)
	}
	p := &Payload{
		Name:    string(secs[SectionName]),
		Arch:    Arch(machine),
		BuildID: bytes.Clone(secs[SectionBuildID]),
		Depends: depends,
		Text:    bytes.Clone(secs[SectionText]),
		Funcs:   funcs,
		Relocs:  relocs,
		PCLN:    pcln,
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks everything the format requires of a Payload that does
// not depend on the running image. Encode, Parse, Check and Link call it,
// so a Payload built in memory is held to the same rules as a parsed one.
func (p *Payload) validate() error {
	if p == nil {
		return formatErr("nil payload")
	}
	if p.Arch != ArchAMD64 && p.Arch != ArchARM64 {
		return fmt.Errorf("payload: %w: %w: %v", ErrFormat, ErrArch, p.Arch)
	}
	if err := checkName("payload", p.Name, MaxName); err != nil {
		return err
	}
	if n := len(p.BuildID); n == 0 || n > MaxBuildID {
		return formatErr("build-id of %d bytes, want 1..%d", n, MaxBuildID)
	}
	if n := len(p.Depends); n > MaxBuildID {
		return formatErr("depends build-id of %d bytes, want 0..%d", n, MaxBuildID)
	}
	if n := len(p.Text); n == 0 || n > MaxText {
		return formatErr("text of %d bytes, want 1..%d", n, MaxText)
	}
	if n := len(p.Funcs); n == 0 || n > MaxFuncs {
		return formatErr("%d functions, want 1..%d", n, MaxFuncs)
	}
	if n := len(p.Relocs); n > MaxRelocs {
		return formatErr("%d relocations, want 0..%d", n, MaxRelocs)
	}
	if n := len(p.PCLN); n > MaxPCLN {
		return formatErr("%s of %d bytes, want 0..%d", SectionPCLN, n, MaxPCLN)
	}

	seen := make(map[string]bool, len(p.Funcs))
	for _, f := range p.Funcs {
		if err := checkName("function", f.Name, MaxSymbol); err != nil {
			return err
		}
		switch {
		case seen[f.Name]:
			return formatErr("function %q replaced twice", f.Name)
		case f.Size == 0:
			return formatErr("function %q: no new code", f.Name)
		case f.Offset%TextAlign != 0:
			return formatErr("function %q: offset %#x not a multiple of %d", f.Name, f.Offset, TextAlign)
		case uint64(f.Offset)+uint64(f.Size) > uint64(len(p.Text)):
			return formatErr("function %q: [%#x, +%#x) outside the text of %#x bytes", f.Name, f.Offset, f.Size, len(p.Text))
		}
		seen[f.Name] = true
	}
	byOffset := slices.Clone(p.Funcs)
	slices.SortFunc(byOffset, func(a, b Func) int { return cmp.Compare(a.Offset, b.Offset) })
	for i := 1; i < len(byOffset); i++ {
		a, b := byOffset[i-1], byOffset[i]
		if a.Offset+a.Size > b.Offset {
			return formatErr("functions %q [%#x, +%#x) and %q [%#x, +%#x) overlap", a.Name, a.Offset, a.Size, b.Name, b.Offset, b.Size)
		}
	}

	le := binary.LittleEndian
	for _, r := range p.Relocs {
		if err := checkName("relocation symbol", r.Symbol, MaxSymbol); err != nil {
			return err
		}
		k, ok := r.Kind.info()
		if !ok || k.arch != p.Arch {
			return fmt.Errorf("payload: %w: %w: %v at offset %#x for %v", ErrFormat, ErrReloc, r.Kind, r.Offset, p.Arch)
		}
		end := uint64(r.Offset) + uint64(k.size)
		// The last function starting at or before the field must hold
		// all of it.
		i := sort.Search(len(byOffset), func(i int) bool { return byOffset[i].Offset > r.Offset }) - 1
		if i < 0 || end > uint64(byOffset[i].Offset)+uint64(byOffset[i].Size) {
			return formatErr("relocation %v at [%#x, %#x) is not inside one function's code", r.Kind, r.Offset, end)
		}
		if k.insn != nil {
			if r.Offset%4 != 0 {
				return formatErr("relocation %v at offset %#x: instruction not 4-byte aligned", r.Kind, r.Offset)
			}
			if w := le.Uint32(p.Text[r.Offset:]); w&k.insn.mask != k.insn.value {
				return fmt.Errorf("payload: %w: %w: %v at offset %#x patches %#08x, not %s", ErrFormat, ErrReloc, r.Kind, r.Offset, w, k.insn.what)
			}
		}
	}
	relocs := slices.Clone(p.Relocs)
	slices.SortFunc(relocs, func(a, b Reloc) int { return cmp.Compare(a.Offset, b.Offset) })
	for i := 1; i < len(relocs); i++ {
		a, b := relocs[i-1], relocs[i]
		ka, _ := a.Kind.info()
		if uint64(a.Offset)+uint64(ka.size) > uint64(b.Offset) {
			return formatErr("relocations %v at %#x and %v at %#x overlap", a.Kind, a.Offset, b.Kind, b.Offset)
		}
	}
	return nil
}

// checkName checks a name of the format: 1..max bytes of UTF-8 without
// control characters (so without NUL).
func checkName(what, s string, max int) error {
	if len(s) == 0 || len(s) > max {
		return formatErr("%s name %.64q of %d bytes, want 1..%d", what, s, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return formatErr("%s name %.64q: control byte %#02x at %d", what, s, c, i)
		}
	}
	if !utf8.ValidString(s) {
		return formatErr("%s name %.64q is not UTF-8", what, s)
	}
	return nil
}
