// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package arm64

// defined in cpu_arm64.s
func halt()
func read_currentel() uint64
func read_mpidr() uint64
func read_id_aa64mmfr0() uint64
func read_id_aa64pfr0() uint64
func read_sctlr_el2() uint64
func write_mair_el2(val uint64)
func write_tcr_el2(val uint64)
func enable_mmu_el2(ttbr uint64)
func read_cntpct() uint64
func read_cntfrq() uint64
func smc(fid, a1, a2, a3 uint64) uint64
func read_icc_sre_el2() uint64
func write_icc_pmr_el1(val uint64)
func write_icc_igrpen1_el1(val uint64)
func read_id_aa64isar0() uint64
func read_rndr() (val uint64, ok bool)
