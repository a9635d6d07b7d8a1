// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

const ramBase = hv.IPA(0x4000_0000)

// dirtyRAM returns n bytes of RAM filled with 0xaa, so the tests see
// whether the loaders zero what they must and touch nothing else.
func dirtyRAM(n int) []byte { return bytes.Repeat([]byte{0xaa}, n) }

func TestDetect(t *testing.T) {
	elf32 := simpleELF(elf.EM_AARCH64, 0x4000_0000, 0x4000_0000)
	elf32[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	be := simpleELF(elf.EM_AARCH64, 0x4000_0000, 0x4000_0000)
	be[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	badVersion := simpleELF(elf.EM_AARCH64, 0x4000_0000, 0x4000_0000)
	badVersion[elf.EI_VERSION] = 2
	cases := []struct {
		name string
		img  []byte
		kind Kind
		err  error
	}{
		{"aarch64 ELF", simpleELF(elf.EM_AARCH64, 0x4000_0000, 0x4000_0000), ELFAArch64, nil},
		{"x86-64 ELF", simpleELF(elf.EM_X86_64, 0x10_0000, 0x10_0000), ELFX8664, nil},
		{"arm64 Image", buildImage(0, 0x10000, 0, 0x1000), LinuxARM64, nil},
		{"arm64 Image header only", buildImage(0, 0, 0, ImageHeaderSize), LinuxARM64, nil},
		{"empty", nil, Unknown, ErrUnknownFormat},
		{"text", []byte("#!/bin/sh\necho hello\n" + strings.Repeat("x", 100)), Unknown, ErrUnknownFormat},
		{"short Image", buildImage(0, 0, 0, ImageHeaderSize)[:ImageHeaderSize-1], Unknown, ErrUnknownFormat},
		{"short ELF", []byte("\x7fELF\x02\x01\x01"), Unknown, ErrTruncated},
		{"ELF32", elf32, Unknown, ErrUnsupported},
		{"big-endian ELF", be, Unknown, ErrUnsupported},
		{"ELF version", badVersion, Unknown, ErrUnsupported},
		{"riscv ELF", simpleELF(elf.EM_RISCV, 0x8000_0000, 0x8000_0000), Unknown, ErrUnsupported},
	}
	for _, tc := range cases {
		kind, err := Detect(tc.img)
		if kind != tc.kind || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: Detect = %v, %v; want %v, %v", tc.name, kind, err, tc.kind, tc.err)
		}
	}
	if LinuxARM64.Machine() != elf.EM_AARCH64 || ELFX8664.Machine() != elf.EM_X86_64 || Unknown.Machine() != elf.EM_NONE {
		t.Error("Kind.Machine")
	}
	if ELFAArch64.String() != "ELF64 AArch64" || Kind(99).String() != "unknown" {
		t.Error("Kind.String")
	}
}

func TestLoadELF(t *testing.T) {
	// Linked at a high virtual address, loaded at its physical one.
	img := simpleELF(elf.EM_AARCH64, 0x4010_0000, 0xffff_8000_1000_0000)
	ram := dirtyRAM(2 << 20)
	entry, err := LoadELF(img, ramBase, ram, elf.EM_AARCH64)
	if err != nil {
		t.Fatal(err)
	}
	if entry != 0x4010_0010 {
		t.Errorf("entry %v, want ipa:0x40100010", entry)
	}
	if got := ram[0x10_0000:0x10_0040]; !bytes.Equal(got, bytes.Repeat([]byte{0xc0}, 0x40)) {
		t.Errorf("text segment: % x", got[:8])
	}
	if got := ram[0x10_2000:0x10_2004]; string(got) != "data" {
		t.Errorf("data segment: %q", got)
	}
	if got := ram[0x10_2004:0x10_3000]; !bytes.Equal(got, make([]byte, len(got))) {
		t.Error("bss not zeroed")
	}
	for _, r := range [][2]int{{0, 0x10_0000}, {0x10_0040, 0x10_2000}, {0x10_3000, len(ram)}} {
		if got := ram[r[0]:r[1]]; !bytes.Equal(got, dirtyRAM(len(got))) {
			t.Errorf("RAM [%#x,%#x) outside the segments was written", r[0], r[1])
		}
	}

	// The same through Load, for x86-64 at physical address 0.
	img = simpleELF(elf.EM_X86_64, 0, 0)
	ram = dirtyRAM(1 << 20)
	l, err := Load(img, 0, ram, elf.EM_X86_64)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Loaded{Kind: ELFX8664, Entry: 0x10, Start: 0, End: 0x3000}); l != want {
		t.Errorf("Load = %+v, want %+v", l, want)
	}
}

func TestLoadELFErrors(t *testing.T) {
	code := []byte("code")
	load := func(paddr uint64) seg {
		return seg{typ: elf.PT_LOAD, paddr: paddr, vaddr: paddr, data: code}
	}
	spec := func(entry uint64, segs ...seg) elfSpec {
		return elfSpec{machine: elf.EM_AARCH64, typ: elf.ET_EXEC, entry: entry, segs: segs}
	}
	const b = 0x4000_0000
	withSeg := func(s seg, f func(*seg)) seg { f(&s); return s }
	truncatedPhdrs := buildELF(spec(b, load(b)))
	binary.LittleEndian.PutUint16(truncatedPhdrs[56:], 40) // e_phnum
	many := spec(b)
	for i := 0; i <= MaxSegments; i++ {
		many.segs = append(many.segs, load(b+uint64(i)*0x1000))
	}
	cases := []struct {
		name    string
		img     []byte
		machine elf.Machine
		err     error
		msg     string
	}{
		{"not an image", []byte("hello"), elf.EM_AARCH64, ErrUnknownFormat, ""},
		{"wrong machine", buildELF(elfSpec{machine: elf.EM_X86_64, typ: elf.ET_EXEC, entry: b, segs: []seg{load(b)}}), elf.EM_AARCH64, ErrMachine, "ELF64 x86-64 image"},
		{"Image given", buildImage(0, 0x1000, 0, 0x100), elf.EM_AARCH64, ErrMachine, "arm64 Linux Image"},
		{"relocatable", buildELF(elfSpec{machine: elf.EM_AARCH64, typ: elf.ET_REL, entry: b, segs: []seg{load(b)}}), elf.EM_AARCH64, ErrUnsupported, "ET_REL"},
		{"truncated program headers", truncatedPhdrs, elf.EM_AARCH64, ErrMalformed, ""},
		{"no PT_LOAD", buildELF(spec(b, seg{typ: elf.PT_NOTE, data: code})), elf.EM_AARCH64, ErrMalformed, "no PT_LOAD"},
		{"only empty PT_LOAD", buildELF(spec(b, seg{typ: elf.PT_LOAD, paddr: b, filesz: 0, memsz: 0})), elf.EM_AARCH64, ErrMalformed, "no PT_LOAD"},
		{"filesz > memsz", buildELF(spec(b, withSeg(load(b), func(s *seg) { s.memsz = 2 }))), elf.EM_AARCH64, ErrMalformed, "p_filesz 0x4 > p_memsz 0x2"},
		{"file bytes beyond image", buildELF(spec(b, withSeg(load(b), func(s *seg) { s.off = 0x10000 }))), elf.EM_AARCH64, ErrTruncated, "beyond the"},
		{"file offset wraps", buildELF(spec(b, withSeg(load(b), func(s *seg) { s.off = 1<<64 - 2 }))), elf.EM_AARCH64, ErrMalformed, "offset"},
		{"below RAM", buildELF(spec(b-0x1000, load(b-0x1000))), elf.EM_AARCH64, ErrOutsideRAM, "[0x3ffff000,0x3ffff004) is outside RAM [0x40000000,0x40100000)"},
		{"above RAM", buildELF(spec(b, load(b), withSeg(load(b+0xff000), func(s *seg) { s.memsz = 0x1001 }))), elf.EM_AARCH64, ErrOutsideRAM, "program header 1"},
		{"wraps", buildELF(spec(b, withSeg(load(1<<64-0x1000), func(s *seg) { s.memsz = 0x2000 }))), elf.EM_AARCH64, ErrMalformed, "wraps"},
		{"overlap", buildELF(spec(b, withSeg(load(b), func(s *seg) { s.memsz = 0x2000 }), load(b+0x1fff))), elf.EM_AARCH64, ErrOverlap, "program headers 0 [0x40000000,0x40002000) and 1"},
		{"entry outside", buildELF(spec(b+4, load(b))), elf.EM_AARCH64, ErrEntry, "e_entry 0x40000004"},
		{"too many segments", buildELF(many), elf.EM_AARCH64, ErrUnsupported, "more than 64"},
	}
	for _, tc := range cases {
		ram := dirtyRAM(1 << 20)
		_, err := LoadELF(tc.img, ramBase, ram, tc.machine)
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: LoadELF error %v, want %v containing %q", tc.name, err, tc.err, tc.msg)
		}
		if !bytes.Equal(ram, dirtyRAM(len(ram))) {
			t.Errorf("%s: RAM written on error", tc.name)
		}
	}
	if _, err := LoadELF(simpleELF(elf.EM_AARCH64, 0, 0), 1<<64-0x1000, make([]byte, 0x2000), elf.EM_AARCH64); !errors.Is(err, ErrOutsideRAM) {
		t.Errorf("wrapping RAM window: %v", err)
	}
}

func TestLoadLinuxImage(t *testing.T) {
	cases := []struct {
		name       string
		img        []byte
		base       hv.IPA
		ramSize    int
		entry, end hv.IPA
	}{
		{"modern, text_offset 0", buildImage(0, 0x30000, 0xa, 0x2000), 0x4000_0000, 4 << 20, 0x4000_0000, 0x4003_0000},
		{"text_offset 0x80000", buildImage(0x80000, 0x30000, 0x2, 0x2000), 0x4000_0000, 4 << 20, 0x4008_0000, 0x400b_0000},
		{"RAM base not 2 MiB aligned", buildImage(0, 0x30000, 0, 0x2000), 0x4010_0000, 4 << 20, 0x4020_0000, 0x4023_0000},
		{"legacy, image_size 0", buildImage(0x1234, 0, 0, 0x2000), 0x4000_0000, 4 << 20, 0x4008_0000, 0x4008_2000},
		{"file larger than image_size", buildImage(0, 0x1000, 0, 0x2000), 0x4000_0000, 4 << 20, 0x4000_0000, 0x4000_2000},
		{"exactly fits", buildImage(0x1000, 0x1000, 0, 0x1000), 0x4000_0000, 0x2000, 0x4000_1000, 0x4000_2000},
	}
	for _, tc := range cases {
		ram := dirtyRAM(tc.ramSize)
		entry, end, err := LoadLinuxImage(tc.img, tc.base, ram)
		if err != nil || entry != tc.entry || end != tc.end {
			t.Errorf("%s: LoadLinuxImage = %v, %v, %v; want %v, %v", tc.name, entry, end, err, tc.entry, tc.end)
			continue
		}
		off := int(entry - tc.base)
		if !bytes.Equal(ram[off:off+len(tc.img)], tc.img) {
			t.Errorf("%s: image not copied to the load address", tc.name)
		}
		if bss := ram[off+len(tc.img) : int(end-tc.base)]; !bytes.Equal(bss, make([]byte, len(bss))) {
			t.Errorf("%s: memory after the file not zeroed", tc.name)
		}
		if rest := ram[int(end-tc.base):]; !bytes.Equal(rest, dirtyRAM(len(rest))) {
			t.Errorf("%s: RAM after the image written", tc.name)
		}
	}
	l, err := Load(buildImage(0, 0x30000, 0, 0x2000), 0x4000_0000, make([]byte, 4<<20), elf.EM_AARCH64)
	if want := (Loaded{Kind: LinuxARM64, Entry: 0x4000_0000, Start: 0x4000_0000, End: 0x4003_0000}); err != nil || l != want {
		t.Errorf("Load = %+v, %v; want %+v", l, err, want)
	}
	if _, err := Load(buildImage(0, 0x30000, 0, 0x2000), 0, make([]byte, 4<<20), elf.EM_X86_64); !errors.Is(err, ErrMachine) {
		t.Errorf("Load of an Image for x86-64: %v", err)
	}
}

func TestLoadLinuxImageErrors(t *testing.T) {
	badMagic := buildImage(0, 0x1000, 0, 0x100)
	badMagic[imageMagicOff] ^= 1
	cases := []struct {
		name    string
		img     []byte
		base    hv.IPA
		ramSize int
		err     error
	}{
		{"short", buildImage(0, 0, 0, ImageHeaderSize)[:ImageHeaderSize-1], 0x4000_0000, 4 << 20, ErrTruncated},
		{"bad magic", badMagic, 0x4000_0000, 4 << 20, ErrUnknownFormat},
		{"big-endian", buildImage(0, 0x1000, 1, 0x100), 0x4000_0000, 4 << 20, ErrUnsupported},
		{"image_size beyond RAM", buildImage(0, 4<<20+1, 0, 0x100), 0x4000_0000, 4 << 20, ErrOutsideRAM},
		{"text_offset beyond RAM", buildImage(4<<20, 0x1000, 0, 0x100), 0x4000_0000, 4 << 20, ErrOutsideRAM},
		{"text_offset wraps", buildImage(1<<64-0x1000, 0x2000, 0, 0x100), 0x4000_0000, 4 << 20, ErrOutsideRAM},
		{"image_size wraps", buildImage(0x1000, 1<<64-0x800, 0, 0x100), 0x4000_0000, 4 << 20, ErrOutsideRAM},
		{"no 2 MiB boundary in RAM", buildImage(0, 0x1000, 0, 0x100), 0x4010_0000, 1 << 20, ErrOutsideRAM},
		{"base rounds past 2^64", buildImage(0, 0x1000, 0, 0x100), 1<<64 - 0x10_0000, 0x8_0000, ErrOutsideRAM},
		{"RAM window wraps", buildImage(0, 0x1000, 0, 0x100), 1<<64 - 0x1000, 0x2000, ErrOutsideRAM},
	}
	for _, tc := range cases {
		ram := dirtyRAM(tc.ramSize)
		_, _, err := LoadLinuxImage(tc.img, tc.base, ram)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
		}
		if !bytes.Equal(ram, dirtyRAM(len(ram))) {
			t.Errorf("%s: RAM written on error", tc.name)
		}
	}
}

func TestPlaceBlobs(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name        string
		ramSize     uint64
		kernelEnd   hv.IPA
		dtb, initrd uint64
		want        Layout
		err         error
	}{
		{"dtb and initrd", 64 * mib, 0x4123_4000, 0x2000, 0x12345, Layout{DTB: 0x4140_0000, DTBSize: 0x2000, Initrd: 0x4160_0000, InitrdSize: 0x12345, End: 0x4161_2345}, nil},
		{"kernel ends on 2 MiB", 64 * mib, 0x4020_0000, 1, 0, Layout{DTB: 0x4020_0000, DTBSize: 1, End: 0x4040_0000}, nil},
		{"initrd only", 64 * mib, 0x4123_4001, 0, 0x1000, Layout{Initrd: 0x4123_5000, InitrdSize: 0x1000, End: 0x4123_6000}, nil},
		{"nothing", 64 * mib, 0x4123_4001, 0, 0, Layout{End: 0x4123_4001}, nil},
		{"largest dtb, exactly fits", 4 * mib, 0x4000_1000, MaxDTBSize, 0, Layout{DTB: 0x4020_0000, DTBSize: MaxDTBSize, End: 0x4040_0000}, nil},
		{"dtb too large", 64 * mib, 0x4000_1000, MaxDTBSize + 1, 0, Layout{}, ErrTooLarge},
		{"no room for dtb", 4 * mib, 0x4020_0001, 0x100, 0, Layout{}, ErrOutsideRAM},
		{"no room for initrd", 4 * mib, 0x4000_1000, 0x100, 0x1001, Layout{}, ErrOutsideRAM},
		{"initrd size wraps", 4 * mib, 0x4000_1000, 0, 1<<64 - 0x800, Layout{}, ErrOutsideRAM},
		{"kernel end below RAM", 4 * mib, 0x3fff_ffff, 0, 0, Layout{}, ErrOutsideRAM},
		{"kernel end above RAM", 4 * mib, 0x4040_0001, 0, 0, Layout{}, ErrOutsideRAM},
	}
	for _, tc := range cases {
		l, err := PlaceBlobs(ramBase, tc.ramSize, tc.kernelEnd, tc.dtb, tc.initrd)
		if l != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("%s: PlaceBlobs = %+v, %v; want %+v, %v", tc.name, l, err, tc.want, tc.err)
		}
	}
	if _, err := PlaceBlobs(1<<64-mib, 2*mib, 1<<64-mib, 0, 0); !errors.Is(err, ErrOutsideRAM) {
		t.Errorf("wrapping RAM: %v", err)
	}
}

func TestCopyIn(t *testing.T) {
	ram := dirtyRAM(0x3000)
	if err := CopyIn(ram, ramBase, ramBase+0x2ffe, []byte("ok")); err != nil || string(ram[0x2ffe:]) != "ok" {
		t.Errorf("CopyIn at the end: %v", err)
	}
	for _, at := range []hv.IPA{ramBase - 1, ramBase + 0x2fff, 1<<64 - 1} {
		if err := CopyIn(ram, ramBase, at, []byte("no")); !errors.Is(err, ErrOutsideRAM) {
			t.Errorf("CopyIn at %v: %v", at, err)
		}
	}
	if err := CopyIn(ram, ramBase, ramBase+0x3000, nil); err != nil {
		t.Errorf("empty CopyIn at the end: %v", err)
	}
}
