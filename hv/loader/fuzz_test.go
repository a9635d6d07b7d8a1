// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// The fuzz RAM windows are small so each run is cheap. The Image RAM
// starts below a 2 MiB boundary, so the alignment rule is exercised.
const (
	fuzzELFBase   = hv.IPA(0x4000_0000)
	fuzzELFSize   = 256 << 10
	fuzzImageBase = hv.IPA(0x401f_0000)
	fuzzImageSize = 192 << 10
)

// errorsOfPackage reports whether err wraps one of the package's errors.
func errorsOfPackage(err error) bool {
	for _, e := range []error{ErrUnknownFormat, ErrUnsupported, ErrMachine, ErrTruncated, ErrMalformed,
		ErrOutsideRAM, ErrOverlap, ErrEntry, ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzDetect guards Detect (ELF-64 section 3 "ELF Header", booting.rst
// "4. Call the kernel image"): it never panics, and a kind comes without
// an error and agrees with the magic numbers.
func FuzzDetect(f *testing.F) {
	for _, s := range seeds("FuzzDetect") {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		kind, err := Detect(img)
		if (kind == Unknown) != (err != nil) {
			t.Fatalf("Detect = %v, %v", kind, err)
		}
		if err != nil && !errorsOfPackage(err) {
			t.Fatalf("foreign error %v", err)
		}
		if kind == LinuxARM64 {
			if _, err := ParseImageHeader(img); err != nil {
				t.Fatalf("Detect says Image, ParseImageHeader: %v", err)
			}
		}
	})
}

// FuzzLoadELF guards LoadELF (ELF-64 section 6 "Program header table"):
// it never panics, returns only package errors, and on success the entry
// point lies in RAM; on failure RAM is untouched.
func FuzzLoadELF(f *testing.F) {
	for _, s := range seeds("FuzzLoadELF") {
		f.Add(s.data)
	}
	ram, zero := make([]byte, fuzzELFSize), make([]byte, fuzzELFSize)
	f.Fuzz(func(t *testing.T, img []byte) {
		for _, m := range []elf.Machine{elf.EM_AARCH64, elf.EM_X86_64} {
			entry, err := LoadELF(img, fuzzELFBase, ram, m)
			if err != nil {
				if !errorsOfPackage(err) {
					t.Fatalf("foreign error %v", err)
				}
				if !bytes.Equal(ram, zero) {
					t.Fatalf("RAM written on error %v", err)
				}
				continue
			}
			clear(ram) // only a successful load writes
			if entry < fuzzELFBase || uint64(entry-fuzzELFBase) >= fuzzELFSize {
				t.Fatalf("entry %v outside RAM", entry)
			}
		}
	})
}

// FuzzLoadLinuxImage guards LoadLinuxImage (booting.rst "4. Call the
// kernel image"): it never panics, and on success the image sits at a
// text_offset above a 2 MiB boundary inside RAM.
func FuzzLoadLinuxImage(f *testing.F) {
	for _, s := range seeds("FuzzLoadLinuxImage") {
		f.Add(s.data)
	}
	ram := make([]byte, fuzzImageSize)
	f.Fuzz(func(t *testing.T, img []byte) {
		clear(ram)
		entry, end, err := LoadLinuxImage(img, fuzzImageBase, ram)
		if err != nil {
			if !errorsOfPackage(err) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		lo, hi := uint64(fuzzImageBase), uint64(fuzzImageBase)+fuzzImageSize
		if uint64(entry) < lo || uint64(end) > hi || end < entry || uint64(end-entry) < uint64(len(img)) {
			t.Fatalf("entry %v end %v for %d bytes in [%#x,%#x)", entry, end, len(img), lo, hi)
		}
		if got := ram[entry-fuzzImageBase:][:len(img)]; !bytes.Equal(got, img) {
			t.Fatal("image not at the entry point")
		}
		if _, err := PlaceBlobs(fuzzImageBase, fuzzImageSize, end, uint64(len(img)), uint64(len(img))); err != nil && !errorsOfPackage(err) {
			t.Fatalf("PlaceBlobs: %v", err)
		}
	})
}

type seed struct {
	name string
	data []byte
}

// seeds returns the committed corpus of one fuzz target.
func seeds(target string) []seed {
	const b = uint64(fuzzELFBase)
	validELF := simpleELF(elf.EM_AARCH64, b+0x1000, 0xffff_0000_0000_0000)
	x86ELF := simpleELF(elf.EM_X86_64, b, b)
	overlap := buildELF(elfSpec{machine: elf.EM_AARCH64, typ: elf.ET_EXEC, entry: b, segs: []seg{
		{typ: elf.PT_LOAD, paddr: b, vaddr: b, data: []byte("one"), memsz: 0x2000},
		{typ: elf.PT_LOAD, paddr: b + 0x1000, vaddr: b + 0x1000, data: []byte("two")},
	}})
	bssOnly := buildELF(elfSpec{machine: elf.EM_AARCH64, typ: elf.ET_EXEC, entry: b + 0x100, segs: []seg{
		{typ: elf.PT_LOAD, paddr: b, vaddr: b, memsz: 0x1000},
	}})
	outside := simpleELF(elf.EM_AARCH64, b+fuzzELFSize-0x1000, b)
	image := buildImage(0x8000, 0x10000, 0x2, 0x400)
	legacy := buildImage(0, 0, 0, 0x200)
	tooBig := buildImage(0, 1<<30, 0, 0x100)
	bigEndian := buildImage(0, 0x1000, 1, 0x100)
	switch target {
	case "FuzzDetect":
		return []seed{{"elf-aarch64", validELF}, {"elf-x86-64", x86ELF}, {"image", image},
			{"elf-truncated", validELF[:40]}, {"elf32", append([]byte("\x7fELF\x01\x01\x01"), make([]byte, 60)...)},
			{"text", []byte("not a kernel")}}
	case "FuzzLoadELF":
		return []seed{{"valid", validELF}, {"valid-x86-64", x86ELF}, {"bss-only", bssOnly},
			{"overlap", overlap}, {"outside-ram", outside}, {"truncated", validELF[:len(validELF)-8]}, {"image", image}}
	case "FuzzLoadLinuxImage":
		return []seed{{"valid", image}, {"legacy", legacy}, {"too-big", tooBig}, {"big-endian", bigEndian},
			{"header-only", image[:ImageHeaderSize]}, {"elf", validELF}}
	}
	return nil
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz holds the seeds of every fuzz
// target in Go's corpus file format; "go test -run TestSeedCorpus
// -write-corpus" rewrites them.
func TestSeedCorpus(t *testing.T) {
	for _, target := range []string{"FuzzDetect", "FuzzLoadELF", "FuzzLoadLinuxImage"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds(target) {
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s.data)))
			path := filepath.Join(dir, s.name)
			if *writeCorpus {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("%s is missing or stale (%v): run go test -run TestSeedCorpus -write-corpus", path, err)
			}
		}
	}
	// The valid seeds load.
	ram := make([]byte, fuzzELFSize)
	if _, err := LoadELF(seeds("FuzzLoadELF")[0].data, fuzzELFBase, ram, elf.EM_AARCH64); err != nil {
		t.Errorf("valid ELF seed: %v", err)
	}
	if _, _, err := LoadLinuxImage(seeds("FuzzLoadLinuxImage")[0].data, fuzzImageBase, make([]byte, fuzzImageSize)); err != nil {
		t.Errorf("valid Image seed: %v", err)
	}
}
