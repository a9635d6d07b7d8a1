// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !(tamago && arm64)

package arm64

// Host stand-ins for the instructions in cpu_arm64.s, so the package
// builds, vets and host-tests on Linux (CONVENTIONS.md §6). Nothing here
// is called by host tests; reaching one is a misuse.

const hostOnly = "arm64: CPU instruction called on a host build"

func halt()                             { panic(hostOnly) }
func sync_code(alias, exec, n uint64)   { panic(hostOnly) }
func read_currentel() uint64            { panic(hostOnly) }
func read_mpidr() uint64                { panic(hostOnly) }
func read_id_aa64mmfr0() uint64         { panic(hostOnly) }
func read_id_aa64pfr0() uint64          { panic(hostOnly) }
func read_sctlr_el2() uint64            { panic(hostOnly) }
func write_mair_el2(val uint64)         { panic(hostOnly) }
func write_tcr_el2(val uint64)          { panic(hostOnly) }
func enable_mmu_el2(ttbr uint64)        { panic(hostOnly) }
func read_cntpct() uint64               { panic(hostOnly) }
func read_cntfrq() uint64               { panic(hostOnly) }
func smc(fid, a1, a2, a3 uint64) uint64 { panic(hostOnly) }
func read_icc_sre_el2() uint64          { panic(hostOnly) }
func write_icc_pmr_el1(val uint64)      { panic(hostOnly) }
func write_icc_igrpen1_el1(val uint64)  { panic(hostOnly) }
func read_id_aa64isar0() uint64         { panic(hostOnly) }
func read_rndr() (val uint64, ok bool)  { panic(hostOnly) }

// Stand-ins for switch_arm64.s.
func enter_guest(ctx *Context)             { panic(hostOnly) }
func read_ich_vtr() uint64                 { panic(hostOnly) }
func read_id_regs(r *IDRegs)               { panic(hostOnly) }
func write_vtcr_el2(val uint64)            { panic(hostOnly) }
func write_mdcr_el2(val uint64)            { panic(hostOnly) }
func read_mdcr_el2() uint64                { panic(hostOnly) }
func write_cnthctl_el2(val uint64)         { panic(hostOnly) }
func flush_guest_tlb(vttbr uint64)         { panic(hostOnly) }
func clean_dcache_range(start, end uint64) { panic(hostOnly) }
func tlb_sync()                            { panic(hostOnly) }
func ack_irq() uint64                      { panic(hostOnly) }
func eoi_irq(intid uint64)                 { panic(hostOnly) }
