// hotpatch/selfimage: the running image's own build-id and function symbols.
// SPDX-License-Identifier: BSD-3-Clause

package selfimage

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

// Refusal classes. Every error Parse and Encode return wraps one of them
// with %w (an unknown version wraps both ErrFormat and ErrVersion).
var (
	// ErrNotPostLinked: the blob is the bare magic followed by zeros;
	// `tvimage hpinfo` was not run on the image.
	ErrNotPostLinked = errors.New("image not post-linked (run tvimage hpinfo)")
	// ErrFormat: the blob, or the input to Encode, breaks the format in
	// doc.go.
	ErrFormat = errors.New("malformed self-image info")
	// ErrVersion: the blob has a version this package does not know.
	ErrVersion = errors.New("unknown self-image info version")
)

// Layout of the blob (doc.go, "Blob format").
const (
	Magic = "TVHPINFO"
	// Version is the only version Parse accepts and Encode writes.
	// Version 2 added the symbol kind (functions and data objects).
	Version = 2

	HeaderSize = 88 // bytes before the first symbol record
	RecordSize = 24 // bytes of one symbol record

	// Header field offsets.
	offVersion   = 8
	offArch      = 12
	offBuildIDLn = 14
	offBuildID   = 16
	offNSyms     = 80
	offStrSize   = 84

	// Symbol record field offsets.
	recAddr    = 0
	recSize    = 8
	recNameOff = 16
	recNameLen = 20 // u16
	recKind    = 22 // u8, then one zero byte

	// MaxBuildID is the size of the build-id field, the longest build-id
	// a blob holds (payload.MaxBuildID, so any build-id a payload can
	// name fits).
	MaxBuildID = payload.MaxBuildID
	// MaxName is the longest symbol name a blob holds: the longest a
	// payload can name.
	MaxName = payload.MaxSymbol
	// MaxSyms is the most records that fit in InfoSize, each with a
	// name of at least one byte.
	MaxSyms = (InfoSize - HeaderSize) / (RecordSize + 1)
)

// Sym is one symbol of the image.
type Sym struct {
	Name       string
	Addr, Size uint64
	Kind       Kind
}

// Kind says what a symbol names.
type Kind uint8

// Symbol kinds (doc.go, "Blob format").
const (
	// Func is a function (ELF STT_FUNC): something a payload may replace.
	Func Kind = 1
	// Object is a data object (ELF STT_OBJECT), including the linker's
	// size-0 region symbols such as type:* and go:string.*: something a
	// payload's relocations may refer to, never replace.
	Object Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Func:
		return "func"
	case Object:
		return "object"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// record is a decoded symbol record; the name is str[off:off+n].
type record struct {
	addr, size uint64
	off, n     uint32
	kind       Kind
}

// Image is a parsed blob: the architecture, build-id and function
// symbols of one hypervisor image. It is immutable and safe for
// concurrent use.
type Image struct {
	arch    payload.Arch
	buildID []byte
	recs    []record // sorted by name
	str     string
	byAddr  []uint32 // indices into recs, sorted by addr
}

var _ payload.Image = (*Image)(nil)

func formatErr(format string, a ...any) error {
	return fmt.Errorf("selfimage: %w: %s", ErrFormat, fmt.Sprintf(format, a...))
}

// Encode returns the blob for an image of architecture arch (an ELF
// e_machine value, payload.ArchAMD64 or payload.ArchARM64) with the given
// build-id and symbols, in any order. It runs on the build host. The
// result is not padded: the caller pads it with zeros to InfoSize. It
// refuses, wrapping ErrFormat, an unknown arch, a build-id of 0 or more
// than MaxBuildID bytes, more than MaxSyms symbols, a name that is empty,
// longer than MaxName, not UTF-8 or holds a control character, a name
// given twice, a symbol whose addr+size wraps, and a blob that would not
// fit InfoSize. The output is deterministic; syms is not modified.
func Encode(arch uint16, buildID []byte, syms []Sym) ([]byte, error) {
	if err := checkArch(arch); err != nil {
		return nil, err
	}
	if n := len(buildID); n == 0 || n > MaxBuildID {
		return nil, formatErr("build-id of %d bytes, want 1..%d", n, MaxBuildID)
	}
	if n := len(syms); n > MaxSyms {
		return nil, formatErr("%d symbols, want at most %d", n, MaxSyms)
	}
	sorted := slices.Clone(syms)
	slices.SortFunc(sorted, func(a, b Sym) int { return strings.Compare(a.Name, b.Name) })
	var strsize uint64
	for i, s := range sorted {
		if err := checkName(s.Name); err != nil {
			return nil, formatErr("%v", err)
		}
		if i > 0 && sorted[i-1].Name == s.Name {
			return nil, formatErr("symbol %q given twice", s.Name)
		}
		if s.Addr+s.Size < s.Addr {
			return nil, formatErr("symbol %q: [%#x, +%#x) wraps the address space", s.Name, s.Addr, s.Size)
		}
		if s.Kind != Func && s.Kind != Object {
			return nil, formatErr("symbol %q: kind %v", s.Name, s.Kind)
		}
		strsize += uint64(len(s.Name))
	}
	total := HeaderSize + uint64(len(sorted))*RecordSize + strsize
	if total > InfoSize {
		return nil, formatErr("%d symbols with %d bytes of names need %d bytes, more than InfoSize (%d)", len(sorted), strsize, total, InfoSize)
	}

	le := binary.LittleEndian
	b := make([]byte, HeaderSize, total)
	copy(b, Magic)
	le.PutUint32(b[offVersion:], Version)
	le.PutUint16(b[offArch:], arch)
	le.PutUint16(b[offBuildIDLn:], uint16(len(buildID)))
	copy(b[offBuildID:offBuildID+MaxBuildID], buildID)
	le.PutUint32(b[offNSyms:], uint32(len(sorted)))
	le.PutUint32(b[offStrSize:], uint32(strsize))
	var off uint32
	for _, s := range sorted {
		b = le.AppendUint64(b, s.Addr)
		b = le.AppendUint64(b, s.Size)
		b = le.AppendUint32(b, off)
		b = le.AppendUint16(b, uint16(len(s.Name)))
		b = append(b, byte(s.Kind), 0)
		off += uint32(len(s.Name))
	}
	for _, s := range sorted {
		b = append(b, s.Name...)
	}
	return b, nil
}

// Parse decodes a blob, as found in an image's info array (padded to
// InfoSize) or as Encode returns it. blob is untrusted: Parse never
// panics, bounds-checks every offset and length, checks every count
// before allocating, and refuses anything doc.go does not allow. It
// returns ErrNotPostLinked for the bare magic followed by zeros, and
// otherwise an error wrapping ErrFormat (and ErrVersion for an unknown
// version). The Image shares no memory with blob.
func Parse(blob []byte) (*Image, error) {
	le := binary.LittleEndian
	switch {
	case len(blob) > InfoSize:
		return nil, formatErr("blob of %d bytes, more than InfoSize (%d)", len(blob), InfoSize)
	case len(blob) < len(Magic) || string(blob[:len(Magic)]) != Magic:
		return nil, formatErr("no %q magic", Magic)
	case allZero(blob[len(Magic):]):
		return nil, fmt.Errorf("selfimage: %w", ErrNotPostLinked)
	case len(blob) < HeaderSize:
		return nil, formatErr("blob of %d bytes, shorter than the %d-byte header", len(blob), HeaderSize)
	}
	if v := le.Uint32(blob[offVersion:]); v != Version {
		return nil, fmt.Errorf("selfimage: %w: %w: version %d, want %d", ErrFormat, ErrVersion, v, Version)
	}
	arch := le.Uint16(blob[offArch:])
	if err := checkArch(arch); err != nil {
		return nil, err
	}
	idLen := int(le.Uint16(blob[offBuildIDLn:]))
	if idLen == 0 || idLen > MaxBuildID {
		return nil, formatErr("build-id of %d bytes, want 1..%d", idLen, MaxBuildID)
	}
	idField := blob[offBuildID : offBuildID+MaxBuildID]
	if !allZero(idField[idLen:]) {
		return nil, formatErr("build-id padding after %d bytes is not zero", idLen)
	}
	nsyms := uint64(le.Uint32(blob[offNSyms:]))
	strsize := uint64(le.Uint32(blob[offStrSize:]))
	if nsyms > MaxSyms {
		return nil, formatErr("%d symbols, want at most %d", nsyms, MaxSyms)
	}
	strStart := HeaderSize + nsyms*RecordSize
	end := strStart + strsize // no overflow: both terms are below 2^33
	if end > uint64(len(blob)) {
		return nil, formatErr("%d records and %d bytes of names end at %d, past the blob's %d bytes", nsyms, strsize, end, len(blob))
	}
	if !allZero(blob[end:]) {
		return nil, formatErr("non-zero bytes after the string table (offset %d)", end)
	}

	img := &Image{
		arch:    payload.Arch(arch),
		buildID: bytes.Clone(idField[:idLen]),
		recs:    make([]record, nsyms),
		str:     string(blob[strStart:end]),
	}
	var next uint64 // where the next name must start
	for i := range img.recs {
		rb := blob[HeaderSize+uint64(i)*RecordSize:]
		r := record{
			addr: le.Uint64(rb[recAddr:]),
			size: le.Uint64(rb[recSize:]),
			off:  le.Uint32(rb[recNameOff:]),
			n:    uint32(le.Uint16(rb[recNameLen:])),
			kind: Kind(rb[recKind]),
		}
		if (r.kind != Func && r.kind != Object) || rb[recKind+1] != 0 {
			return nil, formatErr("symbol %d: kind %v, reserved byte %#x", i, r.kind, rb[recKind+1])
		}
		if uint64(r.off) != next {
			return nil, formatErr("symbol %d: name offset %d, want %d (names are stored in record order)", i, r.off, next)
		}
		if r.n == 0 || r.n > MaxName || uint64(r.off)+uint64(r.n) > strsize {
			return nil, formatErr("symbol %d: name [%d, +%d) outside the %d-byte string table or not 1..%d bytes", i, r.off, r.n, strsize, MaxName)
		}
		next = uint64(r.off) + uint64(r.n)
		name := img.str[r.off:next]
		if err := checkName(name); err != nil {
			return nil, formatErr("symbol %d: %v", i, err)
		}
		if i > 0 && img.name(i-1) >= name {
			return nil, formatErr("symbol %d %.64q not after %.64q: records must be sorted by name, each name once", i, name, img.name(i-1))
		}
		if r.addr+r.size < r.addr {
			return nil, formatErr("symbol %q: [%#x, +%#x) wraps the address space", name, r.addr, r.size)
		}
		img.recs[i] = r
	}
	if next != strsize {
		return nil, formatErr("names fill %d of the %d-byte string table", next, strsize)
	}

	// Symbols of size 0 hold no address; SymbolAt skips them, and
	// data objects: it answers for code.
	img.byAddr = make([]uint32, 0, nsyms)
	for i, r := range img.recs {
		if r.size > 0 && r.kind == Func {
			img.byAddr = append(img.byAddr, uint32(i))
		}
	}
	slices.SortFunc(img.byAddr, func(a, b uint32) int {
		return cmp.Or(cmp.Compare(img.recs[a].addr, img.recs[b].addr), cmp.Compare(a, b))
	})
	return img, nil
}

// Arch is the architecture the image was built for.
func (img *Image) Arch() payload.Arch { return img.arch }

// BuildID returns a copy of the image's build-id.
func (img *Image) BuildID() []byte { return bytes.Clone(img.buildID) }

// Len is the number of symbols.
func (img *Image) Len() int { return len(img.recs) }

// Symbol returns the address and size of the function or data object
// called name, and ok = false if the image has none (or name is longer
// than MaxName). It binary-searches the records and does not allocate.
func (img *Image) Symbol(name string) (addr, size uint64, ok bool) {
	r, ok := img.lookup(name)
	return r.addr, r.size, ok
}

// IsFunc reports whether name is a function of the image: payload.Check
// refuses to replace anything else.
func (img *Image) IsFunc(name string) bool {
	r, ok := img.lookup(name)
	return ok && r.kind == Func
}

func (img *Image) lookup(name string) (record, bool) {
	i, found := sort.Find(len(img.recs), func(i int) int { return strings.Compare(name, img.name(i)) })
	if !found {
		return record{}, false
	}
	return img.recs[i], true
}

// SymbolAt returns the function whose [addr, addr+size) holds pc and the
// offset of pc in it, for backtraces and for checking that a CPU is not
// executing a function being patched. Of overlapping symbols (the Go
// linker emits none) it returns the one with the highest start at or
// below pc, if that one holds pc.
func (img *Image) SymbolAt(pc uint64) (name string, off uint64, ok bool) {
	// The first symbol starting above pc; the candidate is just before.
	j := sort.Search(len(img.byAddr), func(j int) bool { return img.recs[img.byAddr[j]].addr > pc })
	if j == 0 {
		return "", 0, false
	}
	i := img.byAddr[j-1]
	r := img.recs[i]
	if pc-r.addr >= r.size {
		return "", 0, false
	}
	return img.name(int(i)), pc - r.addr, true
}

// syms returns every symbol in name order (tests use it to re-encode).
func (img *Image) syms() []Sym {
	s := make([]Sym, len(img.recs))
	for i, r := range img.recs {
		s[i] = Sym{Name: img.name(i), Addr: r.addr, Size: r.size, Kind: r.kind}
	}
	return s
}

func (img *Image) name(i int) string {
	r := img.recs[i]
	return img.str[r.off : r.off+r.n]
}

func checkArch(arch uint16) error {
	if a := payload.Arch(arch); a != payload.ArchAMD64 && a != payload.ArchARM64 {
		return formatErr("arch %v, want %v or %v", a, payload.ArchAMD64, payload.ArchARM64)
	}
	return nil
}

// checkName applies the payload symbol name rule: 1..MaxName bytes of
// UTF-8 without control characters. The caller wraps its error.
func checkName(s string) error {
	if len(s) == 0 || len(s) > MaxName {
		return fmt.Errorf("symbol name %.64q of %d bytes, want 1..%d", s, len(s), MaxName)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("symbol name %.64q: control byte %#02x at %d", s, c, i)
		}
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("symbol name %.64q is not UTF-8", s)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
