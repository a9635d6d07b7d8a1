// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeTables hands out table pages at increasing physical addresses and
// copies them into m once the builder is done (flush).
type fakeTables struct {
	next  uint64
	limit int
	pages []TablePage
}

func (f *fakeTables) alloc() (TablePage, error) {
	if f.limit > 0 && len(f.pages) >= f.limit {
		return TablePage{}, fmt.Errorf("out of table pages (%d)", f.limit)
	}
	p := TablePage{PA: f.next, E: new([512]uint64)}
	f.next += 4096
	f.pages = append(f.pages, p)
	return p, nil
}

func (f *fakeTables) flush(m fakeMem) {
	for _, p := range f.pages {
		for i, e := range p.E {
			m[p.PA+uint64(i)*8] = e
		}
	}
}

// testLayout is shaped like the q35 image: a read-only segment from the
// link base (headers, text, rodata) and a patch arena in the bss, none
// of it 2 MiB aligned.
func testLayout(r Relocation, nx bool) WXLayout {
	return WXLayout{
		Reloc:    r,
		Exec:     []Span{{0x1000_1000, 0x1019_1000}, {0x1064_7000, 0x1074_7000}},
		ReadOnly: []Span{{0x1000_0000, 0x1055_3000}},
		NX:       nx,
	}
}

func buildWX(t *testing.T, r Relocation, l WXLayout) (fakeMem, uint64, uint64, *fakeTables) {
	t.Helper()
	m := fakeMem{}
	early := buildEarly(m, 0x0001_0000, r)
	f := &fakeTables{next: 0x0008_0000}
	cr3, n, err := BuildWX(m.read, early, l, f.alloc)
	if err != nil {
		t.Fatalf("BuildWX: %v", err)
	}
	if n != len(f.pages) {
		t.Fatalf("BuildWX says %d pages, allocated %d", n, len(f.pages))
	}
	f.flush(m)
	return m, early, cr3, f
}

func TestWXPlacements(t *testing.T) {
	for _, nx := range []bool{true, false} {
		for _, load := range []uint64{testLink, 0x2fc0_0000, testLink + 0x20_0000, testLink - 0x0400_0000, 0x0020_0000} {
			r := Relocation{LinkBase: testLink, LoadBase: load, Size: testSize}
			l := testLayout(r, nx)
			m, early, cr3, f := buildWX(t, r, l)
			if errs := CheckWX(m.read, cr3, l); len(errs) != 0 {
				t.Errorf("nx=%v load %#x: %d mismatches, first: %v", nx, load, len(errs), errs[0])
			}
			// The early tables are untouched and still what cpuinit
			// builds (the AP trampoline uses them).
			if errs := CheckMap(m.read, early, r); len(errs) != 0 {
				t.Errorf("nx=%v load %#x: early tables changed: %v", nx, load, errs[0])
			}
			// PML4, PDPT, PD, and a 4 KiB table for each 2 MiB page a
			// span boundary falls in: [0x10000000, +2M) holds the
			// headers and all of the text, [0x10400000, +2M) the end of
			// rodata, [0x10600000, +2M) the whole arena. The 2 MiB pages
			// in between are large pages.
			// Without NX the first 2 MiB is uniformly r-x.
			want := 3 + 3
			if !nx {
				want--
			}
			if len(f.pages) != want {
				t.Errorf("nx=%v load %#x: %d table pages, want %d", nx, load, len(f.pages), want)
			}
			s, err := SummarizeWX(m.read, cr3, l)
			if err != nil {
				t.Fatal(err)
			}
			exec := uint64(0x190 + 0x100) // text and arena pages
			if nx {
				if s.WritableExec != 0 || s.ExecOutsideText != 0 || s.Pages["r-x"] != exec || s.Pages["rwx"] != 0 {
					t.Errorf("nx load %#x: summary %+v", load, s)
				}
				if ro := 0x553 - 0x190; s.Pages["r--"] != uint64(ro) {
					t.Errorf("nx load %#x: %d read-only pages, want %d", load, s.Pages["r--"], ro)
				}
			} else if s.Pages["r-x"] != 0x553+0x100 || s.Pages["rw-"] != 0 {
				// Without NX everything executes; text, rodata and the
				// arena are still read-only.
				t.Errorf("no-nx load %#x: summary %+v", load, s)
			}
		}
	}
}

func TestWXFindsDefects(t *testing.T) {
	r := Relocation{LinkBase: testLink, LoadBase: 0x2fc0_0000, Size: testSize}
	l := testLayout(r, true)
	// entry returns the physical address of the leaf for va.
	entry := func(m fakeMem, cr3, va uint64) uint64 {
		table := cr3 & PTE_ADDR_MASK
		for level := 4; level >= 1; level-- {
			shift := 12 + 9*uint(level-1)
			pa := table + (va>>shift&511)*8
			e := m[pa]
			if level == 1 || e&PTE_PS != 0 {
				return pa
			}
			table = e & PTE_ADDR_MASK
		}
		panic("unreachable")
	}
	for _, c := range []struct {
		name, want string
		mutate     func(m fakeMem, cr3 uint64)
	}{
		{"writable text", "writable and executable", func(m fakeMem, cr3 uint64) { m[entry(m, cr3, 0x1000_2000)] |= PTE_RW }},
		{"executable heap", "executable outside", func(m fakeMem, cr3 uint64) { m[entry(m, cr3, 0x1800_0000)] &^= PTE_NX | PTE_RW }},
		{"executable rodata", "executable outside", func(m fakeMem, cr3 uint64) { m[entry(m, cr3, 0x1040_0000)] &^= PTE_NX }},
		{"read-only arena page made data", "is rw-, want r-x", func(m fakeMem, cr3 uint64) {
			m[entry(m, cr3, 0x1070_0000)] = m[entry(m, cr3, 0x1070_0000)] | PTE_RW | PTE_NX
		}},
		{"executable physmap", "writable and executable", func(m fakeMem, cr3 uint64) { m[cr3&PTE_ADDR_MASK+8] &^= PTE_NX }},
		{"executable identity", "writable and executable", func(m fakeMem, cr3 uint64) {
			pdpt := m[cr3&PTE_ADDR_MASK] & PTE_ADDR_MASK
			m[pdpt+8*2] &^= PTE_NX
		}},
		{"window at its link address", "maps to", func(m fakeMem, cr3 uint64) {
			e := entry(m, cr3, 0x1800_0000)
			m[e] = m[e]&^PTE_ADDR_MASK | 0x1800_0000
		}},
		{"page 0 mapped", "page 0", func(m fakeMem, cr3 uint64) {
			pdpt := m[cr3&PTE_ADDR_MASK] & PTE_ADDR_MASK
			pd := m[pdpt] & PTE_ADDR_MASK
			pt := m[pd] & PTE_ADDR_MASK
			m[pt] = PTE_P | PTE_RW | PTE_NX
		}},
		{"MMIO cached", "uncached", func(m fakeMem, cr3 uint64) { m[entry(m, cr3, 0xfee0_0000)] &^= PTE_PCD | PTE_PWT }},
	} {
		m, _, cr3, _ := buildWX(t, r, l)
		c.mutate(m, cr3)
		errs := CheckWX(m.read, cr3, l)
		found := false
		for _, err := range errs {
			if !errors.Is(err, ErrWX) {
				t.Errorf("%s: %v does not wrap ErrWX", c.name, err)
			}
			found = found || strings.Contains(err.Error(), c.want)
		}
		if !found {
			t.Errorf("%s: not detected (want %q), got %v", c.name, c.want, errs)
		}
	}
}

// Without NX no entry may set XD: the bit is reserved then, and the
// first walk through it would fault (SDM Vol. 3A 4.7).
func TestWXWithoutNXRejectsXD(t *testing.T) {
	r := Relocation{LinkBase: testLink, LoadBase: testLink, Size: testSize}
	l := testLayout(r, false)
	m, _, cr3, _ := buildWX(t, r, l)
	for pa, e := range m {
		if e&PTE_NX != 0 {
			t.Fatalf("entry at %#x sets XD in a no-NX build", pa)
		}
	}
	m[(cr3&PTE_ADDR_MASK)+8] |= PTE_NX
	if errs := CheckWX(m.read, cr3, l); len(errs) == 0 || !strings.Contains(errs[0].Error(), "without EFER.NXE") {
		t.Errorf("XD without NXE not reported: %v", errs)
	}
}

func TestWXLayoutRefused(t *testing.T) {
	r := Relocation{LinkBase: testLink, LoadBase: testLink, Size: testSize}
	for _, c := range []struct {
		name string
		l    WXLayout
	}{
		{"unaligned", WXLayout{Reloc: r, Exec: []Span{{0x1000_1000, 0x1019_0750}}}},
		{"outside the window", WXLayout{Reloc: r, Exec: []Span{{0x0fff_f000, 0x1000_1000}}}},
		{"empty", WXLayout{Reloc: r, ReadOnly: []Span{{0x1000_0000, 0x1000_0000}}}},
		{"overlapping executable spans", WXLayout{Reloc: r, Exec: []Span{{0x1000_1000, 0x1019_1000}, {0x1019_0000, 0x1020_0000}}}},
		{"bad relocation", WXLayout{Reloc: Relocation{LinkBase: 0x1000, LoadBase: 0x1000, Size: testSize}}},
	} {
		m := fakeMem{}
		early := buildEarly(m, 0x0001_0000, r)
		f := &fakeTables{next: 0x8_0000}
		if _, _, err := BuildWX(m.read, early, c.l, f.alloc); err == nil {
			t.Errorf("%s: built", c.name)
		}
		if len(f.pages) != 0 {
			t.Errorf("%s: %d pages allocated for a refused layout", c.name, len(f.pages))
		}
	}
	// Running out of table pages is an error, not a partial table.
	m := fakeMem{}
	early := buildEarly(m, 0x0001_0000, r)
	f := &fakeTables{next: 0x8_0000, limit: 4}
	if _, _, err := BuildWX(m.read, early, testLayout(r, true), f.alloc); !errors.Is(err, ErrWX) {
		t.Errorf("out of pages: %v", err)
	}
}

func TestProbeCheck(t *testing.T) {
	on := WXState{Enabled: true, NX: true}
	noNX := WXState{Enabled: true}
	for _, c := range []struct {
		name string
		p    Probe
		s    WXState
		ok   bool
	}{
		{"store faulted", Probe{Addr: 0x1000_1010, Faulted: true, Err: PF_P | PF_WR, CR2: 0x1000_1010}, on, true},
		{"store went through", Probe{Addr: 0x1000_1010}, on, false},
		{"store faulted elsewhere", Probe{Addr: 0x1000_1010, Faulted: true, Err: PF_P | PF_WR, CR2: 0x1000_2000}, on, false},
		{"store faulted not-present", Probe{Addr: 0x1000_1010, Faulted: true, Err: PF_WR, CR2: 0x1000_1010}, on, false},
		{"fetch faulted", Probe{Addr: 0x1060_0000, Exec: true, Faulted: true, Err: PF_P | PF_ID, CR2: 0x1060_0000}, on, true},
		{"fetch ran", Probe{Addr: 0x1060_0000, Exec: true}, on, false},
		{"fetch ran without NX", Probe{Addr: 0x1060_0000, Exec: true}, noNX, true},
		{"store faulted without NX", Probe{Addr: 0x1000_1010, Faulted: true, Err: PF_P | PF_WR, CR2: 0x1000_1010}, noNX, true},
		{"store went through, W^X off", Probe{Addr: 0x1000_1010}, WXState{}, true},
		{"fault while W^X off", Probe{Addr: 0x1000_1010, Faulted: true, Err: 3, CR2: 0x1000_1010}, WXState{}, false},
	} {
		if err := c.p.Check(c.s); (err == nil) != c.ok {
			t.Errorf("%s: Check = %v, want ok=%v", c.name, err, c.ok)
		}
	}
	if s := (WXState{}).String(); !strings.HasPrefix(s, "off") {
		t.Errorf("off state: %q", s)
	}
}
