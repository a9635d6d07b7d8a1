// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// EPT paging-structure entries, 4-level walk (Intel SDM Vol. 3C, 29.3.2
// "EPT Translation Mechanism", the tables of the format of each level's
// entries). Bits 2:0 say what
// the entry allows; an entry with all three clear is not present. In a
// non-leaf entry tamavisor always sets all three, so the leaf alone
// decides. Bits 5:3 and 6 exist only in leaves; bit 7 makes a PDPTE or
// PDE a 1 GiB or 2 MiB leaf and is reserved in a PML4E. Bits 8 and 9
// (accessed, dirty) are ignored while the EPTP leaves them disabled.
const (
	EPTE_READ          = 1 << 0
	EPTE_WRITE         = 1 << 1
	EPTE_EXEC          = 1 << 2 // supervisor-mode execute with mode-based execute control
	EPTE_PERM_MASK     = EPTE_READ | EPTE_WRITE | EPTE_EXEC
	EPTE_MEMTYPE_SHIFT = 3
	EPTE_MEMTYPE_MASK  = 0x7
	EPTE_IGNORE_PAT    = 1 << 6
	EPTE_PAGE_SIZE     = 1 << 7
	EPTE_ACCESSED      = 1 << 8
	EPTE_DIRTY         = 1 << 9
	EPTE_USER_EXEC     = 1 << 10
	EPTE_ADDR_MASK     = 0x000f_ffff_ffff_f000 // bits 51:12
	EPTE_SUPPRESS_VE   = 1 << 63
)

// Extended-page-table pointer (Vol. 3C, 25.6.11 "Extended-Page-Table
// Pointer (EPTP)", table "Format of Extended-Page-Table Pointer"),
// written to EPT_POINTER.
const (
	EPTP_MEMTYPE_SHIFT     = 0
	EPTP_MEMTYPE_MASK      = 0x7
	EPTP_WALK_LENGTH_SHIFT = 3 // page-walk length minus one
	EPTP_WALK_LENGTH_MASK  = 0x7
	EPTP_ACCESSED_DIRTY    = 1 << 6
	EPTP_SUPERVISOR_SHSTK  = 1 << 7
	EPTP_ADDR_MASK         = 0x000f_ffff_ffff_f000
)

// EPT geometry: four levels of 512 entries translate 48 bits of
// guest-physical address.
const (
	EPTLevels      = 4
	EPTMaxGPABits  = 48
	eptMaxPABits   = 52 // EPT entries hold address bits 51:12
	eptEntries     = 512
	eptLargeLevel  = 2 // a PDE mapping 2 MiB
	eptLargeSize   = 1 << 21
	eptRootLevel   = EPTLevels
	eptPageLevel   = 1
	eptLevelBits   = 9
	eptOffsetBits  = 12
	eptEntryBytes  = 8
	eptNonLeafPerm = EPTE_PERM_MASK
)

// EPT builder errors. They are constants, so the builder allocates
// nothing from the heap (see hv.Error).
const (
	ErrUnaligned      = hv.Error("vmx: EPT address or size not 4 KiB aligned")
	ErrZeroSize       = hv.Error("vmx: zero-sized EPT mapping")
	ErrRange          = hv.Error("vmx: EPT range wraps or lies outside the 48-bit guest-physical or 52-bit physical space")
	ErrAlreadyMapped  = hv.Error("vmx: guest-physical range already mapped in EPT")
	ErrNotInitialised = hv.Error("vmx: EPT used before NewEPT")
	ErrPartialLeaf    = hv.Error("vmx: EPT leaf only partly inside the range")
)

// Attr says how the guest may access an EPT mapping. Reads are always
// allowed: an EPT entry that allows writing but not reading is a
// misconfiguration (29.3.3.1 "EPT Misconfigurations"), and tamavisor does not use execute-only
// mappings.
type Attr struct {
	Write bool
	Exec  bool
	// Uncached selects memory type UC, for device pass-through;
	// otherwise the mapping is write-back RAM (WB). The guest's PAT still
	// combines with either (29.3, "Memory Type Used for Translated
	// Guest-Physical Addresses"); the ignore-PAT bit is left clear.
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
		return "uc " + string(p)
	}
	return "wb " + string(p)
}

// EPTE is one EPT paging-structure entry.
type EPTE uint64

// Present reports whether any of the read, write and execute bits is set.
func (e EPTE) Present() bool { return e&EPTE_PERM_MASK != 0 }

// Read reports the read-access bit.
func (e EPTE) Read() bool { return e&EPTE_READ != 0 }

// Write reports the write-access bit.
func (e EPTE) Write() bool { return e&EPTE_WRITE != 0 }

// Exec reports the (supervisor-mode) execute-access bit.
func (e EPTE) Exec() bool { return e&EPTE_EXEC != 0 }

// MemType returns the EPT memory type of a leaf (MEMTYPE_UC,
// MEMTYPE_WB, ...).
func (e EPTE) MemType() uint8 { return uint8(e >> EPTE_MEMTYPE_SHIFT & EPTE_MEMTYPE_MASK) }

// IgnorePAT reports the ignore-PAT bit of a leaf.
func (e EPTE) IgnorePAT() bool { return e&EPTE_IGNORE_PAT != 0 }

// PageSize reports bit 7: in a PDPTE or PDE, the entry maps a 1 GiB or 2
// MiB page instead of referencing a table.
func (e EPTE) PageSize() bool { return e&EPTE_PAGE_SIZE != 0 }

// Addr returns the physical address of the next table or the page.
func (e EPTE) Addr() hv.PA { return hv.PA(uint64(e) & EPTE_ADDR_MASK) }

// IsLeaf reports whether e, found at level (4 = PML4E down to 1 = PTE),
// is a present entry that maps a page.
func (e EPTE) IsLeaf(level int) bool {
	if !e.Present() {
		return false
	}
	switch level {
	case 1:
		return true
	case 2, 3:
		return e.PageSize()
	}
	return false
}

// IsTable reports whether e, found at level, is a present entry that
// references a next-level table. A PML4E with bit 7 set is reserved and
// neither a table nor a leaf.
func (e EPTE) IsTable(level int) bool {
	return e.Present() && level > 1 && level <= EPTLevels && !e.PageSize()
}

// Attr decodes the access rights and memory type of a leaf. Any memory
// type other than WB decodes as Uncached.
func (e EPTE) Attr() Attr {
	return Attr{Write: e.Write(), Exec: e.Exec(), Uncached: e.MemType() != MEMTYPE_WB}
}

func (e EPTE) String() string {
	if !e.Present() {
		return fmt.Sprintf("epte:%#x not-present", uint64(e))
	}
	return fmt.Sprintf("epte:%#x addr=%#x perm=%d memtype=%d ps=%v", uint64(e), uint64(e.Addr()), uint64(e&EPTE_PERM_MASK), e.MemType(), e.PageSize())
}

// eptLeaf encodes a leaf mapping pa at level (1: 4 KiB, 2: 2 MiB).
func eptLeaf(pa hv.PA, level int, a Attr) EPTE {
	v := uint64(pa)&EPTE_ADDR_MASK | EPTE_READ
	if a.Write {
		v |= EPTE_WRITE
	}
	if a.Exec {
		v |= EPTE_EXEC
	}
	if a.Uncached {
		v |= MEMTYPE_UC << EPTE_MEMTYPE_SHIFT
	} else {
		v |= MEMTYPE_WB << EPTE_MEMTYPE_SHIFT
	}
	if level > 1 {
		v |= EPTE_PAGE_SIZE
	}
	return EPTE(v)
}

// eptTable encodes a non-leaf entry referencing the table at next.
func eptTable(next hv.PA) EPTE { return EPTE(uint64(next)&EPTE_ADDR_MASK | eptNonLeafPerm) }

func eptShift(level int) uint { return eptOffsetBits + eptLevelBits*uint(level-1) }

// EPT is a guest's extended page tables (guest-physical to host-physical,
// 4-level walk, 48-bit guest-physical addresses), built in memory reached
// through a hv.PhysMemory with pages from a hv.PageAllocator.
//
// Map, Unmap, Translate and Walk allocate nothing from the Go heap. An
// EPT is not safe for concurrent use.
//
// EPT only edits memory. The processor caches translations per EPTP
// (29.4 "Caching Translation Information"): after Unmap, or after Map
// over a range the guest may already have touched, the caller executes
// INVEPT (single-context with EPTP(), or all-context) on every processor
// that may have run the guest, before the unmapped memory is reused.
type EPT struct {
	// NoLargePages makes Map use 4 KiB pages only. Set it before the
	// first Map when the processor lacks 2 MiB EPT pages
	// (EPTVPIDCap.Pages2M false); a PDE with bit 7 set would then be an
	// EPT misconfiguration.
	NoLargePages bool

	root  hv.PA
	alloc hv.PageAllocator
	mem   hv.PhysMemory
}

// NewEPT returns an empty EPT (see Init).
func NewEPT(alloc hv.PageAllocator, mem hv.PhysMemory) (*EPT, error) {
	t := &EPT{}
	if err := t.Init(alloc, mem); err != nil {
		return nil, err
	}
	return t, nil
}

// Init sets up t in place and allocates its empty PML4 table. Table pages
// come from alloc (which must hand out zeroed pages) and are read and
// written through mem. It keeps t.NoLargePages.
func (t *EPT) Init(alloc hv.PageAllocator, mem hv.PhysMemory) error {
	root, err := alloc.AllocPage()
	if err != nil {
		return err
	}
	if !root.PageAligned() {
		return ErrUnaligned
	}
	*t = EPT{NoLargePages: t.NoLargePages, root: root, alloc: alloc, mem: mem}
	return nil
}

// Root returns the physical address of the PML4 table.
func (t *EPT) Root() hv.PA { return t.root }

// EPTP returns the value for the EPT_POINTER field: the PML4 address,
// write-back paging-structure memory type, a page-walk length of 4, and
// accessed and dirty flags disabled.
func (t *EPT) EPTP() uint64 {
	return uint64(t.root)&EPTP_ADDR_MASK |
		MEMTYPE_WB<<EPTP_MEMTYPE_SHIFT |
		(EPTLevels-1)<<EPTP_WALK_LENGTH_SHIFT
}

func (t *EPT) entry(table hv.PA, gpa uint64, level int) hv.PA {
	idx := gpa >> eptShift(level) % eptEntries
	return table + hv.PA(idx*eptEntryBytes)
}

func (t *EPT) check(gpa hv.IPA, size uint64) error {
	if t.mem == nil {
		return ErrNotInitialised
	}
	if size == 0 {
		return ErrZeroSize
	}
	if gpa%hv.PageSize != 0 || size%hv.PageSize != 0 {
		return ErrUnaligned
	}
	if end := uint64(gpa) + size; end < uint64(gpa) || end > 1<<EPTMaxGPABits {
		return ErrRange
	}
	return nil
}

// Map maps [gpa, gpa+size) to [pa, pa+size) with attributes a: 2 MiB
// pages where both addresses are 2 MiB aligned and at least 2 MiB remain
// (unless NoLargePages), 4 KiB pages elsewhere. gpa, pa and size must be
// multiples of 4 KiB (ErrUnaligned), size non-zero (ErrZeroSize), and the
// ranges must not wrap and must lie below 2^48 (guest-physical) and 2^52
// (physical; the caller keeps pa below the processor's MAXPHYADDR, since
// higher address bits in an entry are an EPT misconfiguration) (ErrRange).
//
// Map is all or nothing: it checks its arguments and returns
// ErrAlreadyMapped if any page of the range is mapped before it writes
// anything, and if the allocator runs out it removes what it mapped and
// returns the allocator's error (tables allocated on the way stay,
// empty, for reuse).
func (t *EPT) Map(gpa hv.IPA, pa hv.PA, size uint64, a Attr) error {
	if err := t.check(gpa, size); err != nil {
		return err
	}
	if pa%hv.PageSize != 0 {
		return ErrUnaligned
	}
	if end := uint64(pa) + size; end < uint64(pa) || end > 1<<eptMaxPABits {
		return ErrRange
	}
	lo, hi := uint64(gpa), uint64(gpa)+size
	if t.anyLeaf(t.root, eptRootLevel, 0, lo, hi) {
		return ErrAlreadyMapped
	}
	cur, out := lo, uint64(pa)
	for cur < hi {
		want := eptPageLevel
		if !t.NoLargePages && cur%eptLargeSize == 0 && out%eptLargeSize == 0 && hi-cur >= eptLargeSize {
			want = eptLargeLevel
		}
		level, err := t.mapLeaf(cur, hv.PA(out), want, a)
		if err != nil {
			if cur > lo {
				// Only leaves this call wrote lie in [lo, cur), each
				// wholly inside it, so clearing cannot fail.
				_ = t.clearRange(t.root, eptRootLevel, 0, lo, cur)
			}
			return err
		}
		n := uint64(1) << eptShift(level)
		cur += n
		out += n
	}
	return nil
}

// mapLeaf writes one leaf for gpa at level want, or at a finer level if
// an (empty) table already sits where a 2 MiB page would go. It returns
// the level used.
func (t *EPT) mapLeaf(gpa uint64, pa hv.PA, want int, a Attr) (int, error) {
	table := t.root
	for l := eptRootLevel; l >= eptPageLevel; l-- {
		e := t.entry(table, gpa, l)
		d := EPTE(t.mem.Read64(e))
		if !d.Present() {
			if l <= want {
				t.mem.Write64(e, uint64(eptLeaf(pa, l, a)))
				return l, nil
			}
			next, err := t.alloc.AllocPage()
			if err != nil {
				return 0, err
			}
			if !next.PageAligned() {
				return 0, ErrUnaligned
			}
			d = eptTable(next)
			t.mem.Write64(e, uint64(d))
		} else if !d.IsTable(l) {
			return 0, ErrAlreadyMapped
		}
		table = d.Addr()
	}
	return 0, ErrAlreadyMapped
}

// span returns the index range [first, last] of the entries of a table
// at level, mapping from base, that [lo, hi) touches (lo < hi, both
// inside the table's range).
func eptSpan(level int, base, lo, hi uint64) (first, last uint64) {
	sh := eptShift(level)
	return (lo - base) >> sh, (hi - 1 - base) >> sh
}

// anyLeaf reports whether a leaf below the table at level (mapping from
// base) intersects [lo, hi).
func (t *EPT) anyLeaf(table hv.PA, level int, base, lo, hi uint64) bool {
	first, last := eptSpan(level, base, lo, hi)
	sz := uint64(1) << eptShift(level)
	for i := first; i <= last; i++ {
		d := EPTE(t.mem.Read64(table + hv.PA(i*eptEntryBytes)))
		switch {
		case d.IsLeaf(level):
			return true
		case d.IsTable(level):
			eb := base + i*sz
			if t.anyLeaf(d.Addr(), level-1, eb, max(lo, eb), min(hi, eb+sz)) {
				return true
			}
		}
	}
	return false
}

// clearRange zeroes every leaf in [lo, hi) below the table at level.
// Leaves must lie wholly inside or outside the range.
func (t *EPT) clearRange(table hv.PA, level int, base, lo, hi uint64) error {
	first, last := eptSpan(level, base, lo, hi)
	sz := uint64(1) << eptShift(level)
	for i := first; i <= last; i++ {
		e := table + hv.PA(i*eptEntryBytes)
		d := EPTE(t.mem.Read64(e))
		eb := base + i*sz
		switch {
		case d.IsLeaf(level):
			if eb < lo || eb+sz > hi {
				return ErrPartialLeaf
			}
			t.mem.Write64(e, 0)
		case d.IsTable(level):
			if err := t.clearRange(d.Addr(), level-1, eb, max(lo, eb), min(hi, eb+sz)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Unmap removes every mapping in [gpa, gpa+size); pages in the range that
// are not mapped are skipped. gpa and size must be multiples of 4 KiB and
// the range must lie below 2^48.
//
// A large page that straddles either end of the range is first split
// into 512 next-level entries with the same addresses and attributes, so
// the part outside the range stays mapped (the translation does not
// change, so no invalidation is needed between the two writes). Splitting
// needs table pages; if the allocator runs out, Unmap returns its error
// before removing anything, and pages already split translate exactly as
// before. Tables that become empty are kept for reuse. See EPT for the
// INVEPT the caller owes afterwards.
func (t *EPT) Unmap(gpa hv.IPA, size uint64) error {
	if err := t.check(gpa, size); err != nil {
		return err
	}
	lo, hi := uint64(gpa), uint64(gpa)+size
	if err := t.splitAt(lo); err != nil {
		return err
	}
	if hi < 1<<EPTMaxGPABits {
		if err := t.splitAt(hi); err != nil {
			return err
		}
	}
	return t.clearRange(t.root, eptRootLevel, 0, lo, hi)
}

// splitAt makes sure no large page straddles the boundary x.
func (t *EPT) splitAt(x uint64) error {
	table := t.root
	for l := eptRootLevel; l > eptPageLevel; l-- {
		e := t.entry(table, x, l)
		d := EPTE(t.mem.Read64(e))
		if !d.Present() {
			return nil
		}
		if d.IsLeaf(l) {
			if x%(uint64(1)<<eptShift(l)) == 0 {
				return nil
			}
			next, err := t.split(e, d, l)
			if err != nil {
				return err
			}
			d = eptTable(next)
		} else if !d.IsTable(l) {
			return nil // a reserved encoding: nothing of ours
		}
		table = d.Addr()
	}
	return nil
}

// split replaces the large leaf d (at level, entry at e) with a table of
// 512 next-level entries translating the same way.
func (t *EPT) split(e hv.PA, d EPTE, level int) (hv.PA, error) {
	next, err := t.alloc.AllocPage()
	if err != nil {
		return 0, err
	}
	if !next.PageAligned() {
		return 0, ErrUnaligned
	}
	child := uint64(1) << eptShift(level-1)
	attrs := uint64(d) &^ (EPTE_ADDR_MASK | EPTE_PAGE_SIZE)
	if level-1 > eptPageLevel {
		attrs |= EPTE_PAGE_SIZE
	}
	for i := uint64(0); i < eptEntries; i++ {
		t.mem.Write64(next+hv.PA(i*eptEntryBytes), (uint64(d.Addr())+i*child)|attrs)
	}
	t.mem.Write64(e, uint64(eptTable(next)))
	return next, nil
}

// Walk translates gpa as the processor would, returning the host
// physical address, the leaf entry and its level (1: 4 KiB, 2: 2 MiB, 3:
// 1 GiB). When ok is false, d and level describe the entry that stopped
// the walk (d is 0 when gpa is beyond 48 bits).
func (t *EPT) Walk(gpa hv.IPA) (pa hv.PA, d EPTE, level int, ok bool) {
	if t.mem == nil || uint64(gpa) >= 1<<EPTMaxGPABits {
		return 0, 0, 0, false
	}
	v := uint64(gpa)
	table := t.root
	for l := eptRootLevel; l >= eptPageLevel; l-- {
		d = EPTE(t.mem.Read64(t.entry(table, v, l)))
		if d.IsLeaf(l) {
			off := v & (uint64(1)<<eptShift(l) - 1)
			return d.Addr() + hv.PA(off), d, l, true
		}
		if !d.IsTable(l) {
			return 0, d, l, false
		}
		table = d.Addr()
	}
	return 0, 0, 0, false
}

// Translate returns the host physical address gpa maps to and the
// mapping's attributes. ok is false when gpa is not mapped, or is mapped
// by an entry that does not allow reads (which this package never
// writes).
func (t *EPT) Translate(gpa hv.IPA) (hv.PA, Attr, bool) {
	pa, d, _, ok := t.Walk(gpa)
	if !ok || !d.Read() {
		return 0, Attr{}, false
	}
	return pa, d.Attr(), true
}

// Visit calls fn for every leaf mapping in guest-physical order, with its
// address, host physical address, size and attributes, until fn returns
// false. It allocates nothing itself.
func (t *EPT) Visit(fn func(gpa hv.IPA, pa hv.PA, size uint64, a Attr) bool) {
	if t.mem == nil {
		return
	}
	t.visit(t.root, eptRootLevel, 0, fn)
}

func (t *EPT) visit(table hv.PA, level int, base uint64, fn func(hv.IPA, hv.PA, uint64, Attr) bool) bool {
	sz := uint64(1) << eptShift(level)
	for i := uint64(0); i < eptEntries; i++ {
		d := EPTE(t.mem.Read64(table + hv.PA(i*eptEntryBytes)))
		eb := base + i*sz
		switch {
		case d.IsLeaf(level):
			if !fn(hv.IPA(eb), d.Addr(), sz, d.Attr()) {
				return false
			}
		case d.IsTable(level):
			if !t.visit(d.Addr(), level-1, eb, fn) {
				return false
			}
		}
	}
	return true
}
