// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// findfunc table geometry (Go 1.25 internal/abi/symtab.go MINFUNC,
// FuncTabBucketSize; runtime/symtab.go findfuncbucket;
// cmd/link/internal/ld/pcln.go SUBBUCKETS).
const (
	FuncTabBucketSize = 256 * 16 // bytes of text per findfuncbucket
	SubBuckets        = 16       // subbuckets per findfuncbucket
	SubBucketSize     = FuncTabBucketSize / SubBuckets
	FindFuncBucketLen = 4 + SubBuckets // bytes of one findfuncbucket: u32 idx, [16]u8
)

// Functab is one runtime.functab entry: a function's entry offset from
// moduledata.text and its _func record's offset in moduledata.pclntable.
type Functab struct{ Entryoff, Funcoff uint32 }

// Tables is a module's function metadata laid out as the Go 1.25 runtime
// reads it through a runtime.moduledata. The target links it in by
// filling a moduledata (all integers are little-endian, as the targets
// are):
//
//   - pcHeader = &PCHeader[0] after writing textStart (pcHeader offset
//     24, 8 bytes) = text, the address of the payload text. The other
//     pcHeader offsets are left 0: the runtime does not read them.
//   - funcnametab, cutab, filetab, pctab, pclntable, ftab: slices of the
//     fields of the same names (Cutab as []uint32, Ftab as []functab,
//     both laid out as here); findfunctab = &Findfunctab[0]. pclntable
//     must be 4-byte aligned.
//   - text = minpc = textStart, etext = maxpc = text + textSize (=
//     Ftab[len(fs)].Entryoff): the findfunc buckets start at text, and
//     runtime.findfunc computes its bucket from pc - minpc. A PC before
//     the first function's entry (if offsets do not start at 0) resolves
//     to the first function; no code runs there.
//   - gofunc = rodata = &Gofunc[0], 8-byte aligned, and end =
//     &Gofunc[len(Gofunc)]: runtime funcdata offsets and stack-object
//     gcdata offsets are both relative to &Gofunc[0]. Gofunc must not lie
//     inside another module's [gofunc, end) range (stackObjectRecord.gcdata
//     takes the first module whose range holds the record), and must
//     never move or be freed while the module is linked.
//
// Every table must stay where the module points for as long as the code
// can be on a stack.
type Tables struct {
	Funcnametab []byte   // NUL-terminated names; byte 0 is a NUL so no name has offset 0 (runtime.funcName returns "" for it)
	Cutab       []uint32 // per function (shared when equal), its Files as filetab offsets; ^0 for ""
	Filetab     []byte   // NUL-terminated file names
	Pctab       []byte   // byte 0 is a dummy so that offset 0 means "no table", as the runtime expects
	// Pclntable holds the _func records (Go 1.25 layout, each at a
	// multiple of 4 bytes), each followed by its npcdata pcdata offsets
	// and nfuncdata funcdata offsets.
	Pclntable []byte
	// Ftab has len(fs)+1 entries, sorted by Entryoff; the last is
	// {Entryoff: textSize, Funcoff: 0}, as the linker writes it (the
	// runtime never reads that Funcoff for a PC inside the module).
	Ftab []Functab
	// Findfunctab is the findfuncbucket array covering [0, textSize):
	// one 20-byte bucket per 4096 bytes, 16 subbuckets each.
	Findfunctab []byte
	// Gofunc holds the funcdata blobs and stack-object masks.
	Gofunc []byte
	// PCHeader is a pcHeader (magic, minLC, ptrSize, nfunc, nfiles,
	// textStart 0 to be patched, table offsets 0).
	PCHeader []byte
}

// Build lays out fs, whose code sits at offsets[i] in a text of textSize
// bytes, as the Go 1.25 runtime reads a module. The offsets are multiples
// of the functions' MinLC (which they share) and each function lies in
// the text without overlapping the next one: sorted by offset,
// offsets[i]+fs[i].Size <= offsets[i+1] (or textSize for the last). fs
// may come in any order; Ftab and Pclntable list the functions by entry. The bytes between a function's Size and the next
// function are attributed to it, as the linker attributes alignment
// padding: findfunc resolves a PC there to it (its pc-value tables do not
// cover such a PC, which no code reaches). Build validates every Func as
// Decode does and never panics.
func Build(fs []*Func, offsets []uint32, textSize uint32) (*Tables, error) {
	layout := func(format string, a ...any) error {
		return fmt.Errorf("gofunc: %w: %s", ErrLayout, fmt.Sprintf(format, a...))
	}
	switch {
	case len(fs) == 0 || len(fs) > MaxFuncs:
		return nil, layout("%d functions, want 1..%d", len(fs), MaxFuncs)
	case len(offsets) != len(fs):
		return nil, layout("%d offsets for %d functions", len(offsets), len(fs))
	case textSize > MaxFuncSize:
		return nil, layout("text of %#x bytes over MaxFuncSize", textSize)
	}
	for _, f := range fs {
		if err := f.validate(); err != nil {
			return nil, err
		}
	}
	// Lay out by entry: order[k] is the k-th function by offset.
	order := make([]int, len(fs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return offsets[order[a]] < offsets[order[b]] })
	sorted := make([]uint32, len(fs))
	for k, i := range order {
		sorted[k] = offsets[i]
	}
	for k, i := range order {
		f := fs[i]
		end := textSize
		if k+1 < len(fs) {
			end = sorted[k+1]
		}
		switch {
		case f.MinLC != fs[0].MinLC:
			return nil, layout("function %.200q: MinLC %d, function %.200q has %d", f.Name, f.MinLC, fs[0].Name, fs[0].MinLC)
		case f.Size == 0:
			return nil, layout("function %.200q: no code", f.Name)
		case sorted[k]%uint32(f.MinLC) != 0:
			return nil, layout("function %.200q at %#x: not a multiple of the PC quantum %d", f.Name, sorted[k], f.MinLC)
		case sorted[k] > end || end-sorted[k] < f.Size:
			return nil, layout("function %.200q at [%#x, +%#x) does not fit before %#x", f.Name, sorted[k], f.Size, end)
		}
	}

	b := &builder{
		t:        &Tables{Funcnametab: []byte{0}, Pctab: []byte{0}},
		names:    map[string]uint32{},
		files:    map[string]uint32{},
		cus:      map[string]uint32{},
		tables:   map[string]uint32{},
		blobs:    map[string]uint32{},
		quantum:  fs[0].MinLC,
		textSize: textSize,
	}
	for k, i := range order {
		if err := b.addFunc(fs[i], sorted[k]); err != nil {
			return nil, err
		}
	}
	t := b.t
	t.Ftab = append(t.Ftab, Functab{Entryoff: textSize, Funcoff: 0})
	if err := b.findfunctab(sorted); err != nil {
		return nil, err
	}
	for _, n := range []int{len(t.Funcnametab), len(t.Cutab), len(t.Filetab), len(t.Pctab), len(t.Pclntable), len(t.Gofunc)} {
		if uint64(n) >= 1<<31 {
			return nil, layout("tables over 2 GiB")
		}
	}
	le := binary.LittleEndian
	h := make([]byte, pcHeaderSize)
	le.PutUint32(h, pcHeaderMagic)
	h[hdrMinLC] = b.quantum
	h[hdrPtrSize] = PtrSize
	le.PutUint64(h[hdrNfunc:], uint64(len(fs)))
	le.PutUint64(h[hdrNfiles:], uint64(len(b.files)))
	t.PCHeader = h
	return t, nil
}

// builder accumulates Tables, sharing equal names, file lists, pc-value
// tables and funcdata blobs.
type builder struct {
	t        *Tables
	names    map[string]uint32 // offset in Funcnametab
	files    map[string]uint32 // offset in Filetab
	cus      map[string]uint32 // file list (joined by NUL) -> offset in Cutab
	tables   map[string]uint32 // offset in Pctab
	blobs    map[string]uint32 // alignment and contents -> offset in Gofunc
	quantum  uint8
	textSize uint32
}

func (b *builder) name(s string) uint32 {
	if o, ok := b.names[s]; ok {
		return o
	}
	o := uint32(len(b.t.Funcnametab))
	b.t.Funcnametab = append(append(b.t.Funcnametab, s...), 0)
	b.names[s] = o
	return o
}

func (b *builder) table(t []byte) uint32 {
	if t == nil {
		return 0
	}
	if o, ok := b.tables[string(t)]; ok {
		return o
	}
	o := uint32(len(b.t.Pctab))
	b.t.Pctab = append(b.t.Pctab, t...)
	b.tables[string(t)] = o
	return o
}

func (b *builder) cu(files []string) uint32 {
	if len(files) == 0 {
		return noCU
	}
	key := strings.Join(files, "\x00")
	if o, ok := b.cus[key]; ok {
		return o
	}
	o := uint32(len(b.t.Cutab))
	for _, s := range files {
		if s == "" {
			b.t.Cutab = append(b.t.Cutab, noCU)
			continue
		}
		fo, ok := b.files[s]
		if !ok {
			fo = uint32(len(b.t.Filetab))
			b.t.Filetab = append(append(b.t.Filetab, s...), 0)
			b.files[s] = fo
		}
		b.t.Cutab = append(b.t.Cutab, fo)
	}
	b.cus[key] = o
	return o
}

// blob places data in Gofunc at a multiple of align and returns its
// offset.
func (b *builder) blob(data []byte, align int) uint32 {
	key := string(rune('0'+align)) + string(data)
	if o, ok := b.blobs[key]; ok {
		return o
	}
	for len(b.t.Gofunc)%align != 0 {
		b.t.Gofunc = append(b.t.Gofunc, 0)
	}
	o := uint32(len(b.t.Gofunc))
	b.t.Gofunc = append(b.t.Gofunc, data...)
	b.blobs[key] = o
	return o
}

// addFunc appends f's _func record at entry offset entry.
func (b *builder) addFunc(f *Func, entry uint32) error {
	le := binary.LittleEndian
	t := b.t
	funcoff := uint32(len(t.Pclntable))
	t.Ftab = append(t.Ftab, Functab{Entryoff: entry, Funcoff: funcoff})

	fd := make([]uint32, len(f.FuncData))
	for j, d := range f.FuncData {
		fd[j] = noFuncdata
		switch d.Kind {
		case KindAbsent:
		case KindArgsPointerMaps, KindLocalsPointerMaps:
			fd[j] = b.blob(d.Bytes, 4) // runtime.stackmap: int32 fields
		case KindOpenCodedDeferInfo, KindArgInfo:
			fd[j] = b.blob(d.Bytes, 1)
		case KindStackObjects:
			// uintptr count, then runtime.stackObjectRecord each.
			rec := le.AppendUint64(nil, uint64(len(d.StackObjects)))
			for _, o := range d.StackObjects {
				var mask uint32
				if len(o.GCData) > 0 {
					mask = b.blob(o.GCData, 1)
				}
				rec = le.AppendUint32(rec, uint32(o.Off))
				rec = le.AppendUint32(rec, uint32(o.Size))
				rec = le.AppendUint32(rec, uint32(o.PtrBytes))
				rec = le.AppendUint32(rec, mask)
			}
			fd[j] = b.blob(rec, PtrSize)
		case KindInlTree:
			// runtime.inlinedCall each (runtime/symtabinl.go).
			var rec []byte
			for _, c := range d.InlTree {
				rec = append(rec, c.FuncID, 0, 0, 0)
				rec = le.AppendUint32(rec, b.name(c.Name))
				rec = le.AppendUint32(rec, uint32(c.ParentPC))
				rec = le.AppendUint32(rec, uint32(c.StartLine))
			}
			fd[j] = b.blob(rec, 4)
		default:
			return funcErr(ErrUnsupported, f.Name, "funcdata %d of kind %v", j, d.Kind)
		}
	}

	r := make([]byte, funcSize, funcSize+4*(len(f.PCData)+len(f.FuncData)))
	le.PutUint32(r[fnEntryOff:], entry)
	le.PutUint32(r[fnNameOff:], b.name(f.Name))
	le.PutUint32(r[fnArgs:], uint32(f.Args))
	le.PutUint32(r[fnDeferreturn:], f.DeferReturn)
	le.PutUint32(r[fnPcsp:], b.table(f.PCSP))
	le.PutUint32(r[fnPcfile:], b.table(f.PCFile))
	le.PutUint32(r[fnPcln:], b.table(f.PCLn))
	le.PutUint32(r[fnNpcdata:], uint32(len(f.PCData)))
	le.PutUint32(r[fnCuOffset:], b.cu(f.Files))
	le.PutUint32(r[fnStartLine:], uint32(f.StartLine))
	r[fnFuncID] = f.FuncID
	r[fnFlag] = f.Flag
	r[fnNfuncdata] = uint8(len(f.FuncData))
	for _, p := range f.PCData {
		r = le.AppendUint32(r, b.table(p))
	}
	for _, o := range fd {
		r = le.AppendUint32(r, o)
	}
	t.Pclntable = append(t.Pclntable, r...)
	return nil
}

// findfunctab fills Tables.Findfunctab as the linker does
// (cmd/link/internal/ld/pcln.go findfunctab): subbucket s holds the
// lowest index of a function whose [entry, next entry) range meets it,
// as a delta from its bucket's first subbucket, and runtime.findfunc
// scans ftab forward from there. The bytes after a function up to the
// next entry (padding) belong to it; those before the first entry to the
// first function. offsets are sorted.
func (b *builder) findfunctab(offsets []uint32) error {
	const base = 0
	span := b.textSize
	nsub := (span + SubBucketSize - 1) / SubBucketSize
	nbuckets := (span + FuncTabBucketSize - 1) / FuncTabBucketSize
	const noIdx = ^uint32(0)
	idx := make([]uint32, nsub)
	for i := range idx {
		idx[i] = noIdx
	}
	for i, p := range offsets {
		if i == 0 {
			p = base
		}
		q := b.textSize
		if i+1 < len(offsets) {
			q = offsets[i+1]
		}
		if p == q {
			continue // impossible after Build's checks: Size > 0
		}
		for s := (p - base) / SubBucketSize; s <= (q-1-base)/SubBucketSize; s++ {
			idx[s] = min(idx[s], uint32(i))
		}
	}
	t := make([]byte, int(nbuckets)*FindFuncBucketLen)
	for bk := uint32(0); bk < nbuckets; bk++ {
		first := idx[bk*SubBuckets]
		binary.LittleEndian.PutUint32(t[bk*FindFuncBucketLen:], first)
		for j := uint32(0); j < SubBuckets && bk*SubBuckets+j < nsub; j++ {
			v := idx[bk*SubBuckets+j]
			if v == noIdx || v < first || v-first > 255 {
				return fmt.Errorf("gofunc: %w: findfunc bucket %d (text %#x..): subbucket %d needs function %d, bucket starts at %d (more than 256 functions per %d bytes?)",
					ErrLayout, bk, base+bk*FuncTabBucketSize, j, v, first, FuncTabBucketSize)
			}
			t[bk*FindFuncBucketLen+4+j] = uint8(v - first)
		}
	}
	b.t.Findfunctab = t
	return nil
}
