// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"fmt"
	"sync/atomic"
)

// Physical interrupts of passthrough devices.
//
// The manifest gives a VM the SPIs of its devices. The hypervisor keeps
// every such SPI routed to the boot CPU and forwards it with "mask on
// fire, unmask on completion":
//
//  1. the SPI fires: the hypervisor takes it (an IRQ exit of whatever
//     guest runs on the boot CPU, or PollHostIRQs when none does),
//     completes it, disables it at the distributor and marks it for the
//     owning VM in a lock-free bitmap (the owner may be running on
//     another CPU, under its own lock);
//  2. the owner's run loop moves marked SPIs into its virtual GIC as a
//     pending edge and wakes a vCPU blocked in WFI;
//  3. once the guest has taken and deactivated the virtual SPI
//     (vgic.Quiet), the run loop re-enables the physical SPI; a
//     level-sensitive device that still asserts it fires again.
//
// A guest therefore never sees more than one instance in flight, cannot
// keep the physical interrupt asserted against the hypervisor, and an
// interrupt nobody owns is counted and left disabled.

// HostGIC is the physical distributor, for passthrough SPIs.
type HostGIC interface {
	EnableSPI(intid uint32) error
	DisableSPI(intid uint32) error
}

// maxINTID bounds the SPIs tamavisor forwards (INTIDs below 1020).
const maxINTID = 1020

// hostOwner maps a forwarded physical SPI to its VM.
var hostOwner [maxINTID]atomic.Pointer[Machine]

// HostIRQStats counts forwarded and unowned physical SPIs, and the
// forwarded ones the boot CPU found by polling (PollHostIRQs).
var HostIRQStats struct {
	Forwarded, Unowned, Polled atomic.Uint64
}

// passIRQ is one passthrough SPI of a Machine.
type passIRQ struct {
	intid  uint32
	masked bool // disabled at the distributor, waiting for the guest
}

// claimHostIRQs takes ownership of the VM's passthrough SPIs and enables
// them at the distributor.
func (m *Machine) claimHostIRQs(host HostGIC, intids []uint32) error {
	for _, id := range intids {
		if id < 32 || id >= maxINTID || int(id) >= 32+m.GIC.SPIs() {
			return fmt.Errorf("passthrough INTID %d: not an SPI the VM's GIC has (32..%d)", id, 31+m.GIC.SPIs())
		}
		if !hostOwner[id].CompareAndSwap(nil, m) {
			return fmt.Errorf("passthrough INTID %d: already owned by another VM", id)
		}
		m.pass = append(m.pass, passIRQ{intid: id})
	}
	m.host = host
	for _, p := range m.pass {
		if err := host.EnableSPI(p.intid); err != nil {
			m.releaseHostIRQs()
			return err
		}
	}
	return nil
}

// releaseHostIRQs disables and gives back the VM's passthrough SPIs.
func (m *Machine) releaseHostIRQs() {
	for _, p := range m.pass {
		if m.host != nil {
			m.host.DisableSPI(p.intid)
		}
		hostOwner[p.intid].CompareAndSwap(m, nil)
	}
	m.pass = nil
}

// hostIRQ forwards physical interrupt intid, already completed at the
// CPU interface, to its owner. It runs on the boot CPU without the
// owner's lock. It reports whether intid was a passthrough SPI.
func hostIRQ(intid uint64) bool {
	if intid < 32 || intid >= maxINTID {
		return false // SGIs, PPIs (the hypervisor's own) and special INTIDs
	}
	m := hostOwner[intid].Load()
	if m == nil {
		HostIRQStats.Unowned.Add(1)
		return false
	}
	if m.host != nil {
		m.host.DisableSPI(uint32(intid))
	}
	m.hostPending[intid/64].Or(1 << (intid % 64))
	HostIRQStats.Forwarded.Add(1)
	return true
}

// serviceHostIRQs moves forwarded SPIs into the virtual GIC and unmasks
// those the guest has finished with. It runs under the VM's lock before
// each guest entry and before a blocked vCPU's wake-up check.
func (m *Machine) serviceHostIRQs() {
	for i := range m.pass {
		p := &m.pass[i]
		w, bit := &m.hostPending[p.intid/64], uint64(1)<<(p.intid%64)
		if w.Load()&bit != 0 {
			w.And(^bit)
			m.GIC.RaiseEdge(0, int(p.intid))
			m.HostIRQs++
			p.masked = true
			continue
		}
		if p.masked && m.GIC.Quiet(int(p.intid)) {
			p.masked = false
			if m.host != nil {
				m.host.EnableSPI(p.intid)
			}
		}
	}
}
