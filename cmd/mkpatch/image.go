// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"cmp"
	"debug/elf"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
)

// symHPInfo is the selfimage info array's symbol (hotpatch/selfimage
// info.go), which holds the image's build-id once `tvimage hpinfo` ran.
const symHPInfo = "github.com/tamavisor/tamavisor/hotpatch/selfimage.info"

// Anonymous regions of Go's .symtab: the linker groups type descriptors,
// string literals, funcdata and closures, and GC bitmaps under one size-0
// symbol each (cmd/link/internal/ld/symtab.go, "symGroupType").
const (
	regionType   = "type:*"
	regionString = "go:string.*"
	regionFunc   = "go:func.*"
	regionGCBits = "runtime.gcbits.*"
)

// symKind is what an address of an image belongs to.
type symKind int

const (
	kindFunc   symKind = iota // STT_FUNC in .text with a size
	kindData                  // a named object (variable, constant, table)
	kindRegion                // an anonymous region (name ends in ".*")
	kindMarker                // a size-0 named symbol (runtime.etext, a zero-size variable)
	kindGap                   // bytes after a symbol that no symbol names (below)
)

// The Go linker leaves file-local symbols out of .symtab (compiler
// statics such as the read-only data of a constant converted to an
// interface; cmd/link/internal/ld/symtab.go sets AttrNotInSymbolTable),
// so an address can lie between two symbols of a section. resolve
// returns such an address as a kindGap sym: name and addr are those of
// the nearest symbol before it in its section, the anchor; gap is where
// the unnamed bytes start and size runs to the next symbol.

// sym is one symbol of an image. For a region, size is the extent up to
// the next symbol of its section (st_size is 0).
type sym struct {
	name       string
	addr, size uint64
	kind       symKind
	sect       *elf.Section
	gap        uint64 // kindGap: start of the unnamed bytes
}

func (s *sym) end() uint64 { return s.addr + s.size }

// writable reports whether s lies in a writable section.
func (s *sym) writable() bool { return s.sect != nil && s.sect.Flags&elf.SHF_WRITE != 0 }

// image is one statically linked Go ELF executable: its loaded sections
// and symbols.
type image struct {
	what    string // "OLD" or "NEW", for messages
	arch    payload.Arch
	raw     []byte
	f       *elf.File
	secs    []*section
	funcs   map[string]*sym      // function symbols by name
	byName  map[string]*sym      // every other named symbol by name
	dups    map[string]bool      // names defined more than once
	sized   []*sym               // funcs and data with a size, sorted by address
	region  []*sym               // regions, sorted by address
	marker  []*sym               // size-0 named symbols, sorted by address
	lo, hi  uint64               // loaded address range
	types   uint64               // runtime.types: base of type name offsets
	keys    map[uint64]string    // key(addr, true)
	content map[[2]uint64]string // contentKey(addr, size)
}

// section is an allocated section and its bytes (nil for SHT_NOBITS).
type section struct {
	s    *elf.Section
	data []byte
}

// openImage parses an ELF image for the differ.
func openImage(what string, raw []byte) (*image, error) {
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF image: %w", what, err)
	}
	im := &image{what: what, raw: raw, f: f, funcs: map[string]*sym{}, byName: map[string]*sym{},
		dups: map[string]bool{}, keys: map[uint64]string{}, content: map[[2]uint64]string{}, lo: ^uint64(0)}
	switch {
	case f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB:
		return nil, fmt.Errorf("%s: %v %v: want a little-endian ELF64 image", what, f.Class, f.Data)
	case f.Machine == elf.EM_X86_64:
		im.arch = payload.ArchAMD64
	case f.Machine == elf.EM_AARCH64:
		im.arch = payload.ArchARM64
	default:
		return nil, fmt.Errorf("%s: e_machine %v: not amd64 or arm64", what, f.Machine)
	}
	text := f.Section(".text")
	if text == nil {
		return nil, fmt.Errorf("%s: no .text section", what)
	}
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Size == 0 {
			continue
		}
		sec := &section{s: s}
		if s.Type != elf.SHT_NOBITS {
			// The file's bytes, not a copy: images embed tens of
			// MiB of data.
			if s.Flags&elf.SHF_COMPRESSED != 0 || s.Offset > uint64(len(raw)) || s.Size > uint64(len(raw))-s.Offset {
				return nil, fmt.Errorf("%s: section %s [%#x, +%#x) is compressed or not in the %d-byte file", what, s.Name, s.Offset, s.Size, len(raw))
			}
			sec.data = raw[s.Offset : s.Offset+s.Size]
		}
		im.secs = append(im.secs, sec)
		im.lo, im.hi = min(im.lo, s.Addr), max(im.hi, s.Addr+s.Size)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: reading .symtab (stripped image?): %w", what, err)
	}
	seen := map[string]bool{}
	for _, es := range syms {
		t := elf.ST_TYPE(es.Info)
		if es.Name == "" || es.Section == elf.SHN_UNDEF || es.Section >= elf.SHN_LORESERVE ||
			(t != elf.STT_FUNC && t != elf.STT_OBJECT && t != elf.STT_NOTYPE) {
			continue
		}
		s := &sym{name: es.Name, addr: es.Value, size: es.Size, sect: f.Sections[es.Section]}
		switch {
		case t == elf.STT_FUNC && es.Size > 0 && s.sect == text:
			s.kind = kindFunc
		case es.Size > 0:
			s.kind = kindData
		case strings.HasSuffix(es.Name, "*"):
			s.kind = kindRegion
		default:
			s.kind = kindMarker
		}
		if seen[s.name] {
			im.dups[s.name] = true
		}
		seen[s.name] = true
		switch s.kind {
		case kindFunc:
			im.funcs[s.name] = s
			im.sized = append(im.sized, s)
		case kindData:
			im.byName[s.name] = s
			im.sized = append(im.sized, s)
		case kindRegion:
			im.byName[s.name] = s
			im.region = append(im.region, s)
		case kindMarker:
			im.byName[s.name] = s
			im.marker = append(im.marker, s)
		}
	}
	byAddr := func(a, b *sym) int { return cmp.Or(cmp.Compare(a.addr, b.addr), strings.Compare(a.name, b.name)) }
	slices.SortFunc(im.sized, byAddr)
	slices.SortFunc(im.region, byAddr)
	slices.SortFunc(im.marker, byAddr)
	// A region extends to the next address any symbol of its section
	// starts at, or to the end of the section.
	for _, r := range im.region {
		end := r.sect.Addr + r.sect.Size
		for _, list := range [][]*sym{im.sized, im.region, im.marker} {
			i := sort.Search(len(list), func(i int) bool { return list[i].addr > r.addr })
			for ; i < len(list); i++ {
				if list[i].sect == r.sect {
					end = min(end, list[i].addr)
					break
				}
			}
		}
		r.size = end - r.addr
	}
	if t, ok := im.byName["runtime.types"]; ok {
		im.types = t.addr
	} else if t, ok := im.byName[regionType]; ok {
		im.types = t.addr
	}
	return im, nil
}

// bytesAt returns the n bytes of the image at addr, or ok = false if they
// are not all in one allocated section. SHT_NOBITS sections read as
// zeros.
func (im *image) bytesAt(addr, n uint64) ([]byte, bool) {
	for _, s := range im.secs {
		if addr < s.s.Addr || addr-s.s.Addr >= s.s.Size || n > s.s.Size-(addr-s.s.Addr) {
			continue
		}
		if s.data == nil {
			return make([]byte, n), true
		}
		off := addr - s.s.Addr
		if off+n > uint64(len(s.data)) {
			return nil, false
		}
		return s.data[off : off+n], true
	}
	return nil, false
}

// code returns the bytes of function f.
func (im *image) code(f *sym) ([]byte, error) {
	b, ok := im.bytesAt(f.addr, f.size)
	if !ok {
		return nil, fmt.Errorf("%s: function %s [%#x, +%#x) is not in the file", im.what, f.name, f.addr, f.size)
	}
	return b, nil
}

// resolve returns the symbol addr belongs to: the function or object
// whose [addr, addr+size) holds it, else the region that holds it, else
// a size-0 symbol at exactly addr.
func (im *image) resolve(addr uint64) (*sym, bool) {
	find := func(list []*sym) *sym {
		i := sort.Search(len(list), func(i int) bool { return list[i].addr > addr }) - 1
		if i >= 0 && addr < list[i].end() {
			return list[i]
		}
		return nil
	}
	if s := find(im.sized); s != nil {
		return s, true
	}
	if s := find(im.region); s != nil {
		return s, true
	}
	i := sort.Search(len(im.marker), func(i int) bool { return im.marker[i].addr >= addr })
	if i < len(im.marker) && im.marker[i].addr == addr {
		return im.marker[i], true
	}
	return im.gapAt(addr)
}

// gapAt returns the kindGap sym for addr, which no symbol holds.
func (im *image) gapAt(addr uint64) (*sym, bool) {
	var sect *elf.Section
	for _, s := range im.secs {
		if addr >= s.s.Addr && addr-s.s.Addr < s.s.Size {
			sect = s.s
		}
	}
	if sect == nil {
		return nil, false
	}
	var anchor *sym
	end := sect.Addr + sect.Size
	for _, list := range [][]*sym{im.sized, im.region, im.marker} {
		// The last symbol of the section at or before addr, and the
		// first after it.
		i := sort.Search(len(list), func(i int) bool { return list[i].addr > addr })
		for j := i - 1; j >= 0; j-- {
			if list[j].sect == sect {
				if anchor == nil || list[j].addr > anchor.addr || (list[j].addr == anchor.addr && list[j].kind < anchor.kind) {
					anchor = list[j]
				}
				break
			}
		}
		for ; i < len(list); i++ {
			if list[i].sect == sect {
				end = min(end, list[i].addr)
				break
			}
		}
	}
	if anchor == nil {
		return nil, false
	}
	return &sym{name: anchor.name, addr: anchor.addr, size: end - anchor.addr, kind: kindGap, sect: sect, gap: anchor.end()}, true
}

// inImage reports whether v, read as an address, falls in the image's
// loaded sections.
func (im *image) inImage(v uint64) bool { return v >= im.lo && v < im.hi }

// buildID returns the build-id recorded in the image's selfimage info
// array, the symbol name in .symtab (hotpatch/selfimage doc.go). The
// image must have been post-linked by `tvimage hpinfo`.
func (im *image) buildID(name string) ([]byte, error) {
	s, ok := im.byName[name]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: symbol %s not found in .symtab: the image does not import hotpatch/selfimage, or -symbol is wrong", im.what, name)
	case im.dups[name]:
		return nil, fmt.Errorf("%s: symbol %s is defined more than once", im.what, name)
	case s.size != selfimage.InfoSize:
		return nil, fmt.Errorf("%s: symbol %s is %d bytes, want selfimage.InfoSize (%d)", im.what, name, s.size, selfimage.InfoSize)
	}
	b, ok := im.bytesAt(s.addr, s.size)
	if !ok || s.sect.Type == elf.SHT_NOBITS {
		return nil, fmt.Errorf("%s: symbol %s at %#x is not in the file's bytes", im.what, name, s.addr)
	}
	info, err := selfimage.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.what, err)
	}
	if info.Arch() != im.arch {
		return nil, fmt.Errorf("%s: info blob is for %v, the ELF for %v", im.what, info.Arch(), im.arch)
	}
	return info.BuildID(), nil
}
