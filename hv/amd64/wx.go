// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"errors"
	"fmt"
	"sort"
)

// W^X for the hypervisor's own address space.
//
// cpuinit's early tables (reloc.go) map every page writable and
// executable: they are built by mode-neutral assembly before long mode,
// and the boot path runs code at the identity map, the window and the
// physmap alias in turn. Once the runtime is up, EnableWX
// (wx_unsafe.go) switches the boot CPU to a second set of tables, built
// here, that maps the same addresses to the same physical pages with
// these permissions:
//
//   - the image text and the live-patch code arena: read-only and
//     executable (WXLayout.Exec);
//   - the rest of the image's read-only segment (ELF headers, rodata,
//     type data, pclntab): read-only, no execute (WXLayout.ReadOnly);
//   - every other page of the window (data, bss, Go heap and stacks):
//     writable, no execute;
//   - the identity map outside the window and the physmap alias:
//     writable, no execute (execute-disable set at the PDPT or PML4
//     entry, so the early tables' leaves are shared, not copied).
//
// No mapping is both writable and executable. Code is written, by live
// patching only, through the physmap alias of its physical pages, which
// is writable and not executable (CodeMemory.WriteCode); the alias is
// how arm64's CodeAlias works too. CR0.WP makes supervisor writes honour
// read-only pages (Intel SDM Vol. 3A 4.6.1), and EFER.NXE enables the
// execute-disable bit (SDM Vol. 3A 4.1.4, 4.6.1); without NX (a CPU that
// lacks it) the text is still read-only, and CheckWX says what is left.
//
// The new tables reuse the early paging structures below the PML4 and
// PDPT entries they do not change, so the builder reads them (through a
// PageTableReader) and writes only fresh pages: the early tables stay
// as they were, and the application processors' start-up trampoline,
// which needs its low page executable, keeps using them until apEntry
// moves each AP onto the W^X tables (smp_amd64.s).

// Intel SDM Vol. 3A 4.5, Table 4-15..4-20: execute-disable (XD) is bit
// 63 of every paging-structure entry; reserved unless EFER.NXE = 1.
const PTE_NX = 1 << 63

// ErrWX reports W^X tables that cannot be built or do not check out.
var ErrWX = errors.New("amd64: W^X")

// Span is the virtual address range [Start, End).
type Span struct{ Start, End uint64 }

func (s Span) contains(va uint64) bool { return va >= s.Start && va < s.End }

// WXLayout is what EnableWX maps and how.
type WXLayout struct {
	Reloc Relocation
	// Exec spans (the text, the live-patch arena) are read-only and
	// executable. 4 KiB aligned, inside the window.
	Exec []Span
	// ReadOnly spans are read-only and not executable; where one
	// overlaps an Exec span, the Exec span wins. 4 KiB aligned, inside
	// the window.
	ReadOnly []Span
	// NX: the CPU has the execute-disable bit (CPUID 80000001H:EDX[20]).
	// Without it no entry may set bit 63, everything is executable, and
	// only the read-only half of W^X holds.
	NX bool
}

// Validate checks the spans.
func (l WXLayout) Validate() error {
	if err := l.Reloc.Validate(); err != nil {
		return err
	}
	for _, set := range [][]Span{l.Exec, l.ReadOnly} {
		for _, s := range set {
			if s.Start&0xfff != 0 || s.End&0xfff != 0 || s.End <= s.Start ||
				!l.Reloc.InWindow(s.Start) || !l.Reloc.InWindow(s.End-1) {
				return fmt.Errorf("%w: span [%#x, %#x) is not a 4 KiB-aligned range of the window [%#x, +%#x)",
					ErrWX, s.Start, s.End, l.Reloc.LinkBase, l.Reloc.Size)
			}
		}
	}
	for i, a := range l.Exec {
		for _, b := range l.Exec[i+1:] {
			if a.Start < b.End && b.Start < a.End {
				return fmt.Errorf("%w: executable spans [%#x, %#x) and [%#x, %#x) overlap", ErrWX, a.Start, a.End, b.Start, b.End)
			}
		}
	}
	return nil
}

// Access is the effective permission of a mapping: writable when every
// level allows writes, executable when no level sets execute-disable.
type Access struct{ W, X bool }

func (a Access) String() string {
	s := []byte("r--")
	if a.W {
		s[1] = 'w'
	}
	if a.X {
		s[2] = 'x'
	}
	return string(s)
}

// windowAccess is the layout's permission for window page va.
func (l WXLayout) windowAccess(va uint64) Access {
	for _, s := range l.Exec {
		if s.contains(va) {
			return Access{X: true}
		}
	}
	for _, s := range l.ReadOnly {
		if s.contains(va) {
			return Access{X: !l.NX}
		}
	}
	return Access{W: true, X: !l.NX}
}

// TablePage is a zeroed 4 KiB page for a paging structure: its physical
// address and its entries as the builder writes them.
type TablePage struct {
	PA uint64
	E  *[512]uint64
}

// TableAllocator hands out table pages.
type TableAllocator func() (TablePage, error)

// BuildWX builds the W^X tables from the early tables at early (a CR3
// value) and returns the new CR3 value and how many pages it allocated.
// It writes only pages alloc returned.
func BuildWX(read PageTableReader, early uint64, l WXLayout, alloc TableAllocator) (cr3 uint64, pages int, err error) {
	if err := l.Validate(); err != nil {
		return 0, 0, err
	}
	nx := uint64(0)
	if l.NX {
		nx = PTE_NX
	}
	newPage := func() (TablePage, error) {
		p, err := alloc()
		if err != nil {
			return TablePage{}, fmt.Errorf("%w: table page %d: %v", ErrWX, pages+1, err)
		}
		if p.PA&0xfff != 0 || p.E == nil {
			return TablePage{}, fmt.Errorf("%w: table page %#x is not 4 KiB aligned", ErrWX, p.PA)
		}
		pages++
		return p, nil
	}
	// copyTable fills t from the early table at pa, with extra bits
	// on every present entry except index keep.
	copyTable := func(t TablePage, pa uint64, extra uint64, keep int) error {
		for i := 0; i < 512; i++ {
			e, err := read(pa + uint64(i)*8)
			if err != nil {
				return err
			}
			if e&PTE_P != 0 && i != keep {
				e |= extra
			}
			t.E[i] = e
		}
		return nil
	}
	const tableFlags = PTE_P | PTE_RW

	// PML4: entry 0 (the low 512 GiB: identity and window) gets a new
	// PDPT; every other present entry (the physmap alias) NX.
	earlyPML4 := early & PTE_ADDR_MASK
	e0, err := read(earlyPML4)
	if err != nil {
		return 0, 0, err
	}
	if e0&PTE_P == 0 || e0&PTE_PS != 0 {
		return 0, 0, fmt.Errorf("%w: early PML4 entry 0 is %#x, not a PDPT", ErrWX, e0)
	}
	pml4, err := newPage()
	if err != nil {
		return 0, 0, err
	}
	if err := copyTable(pml4, earlyPML4, nx, 0); err != nil {
		return 0, 0, err
	}
	// PDPT: the window's GiB gets a new PD; every other GiB NX.
	k := int(l.Reloc.LinkBase >> 30)
	earlyPDPT := e0 & PTE_ADDR_MASK
	ek, err := read(earlyPDPT + uint64(k)*8)
	if err != nil {
		return 0, 0, err
	}
	if ek&PTE_P == 0 || ek&PTE_PS != 0 {
		return 0, 0, fmt.Errorf("%w: early PDPT entry %d is %#x, not a PD", ErrWX, k, ek)
	}
	pdpt, err := newPage()
	if err != nil {
		return 0, 0, err
	}
	if err := copyTable(pdpt, earlyPDPT, nx, k); err != nil {
		return 0, 0, err
	}
	pml4.E[0] = pdpt.PA | tableFlags
	// PD of the window's GiB: identity entries NX; window entries
	// rebuilt, 2 MiB pages where all 512 small pages agree.
	earlyPD := ek & PTE_ADDR_MASK
	pd, err := newPage()
	if err != nil {
		return 0, 0, err
	}
	if err := copyTable(pd, earlyPD, nx, -1); err != nil {
		return 0, 0, err
	}
	pdpt.E[k] = pd.PA | tableFlags
	leaf := func(pa uint64, a Access) uint64 {
		e := pa | PTE_P
		if a.W {
			e |= PTE_RW
		}
		if !a.X {
			e |= nx
		}
		return e
	}
	for j := 0; j < 512; j++ {
		va := uint64(k)<<30 | uint64(j)<<21
		if !l.Reloc.InWindow(va) {
			continue
		}
		pa, _ := l.Reloc.VirtToPhys(va)
		first := l.windowAccess(va)
		uniform := true
		for i := uint64(1); i < 512 && uniform; i++ {
			uniform = l.windowAccess(va+i<<12) == first
		}
		if uniform {
			pd.E[j] = leaf(pa, first) | PTE_PS
			continue
		}
		pt, err := newPage()
		if err != nil {
			return 0, 0, err
		}
		for i := uint64(0); i < 512; i++ {
			pt.E[i] = leaf(pa+i<<12, l.windowAccess(va+i<<12))
		}
		pd.E[j] = pt.PA | tableFlags
	}
	return pml4.PA, pages, nil
}

// Mapping is one present leaf of a page-table walk, with the permission
// accumulated over every level.
type Mapping struct {
	VA, PA, Size uint64
	Access
	Uncached bool
}

// WalkMappings calls fn for every present leaf of the lower-half
// address space of the tables at cr3, in address order. nx says whether
// EFER.NXE is (to be) set: without it bit 63 must be clear everywhere.
func WalkMappings(read PageTableReader, cr3 uint64, nx bool, fn func(Mapping) error) error {
	var walk func(table uint64, level int, base uint64, acc Access) error
	walk = func(table uint64, level int, base uint64, acc Access) error {
		shift := 12 + 9*uint(level-1)
		n := 512
		if level == 4 {
			n = 256 // the lower half; the upper half is unused
		}
		for i := 0; i < n; i++ {
			e, err := read(table + uint64(i)*8)
			if err != nil {
				return err
			}
			if e&PTE_P == 0 {
				continue
			}
			va := base | uint64(i)<<shift
			if e&PTE_NX != 0 && !nx {
				return fmt.Errorf("%w: va %#x: entry %#x sets XD without EFER.NXE", ErrWX, va, e)
			}
			a := Access{W: acc.W && e&PTE_RW != 0, X: acc.X && e&PTE_NX == 0}
			if level == 1 || (level <= 3 && e&PTE_PS != 0) {
				if level == 3 {
					return fmt.Errorf("%w: va %#x: 1 GiB page %#x", ErrWX, va, e)
				}
				size := uint64(1) << shift
				m := Mapping{VA: va, PA: e & PTE_ADDR_MASK &^ (size - 1), Size: size, Access: a, Uncached: e&PTE_PCD != 0}
				if err := fn(m); err != nil {
					return err
				}
				continue
			}
			if level == 4 && e&PTE_PS != 0 {
				return fmt.Errorf("%w: PML4 entry %d sets PS", ErrWX, i)
			}
			if err := walk(e&PTE_ADDR_MASK, level-1, va, a); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(cr3&PTE_ADDR_MASK, 4, 0, Access{W: true, X: true})
}

// wxMaxErrors bounds the mismatches CheckWX lists; it counts the rest.
const wxMaxErrors = 16

// CheckWX verifies that the tables at cr3 implement l: every mapping
// of the early map is there with the same physical address and cache
// attribute (CheckMap's contract), the window pages have the layout's
// permissions, everything outside the window is writable and not
// executable, page 0 is absent, and, with NX, no mapping anywhere is
// both writable and executable and every executable mapping lies in an
// Exec span. It returns every mismatch (the first wxMaxErrors, then a
// count).
func CheckWX(read PageTableReader, cr3 uint64, l WXLayout) []error {
	var errs []error
	more := 0
	fail := func(format string, a ...any) {
		if len(errs) < wxMaxErrors {
			errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrWX}, a...)...))
		} else {
			more++
		}
	}
	if err := l.Validate(); err != nil {
		return []error{err}
	}
	var maps []Mapping
	if err := WalkMappings(read, cr3, l.NX, func(m Mapping) error {
		maps = append(maps, m)
		return nil
	}); err != nil {
		return []error{err}
	}
	// The walk is in address order; find va's mapping by search.
	lookup := func(va uint64) (Mapping, uint64, bool) {
		i := sort.Search(len(maps), func(i int) bool { return maps[i].VA+maps[i].Size > va })
		if i == len(maps) || maps[i].VA > va {
			return Mapping{}, 0, false
		}
		return maps[i], maps[i].PA + va - maps[i].VA, true
	}
	expect := func(va, wantPA uint64, want Access, uncached bool) {
		m, pa, ok := lookup(va)
		switch {
		case !ok:
			fail("va %#x is not mapped", va)
		case pa != wantPA:
			fail("va %#x maps to %#x, want %#x", va, pa, wantPA)
		case m.Access != want:
			fail("va %#x is %v, want %v", va, m.Access, want)
		case m.Uncached != uncached:
			fail("va %#x uncached=%v, want %v", va, m.Uncached, uncached)
		}
	}
	// The invariants first, so that they head the list.
	for _, m := range maps {
		if !m.X || !l.NX {
			continue
		}
		if m.W {
			fail("va [%#x, +%#x) is writable and executable", m.VA, m.Size)
			continue
		}
		in := false
		for _, s := range l.Exec {
			in = in || (m.VA >= s.Start && m.VA+m.Size <= s.End)
		}
		if !in {
			fail("va [%#x, +%#x) is executable outside the text and the patch arena", m.VA, m.Size)
		}
	}
	r := l.Reloc
	for va := r.LinkBase; va < r.LinkBase+r.Size; va += 4096 {
		pa, _ := r.VirtToPhys(va)
		expect(va, pa, l.windowAccess(va), false)
	}
	data := Access{W: true, X: !l.NX}
	for va := uint64(0); va < PhysMapSize; va += LARGE_PAGE {
		probe := va
		if va == 0 {
			probe = 0x1000
		}
		uc := va >= MMIO_BASE
		if !r.InWindow(va) {
			expect(probe, probe, data, uc)
		}
		expect(PhysMapBase+probe, probe, data, uc)
	}
	if _, _, ok := lookup(0); ok {
		fail("page 0 is mapped")
	}
	if more > 0 {
		errs = append(errs, fmt.Errorf("%w: and %d more mismatches", ErrWX, more))
	}
	return errs
}

// WXSummary counts the mappings of the tables at cr3 by permission, in
// 4 KiB pages.
type WXSummary struct {
	Pages           map[string]uint64 // by Access.String()
	WritableExec    uint64            // pages both writable and executable
	ExecOutsideText uint64            // executable pages outside l.Exec
}

// SummarizeWX walks the tables at cr3 and counts pages by permission.
func SummarizeWX(read PageTableReader, cr3 uint64, l WXLayout) (WXSummary, error) {
	s := WXSummary{Pages: map[string]uint64{}}
	err := WalkMappings(read, cr3, l.NX, func(m Mapping) error {
		n := m.Size >> 12
		s.Pages[m.Access.String()] += n
		if m.W && m.X {
			s.WritableExec += n
		}
		if m.X {
			// The Exec spans do not overlap each other (text, arena).
			inside := uint64(0)
			for _, e := range l.Exec {
				lo, hi := max(m.VA, e.Start), min(m.VA+m.Size, e.End)
				if lo < hi {
					inside += (hi - lo) >> 12
				}
			}
			s.ExecOutsideText += n - inside
		}
		return nil
	})
	return s, err
}

// WXState is what EnableWX did.
type WXState struct {
	Enabled  bool
	NX       bool   // execute-disable in use (the CPU has it)
	EarlyCR3 uint64 // cpuinit's tables, kept for the AP trampoline
	CR3      uint64 // the W^X tables
	Tables   int    // table pages built
	Layout   WXLayout
}

// String summarises the state in one line.
func (s WXState) String() string {
	if !s.Enabled {
		return "off (cpuinit's tables: everything writable and executable)"
	}
	var b []byte
	for i, e := range s.Layout.Exec {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "[%#x, %#x)", e.Start, e.End)
	}
	nx := "data, heap, identity and physmap rw- NX"
	if !s.NX {
		nx = "no NX on this CPU: everything executable"
	}
	return fmt.Sprintf("on: r-x %s; rest of the image r--; %s (%d table pages)", b, nx, s.Tables)
}

// Probe is the outcome of one deliberate access ProbeWX made.
type Probe struct {
	Name    string
	Addr    uint64
	Exec    bool // an instruction fetch (else a store)
	Faulted bool
	Err     uint64 // #PF error code (SDM Vol. 3A 4.7): P=1, W/R=2, I/D=16
	CR2     uint64
}

// PF error code bits (Intel SDM Vol. 3A 4.7, Figure 4-12).
const (
	PF_P   = 1 << 0
	PF_WR  = 1 << 1
	PF_ID  = 1 << 4
	pfMask = PF_P | PF_WR | PF_ID
)

// Check says whether the probe came out as W^X in state s requires: a
// store faults with P|W/R at its address once W^X is on, and an
// instruction fetch faults with P|I/D when NX is in use too.
func (p Probe) Check(s WXState) error {
	want := s.Enabled && (!p.Exec || s.NX)
	code := uint64(PF_P | PF_WR)
	if p.Exec {
		code = PF_P | PF_ID
	}
	switch {
	case !want && p.Faulted:
		return fmt.Errorf("%w: %s at %#x faulted (error %#x) but W^X does not cover it", ErrWX, p.Name, p.Addr, p.Err)
	case !want:
		return nil
	case !p.Faulted:
		return fmt.Errorf("%w: %s at %#x did not fault", ErrWX, p.Name, p.Addr)
	case p.Err&pfMask != code || p.CR2 != p.Addr:
		return fmt.Errorf("%w: %s at %#x: #PF error %#x CR2 %#x, want error %#x at the address", ErrWX, p.Name, p.Addr, p.Err, p.CR2, code)
	}
	return nil
}
