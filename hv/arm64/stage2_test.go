// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

const s2TableBase = hv.PA(0x8000_0000)

func newTestStage2(t testing.TB, pages int, ipaBits uint) (*Stage2, *hv.SimMemory, *hv.BumpAllocator) {
	t.Helper()
	mem := hv.NewSimMemory(s2TableBase, uint64(pages)*hv.PageSize)
	alloc := &hv.BumpAllocator{Next: s2TableBase, Limit: s2TableBase + hv.PA(pages*hv.PageSize), Mem: mem}
	s, err := NewStage2(alloc, mem, ipaBits)
	if err != nil {
		t.Fatal(err)
	}
	return s, mem, alloc
}

var (
	s2RWX = S2Attr{Type: S2Normal, Read: true, Write: true, Exec: true}
	s2RW  = S2Attr{Type: S2Normal, Read: true, Write: true}
	s2RX  = S2Attr{Type: S2Normal, Read: true, Exec: true}
	s2Dev = S2Attr{Type: S2Device, Read: true, Write: true}
)

const (
	giB      = 1 << 30
	miB2     = 2 << 20
	pageSize = hv.PageSize
)

type s2Mapping struct {
	ipa   hv.IPA
	pa    hv.PA
	size  uint64
	a     S2Attr
	level int // leaf level expected for every page (0: don't check)
}

// checkMapped walks every page of every mapping (and a non-page-aligned
// address in each) and checks output address, attributes and level.
func checkMapped(t *testing.T, s *Stage2, maps []s2Mapping) {
	t.Helper()
	for _, m := range maps {
		for off := uint64(0); off < m.size; off += pageSize {
			ipa := m.ipa + hv.IPA(off)
			pa, d, level, ok := s.Walk(ipa)
			if !ok || pa != m.pa+hv.PA(off) {
				t.Fatalf("walk %v: pa=%v ok=%v, want %v", ipa, pa, ok, m.pa+hv.PA(off))
			}
			if d.Attr() != m.a {
				t.Fatalf("walk %v: attr %v, want %v", ipa, d.Attr(), m.a)
			}
			if m.level != 0 && level != m.level {
				t.Fatalf("walk %v: level %d, want %d", ipa, level, m.level)
			}
		}
		if pa, _, _, ok := s.Walk(m.ipa + 0x123); !ok || pa != m.pa+0x123 {
			t.Fatalf("walk %v+0x123: pa=%v ok=%v", m.ipa, pa, ok)
		}
	}
}

func checkUnmapped(t *testing.T, s *Stage2, ipas ...hv.IPA) {
	t.Helper()
	for _, ipa := range ipas {
		if pa, d, level, ok := s.Walk(ipa); ok {
			t.Errorf("walk %v: mapped to %v (%v, level %d), want unmapped", ipa, pa, d, level)
		}
	}
}

func TestStage2MixedLayout(t *testing.T) {
	s, mem, alloc := newTestStage2(t, 64, 40)
	maps := []s2Mapping{
		{0x0900_0000, 0x0900_0000, pageSize, s2Dev, 3},                // one UART page
		{0x4000_0000, 0x5000_0000, 64 << 20, s2RWX, 2},                // guest RAM: 32 2 MiB blocks
		{0x8000_0000, 0x6020_0000, miB2, s2RX, 2},                     // one 2 MiB block
		{0xc000_0000, 0x7000_1000, miB2 + 2*pageSize, s2RW, 3},        // PA misaligned: pages only
		{0x1_0000_0000, 0x1_4000_0000, giB, s2RW, 1},                  // one 1 GiB block
		{0x1_4000_0000 + 0x1000, 0x2000_0000, 3 * pageSize, s2Dev, 3}, // IPA misaligned
	}
	for _, m := range maps {
		if err := s.Map(m.ipa, m.pa, m.size, m.a); err != nil {
			t.Fatalf("map %+v: %v", m, err)
		}
	}
	checkMapped(t, s, maps)
	checkUnmapped(t, s, 0, 0x1000, 0x08ff_f000, 0x0900_1000, 0x3fff_f000, 0x4400_0000,
		0x7fff_f000, 0x8020_0000, 0xc020_2000, 0x1_4000_0000, 0x1_4000_4000,
		0xff_ffff_f000, 1<<40, 1<<63)

	// Hand-computed descriptors (D8.3, stage 2 block and page formats).
	want := map[hv.IPA]uint64{
		// Device-nGnRE page: valid|page, MemAttr 0b0001, S2AP 0b11,
		// SH 0b10, AF, XN 0b10.
		0x0900_0000: 0x0040_0000_0900_06c7,
		// Normal WB 2 MiB block RWX: valid, MemAttr 0b1111, S2AP 0b11,
		// SH 0b11, AF.
		0x4020_0000: 0x0000_0000_5020_07fd,
		// Read-only executable block: S2AP 0b01.
		0x8000_0000: 0x0000_0000_6020_077d,
		// 1 GiB RW no-exec block.
		0x1_0000_0000: 0x0040_0001_4000_07fd,
	}
	for ipa, w := range want {
		if _, d, _, _ := s.Walk(ipa); uint64(d) != w {
			t.Errorf("descriptor for %v = %#x, want %#x", ipa, uint64(d), w)
		}
	}
	// The root entry for IPA 0x4000_0000 (index 1 of the level 1 root)
	// is a table descriptor: next-level address | table | valid.
	td := S2PTE(mem.Read64(s.Root() + 8))
	if uint64(td)&^S2PTE_ADDR_MASK != 0b11 || td.Addr() < s2TableBase || td.Addr() >= alloc.Next || td.Addr()%hv.PageSize != 0 {
		t.Errorf("root[1] = %#x, want a table descriptor into table memory", uint64(td))
	}
	if !td.IsTable(1) || td.IsLeaf(1) {
		t.Errorf("root[1] %v not a table", td)
	}

	// Visit reports every leaf once, in IPA order.
	var n int
	var last hv.IPA
	var total uint64
	s.Visit(func(ipa hv.IPA, pa hv.PA, size uint64, a S2Attr) bool {
		if n > 0 && ipa <= last {
			t.Errorf("visit out of order: %v after %v", ipa, last)
		}
		if got, _, _, ok := s.Walk(ipa); !ok || got != pa {
			t.Errorf("visit %v -> %v, walk says %v", ipa, pa, got)
		}
		n, last, total = n+1, ipa, total+size
		return true
	})
	wantLeaves := 1 + 32 + 1 + (512 + 2) + 1 + 3
	if n != wantLeaves {
		t.Errorf("visited %d leaves, want %d", n, wantLeaves)
	}
	var wantTotal uint64
	for _, m := range maps {
		wantTotal += m.size
	}
	if total != wantTotal {
		t.Errorf("visited %#x bytes, want %#x", total, wantTotal)
	}
	n = 0
	s.Visit(func(hv.IPA, hv.PA, uint64, S2Attr) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("visit did not stop: %d calls", n)
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses outside table memory", mem.Stray)
	}
}

func TestS2PTE(t *testing.T) {
	for _, typ := range []S2MemType{S2Device, S2Normal} {
		for p := 0; p < 8; p++ {
			a := S2Attr{Type: typ, Read: p&1 != 0, Write: p&2 != 0, Exec: p&4 != 0}
			for _, level := range []int{1, 2, 3} {
				d := s2Leaf(0x1234_5000, level, a)
				if d.Attr() != a || !d.IsLeaf(level) || d.IsTable(level) || d.Addr() != 0x1234_5000 {
					t.Errorf("leaf %v level %d: %v", a, level, d)
				}
			}
		}
	}
	// A level 0 "block" and a level 3 descriptor with bit 1 clear are
	// not leaves (both fault), and an invalid descriptor is nothing.
	if d := S2PTE(0x4000_0000 | S2PTE_VALID | S2PTE_AF); d.IsLeaf(0) || d.IsTable(0) || d.IsLeaf(3) {
		t.Errorf("%v treated as a leaf", d)
	}
	if d := S2PTE(0x4000_0000 | S2PTE_TABLE); d.Valid() || d.IsLeaf(3) {
		t.Errorf("invalid %v treated as valid", d)
	}
	if d := s2TableDesc(0x8000_1000); d.IsTable(3) || !d.IsTable(0) || uint64(d) != 0x8000_1003 {
		t.Errorf("table descriptor %#x", uint64(d))
	}
	if got := s2RWX.String(); got != "normal rwx" {
		t.Errorf("String %q", got)
	}
	if got := s2Dev.String(); got != "device rw-" {
		t.Errorf("String %q", got)
	}
	_ = S2PTE(0).String() + s2Leaf(0x1000, 3, s2Dev).String()
}

func TestStage2MapErrors(t *testing.T) {
	s, mem, _ := newTestStage2(t, 16, 40)
	cases := []struct {
		name string
		ipa  hv.IPA
		pa   hv.PA
		size uint64
		a    S2Attr
		want error
	}{
		{"unaligned ipa", 0x1001, 0x1000, pageSize, s2RW, ErrUnaligned},
		{"unaligned pa", 0x1000, 0x1800, pageSize, s2RW, ErrUnaligned},
		{"unaligned size", 0x1000, 0x1000, 0x1800, s2RW, ErrUnaligned},
		{"zero size", 0x1000, 0x1000, 0, s2RW, ErrZeroSize},
		{"beyond IPA space", 1<<40 - hv.PageSize, 0, 2 * pageSize, s2RW, ErrRange},
		{"IPA at the limit", 1 << 40, 0, pageSize, s2RW, ErrRange},
		{"IPA wraps", 0xffff_ffff_ffff_f000, 0, 2 * pageSize, s2RW, ErrRange},
		{"PA beyond 48 bits", 0x1000, 1<<48 - hv.PageSize, 2 * pageSize, s2RW, ErrRange},
		{"PA wraps", 0x1000, 0xffff_ffff_ffff_f000, 2 * pageSize, s2RW, ErrRange},
		{"executable device", 0x1000, 0x1000, pageSize, S2Attr{Type: S2Device, Read: true, Exec: true}, ErrS2Attr},
		{"bad type", 0x1000, 0x1000, pageSize, S2Attr{Type: 7, Read: true}, ErrS2Attr},
	}
	for _, c := range cases {
		if err := s.Map(c.ipa, c.pa, c.size, c.a); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Double mapping: exact, overlapping the end of a block, a block
	// over pages, and a range whose last page is taken. None of them
	// changes anything.
	if err := s.Map(0x4000_0000, 0x5000_0000, miB2, s2RW); err != nil {
		t.Fatal(err)
	}
	if err := s.Map(0x4020_2000, 0x6000_0000, pageSize, s2RW); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ipa  hv.IPA
		size uint64
	}{
		{0x4000_0000, miB2},
		{0x401f_f000, pageSize},
		{0x3fff_f000, 2 * pageSize},
		{0x4020_0000, miB2},
		{0x4020_0000, 3 * pageSize},
		{0x0, 2 * giB},
	} {
		err := s.Map(c.ipa, 0x7000_0000, c.size, s2RW)
		if !errors.Is(err, ErrAlreadyMapped) || !errors.Is(err, ErrOverlap) {
			t.Errorf("remap %v+%#x: %v", c.ipa, c.size, err)
		}
	}
	checkUnmapped(t, s, 0x3fff_f000, 0x4020_0000, 0x4020_1000, 0x4020_3000)
	checkMapped(t, s, []s2Mapping{
		{0x4000_0000, 0x5000_0000, miB2, s2RW, 2},
		{0x4020_2000, 0x6000_0000, pageSize, s2RW, 3},
	})
	for _, f := range []func() error{
		func() error { return s.Unmap(0x1001, pageSize) },
		func() error { return s.Unmap(0x1000, 0) },
		func() error { return s.Unmap(1<<40-hv.PageSize, 2*pageSize) },
		func() error { return s.Unmap(0xffff_ffff_ffff_f000, 2*pageSize) },
	} {
		if err := f(); err == nil {
			t.Error("bad Unmap accepted")
		}
	}
	var zero Stage2
	if err := zero.Map(0, 0, pageSize, s2RW); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("uninitialised Map: %v", err)
	}
	if err := zero.Unmap(0, pageSize); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("uninitialised Unmap: %v", err)
	}
	if _, _, _, ok := zero.Walk(0); ok {
		t.Error("uninitialised Walk")
	}
	zero.Visit(func(hv.IPA, hv.PA, uint64, S2Attr) bool { t.Error("uninitialised Visit"); return true })
	for _, bits := range []uint{0, 31, 49, 52, 64} {
		if _, err := NewStage2(&hv.BumpAllocator{}, hv.NewSimMemory(0, 0), bits); !errors.Is(err, ErrIPABits) {
			t.Errorf("%d-bit IPA: %v", bits, err)
		}
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestStage2MapRollsBackWhenOutOfMemory(t *testing.T) {
	// Root plus one more page: the 2 MiB block fits (it needs the level 2
	// table), the trailing page needs a level 3 table that is not there.
	s, mem, _ := newTestStage2(t, 2, 39)
	err := s.Map(0x4000_0000, 0x5000_0000, miB2+pageSize, s2RW)
	if !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("got %v, want ErrNoMemory", err)
	}
	checkUnmapped(t, s, 0x4000_0000, 0x401f_f000, 0x4020_0000)
	// What fits still maps, reusing the level 2 table.
	if err := s.Map(0x4000_0000, 0x5000_0000, miB2, s2RW); err != nil {
		t.Fatal(err)
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestStage2MapBlockOverEmptyTable(t *testing.T) {
	// After a page is mapped and unmapped, an empty level 3 table stays
	// where a 2 MiB block could go: Map uses pages there instead.
	s, _, _ := newTestStage2(t, 8, 39)
	if err := s.Map(0x4000_0000, 0x5000_0000, pageSize, s2RW); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmap(0x4000_0000, pageSize); err != nil {
		t.Fatal(err)
	}
	if err := s.Map(0x4000_0000, 0x6000_0000, miB2, s2RW); err != nil {
		t.Fatal(err)
	}
	checkMapped(t, s, []s2Mapping{{0x4000_0000, 0x6000_0000, miB2, s2RW, 3}})
}

type bbmCall struct {
	ipa  hv.IPA
	size uint64
}

func TestStage2UnmapSplitsBlocks(t *testing.T) {
	s, mem, alloc := newTestStage2(t, 16, 39)
	var calls []bbmCall
	s.Invalidate = func(ipa hv.IPA, size uint64) {
		// break-before-make: the block must already be invalid here.
		if _, _, _, ok := s.Walk(ipa); ok {
			t.Errorf("Invalidate(%v) called while the block is still valid", ipa)
		}
		calls = append(calls, bbmCall{ipa, size})
	}
	const base, out = hv.IPA(0x4000_0000), hv.PA(0x1_0000_0000)
	if err := s.Map(base, out, giB, s2RW); err != nil {
		t.Fatal(err)
	}
	// One page in the middle of the 1 GiB block: split to 2 MiB blocks,
	// then the 2 MiB block at base to pages.
	if err := s.Unmap(base+0x12_3000, pageSize); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != (bbmCall{base, giB}) || calls[1] != (bbmCall{base, miB2}) {
		t.Errorf("break-before-make calls %v", calls)
	}
	checkUnmapped(t, s, base+0x12_3000, base+0x12_3fff)
	checkMapped(t, s, []s2Mapping{
		{base, out, 0x12_3000, s2RW, 3},
		{base + 0x12_4000, out + 0x12_4000, miB2 - 0x12_4000, s2RW, 3},
		{base + 0x20_0000, out + 0x20_0000, giB - miB2, s2RW, 2},
	})
	// The split descriptors are exactly what Map writes.
	if _, d, _, _ := s.Walk(base + 0x12_2000); d != s2Leaf(out+0x12_2000, 3, s2RW) {
		t.Errorf("split page descriptor %v", d)
	}
	if _, d, _, _ := s.Walk(base + 0x3fe0_0000); d != s2Leaf(out+0x3fe0_0000, 2, s2RW) {
		t.Errorf("split block descriptor %v", d)
	}

	// A range straddling two 2 MiB blocks: both ends split, the middle
	// unmapped.
	calls = nil
	if err := s.Unmap(base+0x5f_f000, miB2+0x2000); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != (bbmCall{base + 0x40_0000, miB2}) || calls[1] != (bbmCall{base + 0x80_0000, miB2}) {
		t.Errorf("break-before-make calls %v", calls)
	}
	checkUnmapped(t, s, base+0x5f_f000, base+0x60_0000, base+0x7f_f000, base+0x80_0000)
	checkMapped(t, s, []s2Mapping{
		{base + 0x40_0000, out + 0x40_0000, 0x1f_f000, s2RW, 3},
		{base + 0x80_1000, out + 0x80_1000, miB2 - pageSize, s2RW, 3},
		{base + 0xa0_0000, out + 0xa0_0000, miB2, s2RW, 2},
	})

	// Unmapping an aligned block needs no split; unmapping a hole is fine.
	calls = nil
	used := alloc.Next
	if err := s.Unmap(base+0x20_0000, miB2); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmap(base+0x20_0000, miB2); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 || alloc.Next != used {
		t.Errorf("aligned unmap split something: %v, %d pages", calls, (alloc.Next-used)/hv.PageSize)
	}
	checkUnmapped(t, s, base+0x20_0000, base+0x3f_f000)

	// The hole can be mapped again, to somewhere else.
	if err := s.Map(base+0x12_3000, 0x2000_0000, pageSize, s2Dev); err != nil {
		t.Fatal(err)
	}
	checkMapped(t, s, []s2Mapping{{base + 0x12_3000, 0x2000_0000, pageSize, s2Dev, 3}})

	// Unmapping everything leaves nothing to visit.
	if err := s.Unmap(0, 1<<39); err != nil {
		t.Fatal(err)
	}
	s.Visit(func(ipa hv.IPA, pa hv.PA, size uint64, a S2Attr) bool {
		t.Errorf("left mapped: %v -> %v", ipa, pa)
		return true
	})
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestStage2UnmapSplitOutOfMemory(t *testing.T) {
	// Root plus one page: the 1 GiB block needs no table, the level 1
	// split takes the spare page and the level 2 split finds none.
	// Translation must be unchanged.
	s, _, _ := newTestStage2(t, 2, 39)
	if err := s.Map(0x4000_0000, 0x1_0000_0000, giB, s2RW); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmap(0x4000_1000, pageSize); !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("got %v, want ErrNoMemory", err)
	}
	m := []s2Mapping{{0x4000_0000, 0x1_0000_0000, giB, s2RW, 0}}
	checkMapped(t, s, m)
}

// fakeAlloc hands out the given pages in order.
type fakeAlloc struct {
	pages []hv.PA
	calls int
}

func (f *fakeAlloc) AllocPage() (hv.PA, error) {
	if f.calls == len(f.pages) {
		return 0, hv.ErrNoMemory
	}
	f.calls++
	return f.pages[f.calls-1], nil
}

type fakeContig struct {
	fakeAlloc
	n     int
	align uint64
	at    hv.PA
}

func (f *fakeContig) AllocPages(n int, align uint64) (hv.PA, error) {
	f.n, f.align = n, align
	return f.at, nil
}

func TestStage2Concatenated(t *testing.T) {
	for _, c := range []struct {
		bits   uint
		start  int
		pages  int
		t0sz   uint64
		sl0    uint64
		ipaTop hv.IPA
	}{
		{32, 1, 1, 32, VTCR_SL0_4K_LEVEL1, 1<<32 - hv.PageSize},
		{39, 1, 1, 25, VTCR_SL0_4K_LEVEL1, 1<<39 - hv.PageSize},
		{40, 1, 2, 24, VTCR_SL0_4K_LEVEL1, 1<<40 - hv.PageSize},
		{41, 1, 4, 23, VTCR_SL0_4K_LEVEL1, 1<<41 - hv.PageSize},
		{42, 1, 8, 22, VTCR_SL0_4K_LEVEL1, 1<<42 - hv.PageSize},
		{43, 0, 1, 21, VTCR_SL0_4K_LEVEL0, 1<<43 - hv.PageSize},
		{44, 0, 1, 20, VTCR_SL0_4K_LEVEL0, 1<<44 - hv.PageSize},
		{48, 0, 1, 16, VTCR_SL0_4K_LEVEL0, 1<<48 - hv.PageSize},
	} {
		// Start the allocator one page off so the root must be aligned
		// by skipping pages.
		mem := hv.NewSimMemory(s2TableBase, 32*hv.PageSize)
		alloc := &hv.BumpAllocator{Next: s2TableBase + hv.PageSize, Limit: s2TableBase + 32*hv.PageSize, Mem: mem}
		s, err := NewStage2(alloc, mem, c.bits)
		if err != nil {
			t.Fatalf("%d bits: %v", c.bits, err)
		}
		if s.StartLevel() != c.start || s.RootPages() != c.pages || s.IPABits() != c.bits {
			t.Errorf("%d bits: start %d, %d root pages", c.bits, s.StartLevel(), s.RootPages())
		}
		if uint64(s.Root())%(uint64(c.pages)*pageSize) != 0 {
			t.Errorf("%d bits: root %v not aligned to %d pages", c.bits, s.Root(), c.pages)
		}
		for _, ipa := range []hv.IPA{0, c.ipaTop, c.ipaTop / 2 &^ 0xfff} {
			if err := s.Map(ipa, 0x1000_0000+hv.PA(ipa%giB), pageSize, s2RW); err != nil {
				t.Fatalf("%d bits: map %v: %v", c.bits, ipa, err)
			}
			if pa, _, level, ok := s.Walk(ipa + 8); !ok || pa != 0x1000_0008+hv.PA(ipa%giB) || level != 3 {
				t.Errorf("%d bits: walk %v: %v %v", c.bits, ipa, pa, ok)
			}
		}
		if err := s.Map(c.ipaTop+pageSize, 0, pageSize, s2RW); !errors.Is(err, ErrRange) {
			t.Errorf("%d bits: map past the top: %v", c.bits, err)
		}
		// With concatenation the top IPA's root entry is in the last
		// root page.
		if c.pages > 1 {
			e := S2PTE(mem.Read64(s.Root() + hv.PA(c.pages)*hv.PageSize - 8))
			if !e.IsTable(1) {
				t.Errorf("%d bits: last root entry %v", c.bits, e)
			}
		}
		v, err := s.VTCR(0b101)
		if err != nil {
			t.Fatalf("%d bits: VTCR: %v", c.bits, err)
		}
		if v&VTCR_T0SZ_MASK != c.t0sz || v>>VTCR_SL0_SHIFT&VTCR_SL0_MASK != c.sl0 {
			t.Errorf("%d bits: VTCR %#x", c.bits, v)
		}
		if mem.Stray != 0 {
			t.Errorf("%d bits: %d stray accesses", c.bits, mem.Stray)
		}
	}

	// Pages that are not consecutive cannot form a concatenated root.
	gap := &fakeAlloc{pages: []hv.PA{0x8000_0000, 0x8000_2000, 0x8000_3000}}
	if _, err := NewStage2(gap, hv.NewSimMemory(0, 0), 40); !errors.Is(err, ErrRootNotContiguous) {
		t.Errorf("gapped pages: %v", err)
	}
	// Leading misaligned pages are skipped, but not forever.
	odd := &fakeAlloc{pages: []hv.PA{0x8000_1000, 0x8000_3000, 0x8000_5000, 0x8000_7000}}
	if _, err := NewStage2(odd, hv.NewSimMemory(0, 0), 40); !errors.Is(err, ErrRootNotContiguous) {
		t.Errorf("misaligned pages: %v", err)
	}
	if _, err := NewStage2(&fakeAlloc{}, hv.NewSimMemory(0, 0), 40); !errors.Is(err, hv.ErrNoMemory) {
		t.Errorf("empty allocator: %v", err)
	}
	// A ContiguousAllocator is asked for the whole root at once.
	ca := &fakeContig{at: 0x8001_0000}
	s, err := NewStage2(ca, hv.NewSimMemory(0x8000_0000, 0x2_0000), 42)
	if err != nil || s.Root() != 0x8001_0000 || ca.n != 8 || ca.align != 8*pageSize || ca.calls != 0 {
		t.Errorf("contiguous allocator: %v root %v n %d align %#x", err, s.Root(), ca.n, ca.align)
	}
	ca = &fakeContig{at: 0x8001_1000}
	if _, err := NewStage2(ca, hv.NewSimMemory(0, 0), 42); !errors.Is(err, ErrRootNotContiguous) {
		t.Errorf("misaligned contiguous allocation: %v", err)
	}
}

func TestVTCRValue(t *testing.T) {
	// 40-bit IPA, level 1 start with two concatenated tables, PARange
	// 0b101 (48 bits), by hand: RES1 bit 31, PS 0b101 at 16, TG0 0b00,
	// SH0 0b11 at 12, ORGN0 0b01 at 10, IRGN0 0b01 at 8, SL0 0b01 at 6,
	// T0SZ 24.
	v, err := VTCRValue(40, 1, 0b101)
	if err != nil || v != 0x8005_3558 {
		t.Errorf("VTCR_EL2(40 bits) = %#x, %v; want 0x80053558", v, err)
	}
	// Only PARange, bits [3:0] of ID_AA64MMFR0_EL1, counts.
	if v2, _ := VTCRValue(40, 1, 0x0000_1122_0010_0f05); v2 != v {
		t.Errorf("VTCR from full MMFR0 %#x", v2)
	}
	// 48 bits from level 0: T0SZ 16, SL0 0b10.
	if v, err := VTCRValue(48, 0, 0b101); err != nil || v != 0x8005_3590 {
		t.Errorf("VTCR_EL2(48 bits) = %#x, %v", v, err)
	}
	// 40-bit PA range: PS 0b010.
	if v, err := VTCRValue(40, 1, 0b010); err != nil || v != 0x8002_3558 {
		t.Errorf("VTCR_EL2(PS 40) = %#x, %v", v, err)
	}
	// A 52-bit PARange is capped at 48 bits.
	if v, err := VTCRValue(40, 1, 0b110); err != nil || v>>VTCR_PS_SHIFT&VTCR_PS_MASK != VTCR_PS_48BIT {
		t.Errorf("VTCR_EL2(PS 52) = %#x, %v", v, err)
	}
	for _, c := range []struct {
		bits  uint
		level int
		mmfr0 uint64
		want  error
	}{
		{44, 0, 0b010, ErrPARange},    // IPA larger than PA range
		{40, 1, 0b001, ErrPARange},    // 40 > 36
		{40, 1, 0b0111, ErrPARange},   // reserved PARange
		{40, 0, 0b011, ErrStartLevel}, // level 0 with PS 42 bits (QEMU refuses)
		{44, 1, 0b101, ErrStartLevel}, // 32 level 1 tables
		{35, 2, 0b101, ErrStartLevel}, // 32 level 2 tables
		{39, 0, 0b101, ErrStartLevel}, // level 0 resolves no bits
		{32, 3, 0b101, ErrStartLevel},
		{32, -1, 0b101, ErrStartLevel},
		{24, 2, 0b101, ErrIPABits},
		{49, 0, 0b110, ErrIPABits},
	} {
		if _, err := VTCRValue(c.bits, c.level, c.mmfr0); !errors.Is(err, c.want) {
			t.Errorf("VTCRValue(%d, %d, %#x): %v, want %v", c.bits, c.level, c.mmfr0, err, c.want)
		}
	}
	if _, err := VTCRValue(30, 2, 0b000); err != nil {
		t.Errorf("30-bit IPA from level 2: %v", err)
	}
	s, _, _ := newTestStage2(t, 4, 44)
	if _, err := s.VTCR(0b010); !errors.Is(err, ErrPARange) {
		t.Errorf("44-bit IPA on a 40-bit PA machine: %v", err)
	}
}

func TestVTTBR(t *testing.T) {
	mem := hv.NewSimMemory(s2TableBase, 8*hv.PageSize)
	alloc := &hv.BumpAllocator{Next: s2TableBase + 3*hv.PageSize, Limit: s2TableBase + 8*hv.PageSize, Mem: mem}
	s, err := NewStage2(alloc, mem, 40)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != 0x8000_4000 {
		t.Fatalf("root %v, want the first 8 KiB-aligned page", s.Root())
	}
	if v := s.VTTBR(5); v != 0x0005_0000_8000_4000 {
		t.Errorf("VTTBR = %#x", v)
	}
	if v := s.VTTBR(0xabcd); v != 0xabcd_0000_8000_4000 {
		t.Errorf("VTTBR(0xabcd) = %#x (VMID must not be truncated)", v)
	}
}

// interval is a mapping of the reference model.
type interval struct {
	ipa, end uint64
	pa       uint64
	a        S2Attr
}

func TestStage2RandomMappings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s, mem, _ := newTestStage2(t, 4096, 40)
	var model []interval
	overlaps := func(lo, hi uint64) bool {
		for _, m := range model {
			if lo < m.end && m.ipa < hi {
				return true
			}
		}
		return false
	}
	attrs := []S2Attr{s2RWX, s2RW, s2RX, s2Dev, {Type: S2Normal, Read: true}}
	// random layout: granularities chosen so blocks, pages and
	// collisions all happen
	rejected := 0
	for i := 0; i < 300; i++ {
		var g uint64
		switch rng.IntN(3) {
		case 0:
			g = pageSize
		case 1:
			g = miB2
		default:
			g = giB
		}
		ipa := rng.Uint64N(1<<40/g) * g
		size := uint64(1+rng.IntN(4))*g + uint64(rng.IntN(3))*pageSize
		pa := rng.Uint64N(1<<47/g)*g + uint64(rng.IntN(2))*pageSize
		if g == giB {
			// 2 MiB blocks at worst: 4 KiB pages over a whole GiB
			// would need 512 level 3 tables.
			size = g + uint64(rng.IntN(2))*miB2
			pa = rng.Uint64N(1<<47/g)*g + uint64(rng.IntN(2))*miB2
		}
		if ipa+size > 1<<40 {
			continue
		}
		a := attrs[rng.IntN(len(attrs))]
		err := s.Map(hv.IPA(ipa), hv.PA(pa), size, a)
		if overlaps(ipa, ipa+size) {
			if !errors.Is(err, ErrAlreadyMapped) {
				t.Fatalf("overlapping map %#x+%#x: %v", ipa, size, err)
			}
			rejected++
			continue
		}
		if err != nil {
			t.Fatalf("map %#x+%#x -> %#x: %v", ipa, size, pa, err)
		}
		model = append(model, interval{ipa, ipa + size, pa, a})
	}
	if rejected == 0 || len(model) < 50 {
		t.Fatalf("poor random layout: %d mapped, %d rejected", len(model), rejected)
	}
	verify := func() {
		t.Helper()
		var total uint64
		for _, m := range model {
			total += m.end - m.ipa
			step := uint64(pageSize)
			if m.end-m.ipa > 8<<20 {
				step = miB2 - pageSize // still lands on every block boundary's neighbours
			}
			for off := uint64(0); m.ipa+off < m.end; off += step {
				pa, d, _, ok := s.Walk(hv.IPA(m.ipa + off))
				if !ok || uint64(pa) != m.pa+off || d.Attr() != m.a {
					t.Fatalf("walk %#x: %v %v %v, want %#x %v", m.ipa+off, pa, d.Attr(), ok, m.pa+off, m.a)
				}
			}
			if pa, _, _, ok := s.Walk(hv.IPA(m.end - pageSize)); !ok || uint64(pa) != m.pa+(m.end-m.ipa)-pageSize {
				t.Fatalf("walk last page of %#x", m.ipa)
			}
		}
		for i := 0; i < 2000; i++ {
			ipa := rng.Uint64N(1<<40) &^ 0xfff
			if !overlaps(ipa, ipa+1) {
				if _, _, _, ok := s.Walk(hv.IPA(ipa)); ok {
					t.Fatalf("unmapped %#x walks", ipa)
				}
			}
		}
		var visited uint64
		s.Visit(func(ipa hv.IPA, pa hv.PA, size uint64, a S2Attr) bool {
			visited += size
			for _, m := range model {
				if uint64(ipa) >= m.ipa && uint64(ipa)+size <= m.end {
					if uint64(pa) != m.pa+uint64(ipa)-m.ipa || a != m.a {
						t.Fatalf("visit %v -> %v %v, model %#x %v", ipa, pa, a, m.pa, m.a)
					}
					return true
				}
			}
			t.Fatalf("visit %v+%#x is in no mapping", ipa, size)
			return false
		})
		if visited != total {
			t.Fatalf("visited %#x bytes, mapped %#x", visited, total)
		}
	}
	verify()

	// Punch random holes, splitting blocks.
	for i := 0; i < 100; i++ {
		k := rng.IntN(len(model))
		m := model[k]
		pages := (m.end - m.ipa) / pageSize
		first := rng.Uint64N(pages)
		n := 1 + rng.Uint64N(min(pages-first, 1024))
		lo, hi := m.ipa+first*pageSize, m.ipa+(first+n)*pageSize
		if err := s.Unmap(hv.IPA(lo), hi-lo); err != nil {
			t.Fatalf("unmap %#x-%#x: %v", lo, hi, err)
		}
		model = append(model[:k], model[k+1:]...)
		if lo > m.ipa {
			model = append(model, interval{m.ipa, lo, m.pa, m.a})
		}
		if hi < m.end {
			model = append(model, interval{hi, m.end, m.pa + hi - m.ipa, m.a})
		}
	}
	verify()
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

// A guest's stage 2 tables must never give it hypervisor memory: not the
// hypervisor image and heap, and not its own translation tables. This is
// the check the VMM runs with Visit when it creates a VM.
func TestStage2GuestsNeverGetHypervisorMemory(t *testing.T) {
	type region struct {
		base hv.PA
		size uint64
	}
	hvRAM := region{0x4000_0000, 0x0800_0000} // hypervisor image, heap and table pool
	tables := hv.PA(0x4700_0000)              // inside hvRAM
	mem := hv.NewSimMemory(tables, 64*hv.PageSize)
	alloc := &hv.BumpAllocator{Next: tables, Limit: tables + 64*hv.PageSize, Mem: mem}
	s, err := NewStage2(alloc, mem, 40)
	if err != nil {
		t.Fatal(err)
	}
	guest := []s2Mapping{
		{0x4000_0000, 0x4800_0000, 0x0800_0000, s2RWX, 0}, // guest RAM right after hvRAM
		{0x0900_0000, 0x0901_0000, pageSize, s2Dev, 0},    // a passed-through UART
	}
	for _, m := range guest {
		if err := s.Map(m.ipa, m.pa, m.size, m.a); err != nil {
			t.Fatal(err)
		}
	}
	isolated := func(forbidden ...region) (hv.IPA, bool) {
		var bad hv.IPA
		ok := true
		s.Visit(func(ipa hv.IPA, pa hv.PA, size uint64, _ S2Attr) bool {
			for _, f := range forbidden {
				if uint64(pa) < uint64(f.base)+f.size && uint64(f.base) < uint64(pa)+size {
					bad, ok = ipa, false
					return false
				}
			}
			return true
		})
		return bad, ok
	}
	tableRegion := region{tables, uint64(alloc.Next - tables)}
	if ipa, ok := isolated(hvRAM, tableRegion); !ok {
		t.Fatalf("guest reaches hypervisor memory at %v", ipa)
	}
	if ipa, hit := s.OverlapsPA(hvRAM.base, hvRAM.size); hit {
		t.Fatalf("OverlapsPA: guest reaches hypervisor memory at %v", ipa)
	}
	// The checks are not vacuous: a page of the guest's own tables
	// mapped into it is caught by both.
	if err := s.Map(0x1000_0000, tables+hv.PageSize, pageSize, s2RW); err != nil {
		t.Fatal(err)
	}
	if ipa, ok := isolated(hvRAM); ok || ipa != 0x1000_0000 {
		t.Errorf("leak not detected (%v, %v)", ipa, ok)
	}
	if ipa, hit := s.OverlapsPA(tables, uint64(alloc.Next-tables)); !hit || ipa != 0x1000_0000 {
		t.Errorf("OverlapsPA missed the leak (%v, %v)", ipa, hit)
	}
	if _, hit := s.OverlapsPA(0x4800_0000-1, 1); hit {
		t.Error("OverlapsPA: false hit on the byte before guest RAM")
	}
	if _, hit := s.OverlapsPA(0xffff_ffff_ffff_f000, 0x2000); hit {
		t.Error("OverlapsPA: false hit on a wrapping range")
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

// Map, Walk and Unmap run on the vmexit path: no Go heap allocation,
// including when Unmap splits a block (table pages come from the
// PageAllocator) and on the error paths.
func TestStage2NoHeapAllocation(t *testing.T) {
	s, _, _ := newTestStage2(t, 256, 40)
	var sink hv.PA
	round := 0
	allocs := testing.AllocsPerRun(100, func() {
		ipa := hv.IPA(0x4000_0000 + uint64(round)*miB2)
		round++
		if err := s.Map(ipa, 0x5000_0000, miB2, s2RW); err != nil {
			t.Fatal(err)
		}
		pa, _, _, _ := s.Walk(ipa + 0x1234)
		sink += pa
		if err := s.Unmap(ipa+0x1000, pageSize); err != nil { // splits
			t.Fatal(err)
		}
		if err := s.Map(ipa, 0x5000_0000, pageSize, s2RW); err != ErrAlreadyMapped {
			t.Fatal(err)
		}
		if err := s.Map(ipa+1, 0x5000_0000, pageSize, s2RW); err != ErrUnaligned {
			t.Fatal(err)
		}
		if err := s.Unmap(ipa, miB2); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v heap allocations per Map/Walk/Unmap round", allocs)
	}
	_ = sink
}
