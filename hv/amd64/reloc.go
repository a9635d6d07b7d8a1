// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"errors"
	"fmt"
)

// Self-relocation through paging.
//
// tamavisor is linked at a fixed address (the Makefile's -T; the first
// PT_LOAD segment starts at LinkBase = runtime.ramStart) but a loader may
// place it elsewhere: GRUB honours the Multiboot2 relocatable header tag,
// UEFI loads a PE image wherever it likes. The image is never copied to
// its link address. Instead cpuinit builds page tables in which
//
//   - the window [LinkBase, LinkBase+Size) of virtual addresses (image,
//     Go heap and stacks: the runtime's whole RAM) maps to the physical
//     range [LoadBase, LoadBase+Size) with 2 MiB pages;
//   - every other virtual address below 4 GiB maps to itself (device
//     MMIO, firmware tables, low memory), the top GiB uncached, with the
//     first 4 KiB page absent so null pointers fault;
//   - PhysMapBase+pa maps to pa for every pa below 4 GiB, so memory the
//     window shadows (a boot module GRUB put at a physical address inside
//     [LinkBase, LinkBase+Size), say) stays reachable.
//
// Go code runs at its link addresses and never sees LoadBase, except
// where hardware is handed an address (page tables, DMA, VMCB, IOMMU
// tables): those go through Relocation.VirtToPhys. When the loader used
// the link address, Offset is 0 and the window is an identity map.
//
// The offset and both bases must be multiples of 2 MiB (the header asks
// GRUB for that alignment), the window must lie in one GiB below 3 GiB,
// and LoadBase+Size must stay below 4 GiB; cpuinit stops with an early
// boot error otherwise (see EarlyError).

// Early paging structures: 4 KiB pages inside the image (earlyMem), in
// this order. cpuinit_amd64.s uses these through go_asm.h.
const (
	EARLY_PML4_BOOT = 0  // identity 0-4 GiB + physmap: used while switching
	EARLY_PML4      = 1  // the final map: window + identity + physmap
	EARLY_PDPT_PURE = 2  // 4 x 1 GiB of pure identity
	EARLY_PDPT_WIN  = 3  // the same with the window's GiB replaced
	EARLY_PD_PURE   = 4  // 4 page directories, 2 MiB pages, 0-4 GiB
	EARLY_PD_WIN    = 8  // copy of the window's GiB, window remapped
	EARLY_PT0       = 9  // 4 KiB pages for 0-2 MiB, page 0 absent
	EARLY_GDT       = 10 // GDT (null, code64, data) and GDTR at +0x20
	EARLY_STACK     = 11 // 2 pages of boot stack, top at EARLY_PAGES
	EARLY_PAGES     = 13

	EARLY_GDTR    = 0x20  // GDTR image offset in the GDT page
	EARLY_SCRATCH = 0x100 // scratch words in the GDT page

	// PhysMapBase is the virtual address of the physical-memory alias
	// (PML4 entry 1).
	PhysMapBase = 0x80_0000_0000
	// PhysMapSize is how much physical memory the alias covers.
	PhysMapSize = 4 << 30

	LARGE_PAGE = 2 << 20
	GIB        = 1 << 30
	// MMIO_BASE: identity-mapped 2 MiB pages at and above it are
	// uncached (PCD|PWT); on PCs the top GiB below 4 GiB holds the LAPIC,
	// IOAPIC, HPET and PCI windows.
	MMIO_BASE = 0xc000_0000
)

// Intel SDM Vol. 3A 4.5, Table 4-15..4-20: paging-structure entry bits.
const (
	PTE_P   = 1 << 0
	PTE_RW  = 1 << 1
	PTE_PWT = 1 << 3
	PTE_PCD = 1 << 4
	PTE_PS  = 1 << 7

	PTE_ADDR_MASK = 0x000f_ffff_ffff_f000
)

// EarlyError codes: cpuinit prints "tamavisor: early boot error N" on
// COM1 and halts when the placement cannot be mapped.
const (
	EARLY_ERR_ALIGN  = 1 // link base, size or offset not 2 MiB aligned
	EARLY_ERR_LOW    = 2 // window starts below 2 MiB (page 0 guard)
	EARLY_ERR_WINDOW = 3 // window crosses a GiB or reaches the MMIO GiB
	EARLY_ERR_LOAD   = 4 // load range wraps or ends above 4 GiB
	EARLY_ERR_NOMEM  = 5 // UEFI: AllocatePages found no room for the window
)

// Relocation describes where the hypervisor runs: LinkBase is the
// virtual (link) address of its RAM window, LoadBase the physical
// address the loader put it at, Size the window's size.
type Relocation struct {
	LinkBase uint64
	LoadBase uint64
	Size     uint64
}

// ErrRelocation reports a placement the early page tables cannot map.
var ErrRelocation = errors.New("amd64: relocation")

// Offset is LoadBase - LinkBase.
func (r Relocation) Offset() int64 { return int64(r.LoadBase - r.LinkBase) }

// Validate applies the rules cpuinit enforces (same order, same codes).
func (r Relocation) Validate() error {
	code := r.earlyCode()
	if code == 0 {
		return nil
	}
	msg := map[int]string{
		EARLY_ERR_ALIGN:  "link base, size and offset must be multiples of 2 MiB",
		EARLY_ERR_LOW:    "window must start at or above 2 MiB",
		EARLY_ERR_WINDOW: "window must lie within one GiB below 3 GiB",
		EARLY_ERR_LOAD:   "load range must end below 4 GiB",
	}[code]
	return fmt.Errorf("%w: link %#x load %#x size %#x: %s (early error %d)",
		ErrRelocation, r.LinkBase, r.LoadBase, r.Size, msg, code)
}

// earlyCode mirrors early_tables' checks in 32-bit arithmetic.
func (r Relocation) earlyCode() int {
	if r.LinkBase > 0xffff_ffff || r.LoadBase > 0xffff_ffff || r.Size > 0xffff_ffff {
		return EARLY_ERR_LOAD
	}
	l, w, p := uint32(r.LinkBase), uint32(r.Size), uint32(r.LoadBase)
	o := p - l
	if (l|w|o)&(LARGE_PAGE-1) != 0 {
		return EARLY_ERR_ALIGN
	}
	if l < LARGE_PAGE {
		return EARLY_ERR_LOW
	}
	end := l + w
	if end < l || end > MMIO_BASE || w == 0 || (end-1)>>30 != l>>30 {
		return EARLY_ERR_WINDOW
	}
	if p+w < p {
		return EARLY_ERR_LOAD
	}
	return 0
}

// InWindow reports whether va lies in the relocated window.
func (r Relocation) InWindow(va uint64) bool {
	return va >= r.LinkBase && va-r.LinkBase < r.Size
}

// VirtToPhys translates a hypervisor virtual address to the physical
// address hardware must be given. Addresses outside the window are
// identity mapped below 4 GiB and aliased at PhysMapBase.
func (r Relocation) VirtToPhys(va uint64) (uint64, bool) {
	switch {
	case r.InWindow(va):
		return va - r.LinkBase + r.LoadBase, true
	case va >= PhysMapBase && va-PhysMapBase < PhysMapSize:
		return va - PhysMapBase, true
	case va < PhysMapSize && va >= 0x1000:
		return va, true
	}
	return 0, false
}

// PhysToVirt returns a virtual address at which the hypervisor can reach
// physical address pa: inside its own load range, the window address;
// anywhere else below 4 GiB, the physmap alias (valid whether or not the
// window shadows the identity mapping of pa).
func (r Relocation) PhysToVirt(pa uint64) (uint64, bool) {
	switch {
	case pa >= r.LoadBase && pa-r.LoadBase < r.Size:
		return pa - r.LoadBase + r.LinkBase, true
	case pa < PhysMapSize:
		return PhysMapBase + pa, true
	}
	return 0, false
}

// PageTableReader reads the 8-byte paging-structure entry at physical
// address pa.
type PageTableReader func(pa uint64) (uint64, error)

// Translate walks 4-level paging (SDM Vol. 3A 4.5) from cr3 for va and
// returns the physical address and the leaf entry.
func Translate(read PageTableReader, cr3, va uint64) (pa, leaf uint64, err error) {
	table := cr3 & PTE_ADDR_MASK
	for level := 4; level >= 1; level-- {
		shift := 12 + 9*uint(level-1)
		idx := (va >> shift) & 511
		e, err := read(table + idx*8)
		if err != nil {
			return 0, 0, err
		}
		if e&PTE_P == 0 {
			return 0, e, fmt.Errorf("%w: va %#x not present at level %d (entry %#x)", ErrRelocation, va, level, e)
		}
		if level == 1 || (level <= 3 && e&PTE_PS != 0) {
			if level == 3 || level == 2 {
				// 1 GiB / 2 MiB page: bits above the page offset.
				base := e & PTE_ADDR_MASK &^ ((uint64(1) << shift) - 1)
				return base | va&((uint64(1)<<shift)-1), e, nil
			}
			return e&PTE_ADDR_MASK | va&0xfff, e, nil
		}
		table = e & PTE_ADDR_MASK
	}
	return 0, 0, fmt.Errorf("%w: walk of %#x fell through", ErrRelocation, va)
}

// CheckMap verifies that the page tables at cr3 implement r as described
// above, at every 2 MiB boundary of the window, of the identity map and
// of the physmap alias, plus the null-page guard. It returns every
// mismatch.
func CheckMap(read PageTableReader, cr3 uint64, r Relocation) []error {
	var errs []error
	expect := func(va, want uint64, uncached bool) {
		pa, leaf, err := Translate(read, cr3, va)
		switch {
		case err != nil:
			errs = append(errs, err)
		case pa != want:
			errs = append(errs, fmt.Errorf("%w: va %#x maps to %#x, want %#x", ErrRelocation, va, pa, want))
		case leaf&PTE_RW == 0:
			errs = append(errs, fmt.Errorf("%w: va %#x read-only", ErrRelocation, va))
		case uncached != (leaf&PTE_PCD != 0):
			errs = append(errs, fmt.Errorf("%w: va %#x cache attribute %#x", ErrRelocation, va, leaf&(PTE_PCD|PTE_PWT)))
		}
	}
	for va := uint64(0); va < PhysMapSize; va += LARGE_PAGE {
		uc := va >= MMIO_BASE
		probe := va
		if va == 0 {
			probe = 0x1000
		}
		if r.InWindow(va) {
			expect(va, va-r.LinkBase+r.LoadBase, false)
		} else {
			expect(probe, probe, uc)
		}
		expect(PhysMapBase+probe, probe, uc)
	}
	if _, _, err := Translate(read, cr3, 0); err == nil {
		errs = append(errs, fmt.Errorf("%w: page 0 is mapped", ErrRelocation))
	}
	return errs
}
