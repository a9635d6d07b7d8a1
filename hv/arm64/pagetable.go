// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import "github.com/tamavisor/tamavisor/hv"

// D8.3 VMSAv8-64 translation table format descriptors, 4 KiB granule
// (ARM DDI 0487K.a), for the stage-1 EL2 translation regime (non-VHE,
// single VA range, one privilege level).
const (
	PTE_VALID = 1 << 0
	// bit 1 set: table descriptor at levels 0-2, page descriptor at level 3
	PTE_TABLE = 1 << 1
	PTE_PAGE  = 1 << 1

	PTE_ATTRINDX_SHIFT = 2
	PTE_ATTRINDX_MASK  = 0x7

	// D8.4.1.2 Data access permissions, AP[2:1]. In a regime with one
	// privilege level AP[1] is RES1 and AP[2] selects read-only.
	PTE_AP_SHIFT = 6
	PTE_AP_MASK  = 0x3
	PTE_AP_RW    = 0b01
	PTE_AP_RO    = 0b11

	PTE_SH_SHIFT = 8
	PTE_SH_MASK  = 0x3
	PTE_SH_NON   = 0b00
	PTE_SH_OUTER = 0b10
	PTE_SH_INNER = 0b11

	PTE_AF = 1 << 10

	// Output address bits [47:12].
	PTE_ADDR_MASK = 0x0000_ffff_ffff_f000

	// Upper attributes: in the EL2 (non-VHE) and EL3 regimes bit 54 is
	// XN and bit 53 is RES0.
	PTE_XN = 1 << 54
)

// MAIR_EL2 attribute indexes used by tamavisor (D19.2.97 MAIR_EL2).
const (
	MAIR_IDX_DEVICE = 0 // Device-nGnRnE
	MAIR_IDX_NORMAL = 1 // Normal, Inner/Outer Write-Back RW-Allocate

	MAIR_ATTR_DEVICE_nGnRnE = 0x00
	MAIR_ATTR_NORMAL_WB     = 0xff

	// MAIRValue is the MAIR_EL2 value matching the indexes above.
	MAIRValue = MAIR_ATTR_DEVICE_nGnRnE<<(8*MAIR_IDX_DEVICE) |
		MAIR_ATTR_NORMAL_WB<<(8*MAIR_IDX_NORMAL)
)

// MemType is the memory type of a mapping.
type MemType uint8

const (
	// Device is Device-nGnRnE memory, for MMIO.
	Device MemType = iota
	// Normal is cacheable Normal memory, for RAM.
	Normal
)

// Attr says how a range is mapped.
type Attr struct {
	Type       MemType
	Writable   bool
	Executable bool
}

// S1PTE is one stage-1 translation table descriptor.
type S1PTE uint64

// Valid reports whether the descriptor maps or points at something.
func (d S1PTE) Valid() bool { return d&PTE_VALID != 0 }

// IsTable reports whether d, found at the given lookup level, points to a
// next-level table (as opposed to a block or page).
func (d S1PTE) IsTable(level int) bool { return level < 3 && d&PTE_TABLE != 0 }

// Addr returns the output address (next table, block or page).
func (d S1PTE) Addr() hv.PA { return hv.PA(uint64(d) & PTE_ADDR_MASK) }

// Attr decodes the mapping attributes of a block or page descriptor.
func (d S1PTE) Attr() Attr {
	a := Attr{Type: Device}
	if (uint64(d)>>PTE_ATTRINDX_SHIFT)&PTE_ATTRINDX_MASK == MAIR_IDX_NORMAL {
		a.Type = Normal
	}
	a.Writable = (uint64(d)>>PTE_AP_SHIFT)&PTE_AP_MASK == PTE_AP_RW
	a.Executable = d&PTE_XN == 0
	return a
}

// leafPTE encodes a block (level 1, 2) or page (level 3) descriptor.
func leafPTE(pa hv.PA, level int, a Attr) S1PTE {
	d := uint64(pa)&PTE_ADDR_MASK | PTE_VALID | PTE_AF
	if level == 3 {
		d |= PTE_PAGE
	}
	ap := uint64(PTE_AP_RO)
	if a.Writable {
		ap = PTE_AP_RW
	}
	d |= ap << PTE_AP_SHIFT
	if a.Type == Normal {
		d |= MAIR_IDX_NORMAL<<PTE_ATTRINDX_SHIFT | PTE_SH_INNER<<PTE_SH_SHIFT
	} else {
		d |= MAIR_IDX_DEVICE<<PTE_ATTRINDX_SHIFT | PTE_SH_OUTER<<PTE_SH_SHIFT
	}
	if !a.Executable {
		d |= PTE_XN
	}
	return S1PTE(d)
}

const entriesPerTable = 512

// levelShift is the number of VA bits below a level's index field.
func levelShift(level int) uint { return 12 + 9*uint(3-level) }

// Table errors. They are constants so the builder works in hwinit0,
// before the Go runtime exists (see hv.Error).
const (
	ErrUnaligned = hv.Error("arm64: mapping not 4 KiB aligned")
	ErrRange     = hv.Error("arm64: mapping outside the translation range")
	ErrOverlap   = hv.Error("arm64: mapping overlaps an existing one")
	ErrVABits    = hv.Error("arm64: unsupported VA size (want 39 or 48 bits)")
)

// Table is a stage-1 translation table for one regime, built in memory
// reached through a hv.PhysMemory with pages from a hv.PageAllocator.
//
// With 39 VA bits (TCR_EL2.T0SZ = 25) lookup starts at level 1, with 48
// (T0SZ = 16) at level 0 (D8.2.6, Table D8-7 for the 4 KiB granule).
// Blocks are used at levels 1 and 2 where alignment allows.
type Table struct {
	Root   hv.PA
	VABits uint
	start  int
	alloc  hv.PageAllocator
	mem    hv.PhysMemory
}

// NewTable allocates an empty root table. It does not allocate from the
// Go heap when t is provided by the caller (see Init).
func NewTable(alloc hv.PageAllocator, mem hv.PhysMemory, vaBits uint) (*Table, error) {
	t := &Table{}
	if err := t.Init(alloc, mem, vaBits); err != nil {
		return nil, err
	}
	return t, nil
}

// Init sets up t in place with a freshly allocated root table.
func (t *Table) Init(alloc hv.PageAllocator, mem hv.PhysMemory, vaBits uint) error {
	switch vaBits {
	case 39:
		t.start = 1
	case 48:
		t.start = 0
	default:
		return ErrVABits
	}
	root, err := alloc.AllocPage()
	if err != nil {
		return err
	}
	t.Root, t.VABits, t.alloc, t.mem = root, vaBits, alloc, mem
	return nil
}

// T0SZ returns the TCR_EL2.T0SZ value for the table's VA size.
func (t *Table) T0SZ() uint64 { return 64 - uint64(t.VABits) }

// Map maps [va, va+size) to [pa, pa+size) with attributes a, using the
// largest blocks alignment allows. It fails without changing existing
// mappings' targets if any part is already mapped (tables allocated on
// the way stay, empty).
func (t *Table) Map(va hv.VA, pa hv.PA, size uint64, a Attr) error {
	if va%hv.PageSize != 0 || pa%hv.PageSize != 0 || size%hv.PageSize != 0 || size == 0 {
		return ErrUnaligned
	}
	end := uint64(va) + size
	if end < uint64(va) || end > 1<<t.VABits || uint64(pa)+size > 1<<48 {
		return ErrRange
	}
	for size > 0 {
		level := 3
		for l := 1; l < 3; l++ {
			blk := uint64(1) << levelShift(l)
			if l >= t.start && uint64(va)%blk == 0 && uint64(pa)%blk == 0 && size >= blk {
				level = l
				break
			}
		}
		if err := t.mapOne(va, pa, level, a); err != nil {
			return err
		}
		n := uint64(1) << levelShift(level)
		va += hv.VA(n)
		pa += hv.PA(n)
		size -= n
	}
	return nil
}

func (t *Table) entry(table hv.PA, va hv.VA, level int) hv.PA {
	idx := (uint64(va) >> levelShift(level)) % entriesPerTable
	return table + hv.PA(idx*8)
}

func (t *Table) mapOne(va hv.VA, pa hv.PA, level int, a Attr) error {
	table := t.Root
	for l := t.start; l < level; l++ {
		e := t.entry(table, va, l)
		d := S1PTE(t.mem.Read64(e))
		if !d.Valid() {
			next, err := t.alloc.AllocPage()
			if err != nil {
				return err
			}
			d = S1PTE(uint64(next) | PTE_TABLE | PTE_VALID)
			t.mem.Write64(e, uint64(d))
		} else if !d.IsTable(l) {
			return ErrOverlap
		}
		table = d.Addr()
	}
	e := t.entry(table, va, level)
	if S1PTE(t.mem.Read64(e)).Valid() {
		return ErrOverlap
	}
	t.mem.Write64(e, uint64(leafPTE(pa, level, a)))
	return nil
}

// Walk translates va as the MMU would, returning the output address, the
// leaf descriptor and the level it was found at.
func (t *Table) Walk(va hv.VA) (pa hv.PA, d S1PTE, level int, ok bool) {
	if uint64(va) >= 1<<t.VABits {
		return 0, 0, 0, false
	}
	table := t.Root
	for l := t.start; l <= 3; l++ {
		d = S1PTE(t.mem.Read64(t.entry(table, va, l)))
		if !d.Valid() || (l == 3 && d&PTE_PAGE == 0) {
			return 0, d, l, false
		}
		if !d.IsTable(l) {
			off := uint64(va) & (1<<levelShift(l) - 1)
			return d.Addr() + hv.PA(off), d, l, true
		}
		table = d.Addr()
	}
	return 0, 0, 0, false
}
