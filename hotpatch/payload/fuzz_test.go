// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"github.com/tamavisor/tamavisor/internal/seedcorpus"
	"path/filepath"
	"reflect"
	"testing"
)

type seed struct {
	name  string
	b     []byte
	valid bool
}

// minimalPayload is the smallest useful payload: one function, no
// relocations, no depends.
func minimalPayload() *Payload {
	return &Payload{Name: "m", Arch: ArchAMD64, BuildID: []byte{1}, Text: []byte{0xc3},
		Funcs: []Func{{Name: "f", Size: 1, OldSize: 5}}}
}

// parseSeeds returns the inputs committed under testdata/fuzz/FuzzParse.
func parseSeeds(t testing.TB) []seed {
	arm := mustEncode(t, arm64Payload())
	overlap := arm64Payload()
	overlap.Funcs[0].Size = 0x21
	badInsn := arm64Payload()
	copy(badInsn.Text[0x0c:], words(a64CBZx0))
	garbage := make([]byte, 0, 256)
	for i := 0; i < 256; i++ {
		garbage = append(garbage, byte(i*167+13))
	}
	elfish := append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0xff}, 121)...)
	return []seed{
		{"valid-arm64", arm, true},
		{"valid-amd64-depends", mustEncode(t, amd64Payload()), true},
		{"valid-minimal", mustEncode(t, minimalPayload()), true},
		{"valid-arm64-pcln", mustEncode(t, pclnPayload()), true},
		{"truncated", arm[:len(arm)/2], false},
		{"garbage", garbage, false},
		{"elf-magic-garbage", elfish, false},
		{"overlapping-funcs", mustWrite(t, overlap), false},
		{"reloc-on-wrong-insn", mustWrite(t, badInsn), false},
	}
}

// openSeeds returns the inputs committed under testdata/fuzz/FuzzOpen.
func openSeeds(t testing.TB) []seed {
	key := testKey()
	arm := Sign(mustEncode(t, arm64Payload()), key)
	badLen := bytes.Clone(arm)
	binary.LittleEndian.PutUint32(badLen[len(badLen)-TrailerSize+72:], 7)
	return []seed{
		{"signed-arm64", arm, true},
		{"signed-amd64", Sign(mustEncode(t, amd64Payload()), key), true},
		{"signed-minimal", Sign(mustEncode(t, minimalPayload()), key), true},
		{"signed-pcln", Sign(mustEncode(t, pclnPayload()), key), true},
		{"truncated-trailer", arm[:len(arm)-3], false},
		{"unknown-key", Sign(mustEncode(t, arm64Payload()), otherKey()), false},
		{"bad-length", badLen, false},
		{"signed-garbage", Sign([]byte("\x7fELF garbage"), key), false},
		{"garbage", bytes.Repeat([]byte("~tamavisor~"), 12), false},
	}
}

// fuzzImage resolves every name the payload uses, to addresses derived
// from the name, so Check and Link run their full course.
type fuzzImage struct{ p *Payload }

func (m fuzzImage) Arch() Arch      { return m.p.Arch }
func (m fuzzImage) BuildID() []byte { return m.p.BuildID }
func (m fuzzImage) Symbol(name string) (uint64, uint64, bool) {
	h := sha256.Sum256([]byte(name))
	addr := 0x40000000 + binary.LittleEndian.Uint64(h[:])&0x0fff_fff0
	for _, f := range m.p.Funcs {
		if f.Name == name {
			return addr, f.OldSize, true
		}
	}
	return addr, 8, h[8] != 0 // a few names are missing
}

// FuzzParse guards the payload file format (doc.go, "File format": the
// ELF header, section table and record checks): Parse on arbitrary bytes
// must not panic or modify its input, must refuse with ErrFormat, and
// whatever it accepts must re-encode to a file that parses to the same
// Payload. Check and Link run on what it accepts.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		p, err := Parse(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			if p != nil {
				t.Fatal("payload returned with an error")
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		e, err := Encode(p)
		if err != nil {
			t.Fatalf("Encode of a parsed payload: %v", err)
		}
		p2, err := Parse(e)
		if err != nil {
			t.Fatalf("Parse of the re-encoded payload: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("re-encoded payload parses to\n%+v\nwant\n%+v", p2, p)
		}
		if e2, err := Encode(p2); err != nil || !bytes.Equal(e, e2) {
			t.Fatalf("encoding is not stable: %v", err)
		}
		img := fuzzImage{p}
		for _, text := range []uint64{0x40800000, 0xfffffffffff00000} {
			cerr := p.Check(img, text, nil)
			code, lerr := p.Link(img, text)
			if cerr == nil && (lerr != nil || len(code) != len(p.Text)) {
				t.Fatalf("Check passed at %#x, Link: %v", text, lerr)
			}
		}
	})
}

// FuzzOpen guards the signature trailer (doc.go, "File format"): Open on
// arbitrary bytes must not panic, must refuse with ErrSignature or
// ErrFormat, and must accept only what Parse accepts of the signed part.
func FuzzOpen(f *testing.F) {
	for _, s := range openSeeds(f) {
		f.Add(s.b)
	}
	keys := []ed25519.PublicKey{pub(otherKey()), pub(testKey())}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Open(b, keys)
		if err != nil {
			if p != nil {
				t.Fatal("payload returned with an error")
			}
			if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v wraps neither ErrSignature nor ErrFormat", err)
			}
			return
		}
		q, err := Parse(b[:len(b)-TrailerSize])
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("Open accepted what Parse does not: %v", err)
		}
	})
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz/FuzzParse and FuzzOpen hold the
// seeds, in Go's corpus file format, and that each seed is accepted or
// refused as its name says; "go test -run TestSeedCorpus -write-corpus"
// rewrites them.
func TestSeedCorpus(t *testing.T) {
	keys := []ed25519.PublicKey{pub(testKey())}
	sets := []struct {
		fuzz  string
		seeds []seed
		try   func([]byte) error
	}{
		{"FuzzParse", parseSeeds(t), func(b []byte) error { _, err := Parse(b); return err }},
		{"FuzzOpen", openSeeds(t), func(b []byte) error { _, err := Open(b, keys); return err }},
	}
	for _, set := range sets {
		dir := filepath.Join("testdata", "fuzz", set.fuzz)
		for _, s := range set.seeds {
			if err := set.try(s.b); (err == nil) != s.valid {
				t.Errorf("%s seed %s: error %v, want valid=%v", set.fuzz, s.name, err, s.valid)
			}
			seedcorpus.Sync(t, dir, s.name, seedcorpus.Bytes(s.b), *writeCorpus)
		}
	}
}
