// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tamavisor/tamavisor/internal/seedcorpus"
)

type seed struct {
	name  string
	b     []byte
	valid bool
}

// decodeSeeds returns the inputs committed under testdata/fuzz/FuzzDecode.
func decodeSeeds(t testing.TB) []seed {
	amd := mustEncode(t, synthFuncs(MinLCAMD64))
	arm := mustEncode(t, synthFuncs(MinLCARM64))
	pastSize := synthFunc("pkg.f", MinLCAMD64)
	pastSize.PCSP = pctable(1, pcv{0, 4}, pcv{40, 0x50}) // the function has 0x40 bytes
	bigCount := bytes.Clone(arm)
	binary.LittleEndian.PutUint32(bigCount[12:], 0xffffffff)
	garbage := make([]byte, 0, 256)
	for i := 0; i < 256; i++ {
		garbage = append(garbage, byte(i*167+13))
	}
	return []seed{
		{"valid-amd64", amd, true},
		{"valid-arm64", arm, true},
		{"valid-leaf", mustEncode(t, synthFuncs(MinLCARM64)[1:]), true},
		{"truncated", arm[:len(arm)/2], false},
		{"count-overflow", bigCount, false},
		{"table-past-size", writeUnchecked(pastSize), false},
		{"garbage", garbage, false},
		{"header-garbage", append([]byte("TVGOFUNC\x01\x00\x04\x08"), garbage...), false},
	}
}

// writeUnchecked encodes f without validating it, for inputs Decode
// must refuse.
func writeUnchecked(f *Func) []byte {
	saved := f.Size
	f.Size = MaxFuncSize // lets Encode's validate pass the table check
	defer func() { f.Size = saved }()
	b, err := Encode([]*Func{f})
	if err != nil {
		panic(err)
	}
	// The size is the first u32 after the record length and the name.
	binary.LittleEndian.PutUint32(b[encHeaderSize+4+4+len(f.Name):], saved)
	return b
}

// FuzzDecode guards the encoding of doc.go ("Encoding") and the Func
// rules Build relies on: Decode on arbitrary bytes must not panic or
// modify its input, must refuse with ErrFormat or ErrUnsupported, and
// whatever it accepts must re-encode to the same bytes and Build.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		fs, err := Decode(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if fs != nil {
				t.Fatal("functions returned with an error")
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrFormat nor ErrUnsupported", err)
			}
			return
		}
		e, err := Encode(fs)
		if err != nil {
			t.Fatalf("Encode of decoded functions: %v", err)
		}
		if !bytes.Equal(e, b) {
			t.Fatalf("re-encoding differs from the input")
		}
		fs2, err := Decode(e)
		if err != nil || !reflect.DeepEqual(fs, fs2) {
			t.Fatalf("re-decoding: %v", err)
		}
		// Build them back to back, each at a multiple of 16.
		var offs []uint32
		cur := uint32(0)
		for _, f := range fs {
			offs = append(offs, cur)
			cur = (cur + max(f.Size, 1) + 15) &^ 15
		}
		tb, err := Build(fs, offs, cur)
		if err != nil {
			if !errors.Is(err, ErrLayout) {
				t.Fatalf("Build of decoded functions: %v", err)
			}
			return
		}
		m := builtModule(t, tb, 0x1000, 0x100000)
		for k := range fs {
			if _, err := m.funcAt(k); err != nil {
				t.Fatal(err)
			}
		}
	})
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz/FuzzDecode holds the seeds, in
// Go's corpus file format, and that each seed is accepted or refused as
// its name says; "go test -run TestSeedCorpus -write-corpus" rewrites
// them.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for _, s := range decodeSeeds(t) {
		if _, err := Decode(s.b); (err == nil) != s.valid {
			t.Errorf("seed %s: error %v, want valid=%v", s.name, err, s.valid)
		}
		seedcorpus.Sync(t, dir, s.name, seedcorpus.Bytes(s.b), *writeCorpus)
	}
}
