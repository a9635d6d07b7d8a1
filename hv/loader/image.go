// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// ImageHeader is the 64-byte header at the start of an arm64 Linux Image
// (Linux Documentation/arch/arm64/booting.rst, "4. Call the kernel
// image"). All fields are little-endian.
type ImageHeader struct {
	Code0      uint32 // executable code
	Code1      uint32 // executable code
	TextOffset uint64 // image load offset from a 2 MiB aligned base
	ImageSize  uint64 // effective image size (with bss); 0 before Linux 3.17
	Flags      uint64 // kernel flags, see ARM64_IMAGE_FLAG_*
	Res2       uint64
	Res3       uint64
	Res4       uint64
	Magic      uint32 // ARM64_IMAGE_MAGIC
	Res5       uint32 // reserved (PE COFF offset for EFI stubs)
}

// booting.rst, "4. Call the kernel image": header layout and flags.
const (
	ImageHeaderSize   = 64
	imageMagicOff     = 0x38
	ARM64_IMAGE_MAGIC = 0x644d5241 // "ARM\x64"

	// Bit 0: kernel endianness, 1 is big-endian.
	ARM64_IMAGE_FLAG_BE_SHIFT = 0
	ARM64_IMAGE_FLAG_BE_MASK  = 0x1
	// Bits 1-2: kernel page size, 0 unspecified, 1 4K, 2 16K, 3 64K.
	ARM64_IMAGE_FLAG_PAGE_SIZE_SHIFT = 1
	ARM64_IMAGE_FLAG_PAGE_SIZE_MASK  = 0x3
	// Bit 3: physical placement, 0 as close to the base of DRAM as
	// possible, 1 anywhere in physical memory.
	ARM64_IMAGE_FLAG_PHYS_BASE_SHIFT = 3
	ARM64_IMAGE_FLAG_PHYS_BASE_MASK  = 0x1

	// ImageAlign is the alignment of the base the image is placed above.
	ImageAlign = 2 << 20
	// LegacyTextOffset is the text_offset to assume when image_size is
	// 0 (kernels before 3.17, whose text_offset has unspecified
	// endianness).
	LegacyTextOffset = 0x80000
)

// ParseImageHeader reads the header of an arm64 Linux Image.
func ParseImageHeader(img []byte) (*ImageHeader, error) {
	if len(img) < ImageHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, an Image header needs %d", ErrTruncated, len(img), ImageHeaderSize)
	}
	h := &ImageHeader{}
	if err := binary.Read(bytes.NewReader(img[:ImageHeaderSize]), binary.LittleEndian, h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if h.Magic != ARM64_IMAGE_MAGIC {
		return nil, fmt.Errorf("%w: Image magic %#x, want %#x", ErrUnknownFormat, h.Magic, ARM64_IMAGE_MAGIC)
	}
	return h, nil
}

// LoadLinuxImage copies an arm64 Linux Image into ram, whose first byte
// is at guest-physical ramBase, following the arm64 boot protocol: the
// image goes text_offset bytes above the lowest 2 MiB aligned address in
// RAM (which satisfies both values of the physical-placement flag), and
// image_size bytes from there must lie in RAM. An image with image_size 0
// is a pre-3.17 kernel: text_offset is taken as 0x80000 and only the file
// itself is accounted for. Big-endian kernels are refused.
//
// It returns the entry point, which is the load address, and end, the
// first address after the image's memory (load + max(image_size, file
// size)); the bytes between the file's end and end are zeroed.
// PlaceBlobs takes end as kernelEnd.
func LoadLinuxImage(img []byte, ramBase hv.IPA, ram []byte) (entry hv.IPA, end hv.IPA, err error) {
	h, err := ParseImageHeader(img)
	if err != nil {
		return 0, 0, err
	}
	if h.Flags>>ARM64_IMAGE_FLAG_BE_SHIFT&ARM64_IMAGE_FLAG_BE_MASK != 0 {
		return 0, 0, fmt.Errorf("%w: big-endian kernel (flags %#x)", ErrUnsupported, h.Flags)
	}
	textOffset, size := h.TextOffset, h.ImageSize
	if size == 0 {
		textOffset = LegacyTextOffset
	}
	size = max(size, uint64(len(img)))
	lo, hi, err := ramWindow(ramBase, ram)
	if err != nil {
		return 0, 0, err
	}
	base, ok := alignUp(lo, ImageAlign)
	load := base + textOffset
	stop := load + size
	if !ok || load < base || stop < load || stop > hi {
		return 0, 0, fmt.Errorf("%w: text_offset %#x, image_size %#x (file %#x bytes) above a 2 MiB aligned base in RAM [%#x,%#x)",
			ErrOutsideRAM, textOffset, h.ImageSize, len(img), lo, hi)
	}
	off := load - lo
	n := copy(ram[off:off+size], img)
	clear(ram[off+uint64(n) : off+size])
	return hv.IPA(load), hv.IPA(stop), nil
}

// ramWindow returns the guest-physical range [lo, hi) ram covers.
func ramWindow(ramBase hv.IPA, ram []byte) (lo, hi uint64, err error) {
	lo, hi = uint64(ramBase), uint64(ramBase)+uint64(len(ram))
	if hi < lo {
		return 0, 0, fmt.Errorf("%w: RAM window %v + %#x wraps", ErrOutsideRAM, ramBase, len(ram))
	}
	return lo, hi, nil
}

// alignUp rounds v up to a multiple of align (a power of two); ok is
// false if that overflows.
func alignUp(v, align uint64) (uint64, bool) {
	r := (v + align - 1) &^ (align - 1)
	return r, r >= v
}
