// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package arm64

import (
	"runtime"

	"github.com/tamavisor/tamavisor/hv"
)

var (
	earlyAlloc hv.BumpAllocator
	earlyTable Table
	earlyMaps  [MaxMappings]Mapping
)

// EarlyInit turns on the EL2 MMU with caches. Boards call it from
// runtime.hwinit0, before the Go runtime is initialised: it allocates
// nothing and reports failure by printing and halting.
//
// ram is the hypervisor's RAM (runtime.MemRegion), tables a page-aligned
// range inside it, outside the image, reserved for translation tables,
// devices the MMIO windows to map as Device memory, and code a
// page-aligned range inside ram, outside the image and below it, for
// live-patch code (mapped read-only and executable, like the text, with
// a writable alias: HypervisorMap).
func EarlyInit(ram hv.Region, tables hv.Region, code hv.Region, devices []hv.Region) {
	cntfrq = read_cntfrq()

	textStart, textEnd := runtime.TextRegion()
	exec := [2]hv.Region{code, {Name: "text", Kind: hv.RAM, Base: hv.PA(textStart), Size: uint64(textEnd - textStart)}}
	n, err := HypervisorMap(&earlyMaps, ram, exec[:], devices)
	if err != nil {
		early("EL2 memory map", err)
	}
	earlyAlloc = hv.BumpAllocator{Next: tables.Base, Limit: tables.End(), Mem: identity{}}
	if err := earlyTable.Init(&earlyAlloc, identity{}, 39); err != nil {
		early("EL2 translation table", err)
	}
	for i := 0; i < n; i++ {
		m := &earlyMaps[i]
		va := m.VA
		if va == 0 {
			va = hv.IdentityVA(m.PA)
		}
		if err := earlyTable.Map(va, m.PA, m.Size, m.Attr); err != nil {
			early("EL2 translation table", err)
		}
	}
	write_mair_el2(MAIRValue)
	write_tcr_el2(TCRValue(earlyTable.T0SZ(), read_id_aa64mmfr0()))
	enable_mmu_el2(uint64(earlyTable.Root))
	codeArena = code
}

// codeArena is the live-patch code range EarlyInit mapped.
var codeArena hv.Region

// TablePages reports how many translation-table pages EarlyInit used.
func TablePages() int { return int(earlyAlloc.Next-earlyTable.Root)/hv.PageSize + 1 }

// MMUEnabled reports whether SCTLR_EL2 has the MMU and both caches on.
func MMUEnabled() bool {
	const want = 1<<0 | 1<<2 | 1<<12 // M, C, I
	return read_sctlr_el2()&want == want
}

func early(what string, err error) {
	// err is an hv.Error constant: Error() does not allocate.
	print("tamavisor: ", what, ": ", err.Error(), "\n")
	halt()
}
