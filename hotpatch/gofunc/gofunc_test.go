// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// pcv is one pc-value table entry for pctable: value val up to offset end.
type pcv struct {
	val int32
	end uint32
}

// pctable encodes a pc-value table as the Go toolchain does
// (cmd/internal/obj/pcln.go funcpctab): per entry the zigzag value delta
// and the pc delta in quanta as uvarints, then a 0 byte.
func pctable(quantum uint32, es ...pcv) []byte {
	var b []byte
	val, pc := int32(-1), uint32(0)
	for _, e := range es {
		d := e.val - val
		b = binary.AppendUvarint(b, uint64(uint32(d<<1)^uint32(d>>31)))
		b = binary.AppendUvarint(b, uint64((e.end-pc)/quantum))
		val, pc = e.val, e.end
	}
	return append(b, 0)
}

func stackmap(n, nbit int32, bits ...byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, uint32(nbit))
	return append(b, bits...)
}

// synthFunc is a hand-made function of 0x40 bytes of code using every
// table and funcdata kind, its PCs scaled by the quantum q.
func synthFunc(name string, q uint8) *Func {
	u := uint32(q)
	return &Func{
		Name: name, MinLC: q, Size: 0x40 * u, Args: 24, DeferReturn: 0x30 * u, StartLine: 100, FuncID: 0, Flag: FuncFlagSPWrite,
		PCSP:   pctable(u, pcv{0, 4 * u}, pcv{40, 0x34 * u}, pcv{0, 0x38 * u}),
		PCFile: pctable(u, pcv{0, 0x10 * u}, pcv{2, 0x18 * u}, pcv{0, 0x38 * u}),
		PCLn:   pctable(u, pcv{100, 4 * u}, pcv{101, 0x10 * u}, pcv{7, 0x14 * u}, pcv{8, 0x18 * u}, pcv{105, 0x38 * u}),
		PCData: [][]byte{
			pctable(u, pcv{-2, 4 * u}, pcv{-1, 0x38 * u}),
			pctable(u, pcv{0, 0x20 * u}, pcv{1, 0x38 * u}),
			pctable(u, pcv{-1, 0x10 * u}, pcv{0, 0x14 * u}, pcv{1, 0x18 * u}, pcv{-1, 0x38 * u}),
			nil,
		},
		Files: []string{"a/x.go", "", "b/inl.go"},
		FuncData: []FuncData{
			{Kind: KindArgsPointerMaps, Bytes: stackmap(2, 3, 0x5, 0x1)},
			{Kind: KindLocalsPointerMaps, Bytes: stackmap(2, 10, 0xff, 0x03, 0x00, 0x02)},
			{Kind: KindStackObjects, StackObjects: []StackObject{
				{Off: -64, Size: 64, PtrBytes: 56, GCData: []byte{0x7f}},
				{Off: -80, Size: 16, PtrBytes: 0},
			}},
			{Kind: KindInlTree, InlTree: []InlinedCall{
				{FuncID: 0, Name: "pkg.outer", ParentPC: int32(0xc * u), StartLine: 5},
				{FuncID: 0, Name: "pkg.inner", ParentPC: int32(0x10 * u), StartLine: 6},
			}},
			{Kind: KindOpenCodedDeferInfo, Bytes: []byte{0x18, 0x90, 0x01}},
			{Kind: KindArgInfo, Bytes: []byte{0x00, 0x08, TraceArgsStartAgg, 0x08, 0x08, 0x10, 0x08, TraceArgsEndAgg, TraceArgsDotdotdot, TraceArgsEndSeq}},
			{},
		},
	}
}

// synthFuncs is a small payload's worth of functions: the full one and a
// bare leaf.
func synthFuncs(q uint8) []*Func {
	leaf := &Func{Name: "pkg.leaf", MinLC: q, Size: 0x10 * uint32(q), Args: ArgsSizeUnknown, Flag: FuncFlagAsm,
		PCSP: pctable(uint32(q), pcv{0, 0x8 * uint32(q)})}
	return []*Func{synthFunc("pkg.full", q), leaf}
}

func mustEncode(t testing.TB, fs []*Func) []byte {
	t.Helper()
	b, err := Encode(fs)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

// TestSynthetic carries the hand-made functions through Encode, Decode
// and Build and reads the tables back with the test reader, checking the
// values the runtime would see against the hand-made ones.
func TestSynthetic(t *testing.T) {
	for _, q := range []uint8{MinLCAMD64, MinLCARM64} {
		fs := synthFuncs(q)
		enc := mustEncode(t, fs)
		dec, err := Decode(enc)
		if err != nil {
			t.Fatalf("q=%d: Decode: %v", q, err)
		}
		if !reflect.DeepEqual(dec, fs) {
			t.Fatalf("q=%d: Decode(Encode) =\n%+v\nwant\n%+v", q, dec[0], fs[0])
		}
		u := uint32(q)
		offsets := []uint32{0x100, 0x100 + 0x60*u}
		textSize := offsets[1] + 0x10*u + 8*u
		tb, err := Build(dec, offsets, textSize)
		if err != nil {
			t.Fatalf("q=%d: Build: %v", q, err)
		}
		m := builtModule(t, tb, 0x4000_0000, 0x5000_0000)
		if m.findfunctab == nil || len(tb.Ftab) != 3 || tb.Ftab[2] != (Functab{textSize, 0}) {
			t.Fatalf("q=%d: ftab %+v", q, tb.Ftab)
		}
		for pc := m.text; pc < m.text+uint64(textSize); pc++ { // before the first entry: the first function
			want := 0
			if pc >= m.text+uint64(offsets[1]) {
				want = 1
			}
			if k, err := m.findfunc(pc); err != nil || k != want {
				t.Fatalf("q=%d: findfunc(text+%#x) = %d %v, want %d", q, pc-m.text, k, err, want)
			}
		}
		if _, err := m.findfunc(m.text - 1); err == nil {
			t.Errorf("q=%d: findfunc before the text resolved", q)
		}
		// The functions may come in any order; the tables list them by
		// entry.
		tb2, err := Build([]*Func{dec[1], dec[0]}, []uint32{offsets[1], offsets[0]}, textSize)
		if err != nil || !reflect.DeepEqual(tb, tb2) {
			t.Errorf("q=%d: Build of the functions in reverse order: %v", q, err)
		}
		f, err := m.funcAt(0)
		if err != nil {
			t.Fatal(err)
		}
		fv, err := m.expand(f, 0x40*u)
		if err != nil {
			t.Fatal(err)
		}
		at := func(off uint32) uint32 { return off * u }
		for _, c := range []struct {
			off             uint32
			sp, line, unsaf int32
			file            string
		}{
			{0, 0, 100, -2, "a/x.go"},
			{5, 40, 101, -1, "a/x.go"},
			{0x11, 40, 7, -1, "b/inl.go"},
			{0x37, 0, 105, -1, "a/x.go"},
			{0x38, -1, -1, -1, "?"}, // padding: no table covers it
		} {
			if fv.sp[at(c.off)] != c.sp || fv.line[at(c.off)] != c.line || fv.pcdata[0][at(c.off)] != c.unsaf {
				t.Errorf("q=%d +%#x: sp %d line %d unsafe %d", q, c.off, fv.sp[at(c.off)], fv.line[at(c.off)], fv.pcdata[0][at(c.off)])
			}
			if got := m.funcfile(f, fv.file[at(c.off)]); got != c.file {
				t.Errorf("q=%d +%#x: file %q, want %q", q, c.off, got, c.file)
			}
		}
		if fv.pcdata[PCDATA_ArgLiveIndex][0] != -1 {
			t.Errorf("q=%d: ArgLiveIndex table present", q)
		}
		got, err := m.inlineStack(f, fv, at(0x15))
		want := "[pkg.inner id 0 start 6 at b/inl.go:8] [pkg.outer id 0 start 5 at b/inl.go:7] [physical frame at a/x.go:101]"
		if err != nil || got != want {
			t.Errorf("q=%d: inline frames\n%s %v\nwant\n%s", q, got, err, want)
		}
		for i, want := range []string{
			"stackmap 02 00 00 00 03 00 00 00 05 01",
			"stackmap 02 00 00 00 0a 00 00 00 ff 03 00 02",
			"2 objects; off -64 size 64 ptrBytes 56 mask 7f; off -80 size 16 ptrBytes 0 mask ",
			"inltree",
			"deferBits 24 slots 144",
			"arginfo 00 08 fe 08 08 10 08 fd fc ff",
			"",
		} {
			if got, err := m.funcdataContents(f, i); err != nil || got != want {
				t.Errorf("q=%d: funcdata %d = %q %v, want %q", q, i, got, err, want)
			}
		}
		if m.funcname(f.nameOff) != "pkg.full" || f.args != 24 || f.deferreturn != 0x30*u || f.startLine != 100 || f.flag != FuncFlagSPWrite {
			t.Errorf("q=%d: _func %+v", q, f)
		}
		if le := binary.LittleEndian; tb.PCHeader[6] != q || le.Uint64(tb.PCHeader[16:]) != 2 || le.Uint64(tb.PCHeader[24:]) != 0 {
			t.Errorf("q=%d: pcHeader % x", q, tb.PCHeader)
		}
		if len(tb.Pclntable)%4 != 0 || tb.Pctab[0] != 0 || tb.Funcnametab[0] != 0 {
			t.Errorf("q=%d: table layout", q)
		}
	}
}

// TestFuncRefused checks the rules of validate through Encode (and the
// same Func written by hand through Decode would be refused alike, as
// Decode calls validate).
func TestFuncRefused(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(f *Func)
		err    error
		sub    string
	}{
		{"empty name", func(f *Func) { f.Name = "" }, ErrFormat, "name of 0 bytes"},
		{"NUL in name", func(f *Func) { f.Name = "a\x00b" }, ErrFormat, "NUL"},
		{"bad MinLC", func(f *Func) { f.MinLC = 2 }, ErrFormat, "MinLC 2"},
		{"negative args", func(f *Func) { f.Args = -8 }, ErrFormat, "args -8"},
		{"deferreturn outside", func(f *Func) { f.DeferReturn = f.Size }, ErrFormat, "deferreturn"},
		{"unknown flag", func(f *Func) { f.Flag = 0x80 }, ErrFormat, "flag bits"},
		{"table without terminator", func(f *Func) { f.PCSP = f.PCSP[:len(f.PCSP)-1] }, ErrFormat, "pcsp table: no terminator"},
		{"bytes after terminator", func(f *Func) { f.PCLn = append(f.PCLn, 0) }, ErrFormat, "after the terminator"},
		{"table past size", func(f *Func) { f.Size = 0x34 * uint32(f.MinLC) }, ErrFormat, "past the function"},
		{"overlong varint", func(f *Func) { f.PCSP = []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01, 0} }, ErrFormat, "bad value delta"},
		{"pcfile beyond files", func(f *Func) { f.Files = f.Files[:2] }, ErrFormat, "pcfile values 0..2, have 2 files"},
		{"too many pcdata", func(f *Func) { f.PCData = append(f.PCData, nil) }, ErrUnsupported, "5 pcdata tables"},
		{"ArgLiveIndex kept", func(f *Func) { f.PCData[PCDATA_ArgLiveIndex] = f.PCData[0] }, ErrFormat, "ArgLiveIndex"},
		{"WrapInfo", func(f *Func) {
			f.FuncData = append(f.FuncData, FuncData{Kind: FuncDataKind(FUNCDATA_WrapInfo + 1), Bytes: []byte{1, 2, 3, 4}})
		}, ErrUnsupported, "WrapInfo"},
		{"too many funcdata", func(f *Func) { f.FuncData = append(f.FuncData, FuncData{}, FuncData{}) }, ErrUnsupported, "9 funcdata"},
		{"ArgLiveInfo kept", func(f *Func) { f.FuncData[FUNCDATA_ArgLiveInfo] = FuncData{Kind: 7, Bytes: []byte{1}} }, ErrUnsupported, "ArgLiveInfo"},
		{"kind at wrong index", func(f *Func) { f.FuncData[0].Kind = KindLocalsPointerMaps }, ErrFormat, "kind LocalsPointerMaps at index 0"},
		{"absent with contents", func(f *Func) { f.FuncData[6].Bytes = []byte{1} }, ErrFormat, "absent funcdata with contents"},
		{"stackmap short", func(f *Func) { f.FuncData[0].Bytes = f.FuncData[0].Bytes[:9] }, ErrFormat, "9 bytes, its contents say 10"},
		{"stackmap index beyond maps", func(f *Func) { f.FuncData[0].Bytes = stackmap(1, 3, 0x5) }, ErrFormat, "StackMapIndex value 1"},
		{"stack object mask", func(f *Func) { f.FuncData[2].StackObjects[0].GCData = nil }, ErrFormat, "mask of 0 bytes for 56"},
		{"stack object ptrBytes", func(f *Func) { f.FuncData[2].StackObjects[1].PtrBytes = 24 }, ErrFormat, "size 16 ptrBytes 24"},
		{"no stack objects", func(f *Func) { f.FuncData[2].StackObjects = nil }, ErrFormat, "0 stack objects"},
		{"inline tree short", func(f *Func) { f.FuncData[3].InlTree = f.FuncData[3].InlTree[:1] }, ErrFormat, "inline tree of 1 entries"},
		{"inline tree unused", func(f *Func) { f.PCData[PCDATA_InlTreeIndex] = nil }, ErrFormat, "no InlTreeIndex value uses it"},
		{"parent pc outside", func(f *Func) { f.FuncData[3].InlTree[1].ParentPC = int32(f.Size) }, ErrFormat, "parent pc"},
		{"defer without deferreturn", func(f *Func) { f.DeferReturn = 0 }, ErrFormat, "without deferreturn"},
		{"defer info trailing", func(f *Func) { f.FuncData[4].Bytes = append(f.FuncData[4].Bytes, 1) }, ErrFormat, "4 bytes, its contents say 3"},
		{"arg info unterminated", func(f *Func) { f.FuncData[5].Bytes = []byte{0, 8} }, ErrFormat, "no end marker"},
	}
	for _, c := range cases {
		f := synthFunc("pkg.f", MinLCARM64)
		c.mutate(f)
		_, err := Encode([]*Func{f})
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.sub) || !strings.Contains(err.Error(), strconv.Quote(f.Name)) {
			t.Errorf("%s: %v, want %v mentioning %q and the function", c.name, err, c.err, c.sub)
		}
		if _, err := Build([]*Func{f}, []uint32{0}, f.Size); !errors.Is(err, c.err) {
			t.Errorf("%s: Build: %v, want %v", c.name, err, c.err)
		}
	}
	a, b := synthFunc("a", MinLCAMD64), synthFunc("b", MinLCARM64)
	if _, err := Encode([]*Func{a, b}); !errors.Is(err, ErrFormat) {
		t.Errorf("mixed MinLC: %v", err)
	}
	if _, err := Encode(nil); !errors.Is(err, ErrFormat) {
		t.Errorf("no functions: %v", err)
	}
	if _, err := Encode([]*Func{nil}); !errors.Is(err, ErrFormat) {
		t.Errorf("nil function: %v", err)
	}
}

// TestBuildLayout checks Build's layout refusals and that findfunc
// never leaves the tables, for the densest layouts.
func TestBuildLayout(t *testing.T) {
	f := synthFuncs(MinLCARM64)
	s0, s1 := f[0].Size, f[1].Size
	for _, c := range []struct {
		name     string
		fs       []*Func
		offsets  []uint32
		textSize uint32
		sub      string
	}{
		{"no functions", nil, nil, 16, "0 functions"},
		{"offset count", f, []uint32{0}, 0x1000, "1 offsets for 2"},
		{"overlap", f, []uint32{0, s0 - 4}, 0x1000, "does not fit before"},
		{"overlap in reverse order", f, []uint32{s1 - 4, 0}, 0x1000, "does not fit before"},
		{"past text", f, []uint32{0, s0}, s0 + s1 - 4, "does not fit before"},
		{"misaligned", f, []uint32{2, s0 + 4}, 0x1000, "PC quantum 4"},
		{"text too big", f, []uint32{0, s0}, MaxFuncSize + 1, "over MaxFuncSize"},
		{"mixed MinLC", []*Func{f[0], synthFuncs(MinLCAMD64)[1]}, []uint32{0, s0}, 0x1000, "MinLC"},
		{"no code", []*Func{f[0], {Name: "z", MinLC: 4}}, []uint32{0, s0}, 0x1000, "no code"},
	} {
		if _, err := Build(c.fs, c.offsets, c.textSize); !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), c.sub) {
			t.Errorf("%s: %v, want ErrLayout %q", c.name, err, c.sub)
		}
	}

	// 300 four-byte functions back to back: more than 256 in one
	// findfunc bucket is refused, as the linker refuses it.
	tiny := func(n int) ([]*Func, []uint32) {
		var fs []*Func
		var offs []uint32
		for i := 0; i < n; i++ {
			fs = append(fs, &Func{Name: "t" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), MinLC: 4, Size: 4})
			offs = append(offs, uint32(4*i))
		}
		return fs, offs
	}
	fs, offs := tiny(300)
	if _, err := Build(fs, offs, 4*300); !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "findfunc bucket") {
		t.Errorf("300 functions in a bucket: %v", err)
	}
	// 256 of them fit, and every PC resolves.
	fs, offs = tiny(256)
	tb, err := Build(fs, offs, 4*256+4096)
	if err != nil {
		t.Fatalf("256 functions in a bucket: %v", err)
	}
	m := builtModule(t, tb, 0x10000, 0x20000)
	for pc := m.minpc; pc < m.maxpc; pc++ {
		k, err := m.findfunc(pc)
		want := int(pc-m.text) / 4
		if want > 255 {
			want = 255 // the last function's padding
		}
		if err != nil || k != want {
			t.Fatalf("findfunc(text+%#x) = %d %v, want %d", pc-m.text, k, err, want)
		}
	}
}

// TestDecodeRefused checks the encoding's own refusals.
func TestDecodeRefused(t *testing.T) {
	good := mustEncode(t, synthFuncs(MinLCAMD64))
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	le := binary.LittleEndian
	for _, c := range []struct {
		name string
		b    []byte
		sub  string
	}{
		{"empty", nil, "no \"TVGOFUNC\" header"},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), "header"},
		{"version 2", mod(func(b []byte) []byte { b[8] = 2; return b }), "version 2"},
		{"minLC 3", mod(func(b []byte) []byte { b[10] = 3; return b }), "minLC 3"},
		{"ptrSize 4", mod(func(b []byte) []byte { b[11] = 4; return b }), "ptrSize 4"},
		{"no functions", mod(func(b []byte) []byte { le.PutUint32(b[12:], 0); return b[:16] }), "no functions"},
		{"count over limit", mod(func(b []byte) []byte { le.PutUint32(b[12:], 1<<20); return b }), "function count 1048576"},
		{"trailing byte", append(bytes.Clone(good), 0), "after the last function"},
		{"record too long", mod(func(b []byte) []byte { le.PutUint32(b[16:], le.Uint32(b[16:])+1); return b }), "after the record's contents"},
		{"reserved byte", mod(func(b []byte) []byte {
			// The first funcdata header follows the files of function 0.
			i := bytes.Index(b, []byte{byte(KindArgsPointerMaps), 0, 0, 0, 10, 0, 0, 0})
			b[i+1] = 1
			return b
		}), "reserved bytes not zero"},
	} {
		fs, err := Decode(c.b)
		if fs != nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.sub) {
			t.Errorf("%s: %v, want ErrFormat %q", c.name, err, c.sub)
		}
	}
	for n := 0; n < len(good); n++ {
		if _, err := Decode(good[:n]); err == nil {
			t.Fatalf("Decode of the first %d of %d bytes succeeded", n, len(good))
		}
	}
}

// TestDecodeAllocates checks the allocation bound of Decode on its
// worst input shapes: many minimal functions with every funcdata
// absent, and the seeds.
func TestDecodeAllocates(t *testing.T) {
	var fs []*Func
	for i := 0; i < MaxFuncs; i++ {
		fs = append(fs, &Func{Name: "f", MinLC: 1, FuncData: make([]FuncData, FUNCDATA_ArgLiveInfo+1), PCData: make([][]byte, MaxPCData)})
	}
	inputs := [][]byte{mustEncode(t, fs), mustEncode(t, synthFuncs(MinLCARM64))}
	for _, b := range inputs {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := Decode(b); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		got := after.TotalAlloc - before.TotalAlloc
		if got > 16*uint64(len(b))+64<<10 {
			t.Errorf("Decode of %d bytes allocated %d bytes (%.1f×)", len(b), got, float64(got)/float64(len(b)))
		}
		t.Logf("Decode of %d bytes allocated %d bytes (%.1f×)", len(b), got, float64(got)/float64(len(b)))
	}
}
