// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// pcHeaderMagic is pcHeader.magic of Go 1.20 to 1.25 (runtime/symtab.go).
const pcHeaderMagic = 0xfffffff1

// Sizes of the Go 1.25 runtime records on 64-bit targets
// (runtime/symtab.go pcHeader, runtime/runtime2.go _func,
// cmd/link/internal/ld/pcln.go funcSize).
const (
	pcHeaderSize = 8 + 8*PtrSize
	funcSize     = 11 * 4
	functabSize  = 8
	// noCU is _func.cuOffset of a function without a compilation unit,
	// and a cutab entry of a file the linker dropped.
	noCU = ^uint32(0)
	// noFuncdata is a _func funcdata offset meaning "no funcdata".
	noFuncdata = ^uint32(0)
)

// pcHeader field offsets (runtime/symtab.go pcHeader, 64-bit).
const (
	hdrMinLC          = 6
	hdrPtrSize        = 7
	hdrNfunc          = 8
	hdrNfiles         = 16
	hdrTextStart      = 24
	hdrFuncnameOffset = 32
	hdrCuOffset       = 40
	hdrFiletabOffset  = 48
	hdrPctabOffset    = 56
	hdrPclnOffset     = 64
)

// _func field offsets (runtime/runtime2.go _func).
const (
	fnEntryOff    = 0
	fnNameOff     = 4
	fnArgs        = 8
	fnDeferreturn = 12
	fnPcsp        = 16
	fnPcfile      = 20
	fnPcln        = 24
	fnNpcdata     = 28
	fnCuOffset    = 32
	fnStartLine   = 36
	fnFuncID      = 40
	fnFlag        = 41
	fnNfuncdata   = 43
)

// Image is a Go 1.25 ELF executable's function metadata (its .gopclntab
// and go:func.* data). It reads, and keeps a reference to, the bytes
// given to Open.
type Image struct {
	minLC       uint8
	funcnametab []byte
	cutab       []byte
	filetab     []byte
	pctab       []byte
	pclntable   []byte
	ftab        []ftabEntry
	names       []string
	byName      map[string]int // index in ftab, -1 for a name used twice
	sections    []memSection
	gofunc      uint64 // address of go:func.*
	rodata      uint64 // address of runtime.rodata
}

type ftabEntry struct{ entryoff, funcoff uint32 }

// memSection is an allocated section's address and contents.
type memSection struct {
	addr uint64
	data []byte
}

// Open reads the function metadata of an amd64 or arm64 ELF executable
// built by Go 1.25 (GOOS=linux or tamago). It needs the .gopclntab section
// and the symbols go:func.* and runtime.rodata, so the image must not be
// stripped.
func Open(elfFile []byte) (*Image, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("gofunc: %w: image: %s", ErrFormat, fmt.Sprintf(format, a...))
	}
	f, err := elf.NewFile(bytes.NewReader(elfFile))
	if err != nil {
		return nil, bad("%v", err)
	}
	var wantLC uint8
	switch {
	case f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB:
		return nil, fmt.Errorf("gofunc: %w: image: %v %v, want ELFCLASS64 ELFDATA2LSB", ErrUnsupported, f.Class, f.Data)
	case f.Machine == elf.EM_X86_64:
		wantLC = MinLCAMD64
	case f.Machine == elf.EM_AARCH64:
		wantLC = MinLCARM64
	default:
		return nil, fmt.Errorf("gofunc: %w: image: machine %v, want EM_X86_64 or EM_AARCH64", ErrUnsupported, f.Machine)
	}
	im := &Image{minLC: wantLC}
	var pcln []byte
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		if s.Offset > uint64(len(elfFile)) || s.Size > uint64(len(elfFile))-s.Offset {
			return nil, bad("section %s [%#x, +%#x) outside the file of %d bytes", s.Name, s.Offset, s.Size, len(elfFile))
		}
		data := elfFile[s.Offset : s.Offset+s.Size]
		im.sections = append(im.sections, memSection{s.Addr, data})
		if s.Name == ".gopclntab" {
			pcln = data
		}
	}
	if pcln == nil {
		return nil, bad("no .gopclntab section")
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, bad("symbol table: %v", err)
	}
	var haveGofunc, haveRodata bool
	for _, s := range syms {
		switch s.Name {
		case "go:func.*":
			im.gofunc, haveGofunc = s.Value, true
		case "runtime.rodata":
			im.rodata, haveRodata = s.Value, true
		}
	}
	if !haveGofunc || !haveRodata {
		return nil, bad("no go:func.* or runtime.rodata symbol (stripped image?)")
	}

	// runtime/symtab.go pcHeader.
	le := binary.LittleEndian
	if len(pcln) < pcHeaderSize {
		return nil, bad(".gopclntab of %d bytes", len(pcln))
	}
	if m := le.Uint32(pcln); m != pcHeaderMagic || pcln[4] != 0 || pcln[5] != 0 {
		return nil, fmt.Errorf("gofunc: %w: image: pcHeader magic %#x pad %d %d, want %#x (Go 1.20..1.25)", ErrUnsupported, m, pcln[4], pcln[5], uint32(pcHeaderMagic))
	}
	if pcln[hdrMinLC] != wantLC || pcln[hdrPtrSize] != PtrSize {
		return nil, bad("pcHeader minLC %d ptrSize %d, want %d %d", pcln[hdrMinLC], pcln[hdrPtrSize], wantLC, PtrSize)
	}
	nfunc := le.Uint64(pcln[hdrNfunc:])
	var offs [5]uint64
	for i := range offs {
		offs[i] = le.Uint64(pcln[hdrFuncnameOffset+8*i:])
	}
	prev := uint64(pcHeaderSize)
	for i, o := range offs {
		if o < prev || o > uint64(len(pcln)) {
			return nil, bad("pcHeader table offset %d = %#x out of order or outside .gopclntab of %#x bytes", i, o, len(pcln))
		}
		prev = o
	}
	im.funcnametab = pcln[offs[0]:offs[1]]
	im.cutab = pcln[offs[1]:offs[2]]
	im.filetab = pcln[offs[2]:offs[3]]
	im.pctab = pcln[offs[3]:offs[4]]
	im.pclntable = pcln[offs[4]:]
	if nfunc == 0 || nfunc >= uint64(len(im.pclntable))/functabSize {
		return nil, bad("nfunc %d, functab of %d bytes", nfunc, len(im.pclntable))
	}
	im.ftab = make([]ftabEntry, nfunc+1)
	for i := range im.ftab {
		im.ftab[i] = ftabEntry{le.Uint32(im.pclntable[i*functabSize:]), le.Uint32(im.pclntable[i*functabSize+4:])}
		if i > 0 && im.ftab[i].entryoff < im.ftab[i-1].entryoff {
			return nil, bad("ftab not sorted at entry %d", i)
		}
	}
	im.names = make([]string, nfunc)
	im.byName = make(map[string]int, nfunc)
	for i := range im.names {
		fo := uint64(im.ftab[i].funcoff)
		if fo+funcSize > uint64(len(im.pclntable)) {
			return nil, bad("ftab entry %d: _func at %#x outside the functab of %#x bytes", i, fo, len(im.pclntable))
		}
		nameOff := le.Uint32(im.pclntable[fo+fnNameOff:])
		name, ok := cstring(im.funcnametab, nameOff)
		if !ok {
			return nil, bad("ftab entry %d: name offset %#x outside funcnametab", i, nameOff)
		}
		im.names[i] = name
		if _, dup := im.byName[name]; dup {
			im.byName[name] = -1
		} else {
			im.byName[name] = i
		}
	}
	return im, nil
}

// cstring returns the NUL-terminated string at off in t.
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

// Funcs returns the names of all functions in the image's function table,
// in entry order. A name may appear more than once.
func (im *Image) Funcs() []string {
	return append([]string(nil), im.names...)
}

// FuncAt returns the metadata of the i-th function of Funcs, for names
// that appear more than once (an assembly function and its ABI wrapper
// share a name in the function table).
func (im *Image) FuncAt(i int) (*Func, error) {
	if i < 0 || i >= len(im.names) {
		return nil, fmt.Errorf("gofunc: %w: function index %d of %d", ErrNotFound, i, len(im.names))
	}
	return im.funcAt(i)
}

// MinLC returns the image's PC quantum (pcHeader.minLC).
func (im *Image) MinLC() uint8 { return im.minLC }

// Func returns the metadata of the function called name, position
// independent. It refuses with ErrNotFound a name that is not in the
// function table or names more than one function, and with ErrUnsupported
// a function whose metadata cannot be carried (see the package comment).
func (im *Image) Func(name string) (*Func, error) {
	i, ok := im.byName[name]
	if !ok {
		return nil, fmt.Errorf("gofunc: %w: %.200q", ErrNotFound, name)
	}
	if i < 0 {
		return nil, fmt.Errorf("gofunc: %w: %.200q names more than one function (see FuncAt)", ErrNotFound, name)
	}
	return im.funcAt(i)
}

// read returns n bytes at address addr of the image.
func (im *Image) read(addr, n uint64) ([]byte, bool) {
	for _, s := range im.sections {
		if addr >= s.addr && addr-s.addr <= uint64(len(s.data)) && n <= uint64(len(s.data))-(addr-s.addr) {
			return s.data[addr-s.addr : addr-s.addr+n], true
		}
	}
	return nil, false
}

// readMax returns up to n bytes at addr, as many as its section holds.
func (im *Image) readMax(addr, n uint64) []byte {
	for _, s := range im.sections {
		if addr >= s.addr && addr-s.addr < uint64(len(s.data)) {
			return s.data[addr-s.addr:][:min(n, uint64(len(s.data))-(addr-s.addr))]
		}
	}
	return nil
}

// funcAt builds the Func of ftab entry i.
func (im *Image) funcAt(i int) (*Func, error) {
	le := binary.LittleEndian
	name := im.names[i]
	fo := uint64(im.ftab[i].funcoff)
	bad := func(format string, a ...any) error {
		return funcErr(ErrFormat, name, "_func at functab+%#x: %s", fo, fmt.Sprintf(format, a...))
	}
	rec := im.pclntable[fo:]
	npcdata := le.Uint32(rec[fnNpcdata:])
	nfuncdata := uint32(rec[fnNfuncdata])
	if npcdata > MaxPCData {
		return nil, funcErr(ErrUnsupported, name, "%d pcdata tables, Go 1.25 has %d", npcdata, MaxPCData)
	}
	if funcSize+4*uint64(npcdata+nfuncdata) > uint64(len(rec)) {
		return nil, bad("%d pcdata and %d funcdata offsets past the functab", npcdata, nfuncdata)
	}
	if e := le.Uint32(rec[fnEntryOff:]); e != im.ftab[i].entryoff {
		return nil, bad("entryOff %#x, ftab says %#x", e, im.ftab[i].entryoff)
	}
	f := &Func{
		Name:        name,
		MinLC:       im.minLC,
		Size:        im.ftab[i+1].entryoff - im.ftab[i].entryoff,
		Args:        int32(le.Uint32(rec[fnArgs:])),
		DeferReturn: le.Uint32(rec[fnDeferreturn:]),
		StartLine:   int32(le.Uint32(rec[fnStartLine:])),
		FuncID:      rec[fnFuncID],
		Flag:        rec[fnFlag],
	}
	table := func(what string, off uint32) ([]byte, error) {
		if off == 0 {
			return nil, nil
		}
		if uint64(off) >= uint64(len(im.pctab)) {
			return nil, bad("%s table at pctab+%#x outside pctab of %#x bytes", what, off, len(im.pctab))
		}
		t := im.pctab[off:]
		n, err := walkTable(t, im.minLC, f.Size, nil)
		if err != nil {
			return nil, bad("%s table at pctab+%#x: %v", what, off, err)
		}
		return bytes.Clone(t[:n]), nil
	}
	var err error
	if f.PCSP, err = table("pcsp", le.Uint32(rec[fnPcsp:])); err != nil {
		return nil, err
	}
	if f.PCFile, err = table("pcfile", le.Uint32(rec[fnPcfile:])); err != nil {
		return nil, err
	}
	if f.PCLn, err = table("pcln", le.Uint32(rec[fnPcln:])); err != nil {
		return nil, err
	}
	if npcdata > 0 {
		f.PCData = make([][]byte, npcdata)
	}
	for j := range f.PCData {
		if j == PCDATA_ArgLiveIndex {
			continue // dropped with FUNCDATA_ArgLiveInfo
		}
		off := le.Uint32(rec[funcSize+4*j:])
		if f.PCData[j], err = table(fmt.Sprintf("pcdata %d", j), off); err != nil {
			return nil, err
		}
	}

	// Files: the CU's cutab entries 0..largest PCFile value, those no PC
	// uses left "".
	if f.PCFile != nil {
		used := map[int32]bool{}
		hi := int32(-1)
		if _, err := walkTable(f.PCFile, im.minLC, f.Size, func(r pcRange) {
			used[r.val] = true
			hi = max(hi, r.val)
		}); err != nil {
			return nil, bad("pcfile: %v", err)
		}
		if hi >= 0 {
			cu := le.Uint32(rec[fnCuOffset:])
			if hi >= MaxFiles || cu == noCU || (uint64(cu)+uint64(hi)+1)*4 > uint64(len(im.cutab)) {
				return nil, bad("pcfile value %d with cuOffset %#x, cutab of %d entries", hi, cu, len(im.cutab)/4)
			}
			f.Files = make([]string, hi+1)
			for v := range f.Files {
				if !used[int32(v)] {
					continue
				}
				fileoff := le.Uint32(im.cutab[(int(cu)+v)*4:])
				if fileoff == noCU {
					continue
				}
				s, ok := cstring(im.filetab, fileoff)
				if !ok {
					return nil, bad("file %d at filetab+%#x outside filetab", v, fileoff)
				}
				f.Files[v] = s
			}
		}
	}

	if nfuncdata > 0 {
		f.FuncData = make([]FuncData, nfuncdata)
	}
	fdBase := funcSize + 4*int(npcdata)
	for j := range f.FuncData {
		off := le.Uint32(rec[fdBase+4*j:])
		if off == noFuncdata || j == FUNCDATA_ArgLiveInfo {
			continue // absent, or dropped (its length is not recorded)
		}
		if j > FUNCDATA_ArgInfo {
			return nil, funcErr(ErrUnsupported, name, "funcdata %d (%s) at go:func.*+%#x", j, funcdataName(j), off)
		}
		if f.FuncData[j], err = im.funcdata(f, j, im.gofunc+uint64(off)); err != nil {
			return nil, bad("funcdata %d (%s) at go:func.*+%#x: %v", j, funcdataName(j), off, err)
		}
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// funcdata reads f's funcdata j at addr.
func (im *Image) funcdata(f *Func, j int, addr uint64) (FuncData, error) {
	le := binary.LittleEndian
	kind := FuncDataKind(j + 1)
	sized := func(n int, err error) (FuncData, error) {
		if err != nil {
			return FuncData{}, err
		}
		b, ok := im.read(addr, uint64(n))
		if !ok {
			return FuncData{}, fmt.Errorf("%d bytes at %#x outside the image", n, addr)
		}
		return FuncData{Kind: kind, Bytes: bytes.Clone(b)}, nil
	}
	switch j {
	case FUNCDATA_ArgsPointerMaps, FUNCDATA_LocalsPointerMaps:
		return sized(stackmapLen(im.readMax(addr, 8)))
	case FUNCDATA_OpenCodedDeferInfo:
		return sized(openDeferLen(im.readMax(addr, 10)))
	case FUNCDATA_ArgInfo:
		return sized(argInfoLen(im.readMax(addr, TraceArgsMaxLen)))
	case FUNCDATA_StackObjects:
		b, ok := im.read(addr, PtrSize)
		if !ok {
			return FuncData{}, fmt.Errorf("count at %#x outside the image", addr)
		}
		n := le.Uint64(b)
		if n == 0 || n > MaxStackObjects {
			return FuncData{}, fmt.Errorf("%d stack objects, want 1..%d", n, MaxStackObjects)
		}
		recs, ok := im.read(addr+PtrSize, n*16)
		if !ok {
			return FuncData{}, fmt.Errorf("%d stack object records at %#x outside the image", n, addr+PtrSize)
		}
		d := FuncData{Kind: kind, StackObjects: make([]StackObject, n)}
		for k := range d.StackObjects {
			r := recs[k*16:]
			o := StackObject{Off: int32(le.Uint32(r)), Size: int32(le.Uint32(r[4:])), PtrBytes: int32(le.Uint32(r[8:]))}
			gcdataoff := le.Uint32(r[12:])
			if o.PtrBytes < 0 || o.PtrBytes > o.Size {
				return FuncData{}, fmt.Errorf("stack object %d: size %d ptrBytes %d", k, o.Size, o.PtrBytes)
			}
			if n := gcdataLen(o.PtrBytes); n > 0 {
				mask, ok := im.read(im.rodata+uint64(gcdataoff), uint64(n))
				if !ok {
					return FuncData{}, fmt.Errorf("stack object %d: mask at runtime.rodata+%#x outside the image", k, gcdataoff)
				}
				o.GCData = bytes.Clone(mask)
			}
			d.StackObjects[k] = o
		}
		return d, nil
	case FUNCDATA_InlTree:
		var n int64
		if PCDATA_InlTreeIndex < len(f.PCData) && f.PCData[PCDATA_InlTreeIndex] != nil {
			_, hi, ok, err := tableRange(f.PCData[PCDATA_InlTreeIndex], f.MinLC, f.Size)
			if err != nil {
				return FuncData{}, err
			}
			if ok {
				n = int64(hi) + 1
			}
		}
		if n <= 0 {
			return FuncData{}, nil // no PC uses the tree: recorded absent
		}
		if n > MaxInlTree {
			return FuncData{}, fmt.Errorf("%d inlined calls over MaxInlTree", n)
		}
		recs, ok := im.read(addr, uint64(n)*16)
		if !ok {
			return FuncData{}, fmt.Errorf("%d inlined calls at %#x outside the image", n, addr)
		}
		d := FuncData{Kind: kind, InlTree: make([]InlinedCall, n)}
		for k := range d.InlTree {
			r := recs[k*16:]
			nameOff := le.Uint32(r[4:])
			callee, ok := cstring(im.funcnametab, nameOff)
			if !ok {
				return FuncData{}, fmt.Errorf("inlined call %d: name offset %#x outside funcnametab", k, nameOff)
			}
			d.InlTree[k] = InlinedCall{FuncID: r[0], Name: callee, ParentPC: int32(le.Uint32(r[8:])), StartLine: int32(le.Uint32(r[12:]))}
		}
		return d, nil
	}
	return FuncData{}, fmt.Errorf("unknown funcdata index %d", j)
}
