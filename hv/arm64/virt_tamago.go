// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package arm64

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// hwCPU is the CPU interface on the real (or emulated) processor.
type hwCPU struct{}

// HardwareCPU returns the CPU a Machine runs guests on.
func HardwareCPU() CPU { return hwCPU{} }

func (hwCPU) Counter() uint64       { return read_cntpct() }
func (hwCPU) CounterHz() uint64     { return cntfrq }
func (hwCPU) Nanotime() int64       { return Nanotime() }
func (hwCPU) FlushTLB(vttbr uint64) { flush_guest_tlb(vttbr) }
func (hwCPU) IDRegs() *IDRegs       { return &guestIDRegs }
func (hwCPU) CleanDcache(pa hv.PA, size uint64) {
	clean_dcache_range(uint64(pa), uint64(pa)+size)
}

// guestIDRegs is what guests read from the ID registers (see
// SanitizeIDRegs), set by InitVirtualization.
var guestIDRegs IDRegs

// IdentityMemory is hv.PhysMemory over the hypervisor's identity map.
func IdentityMemory() hv.PhysMemory { return identity{} }

// MDCR_EL2 bits (D19.2.107): trap PMU and debug register accesses from
// EL1/EL0 to EL2, keeping HPMN.
const (
	MDCR_HPMN_MASK = 0x1f
	MDCR_TPMCR     = 1 << 5
	MDCR_TPM       = 1 << 6
	MDCR_TDA       = 1 << 9
	MDCR_TDOSA     = 1 << 10
	MDCR_TDRA      = 1 << 11
)

// InitVirtualization prepares EL2 for running guests on this CPU: the
// stage-2 translation control (VTCR_EL2, 4 KiB granule, GuestIPABits),
// debug and PMU traps (MDCR_EL2), and the EL1 physical timer trap
// (CNTHCTL_EL2.EL1PCEN = 0: guests use the virtual timer). It checks the
// GICv3 virtual CPU interface has the list registers the world switch
// uses.
func InitVirtualization() error {
	vtr := read_ich_vtr()
	if n := int(vtr&0x1f) + 1; n < NumLR {
		return fmt.Errorf("arm64: GICv3 virtual CPU interface has %d list registers, need %d (ICH_VTR_EL2=%#x)", n, NumLR, vtr)
	}
	level, _, err := S2StartLevel(GuestIPABits)
	if err != nil {
		return err
	}
	vtcr, err := VTCRValue(GuestIPABits, level, read_id_aa64mmfr0())
	if err != nil {
		return err
	}
	write_vtcr_el2(vtcr)
	var raw IDRegs
	read_id_regs(&raw)
	guestIDRegs = SanitizeIDRegs(raw, GuestIPABits)
	write_mdcr_el2(read_mdcr_el2()&MDCR_HPMN_MASK | MDCR_TPMCR | MDCR_TPM | MDCR_TDA | MDCR_TDOSA | MDCR_TDRA)
	write_cnthctl_el2(1) // EL1PCTEN: the physical counter stays readable
	return nil
}

// MapHostRAM adds r to the hypervisor's own (EL2) identity map as Normal,
// read/write, never-executable memory, so it can load and inspect guest
// RAM. It runs after boot, with the MMU on; the entries it adds were
// invalid before, so a barrier makes them visible (no TLB entry can
// hold an invalid translation).
func MapHostRAM(r hv.Region) error {
	if err := earlyTable.Map(hv.IdentityVA(r.Base), r.Base, r.Size, Attr{Type: Normal, Writable: true}); err != nil {
		return fmt.Errorf("arm64: mapping %s [%#x,%#x) at EL2: %w", r.Name, uint64(r.Base), uint64(r.End()), err)
	}
	tlb_sync()
	return nil
}

// PollHostIRQs takes the physical interrupts pending at the boot CPU
// while it runs no guest (the hypervisor runs with IRQs masked at EL2):
// each is acknowledged, completed and forwarded like an IRQ exit's.
// The boot CPU's scheduler calls it every round.
func PollHostIRQs() {
	for i := 0; i < 64; i++ {
		id := ack_irq()
		if id >= 1020 {
			return
		}
		eoi_irq(id)
		if hostIRQ(id) {
			HostIRQStats.Polled.Add(1)
		}
	}
}
