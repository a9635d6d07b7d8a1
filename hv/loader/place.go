// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"debug/elf"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Device tree placement, booting.rst "2. Setup the device tree": the DTB
// must be 8-byte aligned and at most 2 MiB, and must not share a 2 MiB
// block with anything needing other memory attributes.
const (
	DTBAlign   = 2 << 20
	MaxDTBSize = 2 << 20
)

// Layout says where PlaceBlobs put the device tree and the initrd. An
// address is 0 when its size is 0 (nothing to place).
type Layout struct {
	DTB        hv.IPA
	DTBSize    uint64
	Initrd     hv.IPA
	InitrdSize uint64
	// End is the first address after everything placed (the kernel when
	// there are no blobs).
	End hv.IPA
}

// PlaceBlobs chooses where the device tree and the initrd go in guest
// RAM [ramBase, ramBase+ramSize), above a kernel that ends at kernelEnd
// (from LoadLinuxImage or Load):
//
//   - the DTB gets the whole 2 MiB aligned, 2 MiB block at or above
//     kernelEnd, so it shares no block with the kernel and the hypervisor
//     may grow it in place up to MaxDTBSize;
//   - the initrd starts at the next page boundary after that (after
//     kernelEnd if there is no DTB).
//
// This keeps everything within a few MiB of the kernel, well inside the
// 32 GiB window the arm64 boot protocol requires for the initrd. A DTB
// larger than MaxDTBSize is ErrTooLarge; a layout that does not fit in
// RAM is ErrOutsideRAM. PlaceBlobs only computes; CopyIn writes.
func PlaceBlobs(ramBase hv.IPA, ramSize uint64, kernelEnd hv.IPA, dtbSize, initrdSize uint64) (Layout, error) {
	lo, hi := uint64(ramBase), uint64(ramBase)+ramSize
	if hi < lo {
		return Layout{}, fmt.Errorf("%w: RAM window %v + %#x wraps", ErrOutsideRAM, ramBase, ramSize)
	}
	cur := uint64(kernelEnd)
	if cur < lo || cur > hi {
		return Layout{}, fmt.Errorf("%w: kernel end %v is outside RAM [%#x,%#x)", ErrOutsideRAM, kernelEnd, lo, hi)
	}
	if dtbSize > MaxDTBSize {
		return Layout{}, fmt.Errorf("%w: device tree of %#x bytes, at most %#x", ErrTooLarge, dtbSize, MaxDTBSize)
	}
	l := Layout{DTBSize: dtbSize, InitrdSize: initrdSize}
	if dtbSize > 0 {
		at, ok := alignUp(cur, DTBAlign)
		if !ok || at+DTBAlign < at || at+DTBAlign > hi {
			return Layout{}, fmt.Errorf("%w: no 2 MiB block for the device tree above %#x in RAM [%#x,%#x)", ErrOutsideRAM, cur, lo, hi)
		}
		l.DTB, cur = hv.IPA(at), at+DTBAlign
	}
	if initrdSize > 0 {
		at, ok := alignUp(cur, hv.PageSize)
		if !ok || at+initrdSize < at || at+initrdSize > hi {
			return Layout{}, fmt.Errorf("%w: initrd of %#x bytes does not fit above %#x in RAM [%#x,%#x)", ErrOutsideRAM, initrdSize, cur, lo, hi)
		}
		l.Initrd, cur = hv.IPA(at), at+initrdSize
	}
	l.End = hv.IPA(cur)
	return l, nil
}

// CopyIn copies data into ram, whose first byte is at guest-physical
// ramBase, at guest-physical address at. It refuses, without writing, a
// range that is not wholly inside ram.
func CopyIn(ram []byte, ramBase hv.IPA, at hv.IPA, data []byte) error {
	lo, hi, err := ramWindow(ramBase, ram)
	if err != nil {
		return err
	}
	a, n := uint64(at), uint64(len(data))
	if a < lo || a+n < a || a+n > hi {
		return fmt.Errorf("%w: %#x bytes at %v, RAM is [%#x,%#x)", ErrOutsideRAM, n, at, lo, hi)
	}
	copy(ram[a-lo:], data)
	return nil
}

// Loaded describes a kernel Load put into RAM.
type Loaded struct {
	Kind Kind
	// Entry is where the boot vCPU starts.
	Entry hv.IPA
	// Start and End bound the memory the kernel occupies, [Start, End).
	Start, End hv.IPA
}

// Load detects the kind of img and loads it with LoadELF or
// LoadLinuxImage. machine is the guest's architecture (EM_AARCH64 or
// EM_X86_64); an image for another one is ErrMachine.
func Load(img []byte, ramBase hv.IPA, ram []byte, machine elf.Machine) (Loaded, error) {
	kind, err := Detect(img)
	if err != nil {
		return Loaded{}, err
	}
	if kind.Machine() != machine {
		return Loaded{}, fmt.Errorf("%w: %v image, want one for %v", ErrMachine, kind, machine)
	}
	l := Loaded{Kind: kind}
	if kind == LinuxARM64 {
		l.Entry, l.End, err = LoadLinuxImage(img, ramBase, ram)
		l.Start = l.Entry
	} else {
		l.Entry, l.Start, l.End, err = loadELF(img, ramBase, ram, machine)
	}
	if err != nil {
		return Loaded{}, err
	}
	return l, nil
}
