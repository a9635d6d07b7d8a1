// hotpatch/selfimage: the running image's own build-id and function symbols.
// SPDX-License-Identifier: BSD-3-Clause

package selfimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

var le = binary.LittleEndian

// testSyms is a small symbol table, deliberately not in name order.
func testSyms() []Sym {
	return []Sym{
		{"main.main", 0x1000_2000, 0x120, Func},
		{"runtime.morestack", 0x1000_0400, 0x60, Func},
		{"github.com/tamavisor/tamavisor/hv.(*VM).Run", 0x1000_3000, 0x800, Func},
		{"slices.Sort[go.shape.int]", 0x1000_0000, 0x400, Func},
		{"type:.eq.[2]interface {}", 0x1000_0460, 0x40, Func},
		{"ünïcode.λ", 0x1000_4000, 1, Func},
	}
}

var testID = []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14")

func mustEncode(t testing.TB, arch payload.Arch, id []byte, syms []Sym) []byte {
	t.Helper()
	b, err := Encode(uint16(arch), id, syms)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLayoutConstants(t *testing.T) {
	if want := len(Magic) + 4 + 2 + 2 + MaxBuildID + 4 + 4; HeaderSize != want {
		t.Errorf("HeaderSize %d, fields add up to %d", HeaderSize, want)
	}
	if want := binary.Size(struct {
		Addr, Size    uint64
		NameOff, NLen uint32
	}{}); RecordSize != want {
		t.Errorf("RecordSize %d, binary.Size %d", RecordSize, want)
	}
	if offStrSize+4 != HeaderSize || offBuildID+MaxBuildID != offNSyms {
		t.Error("header offsets do not tile the header")
	}
	if len(info) != InfoSize || string(info[:len(Magic)]) != Magic {
		t.Errorf("info: %d bytes starting %q", len(info), info[:len(Magic)])
	}
	if uint16(payload.ArchAMD64) != 62 || uint16(payload.ArchARM64) != 183 {
		t.Error("payload.Arch values are not the e_machine values doc.go gives")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, arch := range []payload.Arch{payload.ArchAMD64, payload.ArchARM64} {
		for _, id := range [][]byte{testID, {0xff}, bytes.Repeat([]byte{0xa5}, MaxBuildID)} {
			syms := testSyms()
			orig := slices.Clone(syms)
			b := mustEncode(t, arch, id, syms)
			if !reflect.DeepEqual(syms, orig) {
				t.Fatal("Encode modified its input")
			}
			// Parse takes the blob as Encode writes it and as it sits
			// in the image, zero-padded to InfoSize.
			padded := make([]byte, InfoSize)
			copy(padded, b)
			for _, blob := range [][]byte{b, padded} {
				img, err := Parse(blob)
				if err != nil {
					t.Fatalf("%v %x: %v", arch, id, err)
				}
				if img.Arch() != arch || !bytes.Equal(img.BuildID(), id) || img.Len() != len(syms) {
					t.Errorf("arch %v build-id %x len %d", img.Arch(), img.BuildID(), img.Len())
				}
				for _, s := range syms {
					addr, size, ok := img.Symbol(s.Name)
					if !ok || addr != s.Addr || size != s.Size {
						t.Errorf("Symbol(%q) = %#x, %#x, %v; want %#x, %#x", s.Name, addr, size, ok, s.Addr, s.Size)
					}
				}
				for _, name := range []string{"", "main", "main.mainx", "a", "\xff", "zzz", strings.Repeat("x", MaxName+1)} {
					if _, _, ok := img.Symbol(name); ok {
						t.Errorf("Symbol(%q) found", name)
					}
				}
				// The blob is canonical: re-encoding gives it back.
				if again := mustEncode(t, img.Arch(), img.BuildID(), img.syms()); !bytes.Equal(again, b) {
					t.Error("re-encoding the parsed image differs")
				}
				// The Image does not alias the blob.
				blob[HeaderSize] ^= 0xff
				blob[len(b)-1] ^= 0xff
				if addr, _, ok := img.Symbol(syms[0].Name); !ok || addr != syms[0].Addr {
					t.Error("Image aliases its blob")
				}
				blob[HeaderSize] ^= 0xff
				blob[len(b)-1] ^= 0xff
				id := img.BuildID()
				id[0] ^= 0xff
				if bytes.Equal(img.BuildID(), id) {
					t.Error("BuildID returns the Image's own slice")
				}
			}
		}
	}
}

func TestEncodeDeterministic(t *testing.T) {
	a := mustEncode(t, payload.ArchAMD64, testID, testSyms())
	rev := testSyms()
	slices.Reverse(rev)
	if b := mustEncode(t, payload.ArchAMD64, testID, rev); !bytes.Equal(a, b) {
		t.Error("the blob depends on the order of the symbols")
	}
	// Header and layout, checked field by field against doc.go.
	if string(a[:8]) != "TVHPINFO" || le.Uint32(a[8:]) != 2 || le.Uint16(a[12:]) != 62 || le.Uint16(a[14:]) != 20 ||
		!bytes.Equal(a[16:36], testID) || !allZero(a[36:80]) || le.Uint32(a[80:]) != 6 {
		t.Errorf("header % x", a[:88])
	}
	strsize := le.Uint32(a[84:])
	if len(a) != 88+6*24+int(strsize) {
		t.Errorf("blob of %d bytes, strsize %d", len(a), strsize)
	}
	// First record in name order: the hv method.
	r := a[88:]
	name := "github.com/tamavisor/tamavisor/hv.(*VM).Run"
	if le.Uint64(r) != 0x1000_3000 || le.Uint64(r[8:]) != 0x800 || le.Uint32(r[16:]) != 0 || le.Uint16(r[20:]) != uint16(len(name)) || r[22] != 1 || r[23] != 0 ||
		string(a[88+6*24:][:len(name)]) != name {
		t.Errorf("first record % x", r[:24])
	}
}

func TestEmptyTable(t *testing.T) {
	b := mustEncode(t, payload.ArchARM64, []byte{7}, nil)
	img, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if img.Len() != 0 {
		t.Errorf("Len %d", img.Len())
	}
	if _, _, ok := img.Symbol("x"); ok {
		t.Error("found a symbol in an empty table")
	}
	if _, _, ok := img.SymbolAt(0); ok {
		t.Error("SymbolAt found a symbol in an empty table")
	}
}

func TestSymbolAt(t *testing.T) {
	syms := append(testSyms(), Sym{"zero", 0x1000_5000, 0, Func}, Sym{"top", ^uint64(0) - 0x10, 0x10, Func})
	img, err := Parse(mustEncode(t, payload.ArchAMD64, testID, syms))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pc   uint64
		name string
		off  uint64
	}{
		{0x1000_0000, "slices.Sort[go.shape.int]", 0},
		{0x1000_03ff, "slices.Sort[go.shape.int]", 0x3ff},
		{0x1000_0400, "runtime.morestack", 0},
		{0x1000_045f, "runtime.morestack", 0x5f},
		{0x1000_0460, "type:.eq.[2]interface {}", 0},
		{0x1000_2011, "main.main", 0x11},
		{0x1000_37ff, "github.com/tamavisor/tamavisor/hv.(*VM).Run", 0x7ff},
		{0x1000_4000, "ünïcode.λ", 0},
		{^uint64(0) - 1, "top", 0xf},
		{0, "", 0},
		{0x0fff_ffff, "", 0},
		{0x1000_04a0, "", 0}, // gap after type:.eq
		{0x1000_2120, "", 0}, // just past main.main
		{0x1000_4001, "", 0},
		{0x1000_5000, "", 0}, // size 0 holds nothing
		{^uint64(0), "", 0},
	} {
		name, off, ok := img.SymbolAt(c.pc)
		if name != c.name || off != c.off || ok != (c.name != "") {
			t.Errorf("SymbolAt(%#x) = %q+%#x %v, want %q+%#x", c.pc, name, off, ok, c.name, c.off)
		}
	}
}

func TestSymbolDoesNotAllocate(t *testing.T) {
	img, err := Parse(mustEncode(t, payload.ArchAMD64, testID, testSyms()))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		img.Symbol("main.main")
		img.Symbol("missing")
		img.SymbolAt(0x1000_2000)
	}); n != 0 {
		t.Errorf("%v allocations per lookup", n)
	}
}

func TestEncodeRefusals(t *testing.T) {
	long := strings.Repeat("n", MaxName)
	many := make([]Sym, MaxSyms+1)
	for i := range many {
		many[i] = Sym{Name: fmt.Sprint(i), Kind: Object}
	}
	// Few enough symbols, but their names do not fit.
	big := make([]Sym, (InfoSize-HeaderSize)/(RecordSize+MaxName)+1)
	for i := range big {
		big[i] = Sym{Name: fmt.Sprintf("%0*d", MaxName, i), Kind: Func}
	}
	for _, c := range []struct {
		name string
		arch payload.Arch
		id   []byte
		syms []Sym
	}{
		{"unknown arch", payload.Arch(3), testID, testSyms()},
		{"arch zero", 0, testID, testSyms()},
		{"no build-id", payload.ArchAMD64, nil, testSyms()},
		{"build-id too long", payload.ArchAMD64, make([]byte, MaxBuildID+1), testSyms()},
		{"duplicate name", payload.ArchAMD64, testID, append(testSyms(), Sym{"main.main", 1, 1, Func})},
		{"duplicate same symbol", payload.ArchAMD64, testID, append(testSyms(), testSyms()[0])},
		{"empty name", payload.ArchAMD64, testID, append(testSyms(), Sym{"", 1, 1, Func})},
		{"name too long", payload.ArchAMD64, testID, []Sym{{long + "x", 1, 1, Func}}},
		{"NUL in name", payload.ArchAMD64, testID, []Sym{{"a\x00b", 1, 1, Func}}},
		{"control byte in name", payload.ArchAMD64, testID, []Sym{{"a\nb", 1, 1, Func}}},
		{"not UTF-8", payload.ArchAMD64, testID, []Sym{{"a\xffb", 1, 1, Func}}},
		{"wraps", payload.ArchAMD64, testID, []Sym{{"w", ^uint64(0), 2, Func}}},
		{"too many", payload.ArchAMD64, testID, many},
		{"too big", payload.ArchAMD64, testID, big},
	} {
		if _, err := Encode(uint16(c.arch), c.id, c.syms); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", c.name, err)
		}
	}
	// The limits themselves are accepted.
	if _, err := Encode(uint16(payload.ArchAMD64), testID, []Sym{{long, 1, 1, Func}, {"t", ^uint64(0) - 1, 1, Func}}); err != nil {
		t.Errorf("name of MaxName bytes, symbol ending at 2^64-1: %v", err)
	}
	fit := big[:len(big)-1]
	b, err := Encode(uint16(payload.ArchAMD64), make([]byte, MaxBuildID), fit)
	if err != nil {
		t.Fatalf("%d symbols of %d bytes: %v", len(fit), MaxName, err)
	}
	if _, err := Parse(b); err != nil || len(b) > InfoSize {
		t.Errorf("largest blob (%d bytes): %v", len(b), err)
	}
}

func TestNotPostLinked(t *testing.T) {
	for _, n := range []int{len(Magic), len(Magic) + 1, HeaderSize - 1, HeaderSize, InfoSize} {
		b := make([]byte, n)
		copy(b, Magic)
		if _, err := Parse(b); !errors.Is(err, ErrNotPostLinked) || errors.Is(err, ErrFormat) {
			t.Errorf("bare magic in %d bytes: %v", n, err)
		}
	}
	if _, err := Parse(info[:]); !errors.Is(err, ErrNotPostLinked) {
		t.Errorf("info: %v", err)
	}
	if img, err := Self(); img != nil || !errors.Is(err, ErrNotPostLinked) {
		t.Errorf("Self() = %v, %v in a test binary", img, err)
	}
}

// TestParseRefusals corrupts a valid blob field by field.
func TestParseRefusals(t *testing.T) {
	good := mustEncode(t, payload.ArchAMD64, testID, testSyms())
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
	n := len(testSyms())
	strStart := HeaderSize + n*RecordSize
	rec := func(i, field int) int { return HeaderSize + i*RecordSize + field }
	set32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint32(b[off:], v); return b }
	}
	set16 := func(off int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint16(b[off:], v); return b }
	}
	set64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint64(b[off:], v); return b }
	}
	for _, c := range []struct {
		name    string
		corrupt func([]byte) []byte
		want    error
	}{
		{"empty", func([]byte) []byte { return nil }, ErrFormat},
		{"short magic", func(b []byte) []byte { return b[:5] }, ErrFormat},
		{"bad magic", func(b []byte) []byte { b[0] = 't'; return b }, ErrFormat},
		{"magic then garbage", func(b []byte) []byte { return append([]byte(Magic), 1) }, ErrFormat},
		{"truncated header", func(b []byte) []byte { return b[:HeaderSize-1] }, ErrFormat},
		{"truncated records", func(b []byte) []byte { return b[:strStart-1] }, ErrFormat},
		{"truncated strtab", func(b []byte) []byte { return b[:len(b)-1] }, ErrFormat},
		{"longer than InfoSize", func(b []byte) []byte { return append(b, make([]byte, InfoSize)...) }, ErrFormat},
		{"version 0", set32(offVersion, 0), ErrVersion},
		{"version 1", set32(offVersion, 1), ErrVersion},
		{"version 3", set32(offVersion, 3), ErrVersion},
		{"kind 0", func(b []byte) []byte { b[HeaderSize+recKind] = 0; return b }, ErrFormat},
		{"kind 3", func(b []byte) []byte { b[HeaderSize+recKind] = 3; return b }, ErrFormat},
		{"kind reserved byte", func(b []byte) []byte { b[HeaderSize+recKind+1] = 1; return b }, ErrFormat},
		{"unknown arch", set16(offArch, 3), ErrFormat},
		{"build-id length 0", set16(offBuildIDLn, 0), ErrFormat},
		{"build-id length 65", set16(offBuildIDLn, MaxBuildID+1), ErrFormat},
		{"build-id padding", func(b []byte) []byte { b[offBuildID+len(testID)] = 1; return b }, ErrFormat},
		{"nsyms huge", set32(offNSyms, ^uint32(0)), ErrFormat},
		{"nsyms too many", set32(offNSyms, MaxSyms+1), ErrFormat},
		{"nsyms one more", set32(offNSyms, uint32(n+1)), ErrFormat},
		{"nsyms one less", set32(offNSyms, uint32(n-1)), ErrFormat},
		{"strsize huge", set32(offStrSize, ^uint32(0)), ErrFormat},
		{"strsize one less", func(b []byte) []byte {
			le.PutUint32(b[offStrSize:], le.Uint32(b[offStrSize:])-1)
			return b
		}, ErrFormat},
		{"trailing garbage", func(b []byte) []byte { return append(b, 0, 0, 1) }, ErrFormat},
		{"name offset outside", set32(rec(n-1, recNameOff), 1<<20), ErrFormat},
		{"name length outside", set16(rec(n-1, recNameLen), MaxName), ErrFormat},
		{"name offset not in order", set32(rec(1, recNameOff), 0), ErrFormat},
		{"empty name", func(b []byte) []byte {
			// Move record 0's bytes to record 1 so the offsets still add up.
			l := le.Uint16(b[rec(0, recNameLen):])
			le.PutUint16(b[rec(0, recNameLen):], 0)
			le.PutUint32(b[rec(1, recNameOff):], 0)
			le.PutUint16(b[rec(1, recNameLen):], le.Uint16(b[rec(1, recNameLen):])+l)
			return b
		}, ErrFormat},
		{"unsorted", func(b []byte) []byte { return swapRecords(b, 0, 1) }, ErrFormat},
		{"duplicate name", func(b []byte) []byte {
			bb := mustEncode(t, payload.ArchAMD64, testID, []Sym{{"aa", 1, 1, Func}, {"ab", 2, 2, Func}})
			bb[len(bb)-1] = 'a'
			return bb
		}, ErrFormat},
		{"control byte in name", func(b []byte) []byte { b[strStart] = '\n'; return b }, ErrFormat},
		{"NUL in name", func(b []byte) []byte { b[strStart+1] = 0; return b }, ErrFormat},
		{"name not UTF-8", func(b []byte) []byte { b[len(b)-1] = 0xff; return b }, ErrFormat},
		{"symbol wraps", set64(rec(0, recSize), ^uint64(0)), ErrFormat},
	} {
		b := c.corrupt(bytes.Clone(good))
		img, err := Parse(b)
		if img != nil || !errors.Is(err, c.want) || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, %v; want %v", c.name, img, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "selfimage: ") {
			t.Errorf("%s: message %q", c.name, err)
		}
	}
}

// swapRecords swaps two records and their names, keeping the string table
// in record order, so only the sort order is wrong.
func swapRecords(b []byte, i, j int) []byte {
	img, err := Parse(b)
	if err != nil {
		panic(err)
	}
	syms := img.syms()
	syms[i], syms[j] = syms[j], syms[i]
	out := b[:HeaderSize]
	var off uint32
	for _, s := range syms {
		out = le.AppendUint64(out, s.Addr)
		out = le.AppendUint64(out, s.Size)
		out = le.AppendUint32(out, off)
		out = le.AppendUint32(out, uint32(len(s.Name)))
		off += uint32(len(s.Name))
	}
	for _, s := range syms {
		out = append(out, s.Name...)
	}
	return out
}
