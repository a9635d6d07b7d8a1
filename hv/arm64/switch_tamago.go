// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package arm64

// defined in switch_arm64.s
func enter_guest(ctx *Context)
func read_ich_vtr() uint64
func read_id_regs(r *IDRegs)
func write_vtcr_el2(val uint64)
func write_mdcr_el2(val uint64)
func read_mdcr_el2() uint64
func write_cnthctl_el2(val uint64)
func flush_guest_tlb(vttbr uint64)
func clean_dcache_range(start, end uint64)
func tlb_sync()
func ack_irq() uint64
func eoi_irq(intid uint64)

// codemem_arm64.s
func sync_code(alias, exec, n uint64)

// smp_arm64.s
func snapshot_el2(s *el2State)
func sev()
func secondaryEntry()
func secondary_entry_addr() uint64
