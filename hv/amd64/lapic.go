// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

// The host local APIC in xAPIC mode, used as the preemption timer that
// forces a guest out at the end of its slice (Intel SDM Vol. 3A 11.4.1
// "The Local APIC Block Diagram", Table 11-1 register addresses, 11.5.4
// "APIC Timer").
const (
	MSR_APIC_BASE    = 0x1b
	APIC_BASE_ENABLE = 1 << 11
	APIC_BASE_ADDR   = 0xf_ffff_f000
	LAPIC_ID         = 0x020
	LAPIC_TPR        = 0x080
	LAPIC_EOI        = 0x0b0
	LAPIC_SVR        = 0x0f0
	LAPIC_ICR_LO     = 0x300
	LAPIC_ICR_HI     = 0x310
	LAPIC_LVT_TIMER  = 0x320
	LAPIC_TIMER_INIT = 0x380
	LAPIC_TIMER_CUR  = 0x390
	LAPIC_TIMER_DIV  = 0x3e0
	SVR_APIC_ENABLE  = 1 << 8
	LVT_MASKED       = 1 << 16
	TIMER_DIV_1      = 0xb // divide configuration 1011b: divide by 1
	VectorPreempt    = 0xef
	// VectorKick wakes an application processor for a posted guest run
	// and tells the boot CPU that an AP's guest exited (smp_tamago.go).
	VectorKick        = 0xee
	VectorSpurious    = 0xff
	lapicCalibrateTSC = 10 // ms of TSC the calibration counts over

	// Interrupt command register (SDM Vol. 3A 11.6.1, Figure 11-12):
	// delivery mode, level, delivery status; the destination APIC ID
	// sits in ICR_HI[31:24] in xAPIC mode.
	ICR_FIXED      = 0 << 8
	ICR_INIT       = 5 << 8
	ICR_STARTUP    = 6 << 8
	ICR_PENDING    = 1 << 12
	ICR_ASSERT     = 1 << 14
	ICR_DEST_SHIFT = 24
)

// lapicCount converts a delay in ns to an APIC timer initial count at hz
// counts per second, clamped to [1, 2^32-1] (0 would stop the timer).
func lapicCount(delayNs int64, hz uint64) uint32 {
	if delayNs <= 0 || hz == 0 {
		return 1
	}
	// delay * hz / 1e9 without overflow for delays up to ~292 years.
	sec := uint64(delayNs) / 1e9
	rem := uint64(delayNs) % 1e9
	c := sec*hz + rem*(hz/1e6)/1e3 + rem*(hz%1e6)/1e9
	switch {
	case c == 0:
		return 1
	case c > 0xffff_ffff || sec > 1<<32/(hz|1):
		return 0xffff_ffff
	}
	return uint32(c)
}

// hostInterrupts is the number of physical interrupts the hypervisor
// took (0 on host builds).
var hostInterrupts = func() uint64 { return 0 }
