// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"errors"
	"fmt"
	"testing"
)

// fakeMem is sparse physical memory for page-table tests.
type fakeMem map[uint64]uint64

func (m fakeMem) read(pa uint64) (uint64, error) {
	if pa&7 != 0 {
		return 0, fmt.Errorf("unaligned %#x", pa)
	}
	return m[pa], nil
}

// buildEarly is a Go transcription of early_tables (cpuinit_amd64.s): the
// layout is the contract CheckMap verifies on the target.
func buildEarly(m fakeMem, e uint64, r Relocation) uint64 {
	pg := func(n int) uint64 { return e + uint64(n)*4096 }
	put := func(pa, v uint64) { m[pa] = v }
	put(pg(EARLY_PML4_BOOT), pg(EARLY_PDPT_PURE)|PTE_RW|PTE_P)
	put(pg(EARLY_PML4_BOOT)+8, pg(EARLY_PDPT_PURE)|PTE_RW|PTE_P)
	put(pg(EARLY_PML4)+8, pg(EARLY_PDPT_PURE)|PTE_RW|PTE_P)
	put(pg(EARLY_PML4), pg(EARLY_PDPT_WIN)|PTE_RW|PTE_P)
	for i := uint64(0); i < 4; i++ {
		put(pg(EARLY_PDPT_PURE)+8*i, (pg(EARLY_PD_PURE)+4096*i)|PTE_RW|PTE_P)
		put(pg(EARLY_PDPT_WIN)+8*i, (pg(EARLY_PD_PURE)+4096*i)|PTE_RW|PTE_P)
	}
	for i := uint64(0); i < 2048; i++ {
		v := i*LARGE_PAGE | PTE_PS | PTE_RW | PTE_P
		if i*LARGE_PAGE >= MMIO_BASE {
			v |= PTE_PCD | PTE_PWT
		}
		put(pg(EARLY_PD_PURE)+8*i, v)
	}
	put(pg(EARLY_PD_PURE), pg(EARLY_PT0)|PTE_RW|PTE_P)
	for i := uint64(1); i < 512; i++ {
		put(pg(EARLY_PT0)+8*i, i*4096|PTE_RW|PTE_P)
	}
	k := r.LinkBase >> 30
	for i := uint64(0); i < 512; i++ {
		put(pg(EARLY_PD_WIN)+8*i, m[pg(EARLY_PD_PURE)+4096*k+8*i])
	}
	put(pg(EARLY_PDPT_WIN)+8*k, pg(EARLY_PD_WIN)|PTE_RW|PTE_P)
	for va := r.LinkBase; va < r.LinkBase+r.Size; va += LARGE_PAGE {
		put(pg(EARLY_PD_WIN)+8*((va>>21)&511), (va-r.LinkBase+r.LoadBase)|PTE_PS|PTE_RW|PTE_P)
	}
	return pg(EARLY_PML4)
}

const (
	testLink = 0x1000_0000
	testSize = 0x1000_0000
)

func TestCheckMapPlacements(t *testing.T) {
	for _, load := range []uint64{
		testLink,               // no relocation: identity window
		0x2fc0_0000,            // GRUB "preference high" on 1 GiB, disjoint
		testLink + 0x20_0000,   // overlapping, above the link base
		testLink - 0x0400_0000, // overlapping, below
		0x0020_0000,            // low memory
	} {
		r := Relocation{LinkBase: testLink, LoadBase: load, Size: testSize}
		if err := r.Validate(); err != nil {
			t.Fatalf("load %#x: %v", load, err)
		}
		m := fakeMem{}
		cr3 := buildEarly(m, 0x1012_3000+uint64(load)&0xfff000, r)
		if errs := CheckMap(m.read, cr3, r); len(errs) != 0 {
			t.Errorf("load %#x: %d mismatches, first: %v", load, len(errs), errs[0])
		}
		// Go code's view: its link addresses reach the load range.
		for _, va := range []uint64{testLink, testLink + 0x123456, testLink + testSize - 8} {
			pa, _, err := Translate(m.read, cr3, va)
			if err != nil || pa != va-testLink+load {
				t.Errorf("load %#x: va %#x -> %#x, %v", load, va, pa, err)
			}
			if got, ok := r.VirtToPhys(va); !ok || got != pa {
				t.Errorf("VirtToPhys(%#x) = %#x, %v; walk says %#x", va, got, ok, pa)
			}
			if back, ok := r.PhysToVirt(pa); !ok || back != va {
				t.Errorf("PhysToVirt(%#x) = %#x, %v; want %#x", pa, back, ok, va)
			}
		}
	}
}

func TestCheckMapFindsDefects(t *testing.T) {
	r := Relocation{LinkBase: testLink, LoadBase: 0x2fc0_0000, Size: testSize}
	e := uint64(0x2fd0_0000)
	pg := func(n int) uint64 { return e + uint64(n)*4096 }
	for _, c := range []struct {
		name   string
		mutate func(fakeMem)
	}{
		{"window entry points at the link address", func(m fakeMem) {
			m[pg(EARLY_PD_WIN)+8*(testLink>>21&511)] = testLink | PTE_PS | PTE_RW | PTE_P
		}},
		{"window entry missing", func(m fakeMem) { m[pg(EARLY_PD_WIN)+8*((testLink+testSize-LARGE_PAGE)>>21&511)] = 0 }},
		{"MMIO cached", func(m fakeMem) { m[pg(EARLY_PD_PURE+3)+8*511] &^= PTE_PCD | PTE_PWT }},
		{"page 0 mapped", func(m fakeMem) { m[pg(EARLY_PT0)] = PTE_RW | PTE_P }},
		{"physmap missing", func(m fakeMem) { m[pg(EARLY_PML4)+8] = 0 }},
		{"read-only identity", func(m fakeMem) { m[pg(EARLY_PD_PURE+1)] &^= PTE_RW }},
	} {
		m := fakeMem{}
		cr3 := buildEarly(m, e, r)
		c.mutate(m)
		errs := CheckMap(m.read, cr3, r)
		if len(errs) == 0 {
			t.Errorf("%s: not detected", c.name)
		}
		for _, err := range errs {
			if !errors.Is(err, ErrRelocation) {
				t.Errorf("%s: %v does not wrap ErrRelocation", c.name, err)
			}
		}
	}
}

func TestRelocationValidate(t *testing.T) {
	for _, c := range []struct {
		r    Relocation
		code int
	}{
		{Relocation{testLink, testLink, testSize}, 0},
		{Relocation{testLink, 0x3000_0000, testSize}, 0},
		{Relocation{testLink, 0x0020_0000, testSize}, 0},
		{Relocation{testLink, testLink + 0x1000, testSize}, EARLY_ERR_ALIGN},
		{Relocation{testLink + 0x1000, testLink + 0x1000, testSize}, EARLY_ERR_ALIGN},
		{Relocation{testLink, testLink, testSize + 0x1000}, EARLY_ERR_ALIGN},
		{Relocation{0, 0, testSize}, EARLY_ERR_LOW},
		{Relocation{0x3000_0000, 0x3000_0000, 0x2000_0000}, EARLY_ERR_WINDOW}, // crosses 1 GiB
		{Relocation{0xc000_0000, 0xc000_0000, LARGE_PAGE}, EARLY_ERR_WINDOW},  // MMIO GiB
		{Relocation{testLink, testLink, 0}, EARLY_ERR_WINDOW},
		{Relocation{testLink, 0xffe0_0000, testSize}, EARLY_ERR_LOAD}, // wraps 4 GiB
		{Relocation{testLink, 0x1_0000_0000, testSize}, EARLY_ERR_LOAD},
	} {
		err := c.r.Validate()
		if got := c.r.earlyCode(); got != c.code {
			t.Errorf("%+v: code %d, want %d (%v)", c.r, got, c.code, err)
		}
		if (err == nil) != (c.code == 0) || (err != nil && !errors.Is(err, ErrRelocation)) {
			t.Errorf("%+v: Validate = %v", c.r, err)
		}
	}
}

func TestPhysToVirtOutsideImage(t *testing.T) {
	r := Relocation{LinkBase: testLink, LoadBase: 0x2fc0_0000, Size: testSize}
	// A module GRUB put inside the link window's physical range is
	// reached through the alias, never through the (shadowing) window.
	va, ok := r.PhysToVirt(testLink + 0x1000)
	if !ok || va != PhysMapBase+testLink+0x1000 {
		t.Errorf("PhysToVirt = %#x, %v", va, ok)
	}
	if _, ok := r.PhysToVirt(5 << 30); ok {
		t.Error("PhysToVirt above the physmap succeeded")
	}
	if _, ok := r.VirtToPhys(0); ok {
		t.Error("VirtToPhys(0) succeeded")
	}
}

// FuzzRelocation checks the relocation arithmetic: whatever the bases,
// Validate agrees with a model built and verified page by page.
func FuzzRelocation(f *testing.F) {
	f.Add(uint32(testLink), uint32(0x2fc0_0000), uint32(testSize))
	f.Add(uint32(testLink), uint32(testLink+0x20_0000), uint32(testSize))
	f.Add(uint32(0x4000_0000), uint32(0x1000_0000), uint32(0x0800_0000))
	f.Fuzz(func(t *testing.T, link, load, size uint32) {
		r := Relocation{LinkBase: uint64(link), LoadBase: uint64(load), Size: uint64(size)}
		if r.Validate() != nil {
			return
		}
		m := fakeMem{}
		e := uint64(0x7000_0000)
		if r.LoadBase <= e && e < r.LoadBase+r.Size {
			e = r.LoadBase + 0x10_0000
		}
		cr3 := buildEarly(m, e, r)
		if errs := CheckMap(m.read, cr3, r); len(errs) != 0 {
			t.Fatalf("%+v: %v", r, errs[0])
		}
		if pa, ok := r.VirtToPhys(r.LinkBase); !ok || pa != r.LinkBase+uint64(r.Offset()) || pa != r.LoadBase {
			t.Fatalf("%+v: VirtToPhys(link) = %#x, %v, offset %#x", r, pa, ok, r.Offset())
		}
	})
}
