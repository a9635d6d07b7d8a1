// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

import (
	"errors"
	"sync/atomic"
	"unsafe"
)

var (
	lapicBase uint64
	lapicHz   uint64
	// lapicEOIAddr is read by the interrupt stub (cpu_amd64.s).
	lapicEOIAddr uint64
	// hostIRQs counts physical interrupts taken (cpu_amd64.s).
	hostIRQs uint64
)

func lapicRead(off uint64) uint32 {
	// SAFETY: the local APIC page is identity-mapped uncached by
	// cpuinit's early tables (top GiB below 4 GiB); 32-bit aligned.
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(uintptr(lapicBase + off))))
}

func lapicWrite(off uint64, val uint32) {
	// SAFETY: as lapicRead.
	atomic.StoreUint32((*uint32)(unsafe.Pointer(uintptr(lapicBase+off))), val)
}

// InitPreemptTimer enables the boot CPU's local APIC in xAPIC mode with
// its timer on VectorPreempt, one-shot, divide by 1, and measures the
// timer's rate against the calibrated TSC. It must run after the TSC
// calibration and before any guest runs.
func InitPreemptTimer() error {
	if TSC.Hz() == 0 {
		return errors.New("amd64: preemption timer: TSC not calibrated")
	}
	base := rdmsr(MSR_APIC_BASE)
	if base&APIC_BASE_ENABLE == 0 {
		return errors.New("amd64: preemption timer: local APIC disabled in IA32_APIC_BASE")
	}
	lapicBase = base & APIC_BASE_ADDR
	if lapicBase >= PhysMapSize {
		return errors.New("amd64: preemption timer: local APIC above 4 GiB")
	}
	lapicEOIAddr = lapicBase + LAPIC_EOI
	lapicWrite(LAPIC_TPR, 0)
	lapicWrite(LAPIC_SVR, SVR_APIC_ENABLE|VectorSpurious)
	lapicWrite(LAPIC_TIMER_DIV, TIMER_DIV_1)
	lapicWrite(LAPIC_LVT_TIMER, LVT_MASKED|VectorPreempt)
	lapicWrite(LAPIC_TIMER_INIT, 0xffff_ffff)
	t0 := rdtsc()
	wait := TSC.Hz() * lapicCalibrateTSC / 1000
	for rdtsc()-t0 < wait {
	}
	cur := lapicRead(LAPIC_TIMER_CUR)
	elapsed := rdtsc() - t0
	lapicWrite(LAPIC_TIMER_INIT, 0)
	counted := uint64(0xffff_ffff - cur)
	if counted == 0 || elapsed == 0 {
		return errors.New("amd64: preemption timer: the APIC timer does not count")
	}
	lapicHz = counted * TSC.Hz() / elapsed
	lapicWrite(LAPIC_LVT_TIMER, VectorPreempt)
	return nil
}

// LAPICTimerHz is the measured host APIC timer rate (0 before
// InitPreemptTimer).
func LAPICTimerHz() uint64 { return lapicHz }

func init() { hostInterrupts = func() uint64 { return atomic.LoadUint64(&hostIRQs) } }

// Preempt arms the one-shot APIC timer to fire at deadline (ns on the
// Nanotime clock); 0 stops it. A guest running at that moment exits
// with an INTR intercept (SVM) or external-interrupt exit (VMX).
func Preempt(deadline int64) {
	if lapicBase == 0 {
		return
	}
	if deadline == 0 {
		lapicWrite(LAPIC_TIMER_INIT, 0)
		return
	}
	lapicWrite(LAPIC_TIMER_INIT, lapicCount(deadline-Nanotime(), lapicHz))
}
