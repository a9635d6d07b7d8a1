// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tamagoGo returns the TamaGo go command ($TAMAGO, or the toolchain the
// Makefile installs), skipping the test if it is absent unless
// TAMAVISOR_REQUIRE_TOOLCHAIN=1.
func tamagoGo(t *testing.T) string {
	t.Helper()
	p := os.Getenv("TAMAGO")
	if p == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(home, ".cache", "tamago-go", "tamago-go1.25.7", "bin", "go")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("TAMAVISOR_REQUIRE_TOOLCHAIN") == "1" {
			t.Fatalf("TamaGo toolchain required (TAMAVISOR_REQUIRE_TOOLCHAIN=1): %v", err)
		}
		t.Skipf("TamaGo toolchain not installed (%v): set TAMAGO or run make deps", err)
	}
	return p
}

// buildFixture compiles testdata/fixture for linux/goarch with the
// TamaGo toolchain (Go 1.25) and returns the executable.
func buildFixture(t *testing.T, goarch string) []byte {
	t.Helper()
	gobin := tamagoGo(t)
	out := filepath.Join(t.TempDir(), "fixture")
	cmd := exec.Command(gobin, "build", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "fixture")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GOROOT=") && !strings.HasPrefix(e, "GOFLAGS=") && !strings.HasPrefix(e, "GOOS=") && !strings.HasPrefix(e, "GOARCH=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s build for linux/%s: %v\n%s", gobin, goarch, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageFuncs returns every function of im that Func can carry, with its
// ftab index, and counts those refused with ErrUnsupported. Any other
// error fails t.
func imageFuncs(t *testing.T, im *Image) (fs []*Func, idx []int, unsupported int) {
	t.Helper()
	for i, name := range im.Funcs() {
		f, err := im.FuncAt(i)
		switch {
		case errors.Is(err, ErrUnsupported):
			unsupported++
			continue
		case err != nil:
			t.Fatalf("FuncAt(%d) %s: %v", i, name, err)
		}
		if g, err := im.Func(name); err == nil && !reflect.DeepEqual(g, f) {
			t.Fatalf("Func(%q) and FuncAt(%d) differ", name, i)
		}
		fs = append(fs, f)
		idx = append(idx, i)
	}
	return fs, idx, unsupported
}

// checkImage runs the whole chain on an ELF image: Open, Func for every
// function, Encode, Decode, Build at new offsets, and the independent
// reader's comparison of the original and rebuilt metadata at every PC.
func checkImage(t *testing.T, elfFile []byte) (fs []*Func) {
	im, err := Open(elfFile)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	fs, idx, unsupported := imageFuncs(t, im)
	t.Logf("%d functions: %d carried, %d refused with ErrUnsupported", len(im.Funcs()), len(fs), unsupported)

	enc, err := Encode(fs)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	dec, err := Decode(enc)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(dec, fs) {
		for i := range fs {
			if !reflect.DeepEqual(dec[i], fs[i]) {
				t.Fatalf("Decode(Encode) differs at function %d %s:\n%+v\nwant\n%+v", i, fs[i].Name, dec[i], fs[i])
			}
		}
		t.Fatal("Decode(Encode) differs")
	}
	if enc2, _ := Encode(dec); !bytes.Equal(enc, enc2) {
		t.Fatal("Encode is not deterministic")
	}
	t.Logf("encoding: %d bytes", len(enc))

	// Lay the functions out anew: a first entry away from the text
	// start, gaps of 0, 24 and 48 bytes after the code (as padding),
	// entries aligned to 32.
	var bfs []*Func
	var bidx []int
	var offsets []uint32
	cur := uint32(64)
	for k, f := range dec {
		if f.Size == 0 {
			continue
		}
		off := (cur + 31) &^ 31
		offsets = append(offsets, off)
		bfs = append(bfs, f)
		bidx = append(bidx, idx[k])
		cur = off + f.Size + uint32(len(bfs)%3)*24
	}
	textSize := cur + 40
	tb, err := Build(bfs, offsets, textSize)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("tables: funcnametab %d cutab %d filetab %d pctab %d pclntable %d findfunctab %d gofunc %d bytes",
		len(tb.Funcnametab), 4*len(tb.Cutab), len(tb.Filetab), len(tb.Pctab), len(tb.Pclntable), len(tb.Findfunctab), len(tb.Gofunc))
	orig := elfModule(t, elfFile)
	built := builtModule(t, tb, 0x7_0000_0000, 0x9_0000_0000)
	compareModules(t, orig, bidx, built, bfs)
	return fs
}

// compareModules checks that, for every function fs[k] (ftab index
// origIdx[k] in orig and k in built), the runtime would see the same
// metadata at every PC offset in both modules, and that findfunc
// resolves every PC of built's text, padding included.
func compareModules(t *testing.T, orig *module, origIdx []int, built *module, fs []*Func) {
	t.Helper()
	nerr := 0
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf(format, a...)
		if nerr++; nerr > 20 {
			t.FailNow()
		}
	}
	// findfunc over the whole built text.
	for pc := built.minpc; pc < built.maxpc; pc++ {
		k, err := built.findfunc(pc)
		if err != nil {
			fail("built findfunc: %v", err)
			continue
		}
		off := uint32(pc - built.text)
		if (off < built.ftab[k].Entryoff && k != 0) || off >= built.ftab[k+1].Entryoff {
			fail("built findfunc(text+%#x) = %d [%#x, %#x)", off, k, built.ftab[k].Entryoff, built.ftab[k+1].Entryoff)
		}
	}
	for _, pc := range []uint64{built.minpc - 1, built.maxpc} {
		if _, err := built.findfunc(pc); err == nil {
			fail("built findfunc(%#x) outside the module resolved", pc)
		}
	}
	for k, f := range fs {
		of, err := orig.funcAt(origIdx[k])
		if err != nil {
			fail("%s: original: %v", f.Name, err)
			continue
		}
		bf, err := built.funcAt(k)
		if err != nil {
			fail("%s: built: %v", f.Name, err)
			continue
		}
		oname, _ := cstringT(orig.funcnametab, of.nameOff)
		if oname != f.Name || built.funcname(bf.nameOff) != f.Name {
			fail("%s: names %q (original), %q (built)", f.Name, oname, built.funcname(bf.nameOff))
		}
		ofields := []any{of.args, of.deferreturn, of.startLine, of.funcID, of.flag, of.npcdata, of.nfuncdata}
		bfields := []any{bf.args, bf.deferreturn, bf.startLine, bf.funcID, bf.flag, bf.npcdata, bf.nfuncdata}
		if !reflect.DeepEqual(ofields, bfields) {
			fail("%s: args, deferreturn, startLine, funcID, flag, npcdata, nfuncdata %v (original), %v (built)", f.Name, ofields, bfields)
		}
		if size := orig.ftab[origIdx[k]+1].Entryoff - of.entry; size != f.Size {
			fail("%s: size %#x, original ftab says %#x", f.Name, f.Size, size)
		}
		ov, err := orig.expand(of, f.Size)
		if err != nil {
			fail("%s: original: %v", f.Name, err)
			continue
		}
		bv, err := built.expand(bf, f.Size)
		if err != nil {
			fail("%s: built: %v", f.Name, err)
			continue
		}
		for off := uint32(0); off < f.Size; off++ {
			if i, err := orig.findfunc(orig.text + uint64(of.entry+off)); err != nil || i != origIdx[k] {
				fail("%s+%#x: original findfunc %d %v, want %d", f.Name, off, i, err, origIdx[k])
			}
			if i, err := built.findfunc(built.text + uint64(bf.entry+off)); err != nil || i != k {
				fail("%s+%#x: built findfunc %d %v, want %d", f.Name, off, i, err, k)
			}
			if ov.sp[off] != bv.sp[off] || ov.line[off] != bv.line[off] {
				fail("%s+%#x: sp %d line %d (original), sp %d line %d (built)", f.Name, off, ov.sp[off], ov.line[off], bv.sp[off], bv.line[off])
			}
			if o, b := orig.funcfile(of, ov.file[off]), built.funcfile(bf, bv.file[off]); o != b {
				fail("%s+%#x: file %q (original), %q (built)", f.Name, off, o, b)
			}
			for j := range ov.pcdata {
				want := ov.pcdata[j][off]
				if j == PCDATA_ArgLiveIndex {
					want = -1 // dropped
				}
				if bv.pcdata[j][off] != want {
					fail("%s+%#x: pcdata %d = %d (original), %d (built)", f.Name, off, j, want, bv.pcdata[j][off])
				}
			}
			if ov.pcdata != nil && len(ov.pcdata) > PCDATA_InlTreeIndex && ov.pcdata[PCDATA_InlTreeIndex][off] >= 0 {
				o, err1 := orig.inlineStack(of, ov, off)
				b, err2 := built.inlineStack(bf, bv, off)
				if err1 != nil || err2 != nil || o != b {
					fail("%s+%#x: inline frames\n%s %v (original)\n%s %v (built)", f.Name, off, o, err1, b, err2)
				}
			}
		}
		for i := 0; i < int(of.nfuncdata); i++ {
			o, err1 := orig.funcdataContents(of, i)
			b, err2 := built.funcdataContents(bf, i)
			if i == FUNCDATA_ArgLiveInfo {
				o, err1 = "", nil // dropped
			}
			if err1 != nil || err2 != nil || o != b {
				fail("%s: funcdata %d: %q %v (original), %q %v (built)", f.Name, i, o, err1, b, err2)
			}
		}
	}
}

// TestFixture builds testdata/fixture for amd64 and arm64 and carries
// every function of it through Func, Encode, Decode and Build, checking
// the rebuilt metadata against the original at every PC.
func TestFixture(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			fs := checkImage(t, buildFixture(t, arch))
			byName := map[string]*Func{}
			for _, f := range fs {
				byName[f.Name] = f
			}
			need := func(name string) *Func {
				f := byName[name]
				if f == nil {
					t.Fatalf("no function %s in the fixture", name)
				}
				return f
			}
			has := func(f *Func, i int) bool { return i < len(f.FuncData) && f.FuncData[i].Kind != KindAbsent }
			if f := need("main.tree"); !has(f, FUNCDATA_LocalsPointerMaps) || !has(f, FUNCDATA_ArgsPointerMaps) {
				t.Errorf("main.tree: no stack maps: %+v", f.FuncData)
			}
			f := need("main.inlined")
			if !has(f, FUNCDATA_InlTree) {
				t.Fatalf("main.inlined: no inline tree")
			}
			var callees []string
			for _, c := range f.FuncData[FUNCDATA_InlTree].InlTree {
				callees = append(callees, c.Name)
			}
			for _, want := range []string{"main.add", "main.sq"} {
				if !strings.Contains(strings.Join(callees, " "), want) {
					t.Errorf("main.inlined: inline tree %v lacks %s", callees, want)
				}
			}
			f = need("main.stackObject")
			if !has(f, FUNCDATA_StackObjects) || len(f.FuncData[FUNCDATA_StackObjects].StackObjects[0].GCData) == 0 {
				t.Errorf("main.stackObject: no stack object with a pointer mask: %+v", f.FuncData)
			}
			if f = need("main.deferred"); !has(f, FUNCDATA_OpenCodedDeferInfo) || f.DeferReturn == 0 {
				t.Errorf("main.deferred: no open-coded defers (deferreturn %#x)", f.DeferReturn)
			}
			f = need("main.manyArgs")
			if !has(f, FUNCDATA_ArgInfo) || !bytes.Contains(f.FuncData[FUNCDATA_ArgInfo].Bytes, []byte{TraceArgsStartAgg}) ||
				!bytes.Contains(f.FuncData[FUNCDATA_ArgInfo].Bytes, []byte{TraceArgsDotdotdot}) {
				t.Errorf("main.manyArgs: arg info %+v", f.FuncData)
			}
		})
	}
}

// TestHypervisorImages runs the same chain on the hypervisor's own
// images, when they are built.
func TestHypervisorImages(t *testing.T) {
	for _, p := range []string{"qemu-q35-amd64", "qemu-virt-arm64"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			checkImage(t, readOrSkip(t, filepath.Join("..", "..", "build", p, "tamavisor.elf.link")))
		})
	}
}

// TestOpenRefuses checks Open's refusals.
func TestOpenRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, ErrFormat},
		{"garbage", bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 40), ErrFormat},
	} {
		if _, err := Open(c.b); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
	// A 32-bit or foreign-machine ELF is unsupported.
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	b := bytes.Clone(self)
	b[18], b[19] = 40, 0 // e_machine EM_ARM
	if _, err := Open(b); !errors.Is(err, ErrUnsupported) {
		t.Errorf("EM_ARM: %v", err)
	}
	im, err := Open(self) // the host test binary: Go 1.26, a newer pclntab magic, or the same
	if err == nil {
		if _, err := im.Func("no such function"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Func of a missing name: %v", err)
		}
		if _, err := im.FuncAt(-1); !errors.Is(err, ErrNotFound) {
			t.Errorf("FuncAt(-1): %v", err)
		}
	} else if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrFormat) {
		t.Errorf("host test binary: %v", err)
	}
}
