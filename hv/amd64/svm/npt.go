// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Nested page table entries. Nested tables use the host's long-mode
// 4-level format (AMD APM Vol. 2, 15.25.5 "Nested Table Walk"; 5.3
// "Long-Mode Page Translation"; 5.4 "Page-Translation-Table Entry
// Fields"). Every nested walk is a user access (15.25.5), so U/S must be
// set at every level. NX is honoured only when the host runs with
// EFER.NXE set; otherwise bit 63 is reserved and an entry with it set
// makes every access through it a #NPF with the RSV bit.
const (
	NPTE_P   = 1 << 0 // present
	NPTE_RW  = 1 << 1 // writable
	NPTE_US  = 1 << 2 // user; always set in nested tables
	NPTE_PWT = 1 << 3 // page-level write-through
	NPTE_PCD = 1 << 4 // page-level cache disable
	NPTE_A   = 1 << 5 // accessed
	NPTE_D   = 1 << 6 // dirty (leaves only)
	NPTE_PS  = 1 << 7 // page size: a 2 MiB (PDE) or 1 GiB (PDPE) page
	NPTE_G   = 1 << 8 // global; ignored in nested tables
	NPTE_NX  = 1 << 63

	// Physical address bits 51:12 (MAXPHYADDR is at most 52). In a 2
	// MiB or 1 GiB page entry, bit 12 is PAT and the address starts at
	// bit 21 or 30.
	NPTE_ADDR_MASK = 0x000f_ffff_ffff_f000

	// npteLeafAttrs are the bits a split copies from a large page to its
	// pieces.
	npteLeafAttrs = NPTE_P | NPTE_RW | NPTE_US | NPTE_PWT | NPTE_PCD | NPTE_A | NPTE_D | NPTE_NX
)

// Nested paging geometry.
const (
	// NPTGPABits is the guest-physical address space a 4-level nested
	// table translates.
	NPTGPABits = 48
	// NPTPABits is the largest host physical address an entry holds.
	NPTPABits = 52

	// NPTLevels is the number of table levels: 0 is the PML4 (the root,
	// N_CR3), 1 the PDPT, 2 the page directory, 3 the page table.
	NPTLevels = 4

	// Page sizes Map uses.
	NPTPage4K = hv.PageSize
	NPTPage2M = 2 << 20

	nptEntries = 512
)

// Nested page table errors. They are constants so nothing allocates (see
// hv.Error).
const (
	ErrUnaligned      = hv.Error("svm: nested mapping address or size not 4 KiB aligned")
	ErrRange          = hv.Error("svm: nested mapping outside the 48-bit guest-physical or 52-bit physical space")
	ErrZeroSize       = hv.Error("svm: zero-sized nested mapping")
	ErrAlreadyMapped  = hv.Error("svm: guest-physical page already mapped")
	ErrNotInitialised = hv.Error("svm: nested page table used before Init")
	ErrPartialPage    = hv.Error("svm: nested large page only partly inside the range")
	ErrBadEntry       = hv.Error("svm: malformed nested page table entry")
)

// Attr says how the guest may access a nested mapping. Reads are always
// allowed. The effective permissions and memory type combine with the
// guest's own page tables and G_PAT (15.25, "Combining Nested and Guest
// Attributes"): the nested table can only restrict.
type Attr struct {
	Write bool
	// Exec false sets NX, which needs host EFER.NXE (see NPTE_NX).
	Exec bool
	// Uncached sets PCD and PWT (PAT entry 3, UC with the default
	// PAT), for device pass-through.
	Uncached bool
}

func (a Attr) String() string {
	p := []byte("r--")
	if a.Write {
		p[1] = 'w'
	}
	if a.Exec {
		p[2] = 'x'
	}
	if a.Uncached {
		return string(p) + " uc"
	}
	return string(p) + " wb"
}

// NPTE is one nested page table entry.
type NPTE uint64

// Present reports the P bit.
func (d NPTE) Present() bool { return d&NPTE_P != 0 }

// Writable reports the R/W bit.
func (d NPTE) Writable() bool { return d&NPTE_RW != 0 }

// User reports the U/S bit.
func (d NPTE) User() bool { return d&NPTE_US != 0 }

// PageSize reports the PS bit (a large page in a PDPE or PDE).
func (d NPTE) PageSize() bool { return d&NPTE_PS != 0 }

// NX reports the no-execute bit.
func (d NPTE) NX() bool { return d&NPTE_NX != 0 }

// Uncached reports the PCD bit.
func (d NPTE) Uncached() bool { return d&NPTE_PCD != 0 }

// Addr returns address bits 51:12: the next table, or a 4 KiB page. For a
// large page use LeafAddr.
func (d NPTE) Addr() hv.PA { return hv.PA(uint64(d) & NPTE_ADDR_MASK) }

// LeafAddr returns the base of the page a leaf found at level maps,
// without the PAT bit of a large page.
func (d NPTE) LeafAddr(level int) hv.PA { return d.Addr() &^ hv.PA(levelSize(level)-1) }

// IsTable reports whether d, found at level, points to a next-level table.
func (d NPTE) IsTable(level int) bool {
	return d.Present() && level < NPTLevels-1 && (level == 0 || !d.PageSize())
}

// IsLeaf reports whether d, found at level, maps a page: a 4 KiB page at
// level 3, a 2 MiB or 1 GiB page at level 2 or 1. PS at level 0 is
// reserved.
func (d NPTE) IsLeaf(level int) bool {
	if !d.Present() {
		return false
	}
	if level == NPTLevels-1 {
		return true
	}
	return level > 0 && level < NPTLevels-1 && d.PageSize()
}

// Attr decodes the permissions of a leaf.
func (d NPTE) Attr() Attr {
	return Attr{Write: d.Writable(), Exec: !d.NX(), Uncached: d.Uncached()}
}

func (d NPTE) String() string {
	if !d.Present() {
		return fmt.Sprintf("npte:%#x not-present", uint64(d))
	}
	return fmt.Sprintf("npte:%#x addr=%#x %v", uint64(d), uint64(d.Addr()), d.Attr())
}

// nptLeaf encodes a 4 KiB (level 3) or 2 MiB (level 2) page entry. A and D
// are preset: tamavisor does not track guest accesses, and the CPU then
// need not write them.
func nptLeaf(pa hv.PA, level int, a Attr) NPTE {
	d := uint64(pa)&NPTE_ADDR_MASK | NPTE_P | NPTE_US | NPTE_A | NPTE_D
	if level < NPTLevels-1 {
		d |= NPTE_PS
	}
	if a.Write {
		d |= NPTE_RW
	}
	if !a.Exec {
		d |= NPTE_NX
	}
	if a.Uncached {
		d |= NPTE_PCD | NPTE_PWT
	}
	return NPTE(d)
}

// nptTable encodes an entry pointing to a next-level table: it grants
// everything, leaving the decision to the leaf.
func nptTable(next hv.PA) NPTE {
	return NPTE(uint64(next)&NPTE_ADDR_MASK | NPTE_P | NPTE_RW | NPTE_US | NPTE_A)
}

func levelShift(level int) uint  { return 39 - 9*uint(level) }
func levelSize(level int) uint64 { return 1 << levelShift(level) }

// NPT is a guest's nested page table (guest-physical to host physical),
// built in memory reached through a hv.PhysMemory with pages from a
// hv.PageAllocator. Map uses 2 MiB pages where the guest-physical
// address, the physical address and the remaining size allow, 4 KiB pages
// elsewhere; it never creates 1 GiB pages (that needs CPUID
// Page1GB), though Translate and Unmap handle them.
//
// Map, Unmap and Translate allocate nothing from the Go heap. An NPT is
// not safe for concurrent use.
//
// NPT only edits memory. New mappings need no TLB maintenance, but after
// Unmap the caller must flush the guest's translations before it runs
// again: TLB_CONTROL_FLUSH_GUEST on its next VMRUN (with FlushByASID), a
// fresh ASID, or TLB_CONTROL_FLUSH_ALL; vCPUs of the guest running on
// other CPUs must be stopped first.
type NPT struct {
	root  hv.PA
	alloc hv.PageAllocator
	mem   hv.PhysMemory
}

// NewNPT returns an empty nested page table (see Init).
func NewNPT(alloc hv.PageAllocator, mem hv.PhysMemory) (*NPT, error) {
	n := &NPT{}
	if err := n.Init(alloc, mem); err != nil {
		return nil, err
	}
	return n, nil
}

// Init sets up n in place and allocates its empty root (PML4) table.
func (n *NPT) Init(alloc hv.PageAllocator, mem hv.PhysMemory) error {
	root, err := alloc.AllocPage()
	if err != nil {
		return err
	}
	*n = NPT{root: root, alloc: alloc, mem: mem}
	return nil
}

// Root returns the physical address of the PML4, the value for
// ControlArea.NCR3.
func (n *NPT) Root() hv.PA { return n.root }

func (n *NPT) entry(table hv.PA, gpa uint64, level int) hv.PA {
	return table + hv.PA((gpa>>levelShift(level))%nptEntries*8)
}

// check validates a guest-physical range.
func (n *NPT) check(gpa hv.IPA, size uint64) error {
	if n.mem == nil {
		return ErrNotInitialised
	}
	if gpa%hv.PageSize != 0 || size%hv.PageSize != 0 {
		return ErrUnaligned
	}
	if size == 0 {
		return ErrZeroSize
	}
	if end := uint64(gpa) + size; end < uint64(gpa) || end > 1<<NPTGPABits {
		return ErrRange
	}
	return nil
}

// Map maps [gpa, gpa+size) to [pa, pa+size) with attributes a. gpa, pa
// and size must be multiples of 4 KiB (ErrUnaligned), size must not be 0
// (ErrZeroSize), and the ranges must not wrap and must lie below 2^48
// (guest-physical) and 2^52 (physical) (ErrRange).
//
// Map is all or nothing. It checks first that no page of the range is
// mapped and returns ErrAlreadyMapped, having written nothing, if one is.
// If the allocator runs out it removes what it mapped before returning
// the allocator's error (table pages allocated on the way stay, empty).
func (n *NPT) Map(gpa hv.IPA, pa hv.PA, size uint64, a Attr) error {
	if err := n.check(gpa, size); err != nil {
		return err
	}
	if pa%hv.PageSize != 0 {
		return ErrUnaligned
	}
	if pend := uint64(pa) + size; pend < uint64(pa) || pend > 1<<NPTPABits {
		return ErrRange
	}
	lo, hi := uint64(gpa), uint64(gpa)+size
	if n.anyLeaf(n.root, 0, 0, lo, hi) {
		return ErrAlreadyMapped
	}
	cur, out := lo, uint64(pa)
	for cur < hi {
		want := NPTLevels - 1
		if cur%NPTPage2M == 0 && out%NPTPage2M == 0 && hi-cur >= NPTPage2M {
			want = 2
		}
		level, err := n.mapLeaf(cur, hv.PA(out), want, a)
		if err != nil {
			if cur > lo {
				// Only leaves this call wrote lie in [lo, cur), each
				// wholly inside it, so clearing cannot fail.
				_ = n.clearRange(n.root, 0, 0, lo, cur)
			}
			return err
		}
		sz := levelSize(level)
		cur += sz
		out += sz
	}
	return nil
}

// mapLeaf writes one leaf for gpa at level want, or at a finer level if
// an (empty) table already sits where a large page would go. It returns
// the level used.
func (n *NPT) mapLeaf(gpa uint64, pa hv.PA, want int, a Attr) (int, error) {
	table := n.root
	for l := 0; l < NPTLevels; l++ {
		e := n.entry(table, gpa, l)
		d := NPTE(n.mem.Read64(e))
		switch {
		case !d.Present() && l >= want:
			n.mem.Write64(e, uint64(nptLeaf(pa, l, a)))
			return l, nil
		case !d.Present():
			next, err := n.alloc.AllocPage()
			if err != nil {
				return 0, err
			}
			d = nptTable(next)
			n.mem.Write64(e, uint64(d))
		case d.IsLeaf(l):
			return 0, ErrAlreadyMapped
		case !d.IsTable(l):
			return 0, ErrBadEntry
		}
		table = d.Addr()
	}
	return 0, ErrBadEntry
}

// span returns the index range [first, last] of the entries of a table at
// level, covering from base, that [lo, hi) touches (lo < hi, both inside
// the table's range).
func span(level int, base, lo, hi uint64) (first, last uint64) {
	sh := levelShift(level)
	return (lo - base) >> sh, (hi - 1 - base) >> sh
}

// anyLeaf reports whether a leaf in the table at level (mapping from
// base) intersects [lo, hi).
func (n *NPT) anyLeaf(table hv.PA, level int, base, lo, hi uint64) bool {
	first, last := span(level, base, lo, hi)
	sz := levelSize(level)
	for i := first; i <= last; i++ {
		d := NPTE(n.mem.Read64(table + hv.PA(i*8)))
		switch {
		case d.IsLeaf(level):
			return true
		case d.IsTable(level):
			eb := base + i*sz
			if n.anyLeaf(d.Addr(), level+1, eb, max(lo, eb), min(hi, eb+sz)) {
				return true
			}
		}
	}
	return false
}

// clearRange clears every leaf in [lo, hi) below the table at level.
// Leaves must lie wholly inside or outside the range (ErrPartialPage).
func (n *NPT) clearRange(table hv.PA, level int, base, lo, hi uint64) error {
	first, last := span(level, base, lo, hi)
	sz := levelSize(level)
	for i := first; i <= last; i++ {
		e := table + hv.PA(i*8)
		d := NPTE(n.mem.Read64(e))
		eb := base + i*sz
		switch {
		case d.IsLeaf(level):
			if eb < lo || eb+sz > hi {
				return ErrPartialPage
			}
			n.mem.Write64(e, 0)
		case d.IsTable(level):
			if err := n.clearRange(d.Addr(), level+1, eb, max(lo, eb), min(hi, eb+sz)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Unmap removes every mapping in [gpa, gpa+size); pages in the range that
// are not mapped are skipped. gpa and size must be multiples of 4 KiB.
//
// A large page that straddles either end of the range is first split
// into a table of smaller pages with the same addresses and attributes,
// so the part outside the range stays mapped. The new table is filled
// before the single 64-bit write that links it in place of the large
// page, so a concurrent walk sees one or the other, never a hole; the
// caller still flushes the guest's TLB afterwards (see NPT). Splitting
// needs table pages; if the allocator runs out, Unmap returns its error
// before removing anything, and any pages already split translate
// exactly as before. Table pages that become empty are kept for reuse.
func (n *NPT) Unmap(gpa hv.IPA, size uint64) error {
	if err := n.check(gpa, size); err != nil {
		return err
	}
	lo, hi := uint64(gpa), uint64(gpa)+size
	if err := n.splitAt(lo); err != nil {
		return err
	}
	if hi < 1<<NPTGPABits {
		if err := n.splitAt(hi); err != nil {
			return err
		}
	}
	return n.clearRange(n.root, 0, 0, lo, hi)
}

// splitAt makes sure no large page straddles the boundary x.
func (n *NPT) splitAt(x uint64) error {
	table := n.root
	for l := 0; l < NPTLevels-1; l++ {
		e := n.entry(table, x, l)
		d := NPTE(n.mem.Read64(e))
		switch {
		case d.IsLeaf(l):
			if x%levelSize(l) == 0 {
				return nil
			}
			next, err := n.split(e, d, l)
			if err != nil {
				return err
			}
			d = nptTable(next)
		case !d.IsTable(l):
			return nil
		}
		table = d.Addr()
	}
	return nil
}

// split replaces the large page d (at level, entry at e) with a table of
// 512 next-level entries translating the same way.
func (n *NPT) split(e hv.PA, d NPTE, level int) (hv.PA, error) {
	next, err := n.alloc.AllocPage()
	if err != nil {
		return 0, err
	}
	child := levelSize(level + 1)
	attrs := uint64(d) & npteLeafAttrs
	if level+1 < NPTLevels-1 {
		attrs |= NPTE_PS
	}
	base := uint64(d.LeafAddr(level))
	for i := uint64(0); i < nptEntries; i++ {
		n.mem.Write64(next+hv.PA(i*8), (base+i*child)|attrs)
	}
	n.mem.Write64(e, uint64(nptTable(next)))
	return next, nil
}

// Walk translates gpa as the CPU's nested walk would, returning the host
// physical address, the leaf entry and the level it was found at. When
// ok is false, d and level describe the entry that stopped the walk.
func (n *NPT) Walk(gpa hv.IPA) (pa hv.PA, d NPTE, level int, ok bool) {
	if n.mem == nil || uint64(gpa) >= 1<<NPTGPABits {
		return 0, 0, 0, false
	}
	v := uint64(gpa)
	table := n.root
	for l := 0; l < NPTLevels; l++ {
		d = NPTE(n.mem.Read64(n.entry(table, v, l)))
		if d.IsLeaf(l) {
			return d.LeafAddr(l) + hv.PA(v&(levelSize(l)-1)), d, l, true
		}
		if !d.IsTable(l) {
			return 0, d, l, false
		}
		table = d.Addr()
	}
	return 0, 0, 0, false
}

// Translate returns the host physical address gpa maps to and the
// mapping's attributes, or false if gpa is not mapped.
func (n *NPT) Translate(gpa hv.IPA) (hv.PA, Attr, bool) {
	pa, d, _, ok := n.Walk(gpa)
	if !ok {
		return 0, Attr{}, false
	}
	return pa, d.Attr(), true
}

// Visit calls fn for every page mapping (4 KiB, 2 MiB or 1 GiB) in
// guest-physical order, with its guest-physical address, host physical
// address, size and attributes, until fn returns false. It allocates
// nothing itself.
func (n *NPT) Visit(fn func(gpa hv.IPA, pa hv.PA, size uint64, a Attr) bool) {
	if n.mem == nil {
		return
	}
	n.visit(n.root, 0, 0, fn)
}

func (n *NPT) visit(table hv.PA, level int, base uint64, fn func(hv.IPA, hv.PA, uint64, Attr) bool) bool {
	sz := levelSize(level)
	for i := uint64(0); i < nptEntries; i++ {
		d := NPTE(n.mem.Read64(table + hv.PA(i*8)))
		eb := base + i*sz
		switch {
		case d.IsLeaf(level):
			if !fn(hv.IPA(eb), d.LeafAddr(level), sz, d.Attr()) {
				return false
			}
		case d.IsTable(level):
			if !n.visit(d.Addr(), level+1, eb, fn) {
				return false
			}
		}
	}
	return true
}
