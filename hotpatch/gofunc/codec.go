// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"encoding/binary"
	"fmt"
)

// Encoding header (doc.go, "Encoding").
const (
	encMagic      = "TVGOFUNC"
	EncVersion    = 1 // the version Encode writes and Decode reads
	encHeaderSize = 16
)

// Encode returns fs in the encoding of doc.go ("Encoding"): deterministic,
// versioned, little-endian. It refuses (with Func's error) any function
// Decode would refuse, functions of different MinLC, and more than
// MaxFuncs or no functions.
func Encode(fs []*Func) ([]byte, error) {
	if len(fs) == 0 || len(fs) > MaxFuncs {
		return nil, fmt.Errorf("gofunc: %w: %d functions, want 1..%d", ErrFormat, len(fs), MaxFuncs)
	}
	for _, f := range fs {
		if err := f.validate(); err != nil {
			return nil, err
		}
		if f.MinLC != fs[0].MinLC {
			return nil, funcErr(ErrFormat, f.Name, "MinLC %d, function %.200q has %d", f.MinLC, fs[0].Name, fs[0].MinLC)
		}
	}
	le := binary.LittleEndian
	b := append([]byte(nil), encMagic...)
	b = le.AppendUint16(b, EncVersion)
	b = append(b, fs[0].MinLC, PtrSize)
	b = le.AppendUint32(b, uint32(len(fs)))
	for _, f := range fs {
		start := len(b)
		b = le.AppendUint32(b, 0) // record length, set below
		b = appendBytes(b, []byte(f.Name))
		b = le.AppendUint32(b, f.Size)
		b = le.AppendUint32(b, uint32(f.Args))
		b = le.AppendUint32(b, f.DeferReturn)
		b = le.AppendUint32(b, uint32(f.StartLine))
		b = append(b, f.FuncID, f.Flag, uint8(len(f.PCData)), uint8(len(f.FuncData)))
		b = appendBytes(b, f.PCSP)
		b = appendBytes(b, f.PCFile)
		b = appendBytes(b, f.PCLn)
		for _, t := range f.PCData {
			b = appendBytes(b, t)
		}
		b = le.AppendUint32(b, uint32(len(f.Files)))
		for _, s := range f.Files {
			b = appendBytes(b, []byte(s))
		}
		for _, d := range f.FuncData {
			b = append(b, uint8(d.Kind), 0, 0, 0)
			body := len(b)
			b = le.AppendUint32(b, 0) // body length, set below
			switch d.Kind {
			case KindStackObjects:
				b = le.AppendUint32(b, uint32(len(d.StackObjects)))
				for _, o := range d.StackObjects {
					b = le.AppendUint32(b, uint32(o.Off))
					b = le.AppendUint32(b, uint32(o.Size))
					b = le.AppendUint32(b, uint32(o.PtrBytes))
					b = appendBytes(b, o.GCData)
				}
			case KindInlTree:
				b = le.AppendUint32(b, uint32(len(d.InlTree)))
				for _, c := range d.InlTree {
					b = append(b, c.FuncID, 0, 0, 0)
					b = le.AppendUint32(b, uint32(c.ParentPC))
					b = le.AppendUint32(b, uint32(c.StartLine))
					b = appendBytes(b, []byte(c.Name))
				}
			default:
				b = append(b, d.Bytes...)
			}
			le.PutUint32(b[body:], uint32(len(b)-body-4))
		}
		le.PutUint32(b[start:], uint32(len(b)-start-4))
	}
	return b, nil
}

func appendBytes(b, s []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// decoder reads the encoding; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at byte %#x", fmt.Sprintf(format, a...), d.off)
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail("%s of %d bytes past the end (%d left)", what, n, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u8(what string) uint8 {
	if s := d.take(1, what); s != nil {
		return s[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if s := d.take(4, what); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

// count reads a u32 count of items of at least minSize encoded bytes
// each, and refuses one over max or over what the bytes left can hold.
func (d *decoder) count(what string, max, minSize int) int {
	n := d.u32(what)
	if d.err == nil && (uint64(n) > uint64(max) || uint64(n)*uint64(minSize) > uint64(len(d.b)-d.off)) {
		d.fail("%s %d over its limit %d or the %d bytes left", what, n, max, len(d.b)-d.off)
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string of at most max bytes, as a
// copy (nil for length 0).
func (d *decoder) bytes(what string, max int) []byte {
	n := d.u32(what)
	if d.err == nil && uint64(n) > uint64(max) {
		d.fail("%s of %d bytes over %d", what, n, max)
		return nil
	}
	s := d.take(int(n), what)
	if len(s) == 0 {
		return nil
	}
	return append([]byte(nil), s...)
}

func (d *decoder) str(what string, max int) string {
	n := d.u32(what)
	if d.err == nil && uint64(n) > uint64(max) {
		d.fail("%s of %d bytes over %d", what, n, max)
		return ""
	}
	return string(d.take(int(n), what))
}

func (d *decoder) zero(n int, what string) {
	for _, c := range d.take(n, what) {
		if c != 0 {
			d.fail("%s not zero", what)
		}
	}
}

// Decode parses an encoding of Encode. b is untrusted: Decode bounds-checks
// every length, caps every count, allocates at most a small multiple of
// len(b), never panics, and validates every function as Build needs it.
// It refuses with ErrFormat (or ErrUnsupported for a function carrying
// what this package refuses) and names the function and byte offset at
// fault. The Funcs share no memory with b.
func Decode(b []byte) ([]*Func, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("gofunc: %w: encoding: %s", ErrFormat, fmt.Sprintf(format, a...))
	}
	if len(b) < encHeaderSize || string(b[:len(encMagic)]) != encMagic {
		return nil, bad("no %q header in %d bytes", encMagic, len(b))
	}
	le := binary.LittleEndian
	if v := le.Uint16(b[8:]); v != EncVersion {
		return nil, bad("version %d, want %d", v, EncVersion)
	}
	minLC, ptrSize := b[10], b[11]
	if (minLC != MinLCAMD64 && minLC != MinLCARM64) || ptrSize != PtrSize {
		return nil, bad("minLC %d ptrSize %d, want 1 or 4 and %d", minLC, ptrSize, PtrSize)
	}
	d := &decoder{b: b, off: 12}
	// A function record is at least 4+4+16+4+12+4 bytes.
	const minFunc = 44
	n := d.count("function count", MaxFuncs, minFunc)
	if d.err == nil && n == 0 {
		d.fail("no functions")
	}
	var fs []*Func
	for i := 0; i < n && d.err == nil; i++ {
		start := d.off
		recLen := d.u32("record length")
		rec := d.take(int(recLen), "function record")
		if d.err != nil {
			break
		}
		fd := &decoder{b: b[:start+4+len(rec)], off: start + 4}
		f := fd.function(minLC)
		if fd.err == nil && fd.off != len(fd.b) {
			fd.fail("%d bytes after the record's contents", len(fd.b)-fd.off)
		}
		if fd.err != nil {
			return nil, bad("function %d %.200q: %v", i, f.Name, fd.err)
		}
		if err := f.validate(); err != nil {
			return nil, fmt.Errorf("%w (function %d, record at byte %#x)", err, i, start)
		}
		fs = append(fs, f)
	}
	if d.err == nil && d.off != len(b) {
		d.fail("%d bytes after the last function", len(b)-d.off)
	}
	if d.err != nil {
		return nil, bad("%v", d.err)
	}
	return fs, nil
}

// function reads one function record's contents.
func (d *decoder) function(minLC uint8) *Func {
	f := &Func{MinLC: minLC}
	f.Name = d.str("name", MaxName)
	f.Size = d.u32("size")
	f.Args = int32(d.u32("args"))
	f.DeferReturn = d.u32("deferreturn")
	f.StartLine = int32(d.u32("startLine"))
	f.FuncID = d.u8("funcID")
	f.Flag = d.u8("flag")
	npcdata := int(d.u8("npcdata"))
	nfuncdata := int(d.u8("nfuncdata"))
	if npcdata > MaxPCData || nfuncdata > MaxFuncData {
		d.fail("%d pcdata and %d funcdata, Go 1.25 has %d and %d", npcdata, nfuncdata, MaxPCData, MaxFuncData)
	}
	f.PCSP = d.bytes("pcsp", MaxTable)
	f.PCFile = d.bytes("pcfile", MaxTable)
	f.PCLn = d.bytes("pcln", MaxTable)
	if d.err == nil && npcdata > 0 {
		f.PCData = make([][]byte, npcdata)
		for i := range f.PCData {
			f.PCData[i] = d.bytes("pcdata", MaxTable)
		}
	}
	if nf := d.count("file count", MaxFiles, 4); nf > 0 {
		f.Files = make([]string, nf)
		for i := range f.Files {
			f.Files[i] = d.str("file name", MaxName)
		}
	}
	if d.err == nil && nfuncdata > 0 {
		f.FuncData = make([]FuncData, nfuncdata)
		for i := range f.FuncData {
			f.FuncData[i] = d.funcdata()
		}
	}
	return f
}

// funcdata reads one funcdata entry.
func (d *decoder) funcdata() FuncData {
	kind := FuncDataKind(d.u8("funcdata kind"))
	d.zero(3, "funcdata reserved bytes")
	n := d.u32("funcdata length")
	start := d.off
	body := d.take(int(n), "funcdata")
	if d.err != nil {
		return FuncData{}
	}
	bd := &decoder{b: d.b[:start+len(body)], off: start}
	fd := FuncData{Kind: kind}
	switch kind {
	case KindAbsent:
	case KindStackObjects:
		// An object is at least 16 bytes.
		if no := bd.count("stack object count", MaxStackObjects, 16); no > 0 {
			fd.StackObjects = make([]StackObject, no)
			for i := range fd.StackObjects {
				o := &fd.StackObjects[i]
				o.Off = int32(bd.u32("stack object offset"))
				o.Size = int32(bd.u32("stack object size"))
				o.PtrBytes = int32(bd.u32("stack object ptrBytes"))
				o.GCData = bd.bytes("stack object mask", MaxTable)
			}
		}
	case KindInlTree:
		// An inlined call is at least 16 bytes.
		if nc := bd.count("inlined call count", MaxInlTree, 16); nc > 0 {
			fd.InlTree = make([]InlinedCall, nc)
			for i := range fd.InlTree {
				c := &fd.InlTree[i]
				c.FuncID = bd.u8("inlined call funcID")
				bd.zero(3, "inlined call reserved bytes")
				c.ParentPC = int32(bd.u32("inlined call parentPC"))
				c.StartLine = int32(bd.u32("inlined call startLine"))
				c.Name = bd.str("inlined call name", MaxName)
			}
		}
	default:
		if len(body) > 0 {
			fd.Bytes = append([]byte(nil), body...)
		}
		bd.off = len(bd.b)
	}
	if bd.err == nil && bd.off != len(bd.b) {
		bd.fail("%d bytes after the %v funcdata", len(bd.b)-bd.off, kind)
	}
	if bd.err != nil {
		d.err = bd.err
	}
	return fd
}
