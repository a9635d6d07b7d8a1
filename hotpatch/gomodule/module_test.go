// hotpatch/gomodule: make the Go runtime know live-patch code.
// SPDX-License-Identifier: BSD-3-Clause

//go:build go1.25 && !go1.26 && linux

package gomodule

import (
	"os"
	"runtime"
	"testing"

	"github.com/tamavisor/tamavisor/hotpatch/gofunc"
)

//go:noinline
func probe(n int) []int {
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, i*i)
	}
	return out
}

// TestRegister registers a module for a copy of probe's metadata placed
// at a fake text address (a buffer that is never executed) and asks the
// real runtime about it: FuncForPC must name the function and FileLine
// give, at every instruction offset, what it gives for the original.
// It needs the Go 1.25 runtime (make test runs it with the TamaGo
// toolchain, GOOS=linux).
func TestRegister(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	im, err := gofunc.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	const name = "github.com/tamavisor/tamavisor/hotpatch/gomodule.probe"
	f, err := im.Func(name)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := gofunc.Build([]*gofunc.Func{f}, []uint32{0}, f.Size)
	if err != nil {
		t.Fatal(err)
	}
	fake := make([]byte, f.Size+4096)
	text := (uint64(addr(fake)) + 4095) &^ 4095
	if err := Register("test", tab, text, uint64(f.Size)); err != nil {
		t.Fatal(err)
	}
	if Modules() != 1 {
		t.Errorf("Modules() = %d", Modules())
	}
	orig := runtime.FuncForPC(funcPC(probe))
	if orig == nil || orig.Name() != name {
		t.Fatalf("original: %v", orig)
	}
	entry := orig.Entry()
	for off := uint64(0); off < uint64(f.Size); off++ {
		fn := runtime.FuncForPC(uintptr(text + off))
		if fn == nil || fn.Name() != name || uint64(fn.Entry()) != text {
			t.Fatalf("offset %#x: FuncForPC = %v", off, fn)
		}
		file, line := fn.FileLine(uintptr(text + off))
		wfile, wline := orig.FileLine(entry + uintptr(off))
		if file != wfile || line != wline {
			t.Errorf("offset %#x: %s:%d, original %s:%d", off, file, line, wfile, wline)
		}
	}
	runtime.KeepAlive(fake)
	// Overlap and bad tables are refused.
	if err := Register("again", tab, text, uint64(f.Size)); err == nil {
		t.Error("overlapping module registered")
	}
	if err := Register("empty", &gofunc.Tables{}, text+1<<20, 16); err == nil {
		t.Error("empty tables registered")
	}
	_ = probe(3)
}
