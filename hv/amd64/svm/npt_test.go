// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"errors"
	"slices"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

const nptTableBase = hv.PA(0x8000_0000)

func newTestNPT(t testing.TB, pages int) (*NPT, *hv.SimMemory, *hv.BumpAllocator) {
	t.Helper()
	mem := hv.NewSimMemory(nptTableBase, uint64(pages)*hv.PageSize)
	alloc := &hv.BumpAllocator{Next: nptTableBase, Limit: nptTableBase + hv.PA(pages*hv.PageSize), Mem: mem}
	n, err := NewNPT(alloc, mem)
	if err != nil {
		t.Fatal(err)
	}
	return n, mem, alloc
}

var (
	attrRWX = Attr{Write: true, Exec: true}
	attrRW  = Attr{Write: true}
	attrRX  = Attr{Exec: true}
	attrDev = Attr{Write: true, Uncached: true}
)

const (
	miB2     = NPTPage2M
	pageSize = hv.PageSize
)

type nptMapping struct {
	gpa   hv.IPA
	pa    hv.PA
	size  uint64
	a     Attr
	level int // leaf level expected for every page (-1: don't check)
}

// checkMapped walks every page of every mapping (and an address inside
// the first page) and checks address, attributes and level.
func checkMapped(t *testing.T, n *NPT, maps []nptMapping) {
	t.Helper()
	for _, m := range maps {
		for off := uint64(0); off < m.size; off += pageSize {
			gpa := m.gpa + hv.IPA(off)
			pa, d, level, ok := n.Walk(gpa)
			if !ok || pa != m.pa+hv.PA(off) {
				t.Fatalf("walk %v: pa=%v ok=%v, want %v", gpa, pa, ok, m.pa+hv.PA(off))
			}
			if d.Attr() != m.a {
				t.Fatalf("walk %v: attr %v, want %v", gpa, d.Attr(), m.a)
			}
			if m.level >= 0 && level != m.level {
				t.Fatalf("walk %v: level %d, want %d", gpa, level, m.level)
			}
		}
		if pa, a, ok := n.Translate(m.gpa + 0x123); !ok || pa != m.pa+0x123 || a != m.a {
			t.Fatalf("translate %v+0x123: pa=%v %v ok=%v", m.gpa, pa, a, ok)
		}
	}
}

func checkUnmapped(t *testing.T, n *NPT, gpas ...hv.IPA) {
	t.Helper()
	for _, gpa := range gpas {
		if pa, a, ok := n.Translate(gpa); ok {
			t.Errorf("translate %v: mapped to %v (%v), want unmapped", gpa, pa, a)
		}
	}
}

func TestNPTMapGuestRAM(t *testing.T) {
	n, mem, alloc := newTestNPT(t, 64)
	const top = hv.IPA(1<<NPTGPABits - miB2)
	maps := []nptMapping{
		{0, 0x1_0000_0000, 640 << 10, attrRWX, 3},                       // low RAM: 160 pages
		{0x10_0000, 0x1_0010_0000, 1 << 20, attrRWX, 3},                 // 1-2 MiB: pages up to the 2 MiB line
		{0x20_0000, 0x1_0020_0000, 62 << 20, attrRWX, 2},                // 2-64 MiB: 31 large pages
		{0xfec0_0000, 0xfec0_0000, pageSize, attrDev, 3},                // IOAPIC
		{0xfee0_0000, 0xfee0_0000, pageSize, attrDev, 3},                // LAPIC
		{0xffe0_0000, 0x2_0000_0000, miB2, attrRX, 2},                   // read-only firmware
		{0x1_0000_0000, 0x2_0000_1000, miB2 + 2*pageSize, attrRW, 3},    // PA misaligned: pages only
		{top, 0xf_ffff_ffe0_0000, miB2, attrRW, 2},                      // the last 2 MiB of GPA space, high PA
		{0x8000_0000_0000 - pageSize, 0x3000_0000, pageSize, attrRW, 3}, // last page below 2^47
	}
	// Map the 1-64 MiB range in one call: it must split itself as above.
	for i, m := range maps {
		if i == 2 {
			continue
		}
		size := m.size
		if i == 1 {
			size += maps[2].size
		}
		if err := n.Map(m.gpa, m.pa, size, m.a); err != nil {
			t.Fatalf("map %+v: %v", m, err)
		}
	}
	checkMapped(t, n, maps)
	checkUnmapped(t, n, 640<<10, 0xf_f000, 64<<20, 0xfec0_1000, 0xfedf_f000, 0xfee0_1000,
		0xffdf_f000, 0x1_0020_2000, top-pageSize, 1<<47, 1<<NPTGPABits, 1<<63)

	// Hand-computed entries (APM Vol. 2, 5.4: P 0, R/W 1, U/S 2, PWT 3,
	// PCD 4, A 5, D 6, PS 7, NX 63).
	for gpa, want := range map[hv.IPA]uint64{
		0x20_0000:     0x0000_0001_0020_00e7, // 2 MiB RWX: P|RW|US|A|D|PS
		0x1000:        0x0000_0001_0000_1067, // 4 KiB RWX: P|RW|US|A|D
		0xfee0_0000:   0x8000_0000_fee0_007f, // uncached RW, NX: P|RW|US|PWT|PCD|A|D
		0xffe0_0000:   0x0000_0002_0000_00e5, // 2 MiB read-only exec
		0x1_0000_0000: 0x8000_0002_0000_1067, // 4 KiB RW no-exec
		top:           0x800f_ffff_ffe0_00e7, // 2 MiB RW no-exec, 52-bit PA
	} {
		if _, d, _, _ := n.Walk(gpa); uint64(d) != want {
			t.Errorf("entry for %v = %#x, want %#x", gpa, uint64(d), want)
		}
	}
	// Table entries grant everything: address | P|RW|US|A.
	root0 := NPTE(mem.Read64(n.Root()))
	if uint64(root0)&^NPTE_ADDR_MASK != 0x27 || root0.Addr() < nptTableBase || root0.Addr() >= alloc.Next ||
		!root0.IsTable(0) || root0.IsLeaf(0) {
		t.Errorf("PML4[0] = %v", root0)
	}
	// The top mapping uses PML4 entry 511.
	if d := NPTE(mem.Read64(n.Root() + 511*8)); !d.IsTable(0) {
		t.Errorf("PML4[511] = %v", d)
	}
	// Tables used: PML4; under PML4[0]: PDPT, PDs for GiB 0, 3, 4,
	// PTs for 0-2 MiB, 0xfec0_0000, 0xfee0_0000 and 4 GiB (2); under
	// PML4[255]: PDPT, PD, PT; under PML4[511]: PDPT, PD.
	if used := (alloc.Next - nptTableBase) / hv.PageSize; used != 1+1+3+5+3+2 {
		t.Errorf("%d table pages used", used)
	}

	// Visit reports every page mapping once, in order.
	var count int
	var last hv.IPA
	var total uint64
	n.Visit(func(gpa hv.IPA, pa hv.PA, size uint64, a Attr) bool {
		if count > 0 && gpa <= last {
			t.Errorf("visit out of order: %v after %v", gpa, last)
		}
		if got, ga, ok := n.Translate(gpa); !ok || got != pa || ga != a {
			t.Errorf("visit %v -> %v, translate says %v", gpa, pa, got)
		}
		count, last, total = count+1, gpa, total+size
		return true
	})
	if want := 160 + 256 + 31 + 1 + 1 + 1 + 514 + 1 + 1; count != want {
		t.Errorf("visited %d pages, want %d", count, want)
	}
	var wantTotal uint64
	for _, m := range maps {
		wantTotal += m.size
	}
	if total != wantTotal {
		t.Errorf("visited %#x bytes, want %#x", total, wantTotal)
	}
	count = 0
	n.Visit(func(hv.IPA, hv.PA, uint64, Attr) bool { count++; return count < 3 })
	if count != 3 {
		t.Errorf("visit did not stop: %d calls", count)
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses outside table memory", mem.Stray)
	}
}

func TestNPTE(t *testing.T) {
	for p := 0; p < 8; p++ {
		a := Attr{Write: p&1 != 0, Exec: p&2 != 0, Uncached: p&4 != 0}
		for _, level := range []int{2, 3} {
			d := nptLeaf(0x1234_5600_0000, level, a)
			if d.Attr() != a || !d.IsLeaf(level) || d.IsTable(level) || d.LeafAddr(level) != 0x1234_5600_0000 ||
				!d.Present() || !d.User() || d.PageSize() != (level == 2) {
				t.Errorf("leaf %v level %d: %v", a, level, d)
			}
		}
	}
	// PS at level 0 is reserved: neither a leaf nor a "large page";
	// the PAT bit (12) of a large page is not part of its address.
	if d := NPTE(0x4000_0000 | NPTE_P | NPTE_PS); d.IsLeaf(0) || !d.IsTable(0) {
		t.Errorf("PML4 entry with PS: leaf=%t table=%t", d.IsLeaf(0), d.IsTable(0))
	}
	if d := NPTE(0x4000_0000 | 1<<12 | NPTE_P | NPTE_PS); !d.IsLeaf(2) || d.LeafAddr(2) != 0x4000_0000 || !d.IsLeaf(1) {
		t.Errorf("large page with PAT: %v", d.LeafAddr(2))
	}
	if d := NPTE(0x4000_0000 | NPTE_RW); d.Present() || d.IsLeaf(3) || d.IsTable(1) {
		t.Errorf("not-present %v treated as present", d)
	}
	if d := nptTable(0x8000_1000); uint64(d) != 0x8000_1027 || d.IsTable(3) || !d.IsTable(2) || d.NX() || !d.Writable() {
		t.Errorf("table entry %v", d)
	}
	if got := attrRWX.String() + "," + attrDev.String() + "," + (Attr{}).String(); got != "rwx wb,rw- uc,r-- wb" {
		t.Errorf("String %q", got)
	}
	if got := nptLeaf(0x1000, 3, attrRW).String(); got != "npte:0x8000000000001067 addr=0x1000 rw- wb" {
		t.Errorf("String %q", got)
	}
	if got := NPTE(0x1000).String(); got != "npte:0x1000 not-present" {
		t.Errorf("String %q", got)
	}
}

func TestNPTMapRefusals(t *testing.T) {
	n, mem, alloc := newTestNPT(t, 16)
	if err := n.Map(0x4000_0000, 0x5000_0000, miB2, attrRW); err != nil {
		t.Fatal(err)
	}
	if err := n.Map(0x4020_2000, 0x6000_0000, pageSize, attrRW); err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(mem.Words)
	next := alloc.Next
	for _, c := range []struct {
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
		{"beyond 48 bits", 1<<48 - pageSize, 0, 2 * pageSize, ErrRange},
		{"at 2^48", 1 << 48, 0, pageSize, ErrRange},
		{"gpa wraps", 0xffff_ffff_ffff_f000, 0, 2 * pageSize, ErrRange},
		{"pa beyond 52 bits", 0x1000, 1<<52 - pageSize, 2 * pageSize, ErrRange},
		{"pa wraps", 0x1000, 0xffff_ffff_ffff_f000, 2 * pageSize, ErrRange},
		{"remap exact", 0x4000_0000, 0x7000_0000, miB2, ErrAlreadyMapped},
		{"last page of large page", 0x401f_f000, 0x7000_0000, pageSize, ErrAlreadyMapped},
		{"straddles into large page", 0x3fff_f000, 0x7000_0000, 2 * pageSize, ErrAlreadyMapped},
		{"large page over a page", 0x4020_0000, 0x7000_0000, miB2, ErrAlreadyMapped},
		{"last page taken", 0x4020_0000, 0x7000_0000, 3 * pageSize, ErrAlreadyMapped},
		{"everything", 0, 0, 1 << 40, ErrAlreadyMapped},
	} {
		if err := n.Map(c.gpa, c.pa, c.size, attrRW); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		// A refusal writes nothing and allocates nothing.
		if !slices.Equal(mem.Words, before) || alloc.Next != next {
			t.Fatalf("%s: refused Map changed the tables", c.name)
		}
	}
	checkUnmapped(t, n, 0x3fff_f000, 0x4020_0000, 0x4020_1000, 0x4020_3000)
	checkMapped(t, n, []nptMapping{
		{0x4000_0000, 0x5000_0000, miB2, attrRW, 2},
		{0x4020_2000, 0x6000_0000, pageSize, attrRW, 3},
	})
	for _, c := range []struct {
		gpa  hv.IPA
		size uint64
		want error
	}{
		{0x1001, pageSize, ErrUnaligned},
		{0x1000, 0, ErrZeroSize},
		{1<<48 - pageSize, 2 * pageSize, ErrRange},
		{0xffff_ffff_ffff_f000, 2 * pageSize, ErrRange},
	} {
		if err := n.Unmap(c.gpa, c.size); !errors.Is(err, c.want) {
			t.Errorf("Unmap(%v, %#x): %v, want %v", c.gpa, c.size, err, c.want)
		}
	}
	if !slices.Equal(mem.Words, before) {
		t.Fatal("refused Unmap changed the tables")
	}

	var zero NPT
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

func TestNPTOutOfMemory(t *testing.T) {
	// Root only: NewNPT works, nothing else fits.
	mem := hv.NewSimMemory(nptTableBase, 8*pageSize)
	if _, err := NewNPT(&hv.BumpAllocator{Next: nptTableBase, Limit: nptTableBase, Mem: mem}, mem); !errors.Is(err, hv.ErrNoMemory) {
		t.Errorf("NewNPT with no pages: %v", err)
	}
	// Root plus two pages: the PDPT and PD fit and the 2 MiB page is
	// written, then the trailing 4 KiB page needs a page table that is
	// not there. Map must undo the large page.
	n, mem, alloc := newTestNPT(t, 3)
	err := n.Map(0x4000_0000, 0x5000_0000, miB2+pageSize, attrRW)
	if !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("got %v, want ErrNoMemory", err)
	}
	checkUnmapped(t, n, 0x4000_0000, 0x401f_f000, 0x4020_0000)
	n.Visit(func(gpa hv.IPA, _ hv.PA, _ uint64, _ Attr) bool { t.Errorf("left mapped: %v", gpa); return true })
	// What fits still maps, reusing the tables.
	if err := n.Map(0x4000_0000, 0x5000_0000, miB2, attrRW); err != nil {
		t.Fatal(err)
	}
	if err := n.Map(0x8000_0000, 0x5000_0000, pageSize, attrRW); !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("new PD: %v", err)
	}
	if alloc.Next != alloc.Limit || mem.Stray != 0 {
		t.Errorf("next %v, %d stray", alloc.Next, mem.Stray)
	}
}

func TestNPTLargePageOverEmptyTable(t *testing.T) {
	// After a page is mapped and unmapped, an empty page table stays
	// where a 2 MiB page could go: Map uses 4 KiB pages there instead.
	n, _, _ := newTestNPT(t, 8)
	if err := n.Map(0x4000_0000, 0x5000_0000, pageSize, attrRW); err != nil {
		t.Fatal(err)
	}
	if err := n.Unmap(0x4000_0000, pageSize); err != nil {
		t.Fatal(err)
	}
	if err := n.Map(0x4000_0000, 0x6000_0000, miB2, attrRW); err != nil {
		t.Fatal(err)
	}
	checkMapped(t, n, []nptMapping{{0x4000_0000, 0x6000_0000, miB2, attrRW, 3}})
}

func TestNPTUnmapSplits(t *testing.T) {
	n, mem, alloc := newTestNPT(t, 16)
	const base, out = hv.IPA(0x4000_0000), hv.PA(0x1_0000_0000)
	if err := n.Map(base, out, 8<<20, attrDev); err != nil {
		t.Fatal(err)
	}
	checkMapped(t, n, []nptMapping{{base, out, 8 << 20, attrDev, 2}})
	// One page in the middle of the first large page: it is split into
	// 512 pages with the same attributes, the page removed.
	if err := n.Unmap(base+0x12_3000, pageSize); err != nil {
		t.Fatal(err)
	}
	checkUnmapped(t, n, base+0x12_3000, base+0x12_3fff)
	checkMapped(t, n, []nptMapping{
		{base, out, 0x12_3000, attrDev, 3},
		{base + 0x12_4000, out + 0x12_4000, miB2 - 0x12_4000, attrDev, 3},
		{base + miB2, out + miB2, 6 << 20, attrDev, 2},
	})
	if _, d, _, _ := n.Walk(base + 0x12_2000); d != nptLeaf(out+0x12_2000, 3, attrDev) {
		t.Errorf("split entry %v, want what Map writes", d)
	}
	// A range straddling two large pages: both ends split.
	used := alloc.Next
	if err := n.Unmap(base+0x3f_f000, miB2+2*pageSize); err != nil {
		t.Fatal(err)
	}
	if got := (alloc.Next - used) / pageSize; got != 2 {
		t.Errorf("%d pages for two splits", got)
	}
	checkUnmapped(t, n, base+0x3f_f000, base+0x40_0000, base+0x5f_f000, base+0x60_0000)
	checkMapped(t, n, []nptMapping{
		{base + miB2, out + miB2, 0x1f_f000, attrDev, 3},
		{base + 0x60_1000, out + 0x60_1000, miB2 - pageSize, attrDev, 3},
	})
	// Unmapping an aligned large page splits nothing; unmapping a hole
	// is fine.
	used = alloc.Next
	if err := n.Unmap(base+0x80_0000-miB2, miB2); err != nil {
		t.Fatal(err)
	}
	if err := n.Unmap(0x1_0000_0000, 1<<30); err != nil {
		t.Fatal(err)
	}
	if alloc.Next != used {
		t.Error("aligned unmap allocated")
	}
	// The hole can be mapped again.
	if err := n.Map(base+0x12_3000, 0x2000_0000, pageSize, attrRX); err != nil {
		t.Fatal(err)
	}
	checkMapped(t, n, []nptMapping{{base + 0x12_3000, 0x2000_0000, pageSize, attrRX, 3}})
	// Unmapping everything leaves nothing.
	if err := n.Unmap(0, 1<<NPTGPABits); err != nil {
		t.Fatal(err)
	}
	n.Visit(func(gpa hv.IPA, pa hv.PA, _ uint64, _ Attr) bool {
		t.Errorf("left mapped: %v -> %v", gpa, pa)
		return true
	})
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestNPTUnmapSplitOutOfMemory(t *testing.T) {
	// Root, PDPT and PD: the large pages fit, a split does not.
	n, mem, _ := newTestNPT(t, 3)
	if err := n.Map(0x4000_0000, 0x1_0000_0000, 4<<20, attrRW); err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(mem.Words)
	if err := n.Unmap(0x4000_1000, pageSize); !errors.Is(err, hv.ErrNoMemory) {
		t.Fatalf("got %v, want ErrNoMemory", err)
	}
	if !slices.Equal(mem.Words, before) {
		t.Error("failed split changed the tables")
	}
	checkMapped(t, n, []nptMapping{{0x4000_0000, 0x1_0000_0000, 4 << 20, attrRW, 2}})
}

func TestNPTOneGiBPage(t *testing.T) {
	// NPT never writes 1 GiB pages, but one put there by hand must walk,
	// visit, split (twice) and unmap correctly.
	n, mem, _ := newTestNPT(t, 8)
	if err := n.Map(0, 0, pageSize, attrRW); err != nil { // creates the PDPT
		t.Fatal(err)
	}
	pdpt := NPTE(mem.Read64(n.Root())).Addr()
	giant := uint64(0x40_0000_0000) | NPTE_P | NPTE_RW | NPTE_US | NPTE_A | NPTE_D | NPTE_PS
	mem.Write64(pdpt+8, giant) // GPA 1 GiB -> PA 256 GiB
	checkMapped(t, n, []nptMapping{{1 << 30, 0x40_0000_0000, 4 << 20, attrRWX, 1}})
	if err := n.Unmap(1<<30+miB2+pageSize, pageSize); err != nil {
		t.Fatal(err)
	}
	checkUnmapped(t, n, 1<<30+miB2+pageSize)
	checkMapped(t, n, []nptMapping{
		{1 << 30, 0x40_0000_0000, miB2, attrRWX, 2},
		{1<<30 + miB2, 0x40_0000_0000 + miB2, pageSize, attrRWX, 3},
		{1<<30 + miB2 + 2*pageSize, 0x40_0000_0000 + miB2 + 2*pageSize, miB2 - 2*pageSize, attrRWX, 3},
		{1<<30 + 2*miB2, 0x40_0000_0000 + 2*miB2, 1<<30 - 2*miB2, attrRWX, 2},
	})
}

// nptModelEntry is what FuzzNPT's reference model holds per guest page.
type nptModelEntry struct {
	pa hv.PA
	a  Attr
}

// check compares the translation of every page in [lo, hi) (clipped to
// the guest-physical space) with model, indexed by page number.
func check(t *testing.T, n *NPT, model map[uint64]nptModelEntry, lo, hi uint64) {
	t.Helper()
	for gpa := lo; gpa < hi && gpa < 1<<NPTGPABits; gpa += pageSize {
		pa, a, ok := n.Translate(hv.IPA(gpa + 0x8))
		m, want := model[gpa/pageSize]
		if ok != want || ok && (pa != m.pa+0x8 || a != m.a) {
			t.Fatalf("page %#x: got %v %v %t, want %v %v %t", gpa, pa, a, ok, m.pa, m.a, want)
		}
	}
}

// FuzzNPT guards APM Vol. 2, 15.25.5 "Nested Table Walk": after any
// sequence of Map and Unmap calls, successful or refused, every page
// translates exactly as a plain map says it should, and nothing is
// written outside table memory.
//
// Input: byte 0 picks the guest-physical window (near 0, straddling 1
// GiB, straddling 512 GiB, or at the top of the 48-bit space), byte 1 the
// number of table pages; then 6-byte operations: kind and attributes,
// 2-byte page index, 2-byte page count, PA selector.
func FuzzNPT(f *testing.F) {
	f.Add([]byte{0, 40, 0x01, 0x00, 0x00, 0x00, 0x04, 0x10})
	f.Add([]byte{1, 40,
		0x07, 0x00, 0x10, 0x00, 0x04, 0x01, // map 4 MiB RWX at the 1 GiB line: two large pages
		0x00, 0x34, 0x12, 0x01, 0x00, 0x00, // unmap one page in the second: split
		0x80, 0xff, 0x11, 0x02, 0x00, 0x00, // unmap two pages across the 2 MiB line: split the first
		0x0b, 0xff, 0x11, 0x01, 0x00, 0x07, // map one of them again, uncached RW
	})
	f.Add([]byte{3, 8, 0x05, 0xf0, 0x1f, 0x00, 0x20, 0x03, 0x01, 0xff, 0x1f, 0x01, 0x00, 0x00})
	f.Add([]byte{2, 3, 0x03, 0x00, 0x00, 0x00, 0x02, 0x02, 0x03, 0x00, 0x02, 0x01, 0x02, 0x02})
	f.Fuzz(fuzzNPT)
}

func fuzzNPT(t *testing.T, data []byte) {
	if len(data) < 2 {
		return
	}
	windows := [...]uint64{0, 1<<30 - 16<<20, 1<<39 - 16<<20, 1<<NPTGPABits - 32<<20}
	win := windows[data[0]%4]
	pages := 1 + int(data[1]%64)
	data = data[2:]

	mem := hv.NewSimMemory(nptTableBase, uint64(pages)*pageSize)
	alloc := &hv.BumpAllocator{Next: nptTableBase, Limit: nptTableBase + hv.PA(pages)*pageSize, Mem: mem}
	n, err := NewNPT(alloc, mem)
	if err != nil {
		t.Fatal(err)
	}
	model := map[uint64]nptModelEntry{} // page number -> mapping
	const windowPages = 8192            // 32 MiB
	for ops := 0; len(data) >= 6 && ops < 24; ops++ {
		op := data[0]
		gpa := win + uint64(uint16(data[1])|uint16(data[2])<<8)%windowPages*pageSize
		count := uint64(uint16(data[3])|uint16(data[4])<<8) % 1100
		sel := uint64(data[5])
		data = data[6:]
		size := count * pageSize
		a := Attr{Write: op&2 != 0, Exec: op&4 != 0, Uncached: op&8 != 0}

		inRange := size != 0 && gpa+size <= 1<<NPTGPABits
		snapshot := slices.Clone(mem.Words)
		if op&1 != 0 {
			// PA: a 2 MiB-aligned base, plus the GPA's offset
			// within 2 MiB (so large pages are possible) unless
			// bit 4 asks for a misaligned one.
			pa := 0x1_0000_0000 + sel*miB2 + gpa%miB2
			if op&0x10 != 0 {
				pa += pageSize
			}
			err := n.Map(hv.IPA(gpa), hv.PA(pa), size, a)
			taken := false
			for p := uint64(0); inRange && p < count && !taken; p++ {
				_, taken = model[gpa/pageSize+p]
			}
			switch {
			case size == 0:
				if !errors.Is(err, ErrZeroSize) {
					t.Fatalf("map size 0: %v", err)
				}
			case !inRange:
				if !errors.Is(err, ErrRange) {
					t.Fatalf("map %#x+%#x: %v, want ErrRange", gpa, size, err)
				}
			case taken:
				if !errors.Is(err, ErrAlreadyMapped) {
					t.Fatalf("map %#x+%#x over a mapping: %v", gpa, size, err)
				}
			case err == nil:
				for p := uint64(0); p < count; p++ {
					model[gpa/pageSize+p] = nptModelEntry{hv.PA(pa + p*pageSize), a}
				}
			case !errors.Is(err, hv.ErrNoMemory):
				t.Fatalf("map %#x+%#x: %v", gpa, size, err)
			}
			if err != nil && !errors.Is(err, hv.ErrNoMemory) && !slices.Equal(snapshot, mem.Words) {
				t.Fatalf("refused map %#x+%#x (%v) changed the tables", gpa, size, err)
			}
		} else {
			err := n.Unmap(hv.IPA(gpa), size)
			switch {
			case size == 0:
				if !errors.Is(err, ErrZeroSize) {
					t.Fatalf("unmap size 0: %v", err)
				}
			case !inRange:
				if !errors.Is(err, ErrRange) {
					t.Fatalf("unmap %#x+%#x: %v, want ErrRange", gpa, size, err)
				}
			case err == nil:
				for p := uint64(0); p < count; p++ {
					delete(model, gpa/pageSize+p)
				}
			case !errors.Is(err, hv.ErrNoMemory):
				t.Fatalf("unmap %#x+%#x: %v", gpa, size, err)
			}
		}
		// The pages around the operation (a split reaches at
		// most 2 MiB beyond it) translate as the model says.
		check(t, n, model, max(gpa, miB2)-miB2, gpa+size+miB2)
		if mem.Stray != 0 {
			t.Fatalf("%d stray accesses", mem.Stray)
		}
	}
	// So does the whole window and just past it.
	check(t, n, model, win, win+(windowPages+1100)*pageSize)
	// Visit agrees with the model.
	var seen uint64
	n.Visit(func(gpa hv.IPA, pa hv.PA, size uint64, a Attr) bool {
		for off := uint64(0); off < size; off += pageSize {
			m, ok := model[(uint64(gpa)+off)/pageSize]
			if !ok || m.pa != pa+hv.PA(off) || m.a != a {
				t.Fatalf("visit %v+%#x: %v, model %v %t", gpa, off, pa, m, ok)
			}
			seen++
		}
		return true
	})
	if seen != uint64(len(model)) {
		t.Fatalf("visit saw %d pages, model has %d", seen, len(model))
	}
}
