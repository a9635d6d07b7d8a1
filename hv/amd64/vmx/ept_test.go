// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"errors"
	"slices"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

const (
	eptTableBase = hv.PA(0x8000_0000)
	pageSize     = hv.PageSize
	miB2         = 2 << 20
)

func newTestEPT(t testing.TB, pages int) (*EPT, *hv.SimMemory, *hv.BumpAllocator) {
	t.Helper()
	mem := hv.NewSimMemory(eptTableBase, uint64(pages)*pageSize)
	alloc := &hv.BumpAllocator{Next: eptTableBase, Limit: eptTableBase + hv.PA(pages*pageSize), Mem: mem}
	e, err := NewEPT(alloc, mem)
	if err != nil {
		t.Fatal(err)
	}
	return e, mem, alloc
}

var (
	attrRWX = Attr{Write: true, Exec: true}
	attrRX  = Attr{Exec: true}
	attrRW  = Attr{Write: true}
	attrDev = Attr{Write: true, Uncached: true}
)

type eptMapping struct {
	gpa   hv.IPA
	pa    hv.PA
	size  uint64
	a     Attr
	level int // leaf level expected for every page (0: don't check)
}

func checkEPTMapped(t *testing.T, e *EPT, maps []eptMapping) {
	t.Helper()
	for _, m := range maps {
		for off := uint64(0); off < m.size; off += pageSize {
			gpa := m.gpa + hv.IPA(off)
			pa, a, ok := e.Translate(gpa)
			if !ok || pa != m.pa+hv.PA(off) || a != m.a {
				t.Fatalf("translate %v: %v %v %v, want %v %v", gpa, pa, a, ok, m.pa+hv.PA(off), m.a)
			}
			if _, _, level, _ := e.Walk(gpa); m.level != 0 && level != m.level {
				t.Fatalf("walk %v: level %d, want %d", gpa, level, m.level)
			}
		}
		if pa, _, ok := e.Translate(m.gpa + 0x123); !ok || pa != m.pa+0x123 {
			t.Fatalf("translate %v+0x123: %v %v", m.gpa, pa, ok)
		}
	}
}

func checkEPTUnmapped(t *testing.T, e *EPT, gpas ...hv.IPA) {
	t.Helper()
	for _, gpa := range gpas {
		if pa, a, ok := e.Translate(gpa); ok {
			t.Errorf("translate %v: mapped to %v (%v), want unmapped", gpa, pa, a)
		}
	}
}

func TestEPTLayout(t *testing.T) {
	e, mem, alloc := newTestEPT(t, 64)
	maps := []eptMapping{
		{0x0, 0x1_0000_0000, 640 << 10, attrRWX, 1},                    // low RAM, pages
		{0x10_0000, 0x1_0010_0000, 1 << 20, attrRWX, 1},                // up to the first 2 MiB boundary
		{0x20_0000, 0x1_0020_0000, 62 << 20, attrRWX, 2},               // 31 large pages
		{0xfee0_0000, 0xfee0_0000, pageSize, attrDev, 1},               // local APIC page, uncached
		{0x1_0000_0000, 0x2_0000_1000, miB2 + pageSize, attrRW, 1},     // PA misaligned: pages only
		{0x1_4000_0000, 0x3_0000_0000, miB2, attrRX, 2},                // one large page
		{0xffff_ffe0_0000, 0xffff_ffe0_0000, miB2, attrRW, 2},          // the last 2 MiB of the 48-bit space
		{0x1_4020_1000, 0x1000, 2 * pageSize, Attr{Uncached: true}, 1}, // read-only device
		{0x1_8000_0000, 1<<52 - miB2, miB2, attrRW, 2},                 // top of the physical space
	}
	for _, m := range maps {
		if err := e.Map(m.gpa, m.pa, m.size, m.a); err != nil {
			t.Fatalf("map %+v: %v", m, err)
		}
	}
	checkEPTMapped(t, e, maps)
	checkEPTUnmapped(t, e, 0xa_0000, 0x400_0000, 0xfedf_f000, 0xfee0_1000, 0x1_0020_2000,
		0x1_4020_0000, 0x1_4020_3000, 0xffff_ffdf_f000, 1<<48, 1<<63)

	// Hand-computed leaves (29.3.2): RWX WB 2 MiB page = addr | 0b111 |
	// 6<<3 | bit 7; UC RW 4 KiB page = addr | 0b011.
	want := map[hv.IPA]uint64{
		0x20_0000:     0x1_0020_00b7,
		0x5000:        0x1_0000_5037,
		0xfee0_0000:   0xfee0_0003,
		0x1_4000_0000: 0x3_0000_00b5,
		0x1_4020_2000: 0x2001,
	}
	for gpa, w := range want {
		if _, d, _, _ := e.Walk(gpa); uint64(d) != w {
			t.Errorf("entry for %v = %#x, want %#x", gpa, uint64(d), w)
		}
	}
	// Non-leaf entries grant everything and point into table memory.
	pml4e := EPTE(mem.Read64(e.Root()))
	if uint64(pml4e)&^EPTE_ADDR_MASK != 0b111 || pml4e.Addr() < eptTableBase || pml4e.Addr() >= alloc.Next || !pml4e.IsTable(4) || pml4e.IsLeaf(4) {
		t.Errorf("PML4[0] = %v", pml4e)
	}
	if got, w := e.EPTP(), uint64(e.Root())|0x1e; got != w {
		t.Errorf("EPTP %#x, want %#x", got, w)
	}
	if e.EPTP()&EPTP_ACCESSED_DIRTY != 0 || e.EPTP()>>EPTP_WALK_LENGTH_SHIFT&EPTP_WALK_LENGTH_MASK != 3 || e.EPTP()&EPTP_MEMTYPE_MASK != MEMTYPE_WB {
		t.Errorf("EPTP %#x fields", e.EPTP())
	}

	var n int
	var total uint64
	var last hv.IPA
	e.Visit(func(gpa hv.IPA, pa hv.PA, size uint64, a Attr) bool {
		if n > 0 && gpa <= last {
			t.Errorf("visit out of order: %v after %v", gpa, last)
		}
		if got, ga, ok := e.Translate(gpa); !ok || got != pa || ga != a {
			t.Errorf("visit %v -> %v, translate says %v", gpa, pa, got)
		}
		n, last, total = n+1, gpa, total+size
		return true
	})
	wantLeaves := 160 + 256 + 31 + 1 + 513 + 1 + 1 + 2 + 1
	var wantTotal uint64
	for _, m := range maps {
		wantTotal += m.size
	}
	if n != wantLeaves || total != wantTotal {
		t.Errorf("visited %d leaves, %#x bytes; want %d, %#x", n, total, wantLeaves, wantTotal)
	}
	n = 0
	e.Visit(func(hv.IPA, hv.PA, uint64, Attr) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("visit did not stop: %d calls", n)
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses outside table memory", mem.Stray)
	}
}

func TestEPTE(t *testing.T) {
	for p := 0; p < 8; p++ {
		a := Attr{Write: p&1 != 0, Exec: p&2 != 0, Uncached: p&4 != 0}
		for _, level := range []int{1, 2} {
			d := eptLeaf(0x1234_5000, level, a)
			if d.Attr() != a || !d.IsLeaf(level) || d.IsTable(level) || d.Addr() != 0x1234_5000 || !d.Read() || !d.Present() {
				t.Errorf("leaf %v level %d: %v", a, level, d)
			}
			if d.PageSize() != (level == 2) || d.IgnorePAT() {
				t.Errorf("leaf %v level %d: %v", a, level, d)
			}
			wantType := uint8(MEMTYPE_WB)
			if a.Uncached {
				wantType = MEMTYPE_UC
			}
			if d.MemType() != wantType {
				t.Errorf("memtype %d", d.MemType())
			}
		}
	}
	// Bit 7 in a PML4E is reserved: neither table nor leaf. A not-present
	// entry is nothing, whatever its other bits.
	if d := EPTE(0x4000_0000 | EPTE_PAGE_SIZE | 7); d.IsLeaf(4) || d.IsTable(4) {
		t.Errorf("%v at level 4", d)
	}
	if d := EPTE(0x4000_0000 | EPTE_PAGE_SIZE | EPTE_MEMTYPE_MASK<<EPTE_MEMTYPE_SHIFT); d.Present() || d.IsLeaf(1) || d.IsLeaf(2) || d.IsTable(3) {
		t.Errorf("not-present %v used", d)
	}
	if d := eptTable(0x8000_1000); uint64(d) != 0x8000_1007 || !d.IsTable(2) || d.IsTable(1) || !d.IsLeaf(1) {
		t.Errorf("table entry %v", d)
	}
	if got := attrRWX.String(); got != "wb rwx" {
		t.Errorf("String %q", got)
	}
	if got := attrDev.String(); got != "uc rw-" {
		t.Errorf("String %q", got)
	}
	_ = EPTE(0).String() + eptLeaf(0x1000, 1, attrDev).String()
	// An entry that does not allow reads (never written by EPT) does not
	// translate.
	e, mem, _ := newTestEPT(t, 8)
	if err := e.Map(0x1000, 0x5000, pageSize, attrRW); err != nil {
		t.Fatal(err)
	}
	pteAddr := EPTE(mem.Read64(EPTE(mem.Read64(EPTE(mem.Read64(e.Root())).Addr())).Addr())).Addr() + 8
	if pt := EPTE(mem.Read64(pteAddr)); pt != eptLeaf(0x5000, 1, attrRW) {
		t.Fatalf("manual walk found %v", pt)
	}
	mem.Write64(pteAddr, 0x5000|EPTE_EXEC)
	if _, d, level, ok := e.Walk(0x1000); !ok || level != 1 || d.Read() {
		t.Errorf("walk of execute-only entry: %v %d %v", d, level, ok)
	}
	if _, _, ok := e.Translate(0x1000); ok {
		t.Error("execute-only entry translates")
	}
}

// snapshot returns a copy of table memory and the allocator position.
func snapshot(mem *hv.SimMemory, alloc *hv.BumpAllocator) ([]uint64, hv.PA) {
	return slices.Clone(mem.Words), alloc.Next
}

func TestEPTMapRefusals(t *testing.T) {
	e, mem, alloc := newTestEPT(t, 16)
	if err := e.Map(0x4000_0000, 0x5000_0000, miB2, attrRW); err != nil {
		t.Fatal(err)
	}
	if err := e.Map(0x4020_2000, 0x6000_0000, pageSize, attrRW); err != nil {
		t.Fatal(err)
	}
	words, next := snapshot(mem, alloc)
	cases := []struct {
		name string
		gpa  hv.IPA
		pa   hv.PA
		size uint64
		want error
	}{
		{"unaligned gpa", 0x1001, 0x1000, pageSize, ErrUnaligned},
		{"unaligned pa", 0x1000, 0x1800, pageSize, ErrUnaligned},
		{"unaligned size", 0x1000, 0x1000, 0x1800, ErrUnaligned},
		{"zero size", 0x1000, 0x1000, 0, ErrZeroSize},
		{"gpa beyond 48 bits", 1<<48 - pageSize, 0, 2 * pageSize, ErrRange},
		{"gpa at the limit", 1 << 48, 0, pageSize, ErrRange},
		{"gpa wraps", 0xffff_ffff_ffff_f000, 0, 2 * pageSize, ErrRange},
		{"pa beyond 52 bits", 0x1000, 1<<52 - pageSize, 2 * pageSize, ErrRange},
		{"pa just below 2^52 with an overlap", 0x4000_0000, 1<<52 - miB2, miB2, ErrAlreadyMapped},
		{"pa wraps", 0x1000, 0xffff_ffff_ffff_f000, 2 * pageSize, ErrRange},
		{"size wraps", 0x1000, 0x1000, 1<<64 - pageSize, ErrRange},
		{"same range", 0x4000_0000, 0x7000_0000, miB2, ErrAlreadyMapped},
		{"last page of a large page", 0x401f_f000, 0x7000_0000, pageSize, ErrAlreadyMapped},
		{"ends in a large page", 0x3fff_f000, 0x7000_0000, 2 * pageSize, ErrAlreadyMapped},
		{"large page over a page", 0x4020_0000, 0x7000_0000, miB2, ErrAlreadyMapped},
		{"last page taken", 0x4020_0000, 0x7000_0000, 3 * pageSize, ErrAlreadyMapped},
		{"everything", 0, 0, 1 << 40, ErrAlreadyMapped},
	}
	for _, c := range cases {
		if err := e.Map(c.gpa, c.pa, c.size, attrRW); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if !slices.Equal(words, mem.Words) || alloc.Next != next {
			t.Fatalf("%s: refused Map changed the tables", c.name)
		}
	}
	for _, f := range []func() error{
		func() error { return e.Unmap(0x1001, pageSize) },
		func() error { return e.Unmap(0x1000, 0) },
		func() error { return e.Unmap(1<<48-pageSize, 2*pageSize) },
		func() error { return e.Unmap(0xffff_ffff_ffff_f000, 2*pageSize) },
	} {
		if err := f(); err == nil {
			t.Error("bad Unmap accepted")
		}
		if !slices.Equal(words, mem.Words) || alloc.Next != next {
			t.Fatal("refused Unmap changed the tables")
		}
	}
	checkEPTMapped(t, e, []eptMapping{
		{0x4000_0000, 0x5000_0000, miB2, attrRW, 2},
		{0x4020_2000, 0x6000_0000, pageSize, attrRW, 1},
	})
	var zero EPT
	if err := zero.Map(0, 0, pageSize, attrRW); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("uninitialised Map: %v", err)
	}
	if err := zero.Unmap(0, pageSize); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("uninitialised Unmap: %v", err)
	}
	if _, _, ok := zero.Translate(0); ok {
		t.Error("uninitialised Translate")
	}
	zero.Visit(func(hv.IPA, hv.PA, uint64, Attr) bool { t.Error("uninitialised Visit"); return true })
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestEPTAllocatorExhaustion(t *testing.T) {
	// The root only: the first table Map needs is not there.
	e, mem, _ := newTestEPT(t, 1)
	if err := e.Map(0, 0x1000_0000, pageSize, attrRW); !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("got %v, want ErrNoMemory", err)
	}
	if _, err := NewEPT(&hv.BumpAllocator{Next: eptTableBase, Limit: eptTableBase, Mem: mem}, mem); !errors.Is(err, hv.ErrNoMemory) {
		t.Errorf("NewEPT without memory: %v", err)
	}

	// Root, PDPT and PD: the 2 MiB page fits, the trailing 4 KiB page
	// needs a page table that is not there. Map undoes the large page.
	e, mem, alloc := newTestEPT(t, 3)
	err := e.Map(0x4000_0000, 0x5000_0000, miB2+pageSize, attrRW)
	if !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("got %v, want ErrNoMemory", err)
	}
	checkEPTUnmapped(t, e, 0x4000_0000, 0x401f_f000, 0x4020_0000)
	// What fits still maps, reusing the tables.
	if err := e.Map(0x4000_0000, 0x5000_0000, miB2, attrRW); err != nil {
		t.Fatal(err)
	}
	checkEPTMapped(t, e, []eptMapping{{0x4000_0000, 0x5000_0000, miB2, attrRW, 2}})
	// Splitting for Unmap needs a page too: nothing changes without it.
	words, next := snapshot(mem, alloc)
	if err := e.Unmap(0x4000_1000, pageSize); !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("split without memory: %v", err)
	}
	if !slices.Equal(words, mem.Words) || alloc.Next != next {
		t.Fatal("failed Unmap changed the tables")
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestEPTUnmapSplits(t *testing.T) {
	e, mem, alloc := newTestEPT(t, 16)
	const base, out = hv.IPA(0x4000_0000), hv.PA(0x1_0000_0000)
	if err := e.Map(base, out, 8*miB2, attrRWX); err != nil {
		t.Fatal(err)
	}
	// One page in the middle of the first large page.
	if err := e.Unmap(base+0x12_3000, pageSize); err != nil {
		t.Fatal(err)
	}
	checkEPTUnmapped(t, e, base+0x12_3000, base+0x12_3fff)
	checkEPTMapped(t, e, []eptMapping{
		{base, out, 0x12_3000, attrRWX, 1},
		{base + 0x12_4000, out + 0x12_4000, miB2 - 0x12_4000, attrRWX, 1},
		{base + miB2, out + miB2, 7 * miB2, attrRWX, 2},
	})
	if _, d, _, _ := e.Walk(base + 0x12_2000); d != eptLeaf(out+0x12_2000, 1, attrRWX) {
		t.Errorf("split entry %v", d)
	}
	// A range straddling two large pages: both ends split.
	if err := e.Unmap(base+0x5f_f000, miB2+0x2000); err != nil {
		t.Fatal(err)
	}
	checkEPTUnmapped(t, e, base+0x5f_f000, base+0x60_0000, base+0x7f_f000, base+0x80_0000)
	checkEPTMapped(t, e, []eptMapping{
		{base + 0x40_0000, out + 0x40_0000, 0x1f_f000, attrRWX, 1},
		{base + 0x80_1000, out + 0x80_1000, miB2 - pageSize, attrRWX, 1},
		{base + 0xa0_0000, out + 0xa0_0000, miB2, attrRWX, 2},
	})
	// Aligned unmaps split nothing; unmapping a hole is fine.
	used := alloc.Next
	for range 2 {
		if err := e.Unmap(base+miB2, miB2); err != nil {
			t.Fatal(err)
		}
	}
	if alloc.Next != used {
		t.Errorf("aligned unmap allocated %d pages", (alloc.Next-used)/pageSize)
	}
	checkEPTUnmapped(t, e, base+miB2, base+2*miB2-pageSize)
	// The hole maps again, elsewhere.
	if err := e.Map(base+0x12_3000, 0x2000_0000, pageSize, attrDev); err != nil {
		t.Fatal(err)
	}
	checkEPTMapped(t, e, []eptMapping{{base + 0x12_3000, 0x2000_0000, pageSize, attrDev, 1}})
	// Unmapping everything leaves nothing to visit.
	if err := e.Unmap(0, 1<<48); err != nil {
		t.Fatal(err)
	}
	e.Visit(func(gpa hv.IPA, pa hv.PA, _ uint64, _ Attr) bool {
		t.Errorf("left mapped: %v -> %v", gpa, pa)
		return true
	})
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestEPTLargePageOverEmptyTable(t *testing.T) {
	// After a page is mapped and unmapped, an empty page table stays
	// where a large page could go: Map uses pages there instead.
	e, _, _ := newTestEPT(t, 8)
	if err := e.Map(0x4000_0000, 0x5000_0000, pageSize, attrRW); err != nil {
		t.Fatal(err)
	}
	if err := e.Unmap(0x4000_0000, pageSize); err != nil {
		t.Fatal(err)
	}
	if err := e.Map(0x4000_0000, 0x6000_0000, miB2, attrRW); err != nil {
		t.Fatal(err)
	}
	checkEPTMapped(t, e, []eptMapping{{0x4000_0000, 0x6000_0000, miB2, attrRW, 1}})
}

func TestEPTNoLargePages(t *testing.T) {
	mem := hv.NewSimMemory(eptTableBase, 8*pageSize)
	e := &EPT{NoLargePages: true}
	if err := e.Init(&hv.BumpAllocator{Next: eptTableBase, Limit: eptTableBase + 8*pageSize, Mem: mem}, mem); err != nil || !e.NoLargePages || e.Root() != eptTableBase {
		t.Fatalf("Init: %v, %+v", err, e)
	}
	if err := e.Map(0x4000_0000, 0x6000_0000, 2*miB2, attrRW); err != nil {
		t.Fatal(err)
	}
	checkEPTMapped(t, e, []eptMapping{{0x4000_0000, 0x6000_0000, 2 * miB2, attrRW, 1}})
	for i := range mem.Words {
		if d := EPTE(mem.Words[i]); d.Present() && d.PageSize() {
			t.Fatalf("entry %d has bit 7 set: %v", i, d)
		}
	}
}

func TestEPTAllocatesNothing(t *testing.T) {
	e, _, _ := newTestEPT(t, 64)
	var gpa hv.IPA
	n := testing.AllocsPerRun(50, func() {
		if err := e.Map(gpa, 0x1_0000_0000, miB2+pageSize, attrRW); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := e.Translate(gpa + pageSize); !ok {
			t.Fatal("not mapped")
		}
		if err := e.Unmap(gpa, miB2+pageSize); err != nil {
			t.Fatal(err)
		}
		if err := e.Map(gpa, 0, 0, attrRW); err == nil {
			t.Fatal("zero size accepted")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per Map/Translate/Unmap", n)
	}
}
