// ci: QEMU integration tests for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package ci_test

import (
	"bytes"
	"debug/elf"
	"debug/pe"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tamavisor/tamavisor/ci/qemu"
	"github.com/tamavisor/tamavisor/image/multiboot2"
)

// readImage returns a built image, skipping (or failing under
// TAMAVISOR_REQUIRE_IMAGES) when it is absent.
func readImage(t *testing.T, rel string) []byte {
	t.Helper()
	root, err := qemu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		if qemu.RequireImages() {
			t.Fatalf("%v (%s is set)", err, qemu.RequireEnv)
		}
		t.Skipf("SKIP: %v", err)
	}
	return b
}

// TestMultiboot2Header reads the built amd64 image and checks its
// Multiboot2 header the way GRUB finds it (spec 2.0 3.1): magic and
// checksum, inside the first 32 KiB, 8-byte aligned, every tag
// well-formed, and the values tamavisor relies on.
func TestMultiboot2Header(t *testing.T) {
	img := readImage(t, "build/qemu-q35-amd64/tamavisor.elf")
	off, h, err := multiboot2.Find(img)
	if err != nil {
		t.Fatal(err)
	}
	if off%8 != 0 || off+int(h.Length) > multiboot2.HeaderSearch {
		t.Errorf("header at %#x, %d bytes: not 8-aligned inside the first 32 KiB", off, h.Length)
	}
	var sum uint32
	for i := 0; i < 16; i += 4 {
		sum += binary.LittleEndian.Uint32(img[off+i:])
	}
	if sum != 0 || binary.LittleEndian.Uint32(img[off:]) != multiboot2.HeaderMagic {
		t.Errorf("magic/checksum words sum to %#x", sum)
	}
	if h.Arch != multiboot2.ArchI386 {
		t.Errorf("architecture %d", h.Arch)
	}
	r := h.Relocatable
	if r == nil || r.Align != 2<<20 || r.Preference != multiboot2.RelocPreferenceHigh || r.MinAddr%(2<<20) != 0 || r.MaxAddr > 0xc000_0000 {
		t.Errorf("relocatable tag %+v", r)
	}
	if !h.EFIBootServices {
		t.Error("no EFI boot services tag")
	}
	for _, want := range []uint32{multiboot2.TagLoadBaseAddr, multiboot2.TagMemoryMap, multiboot2.TagModule, multiboot2.TagEFI64SystemTable, multiboot2.TagEFI64ImageHandle} {
		if !slices.Contains(h.InfoRequests, want) {
			t.Errorf("information request lacks tag %d: %v", want, h.InfoRequests)
		}
	}

	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var efiEntry, ramStart uint64
	for _, s := range syms {
		switch s.Name {
		case "github.com/tamavisor/tamavisor/hv/amd64.efi64_mb2":
			efiEntry = s.Value
		case "runtime.ramStart":
			ramStart = s.Value
		}
	}
	if h.EFIAmd64Entry == nil || uint64(*h.EFIAmd64Entry) != efiEntry || efiEntry == 0 {
		t.Errorf("EFI amd64 entry %v, symbol at %#x", h.EFIAmd64Entry, efiEntry)
	}
	// The loadable image starts at the link base, 2 MiB aligned, and the
	// last PT_LOAD reserves the runtime's whole RAM window.
	var lo, hi uint64 = ^uint64(0), 0
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			lo, hi = min(lo, p.Paddr), max(hi, p.Paddr+p.Memsz)
		}
	}
	if lo != linkBase || lo%(2<<20) != 0 || hi-lo != 256<<20 {
		t.Errorf("PT_LOAD span [%#x, %#x), want [%#x, +256 MiB)", lo, hi, uint64(linkBase))
	}
	if ramStart == 0 {
		t.Error("no runtime.ramStart symbol")
	}
	if r != nil && uint64(r.MaxAddr)-uint64(r.MinAddr) < hi-lo {
		t.Errorf("relocatable window %#x-%#x cannot hold %#x bytes", r.MinAddr, r.MaxAddr, hi-lo)
	}
}

// TestEFIImage checks the PE32+ application make efi builds.
func TestEFIImage(t *testing.T) {
	img := readImage(t, "build/BOOTX64.EFI")
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("not PE32+: %T", f.OptionalHeader)
	}
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 || oh.Subsystem != pe.IMAGE_SUBSYSTEM_EFI_APPLICATION {
		t.Errorf("machine %#x subsystem %d", f.Machine, oh.Subsystem)
	}
	if f.Characteristics&pe.IMAGE_FILE_RELOCS_STRIPPED != 0 {
		t.Error("relocations stripped: firmware could only load it at its image base")
	}
	if oh.ImageBase != linkBase {
		t.Errorf("image base %#x", oh.ImageBase)
	}
}
