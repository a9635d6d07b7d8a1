// hv/vdev/x2apic: an emulated local APIC in x2APIC mode for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

package x2apic

// IA32_APIC_BASE (Intel SDM Vol. 3A, 11.4.4 "Local APIC Status and
// Location", Figure 11-5, and 11.12.1 "Detecting and Enabling x2APIC
// Mode", Table 11-5).
const (
	IA32_APIC_BASE = 0x1b

	APIC_BASE_BSP  = 8  // processor is the bootstrap processor (read-only)
	APIC_BASE_EXTD = 10 // x2APIC mode enable
	APIC_BASE_EN   = 11 // APIC global enable

	APIC_BASE_ADDR_MASK = 0x000f_ffff_ffff_f000 // base address, bits 51:12

	// DefaultBase is the power-up APIC base address. It is the only one
	// accepted: relocation matters only to the xAPIC MMIO mode, which is
	// not emulated.
	DefaultBase = 0xfee0_0000
)

// x2APIC MSR addresses (Intel SDM Vol. 3A, 11.12.1.2 "x2APIC Register
// Address Space", Table 11-6; names as in Vol. 4, Table 2-2). The whole
// range 0x800-0x8FF belongs to the x2APIC; addresses not listed here are
// reserved and raise #GP.
const (
	X2APIC_MSR_FIRST = 0x800
	X2APIC_MSR_LAST  = 0x8ff

	IA32_X2APIC_APICID      = 0x802 // local APIC ID (RO)
	IA32_X2APIC_VERSION     = 0x803 // local APIC version (RO)
	IA32_X2APIC_TPR         = 0x808 // task priority
	IA32_X2APIC_PPR         = 0x80a // processor priority (RO)
	IA32_X2APIC_EOI         = 0x80b // end of interrupt (WO, write 0)
	IA32_X2APIC_LDR         = 0x80d // logical destination (RO)
	IA32_X2APIC_SIVR        = 0x80f // spurious interrupt vector
	IA32_X2APIC_ISR0        = 0x810 // in-service, 8 registers (RO)
	IA32_X2APIC_TMR0        = 0x818 // trigger mode, 8 registers (RO)
	IA32_X2APIC_IRR0        = 0x820 // interrupt request, 8 registers (RO)
	IA32_X2APIC_ESR         = 0x828 // error status (write 0)
	IA32_X2APIC_LVT_CMCI    = 0x82f
	IA32_X2APIC_ICR         = 0x830 // interrupt command, 64 bits
	IA32_X2APIC_LVT_TIMER   = 0x832
	IA32_X2APIC_LVT_THERMAL = 0x833
	IA32_X2APIC_LVT_PMI     = 0x834
	IA32_X2APIC_LVT_LINT0   = 0x835
	IA32_X2APIC_LVT_LINT1   = 0x836
	IA32_X2APIC_LVT_ERROR   = 0x837
	IA32_X2APIC_INIT_COUNT  = 0x838 // timer initial count
	IA32_X2APIC_CUR_COUNT   = 0x839 // timer current count (RO)
	IA32_X2APIC_DIV_CONF    = 0x83e // timer divide configuration
	IA32_X2APIC_SELF_IPI    = 0x83f // self IPI (WO)
)

// Local APIC version register (SDM 11.4.8, Figure 11-7): an integrated
// APIC (version 0x14) with seven LVT entries (CMCI, timer, thermal, PMI,
// LINT0, LINT1, error: "max LVT entry" is their number minus one), and
// no EOI-broadcast suppression (bit 24 clear).
const (
	VERSION_ID           = 0x14
	VERSION_MAXLVT_SHIFT = 16
	NumLVT               = 7

	Version = VERSION_ID | (NumLVT-1)<<VERSION_MAXLVT_SHIFT
)

// Spurious-interrupt vector register (SDM 11.9, Figure 11-23). Bit 12
// (EOI-broadcast suppression) is reserved because VERSION bit 24 is
// clear.
const (
	SVR_VECTOR_MASK = 0xff
	SVR_APIC_ENABLE = 8 // APIC software enable
	SVR_FOCUS       = 9 // focus processor checking (stored, no effect)

	svrWritable = SVR_VECTOR_MASK | 1<<SVR_APIC_ENABLE | 1<<SVR_FOCUS
	svrReset    = 0xff // SDM 11.4.7.1: vector 0xFF, software disabled
)

// Error status register bits (SDM 11.5.3, Figure 11-9).
const (
	ESR_SEND_ILLEGAL_VECTOR = 5
	ESR_RECV_ILLEGAL_VECTOR = 6
)

// TPR and PPR (SDM 11.8.3.1, Figures 11-18 and 11-19): the priority
// class is bits 7:4.
const (
	TPR_MASK             = 0xff
	PRIORITY_CLASS_SHIFT = 4
)

// FirstValidVector is the lowest vector the APIC delivers: vectors 0-15
// are illegal (SDM 11.5.2, 11.8.3).
const FirstValidVector = 16

// LVT is one local vector table entry (SDM 11.5.1, Figure 11-8).
type LVT uint32

// LVT fields (SDM Figure 11-8).
const (
	LVT_VECTOR_MASK      = 0xff
	LVT_DELIVERY_SHIFT   = 8 // delivery mode, bits 10:8 (not in timer and error)
	LVT_DELIVERY_MASK    = 0x7
	LVT_DELIVERY_STATUS  = 12 // read-only, always 0 here
	LVT_POLARITY         = 13 // LINT0/1 only
	LVT_REMOTE_IRR       = 14 // LINT0/1 only, read-only
	LVT_TRIGGER_MODE     = 15 // LINT0/1 only
	LVT_MASKED           = 16
	LVT_TIMER_MODE_SHIFT = 17 // timer only, bits 18:17
	LVT_TIMER_MODE_MASK  = 0x3
)

// Delivery modes (SDM 11.5.1): only Fixed matters to this model.
const DM_FIXED = 0

// LVT timer modes (SDM 11.5.4, Table 11-2).
const (
	TIMER_ONESHOT      = 0
	TIMER_PERIODIC     = 1
	TIMER_TSC_DEADLINE = 2 // accepted, never fires
	timerModeReserved  = 3
)

// Vector returns the interrupt vector, bits 7:0.
func (l LVT) Vector() uint8 { return uint8(l & LVT_VECTOR_MASK) }

// Masked reports the mask bit.
func (l LVT) Masked() bool { return l&(1<<LVT_MASKED) != 0 }

// DeliveryMode returns bits 10:8 (zero in the timer and error entries).
func (l LVT) DeliveryMode() uint32 {
	return uint32(l>>LVT_DELIVERY_SHIFT) & LVT_DELIVERY_MASK
}

// TimerMode returns bits 18:17 (meaningful in the timer entry only).
func (l LVT) TimerMode() uint32 {
	return uint32(l>>LVT_TIMER_MODE_SHIFT) & LVT_TIMER_MODE_MASK
}

// Index of each LVT entry in APIC.lvt, in MSR order.
const (
	lvtCMCI = iota
	lvtTimer
	lvtThermal
	lvtPMI
	lvtLINT0
	lvtLINT1
	lvtError
)

// lvtIndex maps an LVT MSR to its index, or -1.
func lvtIndex(msr uint32) int {
	switch {
	case msr == IA32_X2APIC_LVT_CMCI:
		return lvtCMCI
	case msr >= IA32_X2APIC_LVT_TIMER && msr <= IA32_X2APIC_LVT_ERROR:
		return lvtTimer + int(msr-IA32_X2APIC_LVT_TIMER)
	}
	return -1
}

// Writable bits of each LVT entry (SDM Figure 11-8): every other bit is
// reserved (#GP when set, SDM 11.12.1.3), except the read-only delivery
// status and remote IRR bits, which a read-modify-write may carry and
// which are ignored.
var (
	lvtWritable = [NumLVT]LVT{
		lvtCMCI:    0x107ff, // vector, delivery mode, mask
		lvtTimer:   0x700ff, // vector, mask, timer mode
		lvtThermal: 0x107ff,
		lvtPMI:     0x107ff,
		lvtLINT0:   0x1a7ff, // vector, delivery mode, polarity, trigger, mask
		lvtLINT1:   0x1a7ff,
		lvtError:   0x100ff, // vector, mask
	}
	lvtIgnored = [NumLVT]LVT{
		lvtCMCI:    1 << LVT_DELIVERY_STATUS,
		lvtTimer:   1 << LVT_DELIVERY_STATUS,
		lvtThermal: 1 << LVT_DELIVERY_STATUS,
		lvtPMI:     1 << LVT_DELIVERY_STATUS,
		lvtLINT0:   1<<LVT_DELIVERY_STATUS | 1<<LVT_REMOTE_IRR,
		lvtLINT1:   1<<LVT_DELIVERY_STATUS | 1<<LVT_REMOTE_IRR,
		lvtError:   1 << LVT_DELIVERY_STATUS,
	}
)

// ICR is the x2APIC interrupt command register (SDM 11.12.9, Figure
// 11-28): one 64-bit MSR with the destination in bits 63:32 and no
// delivery status bit.
type ICR uint64

// ICR fields (SDM Figure 11-28).
const (
	ICR_VECTOR_MASK     = 0xff
	ICR_DELIVERY_SHIFT  = 8 // bits 10:8
	ICR_DELIVERY_MASK   = 0x7
	ICR_DEST_MODE       = 11 // 0 physical, 1 logical
	ICR_LEVEL           = 14
	ICR_TRIGGER_MODE    = 15
	ICR_SHORTHAND_SHIFT = 18 // bits 19:18
	ICR_SHORTHAND_MASK  = 0x3
	ICR_DEST_SHIFT      = 32

	// icrWritable excludes the reserved bits 13:12, 17:16 and 31:20.
	icrWritable = 0xffff_ffff_000c_cfff
)

// Destination shorthands (SDM 11.6.1).
const (
	SH_NONE          = 0
	SH_SELF          = 1
	SH_ALL_INCL_SELF = 2
	SH_ALL_EXCL_SELF = 3
)

// Vector returns bits 7:0.
func (c ICR) Vector() uint8 { return uint8(c & ICR_VECTOR_MASK) }

// DeliveryMode returns bits 10:8.
func (c ICR) DeliveryMode() uint32 {
	return uint32(c>>ICR_DELIVERY_SHIFT) & ICR_DELIVERY_MASK
}

// Logical reports the destination mode bit.
func (c ICR) Logical() bool { return c&(1<<ICR_DEST_MODE) != 0 }

// Shorthand returns bits 19:18.
func (c ICR) Shorthand() uint32 {
	return uint32(c>>ICR_SHORTHAND_SHIFT) & ICR_SHORTHAND_MASK
}

// Dest returns the 32-bit destination, bits 63:32.
func (c ICR) Dest() uint32 { return uint32(c >> ICR_DEST_SHIFT) }

// Divide configuration register (SDM 11.5.4, Figure 11-10): bits 0, 1
// and 3 select the divisor; the rest is reserved.
const DCR_MASK = 0xb

// divisor decodes a divide configuration: 000 divides by 2, 001 by 4,
// ..., 110 by 128, and 111 by 1, reading the field as bit 3:bits 1:0.
func divisor(dcr uint32) uint64 {
	f := dcr&3 | (dcr>>3&1)<<2
	if f == 7 {
		return 1
	}
	return 2 << f
}
