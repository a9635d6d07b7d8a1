// hotpatch/selfimage: the running image's own build-id and function symbols.
// SPDX-License-Identifier: BSD-3-Clause

package selfimage

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"github.com/tamavisor/tamavisor/internal/seedcorpus"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

type seed struct {
	name string
	b    []byte
	want error // nil: Parse accepts it
}

// parseSeeds returns the inputs committed under testdata/fuzz/FuzzParse.
func parseSeeds(t testing.TB) []seed {
	valid := mustEncode(t, payload.ArchARM64, testID, testSyms())
	garbage := make([]byte, 0, 200)
	for i := 0; i < cap(garbage); i++ {
		garbage = append(garbage, byte(i*151+7))
	}
	bare := make([]byte, HeaderSize+16)
	copy(bare, Magic)
	return []seed{
		{"valid", valid, nil},
		{"valid-padded", append(bytes.Clone(valid), make([]byte, 64)...), nil},
		{"valid-empty-table", mustEncode(t, payload.ArchAMD64, []byte{1}, nil), nil},
		{"truncated", valid[:len(valid)/2], ErrFormat},
		{"garbage", garbage, ErrFormat},
		{"magic-garbage", append([]byte(Magic), garbage...), ErrFormat},
		{"bare-magic", bare, ErrNotPostLinked},
		{"unsorted", swapRecords(bytes.Clone(valid), 2, 3), ErrFormat},
	}
}

// FuzzParse guards doc.go "Blob format": Parse never panics, what it
// accepts is canonical (re-encoding the Image gives the blob back, minus
// zero padding), and lookups on an accepted Image agree with its records.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Parse(b)
		if err != nil {
			if img != nil {
				t.Fatal("image and error")
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrNotPostLinked) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		syms := img.syms()
		again, err := Encode(uint16(img.Arch()), img.BuildID(), syms)
		if err != nil {
			t.Fatalf("Encode refuses what Parse accepted: %v", err)
		}
		if !bytes.Equal(again, b[:len(again)]) || !allZero(b[len(again):]) {
			t.Fatal("re-encoding differs from the blob")
		}
		byAddr := slices.DeleteFunc(slices.Clone(syms), func(s Sym) bool { return s.Size == 0 })
		slices.SortFunc(byAddr, func(a, b Sym) int { return cmp.Compare(a.Addr, b.Addr) })
		overlap := false
		for i := 1; i < len(byAddr); i++ {
			overlap = overlap || byAddr[i-1].Addr+byAddr[i-1].Size > byAddr[i].Addr
		}
		for _, s := range syms {
			if addr, size, ok := img.Symbol(s.Name); !ok || addr != s.Addr || size != s.Size {
				t.Fatalf("Symbol(%q) = %#x %#x %v, want %#x %#x", s.Name, addr, size, ok, s.Addr, s.Size)
			}
			if s.Size == 0 {
				continue
			}
			// What SymbolAt returns must hold the address. Fuzzed
			// symbols may overlap, and then it may miss (Go images
			// have no overlapping functions); otherwise it finds s.
			for _, pc := range []uint64{s.Addr, s.Addr + s.Size - 1} {
				name, off, ok := img.SymbolAt(pc)
				a, sz, _ := img.Symbol(name)
				if (ok || !overlap) && (!ok || a+off != pc || off >= sz || (!overlap && name != s.Name)) {
					t.Fatalf("SymbolAt(%#x) = %q+%#x %v for %q", pc, name, off, ok, s.Name)
				}
			}
		}
	})
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz/FuzzParse holds the seeds, in
// Go's corpus file format, and that Parse treats each as its entry says;
// "go test -run TestSeedCorpus -write-corpus" rewrites them.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	for _, s := range parseSeeds(t) {
		if _, err := Parse(s.b); (s.want == nil) != (err == nil) || (s.want != nil && !errors.Is(err, s.want)) {
			t.Errorf("seed %s: %v, want %v", s.name, err, s.want)
		}
		seedcorpus.Sync(t, dir, s.name, seedcorpus.Bytes(s.b), *writeCorpus)
	}
}
