// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"errors"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

func newTestTable(t *testing.T, pages int, vaBits uint) (*Table, *hv.SimMemory, *hv.BumpAllocator) {
	t.Helper()
	mem := hv.NewSimMemory(0x8000_0000, uint64(pages)*hv.PageSize)
	alloc := &hv.BumpAllocator{Next: 0x8000_0000, Limit: 0x8000_0000 + hv.PA(pages*hv.PageSize), Mem: mem}
	tbl, err := NewTable(alloc, mem, vaBits)
	if err != nil {
		t.Fatal(err)
	}
	return tbl, mem, alloc
}

func TestMapChoosesLargestBlocks(t *testing.T) {
	tbl, mem, alloc := newTestTable(t, 16, 39)
	// 1 GiB + 2 MiB + 4 KiB, all aligned: one L1 block, one L2 block, one L3 page.
	size := uint64(1<<30 + 2<<20 + 4<<10)
	if err := tbl.Map(0x4000_0000, 0x4000_0000, size, Attr{Type: Normal, Writable: true}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		va    hv.VA
		level int
	}{
		{0x4000_0000, 1},
		{0x7fff_ffff, 1},
		{0x8000_0000, 2},
		{0x801f_f000, 2},
		{0x8020_0000, 3},
	}
	for _, c := range cases {
		pa, d, level, ok := tbl.Walk(c.va)
		if !ok || pa != hv.PA(c.va) || level != c.level {
			t.Errorf("walk %v: pa=%v level=%d ok=%v, want identity at level %d", c.va, pa, level, ok, c.level)
		}
		if a := d.Attr(); a.Type != Normal || !a.Writable || a.Executable {
			t.Errorf("walk %v: attr %+v", c.va, a)
		}
	}
	if _, _, _, ok := tbl.Walk(0x8020_1000); ok {
		t.Error("page past the end is mapped")
	}
	// root + L2 + L3 tables only
	if used := int(alloc.Next-0x8000_0000) / hv.PageSize; used != 3 {
		t.Errorf("used %d table pages, want 3", used)
	}
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses outside table memory", mem.Stray)
	}
}

func TestDescriptorBits(t *testing.T) {
	// D8.3: Normal RW XN page; Device RW XN block; Normal RO executable page.
	cases := []struct {
		level int
		a     Attr
		want  uint64
	}{
		{3, Attr{Type: Normal, Writable: true}, 0x4000_1000 | PTE_VALID | PTE_PAGE | PTE_AF | 1<<2 | 0b01<<6 | 0b11<<8 | PTE_XN},
		{2, Attr{Type: Device, Writable: true}, 0x4000_0000 | PTE_VALID | PTE_AF | 0<<2 | 0b01<<6 | 0b10<<8 | PTE_XN},
		{3, Attr{Type: Normal, Executable: true}, 0x4000_1000 | PTE_VALID | PTE_PAGE | PTE_AF | 1<<2 | 0b11<<6 | 0b11<<8},
	}
	for _, c := range cases {
		pa := hv.PA(0x4000_1000)
		if c.level == 2 {
			pa = 0x4000_0000
		}
		if got := uint64(leafPTE(pa, c.level, c.a)); got != c.want {
			t.Errorf("leafPTE(level %d, %+v) = %#x, want %#x", c.level, c.a, got, c.want)
		}
		if back := leafPTE(pa, c.level, c.a).Attr(); back != c.a {
			t.Errorf("Attr round trip %+v -> %+v", c.a, back)
		}
	}
}

func TestMapErrors(t *testing.T) {
	tbl, _, _ := newTestTable(t, 3, 39)
	rw := Attr{Type: Normal, Writable: true}
	if err := tbl.Map(0x1001, 0x1000, 0x1000, rw); !errors.Is(err, ErrUnaligned) {
		t.Errorf("unaligned va: %v", err)
	}
	if err := tbl.Map(1<<39-0x1000, 0, 0x2000, rw); !errors.Is(err, ErrRange) {
		t.Errorf("beyond 39 bits: %v", err)
	}
	if err := tbl.Map(0x4000_0000, 0x4000_0000, 0x1000, rw); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Map(0x4000_0000, 0x5000_0000, 0x1000, rw); !errors.Is(err, ErrOverlap) {
		t.Errorf("remap page: %v", err)
	}
	// A 2 MiB block over the already-split range must be refused.
	if err := tbl.Map(0x4000_0000, 0x4000_0000, 2<<20, rw); !errors.Is(err, ErrOverlap) {
		t.Errorf("block over table: %v", err)
	}
	// Table memory is exhausted (root, L2, L3 used).
	if err := tbl.Map(0x1_0000_0000, 0x1000, 0x1000, rw); !errors.Is(err, hv.ErrNoMemory) {
		t.Errorf("exhausted allocator: %v", err)
	}
	if _, err := NewTable(&hv.BumpAllocator{}, hv.NewSimMemory(0, 0), 42); !errors.Is(err, ErrVABits) {
		t.Errorf("42-bit VA: %v", err)
	}
}

func Test48BitStartsAtLevel0(t *testing.T) {
	tbl, _, _ := newTestTable(t, 8, 48)
	if err := tbl.Map(0x80_0000_0000, 0x4000_0000, 1<<30, Attr{Type: Device, Writable: true}); err != nil {
		t.Fatal(err)
	}
	pa, _, level, ok := tbl.Walk(0x80_0000_1234)
	if !ok || pa != 0x4000_1234 || level != 1 {
		t.Fatalf("walk: pa=%v level=%d ok=%v", pa, level, ok)
	}
	if tbl.T0SZ() != 16 {
		t.Errorf("T0SZ %d", tbl.T0SZ())
	}
}

// The qemu-virt-arm64 layout: the walk of what HypervisorMap+Map build must
// give W^X text, RW data, device MMIO and an unmapped null page.
func TestHypervisorMapQEMUVirt(t *testing.T) {
	var maps [MaxMappings]Mapping
	ram := hv.Region{Name: "hv", Kind: hv.RAM, Base: 0x4000_0000, Size: 0x2000_0000}
	devices := []hv.Region{{Name: "low-io", Kind: hv.MMIO, Base: 0, Size: 0x4000_0000}}
	exec := []hv.Region{{Name: "patch-code", Base: 0x4000_8000, Size: 0x8000}, {Name: "text", Base: 0x4001_0000, Size: 0x11_3456}}
	n, err := HypervisorMap(&maps, ram, exec, devices)
	if err != nil {
		t.Fatal(err)
	}
	tbl, mem, _ := newTestTable(t, 32, 39)
	for _, m := range maps[:n] {
		va := m.VA
		if va == 0 {
			va = hv.IdentityVA(m.PA)
		}
		if err := tbl.Map(va, m.PA, m.Size, m.Attr); err != nil {
			t.Fatalf("map %+v: %v", m, err)
		}
	}
	check := func(va hv.VA, mapped bool, want Attr) {
		t.Helper()
		pa, d, _, ok := tbl.Walk(va)
		if ok != mapped {
			t.Fatalf("%v mapped=%v, want %v", va, ok, mapped)
		}
		if !ok {
			return
		}
		wantPA := hv.IdentityPA(va)
		if uint64(va) >= CodeAlias {
			wantPA = hv.PA(uint64(va) - CodeAlias)
		}
		if pa != wantPA {
			t.Errorf("%v -> %v, want %v", va, pa, wantPA)
		}
		if d.Attr() != want {
			t.Errorf("%v attr %+v, want %+v", va, d.Attr(), want)
		}
	}
	dev := Attr{Type: Device, Writable: true}
	rw := Attr{Type: Normal, Writable: true}
	rx := Attr{Type: Normal, Executable: true}
	check(0x0, false, Attr{})
	check(0xfff, false, Attr{})
	check(0x1000, true, dev)
	check(0x0900_0000, true, dev) // PL011
	check(0x0800_0000, true, dev) // GICD
	check(0x4000_0000, true, rw)  // page tables, before the code arena
	check(0x4000_8000, true, rx)  // live-patch code arena
	check(0x4000_f000, true, rx)
	check(0x4001_0000, true, rx)
	check(0x4012_3000, true, rx) // last partial text page
	check(0x4012_4000, true, rw)
	check(0x5fff_f000, true, rw)
	check(0x6000_0000, false, Attr{})
	// The writable, never-executable aliases of both executable ranges,
	// and nothing else there.
	check(CodeAlias+0x4000_7000, false, Attr{})
	check(CodeAlias+0x4000_8000, true, rw)
	check(CodeAlias+0x4012_3000, true, rw)
	check(CodeAlias+0x4012_4000, false, Attr{})
	if mem.Stray != 0 {
		t.Errorf("%d stray accesses", mem.Stray)
	}
}

func TestHypervisorMapRejectsTextOutsideRAM(t *testing.T) {
	var maps [MaxMappings]Mapping
	ram := hv.Region{Base: 0x4000_0000, Size: 0x100_0000}
	for _, exec := range [][]hv.Region{
		{{Base: 0x3000_0000, Size: 0x1000_1000}}, // outside RAM
		nil,                                      // no text
		{{Base: 0x4000_2000, Size: 0x1000}, {Base: 0x4000_1000, Size: 0x1000}}, // unsorted
		{{Base: 0x4000_1000, Size: 0x1800}, {Base: 0x4000_2000, Size: 0x1000}}, // overlapping once rounded
	} {
		if _, err := HypervisorMap(&maps, ram, exec, nil); !errors.Is(err, ErrRange) {
			t.Errorf("%v: got %v", exec, err)
		}
	}
}
