// cmd/tvimage: post-link tool that makes bootable tamavisor images.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/tamavisor/tamavisor/image/multiboot2"
)

// Symbols the tool reads from the image.
const (
	symRAMStart = "runtime.ramStart"
	symRAMSize  = "runtime.ramSize"
	symEFIMB2   = "github.com/tamavisor/tamavisor/hv/amd64.efi64_mb2"
	symEFIPE    = "github.com/tamavisor/tamavisor/hv/amd64.efi_pe_entry"
)

// Relocatable header choices (README "Booting"):
//
//   - align 2 MiB: cpuinit maps the image with 2 MiB pages, so the load
//     offset must be a multiple of 2 MiB (hv/amd64 reloc.go);
//   - min 2 MiB, max 3 GiB: anywhere in RAM below the top GiB, which on
//     PCs is MMIO (and the early page tables map 0-4 GiB only);
//   - preference high: keep low memory, which legacy devices and guests
//     with 32-bit DMA need, free; GRUB therefore relocates tamavisor on
//     most machines, so the relocated path is the common one.
const (
	relocMin   = 2 << 20
	relocMax   = 0xc000_0000 - 1
	relocAlign = 2 << 20
)

// requestedTags: what tamavisor reads from the MBI (image/boot).
var requestedTags = []uint32{
	multiboot2.TagCmdline, multiboot2.TagBootLoaderName, multiboot2.TagModule,
	multiboot2.TagMemoryMap, multiboot2.TagEFI64SystemTable, multiboot2.TagACPIOldRSDP,
	multiboot2.TagACPINewRSDP, multiboot2.TagEFIBootServicesNotTerm,
	multiboot2.TagEFI64ImageHandle, multiboot2.TagLoadBaseAddr,
}

func readU64(elf []byte, sym string) (uint64, error) {
	va, err := multiboot2.SymbolValue(elf, sym)
	if err != nil {
		return 0, err
	}
	b, err := multiboot2.ReadVirtual(elf, va, 8)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", sym, err)
	}
	return binary.LittleEndian.Uint64(b), nil
}

// mb2Options are the header choices; defaultMB2 is what images ship with.
type mb2Options struct {
	efiBS           bool
	min, max, align uint32
}

var defaultMB2 = mb2Options{efiBS: true, min: relocMin, max: relocMax, align: relocAlign}

// header builds tamavisor's Multiboot2 header.
func header(efiEntry uint32, o mb2Options) *multiboot2.Header {
	h := &multiboot2.Header{Arch: multiboot2.ArchI386}
	// Optional: a loader that cannot give some tag (EFI tags on BIOS)
	// must still boot tamavisor, which checks what it got.
	h.Tags = append(h.Tags, multiboot2.InfoRequest(true, requestedTags...))
	h.Tags = append(h.Tags, multiboot2.Relocatable(o.min, o.max, o.align, multiboot2.RelocPreferenceHigh))
	if o.efiBS {
		h.Tags = append(h.Tags, multiboot2.EFIBootServices())
	}
	h.Tags = append(h.Tags, multiboot2.EFIAmd64Entry(efiEntry), multiboot2.ModuleAlign())
	return h
}

// multiboot2Image writes the header into a TamaGo amd64 ELF and
// stretches its last PT_LOAD to the end of the runtime's RAM window, so
// a loader reserves (and zeroes) the whole window, not only the image.
func multiboot2Image(elf []byte, o mb2Options) ([]byte, string, error) {
	start, err := readU64(elf, symRAMStart)
	if err != nil {
		return nil, "", err
	}
	size, err := readU64(elf, symRAMSize)
	if err != nil {
		return nil, "", err
	}
	entry, err := multiboot2.SymbolValue(elf, symEFIMB2)
	if err != nil {
		return nil, "", err
	}
	if entry > 0xffff_ffff || start+size > 0xffff_ffff {
		return nil, "", fmt.Errorf("image above 4 GiB (EFI entry %#x, RAM %#x+%#x)", entry, start, size)
	}
	if uint64(o.min) > uint64(o.max) || uint64(o.max)-uint64(o.min) < size {
		return nil, "", fmt.Errorf("relocatable window %#x-%#x cannot hold the %#x-byte RAM window", o.min, o.max, size)
	}
	hb, err := header(uint32(entry), o).Encode()
	if err != nil {
		return nil, "", err
	}
	out, res, err := multiboot2.PatchELF(elf, multiboot2.PatchOptions{Header: hb, ReserveEnd: start + size})
	if err != nil {
		return nil, "", err
	}
	desc, err := describeHeader(out)
	if err != nil {
		return nil, "", err
	}
	return out, fmt.Sprintf("%s\nreserved: %#x-%#x (was to %#x)", desc, start, res.NewMemEnd, res.OldMemEnd), nil
}

// describeHeader prints the header found in an image.
func describeHeader(img []byte) (string, error) {
	off, h, err := multiboot2.Find(img)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "multiboot2 header at file offset %#x, %d bytes", off, h.Length)
	if r := h.Relocatable; r != nil {
		fmt.Fprintf(&b, "\nrelocatable: min %#x max %#x align %#x preference %d", r.MinAddr, r.MaxAddr, r.Align, r.Preference)
	}
	if h.EFIAmd64Entry != nil {
		fmt.Fprintf(&b, "\nefi amd64 entry: %#x", *h.EFIAmd64Entry)
	}
	fmt.Fprintf(&b, "\nefi boot services: %v", h.EFIBootServices)
	fmt.Fprintf(&b, "\ninformation requests: %v", h.InfoRequests)
	return b.String(), nil
}
