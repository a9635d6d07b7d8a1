// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"github.com/tamavisor/tamavisor/internal/seedcorpus"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
		ErrOutsideRAM, ErrOverlap, ErrEntry, ErrTooLarge, ErrStartInfo} {
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

// FuzzPVHEntry guards PVHEntry and LoadPVH (gABI "Note Section", Xen
// public/elfnote.h XEN_ELFNOTE_PHYS32_ENTRY, docs/misc/pvh.pandoc): they
// never panic and return only package errors, PVHEntry never reports an
// entry with an error, and LoadPVH writes RAM only on success; then it
// enters at the note's address, in RAM, with a start info that decodes
// to the command line, the initrd it copied and the RAM window.
func FuzzPVHEntry(f *testing.F) {
	for _, s := range seeds("FuzzPVHEntry") {
		f.Add(s.data)
	}
	const cmdline = "console=ttyS0"
	initrd := []byte("initrd")
	ram, zero := make([]byte, fuzzELFSize), make([]byte, fuzzELFSize)
	f.Fuzz(func(t *testing.T, img []byte) {
		entry, ok, err := PVHEntry(img)
		if err != nil && (ok || !errorsOfPackage(err)) {
			t.Fatalf("PVHEntry = %#x, %v, %v", entry, ok, err)
		}
		l, err := LoadPVH(img, fuzzELFBase, ram, cmdline, initrd)
		if err != nil {
			if !errorsOfPackage(err) {
				t.Fatalf("foreign error %v", err)
			}
			if !bytes.Equal(ram, zero) {
				t.Fatalf("RAM written on error %v", err)
			}
			return
		}
		defer clear(ram)
		lo, hi := fuzzELFBase, fuzzELFBase+fuzzELFSize
		if !ok || l.Entry != hv.IPA(entry) || l.Entry < lo || l.Entry >= hi || l.Initrd < l.KernelEnd ||
			l.StartInfo < l.Initrd || l.StartInfo%hv.PageSize != 0 || l.End > hi || l.End > 1<<32 {
			t.Fatalf("LoadPVH = %+v for PVHEntry %#x, %v", l, entry, ok)
		}
		if !bytes.Equal(ram[l.Initrd-lo:][:len(initrd)], initrd) {
			t.Fatal("initrd not copied")
		}
		bi, err := ParsePVHStartInfo(ram[l.StartInfo-lo:l.End-lo], l.StartInfo)
		if err != nil || bi.Cmdline != cmdline || len(bi.Modules) != 1 || bi.Modules[0] != (PVHModule{Addr: l.Initrd, Size: uint64(len(initrd))}) ||
			len(bi.Memory) != 1 || bi.Memory[0] != (PVHMemory{Addr: uint64(lo), Size: fuzzELFSize, Type: XEN_HVM_MEMMAP_TYPE_RAM}) {
			t.Fatalf("start info %+v, %v", bi, err)
		}
	})
}

// FuzzPVHStartInfo guards BuildPVHStartInfo and ParsePVHStartInfo (Xen
// public/arch-x86/hvm/start_info.h): Build refuses its input with a
// package error, or lays out a blob within the limits and below 4 GiB
// that Parse decodes back to the same input; Parse of arbitrary bytes
// never panics and returns only package errors.
func FuzzPVHStartInfo(f *testing.F) {
	for _, s := range seeds("FuzzPVHStartInfo") {
		a := s.args // spelled out: vet checks the arguments against the target
		f.Add(a[0].(uint64), a[1].(string), a[2].([]byte), a[3].(bool), a[4].(uint64), a[5].(uint64), a[6].(string), a[7].([]byte))
	}
	f.Fuzz(func(t *testing.T, at uint64, cmdline string, memmap []byte, withInitrd bool, initrdAddr, initrdSize uint64, initrdCmdline string, raw []byte) {
		mem := decodeMemmap(memmap)
		var mod *PVHModule
		var mods []PVHModule
		if withInitrd {
			mod = &PVHModule{Addr: hv.IPA(initrdAddr), Size: initrdSize, Cmdline: initrdCmdline}
			mods = []PVHModule{*mod}
		}
		b, err := BuildPVHStartInfo(hv.IPA(at), cmdline, mem, mod)
		if err != nil {
			if b != nil || !errorsOfPackage(err) {
				t.Fatalf("BuildPVHStartInfo = %d bytes, %v", len(b), err)
			}
		} else {
			if len(b) > MaxPVHStartInfo || at%PVHStartInfoAlign != 0 || at+uint64(len(b)) > 1<<32 {
				t.Fatalf("%d bytes at %#x", len(b), at)
			}
			bi, err := ParsePVHStartInfo(b, hv.IPA(at))
			if err != nil {
				t.Fatalf("ParsePVHStartInfo of a built blob: %v", err)
			}
			if bi.Header.Version != HVM_START_INFO_VERSION || bi.Cmdline != cmdline || !slices.Equal(bi.Memory, mem) || !slices.Equal(bi.Modules, mods) {
				t.Fatalf("round trip: got %+v", bi)
			}
		}
		bi, err := ParsePVHStartInfo(raw, hv.IPA(at))
		if err != nil {
			if !errorsOfPackage(err) {
				t.Fatalf("foreign error %v", err)
			}
		} else if bi.Header.Magic != PVH_START_MAGIC || len(bi.Memory) > MaxPVHMemmap || len(bi.Cmdline) > MaxPVHCmdline {
			t.Fatalf("ParsePVHStartInfo = %+v", bi)
		}
	})
}

// seed is one corpus entry: data for the targets that take one []byte,
// args for the others.
type seed struct {
	name string
	data []byte
	args []any
}

// values returns the fuzz arguments of s.
func (s seed) values() []any {
	if s.args != nil {
		return s.args
	}
	return []any{s.data}
}

// corpusFile returns s in Go's corpus file format.
func (s seed) corpusFile() string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range s.values() {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case uint64, bool:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			panic(fmt.Sprintf("seed %s: no corpus encoding for %T", s.name, v))
		}
	}
	return b.String()
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
		return []seed{{name: "elf-aarch64", data: validELF}, {name: "elf-x86-64", data: x86ELF}, {name: "image", data: image},
			{name: "elf-truncated", data: validELF[:40]}, {name: "elf32", data: append([]byte("\x7fELF\x01\x01\x01"), make([]byte, 60)...)},
			{name: "text", data: []byte("not a kernel")}}
	case "FuzzLoadELF":
		return []seed{{name: "valid", data: validELF}, {name: "valid-x86-64", data: x86ELF}, {name: "bss-only", data: bssOnly},
			{name: "overlap", data: overlap}, {name: "outside-ram", data: outside}, {name: "truncated", data: validELF[:len(validELF)-8]}, {name: "image", data: image}}
	case "FuzzLoadLinuxImage":
		return []seed{{name: "valid", data: image}, {name: "legacy", data: legacy}, {name: "too-big", data: tooBig}, {name: "big-endian", data: bigEndian},
			{name: "header-only", data: image[:ImageHeaderSize]}, {name: "elf", data: validELF}}
	case "FuzzPVHEntry", "FuzzPVHStartInfo":
		return pvhSeeds(target)
	}
	return nil
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz holds the seeds of every fuzz
// target in Go's corpus file format; "go test -run TestSeedCorpus
// -write-corpus" rewrites them.
func TestSeedCorpus(t *testing.T) {
	for _, target := range []string{"FuzzDetect", "FuzzLoadELF", "FuzzLoadLinuxImage", "FuzzPVHEntry", "FuzzPVHStartInfo"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds(target) {
			seedcorpus.Sync(t, dir, s.name, s.corpusFile(), *writeCorpus)
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
