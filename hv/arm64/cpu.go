// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"fmt"
	"math"
	"math/bits"
)

// D19.2.139 TCR_EL2, Translation Control Register (EL2), non-VHE layout.
const (
	TCR_T0SZ_SHIFT  = 0
	TCR_IRGN0_SHIFT = 8
	TCR_ORGN0_SHIFT = 10
	TCR_SH0_SHIFT   = 12
	TCR_TG0_SHIFT   = 14
	TCR_PS_SHIFT    = 16
	TCR_EL2_RES1    = 1<<31 | 1<<23

	TCR_RGN_WBWA  = 0b01 // Normal, Write-Back Read-Allocate Write-Allocate
	TCR_SH_INNER  = 0b11
	TCR_TG0_4K    = 0b00
	TCR_PS_48BITS = 0b101
)

// D19.2.64 ID_AA64MMFR0_EL1.PARange, bits [3:0].
const (
	ID_AA64MMFR0_PARANGE_MASK = 0xf
)

// TCRValue returns TCR_EL2 for a 4 KiB-granule table with the given T0SZ,
// cacheable inner-shareable walks, and the physical address size the CPU
// reports in ID_AA64MMFR0_EL1 (capped at 48 bits: 52-bit output needs
// FEAT_LPA descriptors tamavisor does not use).
func TCRValue(t0sz, mmfr0 uint64) uint64 {
	ps := mmfr0 & ID_AA64MMFR0_PARANGE_MASK
	if ps > TCR_PS_48BITS {
		ps = TCR_PS_48BITS
	}
	return TCR_EL2_RES1 |
		t0sz<<TCR_T0SZ_SHIFT |
		TCR_RGN_WBWA<<TCR_IRGN0_SHIFT |
		TCR_RGN_WBWA<<TCR_ORGN0_SHIFT |
		TCR_SH_INNER<<TCR_SH0_SHIFT |
		TCR_TG0_4K<<TCR_TG0_SHIFT |
		ps<<TCR_PS_SHIFT
}

// PARangeBits converts ID_AA64MMFR0_EL1.PARange to a number of bits.
func PARangeBits(mmfr0 uint64) int {
	switch mmfr0 & ID_AA64MMFR0_PARANGE_MASK {
	case 0b000:
		return 32
	case 0b001:
		return 36
	case 0b010:
		return 40
	case 0b011:
		return 42
	case 0b100:
		return 44
	case 0b101:
		return 48
	case 0b110:
		return 52
	}
	return 0
}

// EntryEL is the exception level the image was entered at, recorded by
// cpuinit before anything else runs. It is initialised to a non-zero
// value so it lives in .data, which the loader fills, rather than .bss.
var EntryEL uint64 = 0xff

// CurrentEL returns the exception level the hypervisor runs at.
func CurrentEL() int { return int(read_currentel()) }

// MPIDR returns this CPU's MPIDR_EL1.
func MPIDR() uint64 { return read_mpidr() }

// Generic timer (D11 The Generic Timer in AArch64 state).
var cntfrq uint64

// CounterFrequency returns CNTFRQ_EL0 as read at start-up.
func CounterFrequency() uint64 { return cntfrq }

// ticksToNs converts counter ticks at freq Hz to nanoseconds without
// floating point and without overflow for any realistic uptime.
func ticksToNs(ticks, freq uint64) int64 {
	if freq == 0 {
		return 0
	}
	hi, lo := bits.Mul64(ticks, 1e9)
	if hi >= freq {
		return math.MaxInt64 // saturate instead of faulting in Div64
	}
	q, _ := bits.Div64(hi, lo, freq)
	return int64(q)
}

// Nanotime returns the physical counter in nanoseconds. Boards link it as
// runtime.nanotime1.
//
//go:nosplit
func Nanotime() int64 { return ticksToNs(read_cntpct(), cntfrq) }

// The PSCI function IDs are in psci.go.

// PSCIVersion returns the firmware's PSCI version (major<<16 | minor),
// or a negative SMCCC error code.
func PSCIVersion() int64 { return int64(smc(PSCI_VERSION, 0, 0, 0)) }

// SystemOff asks the firmware to power the machine off through PSCI
// SYSTEM_OFF over SMC. On success it does not return.
func SystemOff() error {
	ret := smc(PSCI_SYSTEM_OFF, 0, 0, 0)
	return fmt.Errorf("arm64: PSCI SYSTEM_OFF returned %d", int64(ret))
}

// InitCPUInterface enables this CPU's GICv3 CPU interface for Group 1
// Non-secure interrupts at every priority (IHI 0069H 12.2). The
// distributor and redistributor are soc/arm/gicv3's job.
func InitCPUInterface() error {
	if sre := read_icc_sre_el2(); sre&1 == 0 {
		return fmt.Errorf("arm64: GICv3 system register interface disabled, ICC_SRE_EL2=%#x", sre)
	}
	write_icc_pmr_el1(0xff)
	write_icc_igrpen1_el1(1)
	return nil
}
