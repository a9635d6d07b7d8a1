// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// pcdata and funcdata table indexes (Go 1.25 internal/abi/symtab.go).
const (
	PCDATA_UnsafePoint   = 0
	PCDATA_StackMapIndex = 1
	PCDATA_InlTreeIndex  = 2
	PCDATA_ArgLiveIndex  = 3

	FUNCDATA_ArgsPointerMaps    = 0
	FUNCDATA_LocalsPointerMaps  = 1
	FUNCDATA_StackObjects       = 2
	FUNCDATA_InlTree            = 3
	FUNCDATA_OpenCodedDeferInfo = 4
	FUNCDATA_ArgInfo            = 5
	FUNCDATA_ArgLiveInfo        = 6
	FUNCDATA_WrapInfo           = 7
)

// Function flags (Go 1.25 internal/abi/symtab.go, FuncFlag).
const (
	FuncFlagTopFrame = 1 << 0
	FuncFlagSPWrite  = 1 << 1
	FuncFlagAsm      = 1 << 2
	funcFlagKnown    = FuncFlagTopFrame | FuncFlagSPWrite | FuncFlagAsm
)

// ArgsSizeUnknown is _func.args of a function whose argument size is not
// known (Go 1.25 internal/abi/symtab.go).
const ArgsSizeUnknown = -0x80000000

// ArgInfo operators (Go 1.25 internal/abi/type.go, TraceArgs*): the bytes
// of FUNCDATA_ArgInfo as runtime.printArgs reads them.
const (
	TraceArgsMaxLen         = (5*3+2)*10 + 1 // (TraceArgsMaxDepth*3+2)*TraceArgsLimit + 1
	TraceArgsEndSeq         = 0xff
	TraceArgsStartAgg       = 0xfe
	TraceArgsEndAgg         = 0xfd
	TraceArgsDotdotdot      = 0xfc
	TraceArgsOffsetTooLarge = 0xfb
)

// PtrSize is the pointer size of every target of this package (amd64,
// arm64); the stack-object count in FUNCDATA_StackObjects is a uintptr.
const PtrSize = 8

// PC quanta (pcHeader.minLC, Go 1.25 cmd/internal/sys Arch.MinLC).
const (
	MinLCAMD64 = 1
	MinLCARM64 = 4
)

// Limits of a Func. Decode and Build refuse anything over them; they are
// far above what the Go 1.25 compiler produces for one function.
const (
	MaxFuncs        = 4096    // functions in one encoding or one Build
	MaxFuncSize     = 1 << 24 // Func.Size, and Build's textSize
	MaxName         = 1 << 14 // bytes of a function or file name
	MaxTable        = 1 << 20 // bytes of one pc-value table or funcdata
	MaxPCData       = PCDATA_ArgLiveIndex + 1
	MaxFuncData     = FUNCDATA_WrapInfo + 1
	MaxFiles        = 1 << 14 // entries of Func.Files
	MaxInlTree      = 1 << 14 // inlined calls of one function
	MaxStackObjects = 1 << 12 // stack objects of one function
	// MaxFrame bounds the frame offsets and sizes a function's metadata
	// may name (args, stack objects): the Go compiler refuses frames of
	// 1 GB or more.
	MaxFrame = 1 << 30
)

// Func is one function's Go runtime metadata, position independent: all
// PCs are offsets from the function entry, names replace name offsets and
// funcdata are carried by contents. Image.Func and Decode return valid
// Funcs; Encode and Build check theirs.
type Func struct {
	Name string
	// MinLC is the PC quantum of the image the function comes from
	// (pcHeader.minLC: MinLCAMD64 or MinLCARM64). The PC deltas of the
	// pc-value tables count in these units.
	MinLC uint8
	// Size is the bytes of code from the entry to the next function's
	// entry in the image's ftab (so it includes alignment padding).
	Size        uint32
	Args        int32  // _func.args
	DeferReturn uint32 // _func.deferreturn: offset of the deferreturn call, or 0
	StartLine   int32  // _func.startLine
	FuncID      uint8  // _func.funcID (abi.FuncID)
	Flag        uint8  // _func.flag (abi.FuncFlag)
	// PCSP, PCFile and PCLn are the encoded pc-value tables exactly as
	// in pctab (varint pairs, runtime.step), each including its
	// terminating 0 byte; nil when the _func offset is 0.
	PCSP, PCFile, PCLn []byte
	// PCData holds the pcdata tables by PCDATA index (len = npcdata); nil
	// entries had offset 0. PCDATA_ArgLiveIndex is always nil (dropped
	// with FUNCDATA_ArgLiveInfo).
	PCData [][]byte
	// Files are the CU's file names: PCFile value v names Files[v]. It
	// holds entries 0 to the largest value the PCFile table uses; "" is
	// an entry no PC of the function uses, or a file the linker did not
	// keep (cutab entry ^0; the runtime prints "?").
	Files []string
	// FuncData holds the funcdata by FUNCDATA index (len = nfuncdata).
	FuncData []FuncData
}

// FuncDataKind says what a FuncData holds. Except for KindAbsent, it is
// the FUNCDATA index plus one, and a FuncData at index i is either absent
// or of kind i+1.
type FuncDataKind uint8

const (
	KindAbsent             FuncDataKind = 0
	KindArgsPointerMaps    FuncDataKind = FUNCDATA_ArgsPointerMaps + 1
	KindLocalsPointerMaps  FuncDataKind = FUNCDATA_LocalsPointerMaps + 1
	KindStackObjects       FuncDataKind = FUNCDATA_StackObjects + 1
	KindInlTree            FuncDataKind = FUNCDATA_InlTree + 1
	KindOpenCodedDeferInfo FuncDataKind = FUNCDATA_OpenCodedDeferInfo + 1
	KindArgInfo            FuncDataKind = FUNCDATA_ArgInfo + 1
)

var kindNames = [...]string{"absent", "ArgsPointerMaps", "LocalsPointerMaps", "StackObjects", "InlTree", "OpenCodedDeferInfo", "ArgInfo"}

func (k FuncDataKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("FuncDataKind(%d)", uint8(k))
}

// funcdataName names FUNCDATA index i in messages.
func funcdataName(i int) string {
	switch i {
	case FUNCDATA_ArgLiveInfo:
		return "ArgLiveInfo"
	case FUNCDATA_WrapInfo:
		return "WrapInfo"
	}
	if i >= 0 && i < FUNCDATA_ArgLiveInfo {
		return FuncDataKind(i + 1).String()
	}
	return fmt.Sprintf("FUNCDATA %d", i)
}

// FuncData is one funcdata of a Func, by contents.
type FuncData struct {
	Kind FuncDataKind
	// Bytes is the funcdata of KindArgsPointerMaps and
	// KindLocalsPointerMaps (a runtime stackmap: int32 n, int32 nbit,
	// then n bitmaps of (nbit+7)/8 bytes, little-endian),
	// KindOpenCodedDeferInfo (two uvarints: the frame offsets of the
	// defer bits and of the first closure slot) and KindArgInfo (the
	// printArgs byte sequence through TraceArgsEndSeq).
	Bytes []byte
	// StackObjects is the funcdata of KindStackObjects.
	StackObjects []StackObject
	// InlTree is the funcdata of KindInlTree: entry i is the inlined
	// call that PCDATA_InlTreeIndex value i names.
	InlTree []InlinedCall
}

// StackObject is one runtime.stackObjectRecord with its pointer mask.
type StackObject struct {
	Off      int32 // frame offset: from varp if negative, from argp if not
	Size     int32
	PtrBytes int32 // bytes of the object that can hold pointers
	// GCData is the ptr/nonptr mask, one bit per pointer-sized word of
	// the first PtrBytes bytes: (PtrBytes+63)/64 bytes.
	GCData []byte
}

// InlinedCall is one runtime.inlinedCall with the callee's name.
type InlinedCall struct {
	FuncID    uint8  // abi.FuncID of the inlined function
	Name      string // name of the inlined function
	ParentPC  int32  // offset of an instruction whose position is the call site
	StartLine int32  // line of the inlined function's func keyword
}

// gcdataLen is the length of a stack object's pointer mask: one bit per
// word of ptrBytes (runtime.scanblock reads byte i/(PtrSize*8) for every
// i < ptrBytes).
func gcdataLen(ptrBytes int32) int {
	return int((int64(ptrBytes) + PtrSize*8 - 1) / (PtrSize * 8))
}

// funcErr returns an error wrapping sentinel about function name.
func funcErr(sentinel error, name string, format string, a ...any) error {
	return fmt.Errorf("gofunc: %w: function %.200q: %s", sentinel, name, fmt.Sprintf(format, a...))
}

// uvarint32 decodes a varint as runtime.readvarint does, refusing what
// readvarint would decode differently from its encoder (more than 5
// bytes, or a value over 32 bits). It returns the value and the bytes
// read, or n = 0 if b ends first or the varint is too long.
func uvarint32(b []byte) (v uint32, n int) {
	var x uint64
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if x > 0xffffffff {
				return 0, 0
			}
			return uint32(x), i + 1
		}
	}
	return 0, 0
}

// pcRange is one entry of a pc-value table: value val for offsets
// [start, end).
type pcRange struct {
	start, end uint32
	val        int32
}

// walkTable decodes the pc-value table at the start of t as
// runtime.pcvalue and runtime.step do, with PC deltas in units of
// quantum, and calls fn for each entry whose range is not empty. It
// returns the length of the table, terminator included. It refuses a
// table that runs past t, a varint readvarint would misread, and a PC
// past limit.
func walkTable(t []byte, quantum uint8, limit uint32, fn func(pcRange)) (int, error) {
	p, pc, val := 0, uint64(0), int32(-1)
	for {
		if p >= len(t) {
			return 0, fmt.Errorf("no terminator in %d bytes", len(t))
		}
		if t[p] == 0 && pc != 0 { // runtime.step: uvdelta 0 ends the table, except first
			return p + 1, nil
		}
		uv, n := uvarint32(t[p:])
		if n == 0 {
			return 0, fmt.Errorf("bad value delta at byte %d", p)
		}
		p += n
		pcd, n := uvarint32(t[p:])
		if n == 0 {
			return 0, fmt.Errorf("bad pc delta at byte %d", p)
		}
		p += n
		val += int32(-(uv & 1) ^ (uv >> 1))
		end := pc + uint64(pcd)*uint64(quantum)
		if end > uint64(limit) {
			return 0, fmt.Errorf("pc %#x past the function's %#x bytes at byte %d", end, limit, p)
		}
		if end > pc && fn != nil {
			fn(pcRange{uint32(pc), uint32(end), val})
		}
		pc = end
	}
}

// tableRange returns the smallest and largest value of table t over its
// non-empty ranges (ok false if it has none). t must be exactly one valid
// table.
func tableRange(t []byte, quantum uint8, limit uint32) (lo, hi int32, ok bool, err error) {
	n, err := walkTable(t, quantum, limit, func(r pcRange) {
		if !ok || r.val < lo {
			lo = r.val
		}
		if !ok || r.val > hi {
			hi = r.val
		}
		ok = true
	})
	if err == nil && n != len(t) {
		err = fmt.Errorf("%d bytes after the terminator", len(t)-n)
	}
	return lo, hi, ok, err
}

// stackmapLen returns the length of the runtime stackmap at the start of
// b, from its header (runtime.stackmapdata).
func stackmapLen(b []byte) (int, error) {
	if len(b) < 8 {
		return 0, fmt.Errorf("stackmap header needs 8 bytes, have %d", len(b))
	}
	n := int32(binary.LittleEndian.Uint32(b))
	nbit := int32(binary.LittleEndian.Uint32(b[4:]))
	if n < 0 || nbit < 0 {
		return 0, fmt.Errorf("stackmap n %d nbit %d", n, nbit)
	}
	size := 8 + int64(n)*((int64(nbit)+7)/8)
	if size > MaxTable {
		return 0, fmt.Errorf("stackmap n %d nbit %d is %d bytes, over MaxTable", n, nbit, size)
	}
	return int(size), nil
}

// openDeferLen returns the length of the open-coded defer info at the
// start of b: two uvarints (runtime.(*_panic).initOpenCodedDefers).
func openDeferLen(b []byte) (int, error) {
	_, n1 := uvarint32(b)
	if n1 == 0 {
		return 0, fmt.Errorf("bad first varint")
	}
	_, n2 := uvarint32(b[n1:])
	if n2 == 0 {
		return 0, fmt.Errorf("bad second varint")
	}
	return n1 + n2, nil
}

// argInfoLen returns the length of the ArgInfo sequence at the start of b
// as runtime.printArgs reads it, end marker included.
func argInfoLen(b []byte) (int, error) {
	for pi := 0; pi < len(b) && pi < TraceArgsMaxLen; {
		o := b[pi]
		pi++
		switch o {
		case TraceArgsEndSeq:
			return pi, nil
		case TraceArgsStartAgg, TraceArgsEndAgg, TraceArgsDotdotdot, TraceArgsOffsetTooLarge:
		default:
			pi++ // the size byte
		}
	}
	return 0, fmt.Errorf("no end marker within %d bytes", min(len(b), TraceArgsMaxLen))
}

// checkName checks a function or file name: 1..MaxName bytes, no NUL
// (funcnametab and filetab hold C strings).
func checkName(s string) error {
	if len(s) == 0 || len(s) > MaxName {
		return fmt.Errorf("name of %d bytes, want 1..%d", len(s), MaxName)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("NUL at byte %d of the name", i)
	}
	return nil
}

// validate checks everything Build relies on and everything the runtime
// would otherwise throw or index out of range on: tables that decode to
// their terminator within their bytes and never beyond Size, funcdata of
// the right kind and exact size, PCFile values naming Files entries,
// StackMapIndex values inside the stack maps, InlTreeIndex values inside
// the inline tree.
func (f *Func) validate() error {
	if f == nil {
		return fmt.Errorf("gofunc: %w: nil Func", ErrFormat)
	}
	bad := func(format string, a ...any) error { return funcErr(ErrFormat, f.Name, format, a...) }
	if err := checkName(f.Name); err != nil {
		return bad("%v", err)
	}
	switch {
	case f.MinLC != MinLCAMD64 && f.MinLC != MinLCARM64:
		return bad("MinLC %d, want %d or %d", f.MinLC, MinLCAMD64, MinLCARM64)
	case f.Size > MaxFuncSize:
		return bad("size %#x over MaxFuncSize", f.Size)
	case f.Args != ArgsSizeUnknown && (f.Args < 0 || f.Args >= MaxFrame):
		return bad("args %d", f.Args)
	case f.DeferReturn != 0 && f.DeferReturn >= f.Size:
		return bad("deferreturn %#x outside the function's %#x bytes", f.DeferReturn, f.Size)
	case f.Flag&^funcFlagKnown != 0:
		return bad("unknown flag bits %#x", f.Flag)
	case len(f.PCData) > MaxPCData:
		return fmt.Errorf("gofunc: %w: function %.200q: %d pcdata tables, Go 1.25 has %d", ErrUnsupported, f.Name, len(f.PCData), MaxPCData)
	case len(f.FuncData) > MaxFuncData:
		return fmt.Errorf("gofunc: %w: function %.200q: %d funcdata, Go 1.25 has %d", ErrUnsupported, f.Name, len(f.FuncData), MaxFuncData)
	case len(f.Files) > MaxFiles:
		return bad("%d files, over MaxFiles", len(f.Files))
	}
	table := func(what string, t []byte) (lo, hi int32, ok bool, err error) {
		if t == nil {
			return 0, 0, false, nil
		}
		if len(t) > MaxTable {
			return 0, 0, false, bad("%s table of %d bytes over MaxTable", what, len(t))
		}
		lo, hi, ok, err = tableRange(t, f.MinLC, f.Size)
		if err != nil {
			return 0, 0, false, bad("%s table: %v", what, err)
		}
		return lo, hi, ok, nil
	}
	if _, _, _, err := table("pcsp", f.PCSP); err != nil {
		return err
	}
	if _, _, _, err := table("pcln", f.PCLn); err != nil {
		return err
	}
	lo, hi, ok, err := table("pcfile", f.PCFile)
	if err != nil {
		return err
	}
	if ok && (lo < -1 || int64(hi) >= int64(len(f.Files))) {
		return bad("pcfile values %d..%d, have %d files", lo, hi, len(f.Files))
	}
	for i, s := range f.Files {
		if s != "" {
			if err := checkName(s); err != nil {
				return bad("file %d: %v", i, err)
			}
		}
	}
	var pcd [MaxPCData]struct {
		lo, hi int32
		ok     bool
	}
	for i, t := range f.PCData {
		if i == PCDATA_ArgLiveIndex && t != nil {
			return bad("PCDATA_ArgLiveIndex table present: it is dropped with FUNCDATA_ArgLiveInfo")
		}
		lo, hi, ok, err := table(fmt.Sprintf("pcdata %d", i), t)
		if err != nil {
			return err
		}
		pcd[i].lo, pcd[i].hi, pcd[i].ok = lo, hi, ok
	}

	for i := range f.FuncData {
		if err := f.validateFuncData(i); err != nil {
			return err
		}
	}
	// The runtime indexes the stack maps with StackMapIndex values
	// (runtime.(*stkframe).getStackMap) and the inline tree with
	// InlTreeIndex values (runtime.newInlineUnwinder).
	if s := pcd[PCDATA_StackMapIndex]; s.ok {
		if s.lo < -1 {
			return bad("StackMapIndex value %d", s.lo)
		}
		for _, i := range []int{FUNCDATA_ArgsPointerMaps, FUNCDATA_LocalsPointerMaps} {
			if i < len(f.FuncData) && f.FuncData[i].Kind != KindAbsent {
				if n := int32(binary.LittleEndian.Uint32(f.FuncData[i].Bytes)); s.hi >= n {
					return bad("StackMapIndex value %d, %s has %d maps", s.hi, funcdataName(i), n)
				}
			}
		}
	}
	var inl []InlinedCall
	if FUNCDATA_InlTree < len(f.FuncData) {
		inl = f.FuncData[FUNCDATA_InlTree].InlTree
	}
	s := pcd[PCDATA_InlTreeIndex]
	switch {
	case s.ok && s.lo < -1:
		return bad("InlTreeIndex value %d", s.lo)
	case s.ok && s.hi >= 0 && int64(len(inl)) != int64(s.hi)+1:
		return bad("InlTreeIndex values up to %d, inline tree of %d entries", s.hi, len(inl))
	case (!s.ok || s.hi < 0) && len(inl) > 0:
		return bad("inline tree of %d entries, no InlTreeIndex value uses it", len(inl))
	}
	return nil
}

// validateFuncData checks f.FuncData[i].
func (f *Func) validateFuncData(i int) error {
	d := &f.FuncData[i]
	bad := func(format string, a ...any) error {
		return funcErr(ErrFormat, f.Name, "funcdata %d (%s): %s", i, funcdataName(i), fmt.Sprintf(format, a...))
	}
	if d.Kind == KindAbsent {
		if d.Bytes != nil || d.StackObjects != nil || d.InlTree != nil {
			return bad("absent funcdata with contents")
		}
		return nil
	}
	if i > FUNCDATA_ArgInfo {
		return fmt.Errorf("gofunc: %w: function %.200q: funcdata %d (%s) of kind %v", ErrUnsupported, f.Name, i, funcdataName(i), d.Kind)
	}
	if d.Kind != FuncDataKind(i+1) {
		return bad("kind %v at index %d", d.Kind, i)
	}
	if len(d.Bytes) > MaxTable {
		return bad("%d bytes over MaxTable", len(d.Bytes))
	}
	exact := func(n int, err error) error {
		if err != nil {
			return bad("%v", err)
		}
		if n != len(d.Bytes) {
			return bad("%d bytes, its contents say %d", len(d.Bytes), n)
		}
		return nil
	}
	switch d.Kind {
	case KindArgsPointerMaps, KindLocalsPointerMaps:
		if err := exact(stackmapLen(d.Bytes)); err != nil {
			return err
		}
	case KindOpenCodedDeferInfo:
		if err := exact(openDeferLen(d.Bytes)); err != nil {
			return err
		}
		if f.DeferReturn == 0 {
			return bad("open-coded defers without deferreturn") // runtime throws "missing deferreturn"
		}
	case KindArgInfo:
		if err := exact(argInfoLen(d.Bytes)); err != nil {
			return err
		}
	case KindStackObjects:
		if d.Bytes != nil || d.InlTree != nil {
			return bad("unexpected contents")
		}
		if len(d.StackObjects) == 0 || len(d.StackObjects) > MaxStackObjects {
			return bad("%d stack objects, want 1..%d", len(d.StackObjects), MaxStackObjects)
		}
		for j, o := range d.StackObjects {
			switch {
			case o.Size < 0 || o.PtrBytes < 0 || o.PtrBytes > o.Size:
				return bad("object %d: size %d ptrBytes %d", j, o.Size, o.PtrBytes)
			case o.Off <= -MaxFrame || o.Off >= MaxFrame || o.Size >= MaxFrame:
				return bad("object %d: offset %d size %d outside any frame", j, o.Off, o.Size)
			case len(o.GCData) != gcdataLen(o.PtrBytes) || (len(o.GCData) == 0) != (o.GCData == nil):
				return bad("object %d: mask of %d bytes for %d pointer bytes", j, len(o.GCData), o.PtrBytes)
			}
		}
		return nil
	case KindInlTree:
		if d.Bytes != nil || d.StackObjects != nil {
			return bad("unexpected contents")
		}
		if len(d.InlTree) == 0 || len(d.InlTree) > MaxInlTree {
			return bad("%d inlined calls, want 1..%d", len(d.InlTree), MaxInlTree)
		}
		for j, c := range d.InlTree {
			if err := checkName(c.Name); err != nil {
				return bad("inlined call %d: %v", j, err)
			}
			if c.ParentPC < 0 || uint32(c.ParentPC) >= f.Size {
				return bad("inlined call %d (%.200q): parent pc %#x outside the function's %#x bytes", j, c.Name, c.ParentPC, f.Size)
			}
		}
		return nil
	default:
		return bad("unknown kind %v", d.Kind)
	}
	if d.StackObjects != nil || d.InlTree != nil {
		return bad("unexpected contents")
	}
	return nil
}
