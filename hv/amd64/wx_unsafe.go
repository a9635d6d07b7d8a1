// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

import (
	"fmt"
	"unsafe"
)

// defined in wx_amd64.s
func wx_switch(cr3 uint64, nxe bool)
func imageBounds() (text, etext, epclntab uint64)
func probeStore(addr uint64, val byte)
func probeCall(target uint64)
func probeStoreInsnAddr() uint64
func probeResumeAddr() uint64

// wxMaxTables bounds the table pages EnableWX allocates: PML4, PDPT, the
// window's PD, and one 4 KiB table per 2 MiB page a span boundary falls
// in (the q35 image needs 6).
const wxMaxTables = 16

// CPUID 80000001H:EDX[20]: execute-disable (Intel SDM Vol. 2A CPUID).
const cpuidExtNX = 1 << 20

var (
	wx WXState
	// wxPages holds the W^X tables; referenced forever.
	wxPages []byte

	// The fault probe excCommon (cpu_amd64.s) checks: the armed RIP and
	// what the #PF left.
	probeRIP, probeErr, probeCR2 uint64
	// probeData holds the RET the execute probe calls.
	probeData [16]byte
)

// WX returns the W^X state.
func WX() WXState { return wx }

// tableReader reads paging-structure entries at physical addresses
// through r.PhysToVirt (the window for the image's own pages, where
// cpuinit's and the W^X tables live; the physmap alias elsewhere).
func tableReader(r Relocation) PageTableReader {
	return func(pa uint64) (uint64, error) {
		va, ok := r.PhysToVirt(pa)
		if !ok || pa&7 != 0 {
			return 0, fmt.Errorf("%w: page-table read at %#x", ErrRelocation, pa)
		}
		// SAFETY: 8-byte aligned paging-structure entry, in the window
		// or below 4 GiB (physmap), both mapped by every table set.
		return *(*uint64)(unsafe.Pointer(uintptr(va))), nil
	}
}

// ImageLayout is the W^X layout of the running image: the text and the
// code arena executable, the rest of the read-only segment read-only.
func ImageLayout(r Relocation) WXLayout {
	text, etext, epclntab := imageBounds()
	up := func(a uint64) uint64 { return (a + 0xfff) &^ 0xfff }
	a, n := codeArenaSpan()
	_, _, _, edx := cpuid(0x8000_0001, 0)
	return WXLayout{
		Reloc:    r,
		Exec:     []Span{{text &^ 0xfff, up(etext)}, {a, a + n}},
		ReadOnly: []Span{{r.LinkBase, up(epclntab)}},
		NX:       edx&cpuidExtNX != 0,
	}
}

// EnableWX builds the W^X tables for the running image (wx.go), checks
// them with CheckWX, and only then moves the boot CPU onto them. Call it
// once, on the boot CPU, before the application processors start (they
// join in apEntry) and before the vendor extension records the host
// state (VMX keeps CR0, CR3 and EFER in every VMCS). On error nothing
// changed.
func EnableWX(r Relocation) error {
	if wx.Enabled {
		return fmt.Errorf("%w: already enabled", ErrWX)
	}
	l := ImageLayout(r)
	early := read_cr3()
	read := tableReader(r)
	if wxPages == nil {
		wxPages = make([]byte, (wxMaxTables+1)*4096)
	}
	// SAFETY: only the address is taken.
	base := (uint64(uintptr(unsafe.Pointer(unsafe.SliceData(wxPages)))) + 0xfff) &^ 0xfff
	used := 0
	alloc := func() (TablePage, error) {
		if used == wxMaxTables {
			return TablePage{}, fmt.Errorf("all %d pages used", wxMaxTables)
		}
		va := base + uint64(used)*4096
		pa, ok := r.VirtToPhys(va)
		if !ok {
			return TablePage{}, fmt.Errorf("page %#x is outside the window", va)
		}
		used++
		// SAFETY: a 4 KiB-aligned page inside wxPages (base rounds up
		// within the one spare page), zeroed by make.
		return TablePage{PA: pa, E: (*[512]uint64)(unsafe.Pointer(uintptr(va)))}, nil
	}
	cr3, n, err := BuildWX(read, early, l, alloc)
	if err != nil {
		return err
	}
	if errs := CheckWX(read, cr3, l); len(errs) > 0 {
		return fmt.Errorf("%w: new tables not used: %d mismatches, first: %v", ErrWX, len(errs), errs[0])
	}
	wx_switch(cr3, l.NX)
	wx = WXState{Enabled: true, NX: l.NX, EarlyCR3: early, CR3: cr3, Tables: n, Layout: l}
	return nil
}

// CheckLiveWX checks the tables this CPU runs on (CR3) against the
// layout EnableWX used.
func CheckLiveWX() (WXSummary, []error) {
	if !wx.Enabled {
		return WXSummary{}, []error{fmt.Errorf("%w: not enabled", ErrWX)}
	}
	read := tableReader(wx.Layout.Reloc)
	cr3 := read_cr3()
	errs := CheckWX(read, cr3, wx.Layout)
	s, err := SummarizeWX(read, cr3, wx.Layout)
	if err != nil {
		errs = append(errs, err)
	}
	return s, errs
}

// ProbeWX makes accesses W^X must stop and reports whether each took a
// page fault: a store to the text and to the code arena at their
// execution addresses (each writes back the byte already there, so an
// unprotected page is left as it was), a store to read-only data, and a
// call into a RET placed in data and into the physmap alias of a
// RET in the text (on an unprotected page each just returns). Boot CPU
// only; the caller must not be preempted by another probe.
func ProbeWX() []Probe {
	l := wx.Layout
	if !wx.Enabled {
		l = ImageLayout(Boot().Reloc)
	}
	text, _, _ := imageBounds()
	a, _ := codeArenaSpan()
	probeData[0] = 0xc3 // RET
	// SAFETY: only the address is taken.
	data := uint64(uintptr(unsafe.Pointer(&probeData[0])))
	var alias uint64
	if pa, ok := l.Reloc.VirtToPhys(probeResumeAddr()); ok {
		alias = PhysMapBase + pa
	}
	var out []Probe
	store := func(name string, addr uint64) {
		// SAFETY: addr is mapped readable (text, arena, rodata).
		v := *(*byte)(unsafe.Pointer(uintptr(addr)))
		probeErr, probeCR2 = 0, 0
		probeRIP = probeStoreInsnAddr()
		probeStore(addr, v)
		p := Probe{Name: name, Addr: addr, Faulted: probeRIP == 0, Err: probeErr, CR2: probeCR2}
		probeRIP = 0
		out = append(out, p)
	}
	call := func(name string, addr uint64) {
		probeErr, probeCR2 = 0, 0
		probeRIP = addr
		probeCall(addr)
		p := Probe{Name: name, Addr: addr, Exec: true, Faulted: probeRIP == 0, Err: probeErr, CR2: probeCR2}
		probeRIP = 0
		out = append(out, p)
	}
	store("write text", text+0x10)
	store("write patch arena", a)
	store("write rodata", l.ReadOnly[0].Start)
	call("execute data", data)
	if alias != 0 {
		call("execute physmap alias of text", alias)
	}
	return out
}
