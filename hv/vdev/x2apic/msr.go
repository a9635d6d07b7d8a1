// hv/vdev/x2apic: an emulated local APIC in x2APIC mode for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

package x2apic

import "fmt"

// ldr derives the x2APIC logical destination from the ID (SDM
// 11.12.10.2): cluster ID (ID[19:4]) in bits 31:16, and bit ID[3:0] of
// the low half set.
func ldr(id uint32) uint32 {
	return (id>>4)<<16 | 1<<(id&0xf)
}

// ReadMSR emulates RDMSR of msr at time now (nanoseconds). It fails, and
// the hypervisor injects #GP, for an MSR the APIC does not own or that is
// reserved, for any x2APIC MSR outside x2APIC mode, and for the
// write-only EOI and SELF IPI registers (SDM 11.12.1.2, Table 11-6).
func (a *APIC) ReadMSR(msr uint32, now int64) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, err := a.read(msr, now)
	if err != nil {
		a.stats.GPs++
		return 0, fmt.Errorf("%w: rdmsr %#x", err, msr)
	}
	return v, nil
}

func (a *APIC) read(msr uint32, now int64) (uint64, error) {
	if msr == IA32_APIC_BASE {
		return a.base, nil
	}
	if err := a.checkX2APIC(msr); err != nil {
		return 0, err
	}
	a.tick(now)
	if i := lvtIndex(msr); i >= 0 {
		return uint64(a.lvt[i]), nil
	}
	switch {
	case msr >= IA32_X2APIC_ISR0 && msr < IA32_X2APIC_ISR0+8:
		return uint64(a.isr[msr-IA32_X2APIC_ISR0]), nil
	case msr >= IA32_X2APIC_TMR0 && msr < IA32_X2APIC_TMR0+8:
		return 0, nil // every interrupt here is edge-triggered
	case msr >= IA32_X2APIC_IRR0 && msr < IA32_X2APIC_IRR0+8:
		return uint64(a.irr[msr-IA32_X2APIC_IRR0]), nil
	}
	switch msr {
	case IA32_X2APIC_APICID:
		return uint64(a.id), nil
	case IA32_X2APIC_VERSION:
		return Version, nil
	case IA32_X2APIC_TPR:
		return uint64(a.tpr), nil
	case IA32_X2APIC_PPR:
		return uint64(a.ppr()), nil
	case IA32_X2APIC_LDR:
		return uint64(ldr(a.id)), nil
	case IA32_X2APIC_SIVR:
		return uint64(a.svr), nil
	case IA32_X2APIC_ESR:
		return uint64(a.esr), nil
	case IA32_X2APIC_ICR:
		return a.icr, nil
	case IA32_X2APIC_INIT_COUNT:
		return uint64(a.initial), nil
	case IA32_X2APIC_CUR_COUNT:
		return uint64(a.currentCount(now)), nil
	case IA32_X2APIC_DIV_CONF:
		return uint64(a.dcr), nil
	case IA32_X2APIC_EOI, IA32_X2APIC_SELF_IPI:
		return 0, ErrWriteOnly
	}
	return 0, ErrReservedMSR
}

// checkX2APIC refuses an MSR outside the x2APIC range, or any x2APIC MSR
// while the APIC is not in x2APIC mode.
func (a *APIC) checkX2APIC(msr uint32) error {
	if msr < X2APIC_MSR_FIRST || msr > X2APIC_MSR_LAST {
		return ErrReservedMSR
	}
	if baseMode(a.base) != modeX2APIC {
		return ErrNotX2APIC
	}
	return nil
}

// WriteMSR emulates WRMSR of val to msr at time now (nanoseconds). It
// fails, and the hypervisor injects #GP, for an MSR the APIC does not
// own or that is reserved, for any x2APIC MSR outside x2APIC mode, for
// read-only registers, for reserved bits set (SDM 11.12.1.3), for a
// non-zero write to EOI or ESR, and for an invalid IA32_APIC_BASE
// transition (SDM 11.12.5). A failed write changes no register; like
// every access, it still fires a timer that expired by now.
func (a *APIC) WriteMSR(msr uint32, val uint64, now int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.write(msr, val, now); err != nil {
		a.stats.GPs++
		return fmt.Errorf("%w: wrmsr %#x value %#x", err, msr, val)
	}
	return nil
}

func (a *APIC) write(msr uint32, val uint64, now int64) error {
	if msr == IA32_APIC_BASE {
		return a.writeBase(val)
	}
	if err := a.checkX2APIC(msr); err != nil {
		return err
	}
	a.tick(now)
	if i := lvtIndex(msr); i >= 0 {
		return a.writeLVT(i, val)
	}
	switch msr {
	case IA32_X2APIC_APICID, IA32_X2APIC_VERSION, IA32_X2APIC_PPR, IA32_X2APIC_LDR,
		IA32_X2APIC_CUR_COUNT:
		return ErrReadOnly
	case IA32_X2APIC_TPR, IA32_X2APIC_EOI, IA32_X2APIC_SIVR, IA32_X2APIC_ESR,
		IA32_X2APIC_ICR, IA32_X2APIC_INIT_COUNT, IA32_X2APIC_DIV_CONF, IA32_X2APIC_SELF_IPI:
	default:
		if msr >= IA32_X2APIC_ISR0 && msr < IA32_X2APIC_IRR0+8 {
			return ErrReadOnly // ISR, TMR, IRR
		}
		return ErrReservedMSR
	}
	// Every register but ICR is 32 bits wide: bits 63:32 are reserved.
	if msr != IA32_X2APIC_ICR && val>>32 != 0 {
		return ErrReservedBits
	}
	v := uint32(val)
	switch msr {
	case IA32_X2APIC_TPR:
		if v&^TPR_MASK != 0 {
			return ErrReservedBits
		}
		a.tpr = v
	case IA32_X2APIC_EOI:
		if v != 0 {
			return ErrReservedBits
		}
		a.eoi()
	case IA32_X2APIC_SIVR:
		if v&^svrWritable != 0 {
			return ErrReservedBits
		}
		a.svr = v
		if v&(1<<SVR_APIC_ENABLE) == 0 {
			// Software disable masks every LVT entry (SDM 11.4.7.2).
			for i := range a.lvt {
				a.lvt[i] |= 1 << LVT_MASKED
			}
		}
	case IA32_X2APIC_ESR:
		if v != 0 {
			return ErrReservedBits
		}
		// The write latches the errors seen since the last one
		// (SDM 11.5.3).
		a.esr, a.errAcc = a.errAcc, 0
	case IA32_X2APIC_ICR:
		if val&^icrWritable != 0 {
			return ErrReservedBits
		}
		a.icr = val
		a.sendIPI(ICR(val))
	case IA32_X2APIC_INIT_COUNT:
		if a.timerMode() == TIMER_TSC_DEADLINE {
			return nil // ignored in TSC-deadline mode (SDM 11.5.4.1)
		}
		a.initial = v
		a.arm(now)
	case IA32_X2APIC_DIV_CONF:
		if v&^DCR_MASK != 0 {
			return ErrReservedBits
		}
		a.setDivide(now, v)
	case IA32_X2APIC_SELF_IPI:
		if v&^0xff != 0 {
			return ErrReservedBits
		}
		a.selfIPI(uint8(v))
	}
	return nil
}

// writeBase emulates a write of IA32_APIC_BASE. Only the SDM 11.12.5
// transitions are accepted: disabled <-> xAPIC, xAPIC -> x2APIC and
// x2APIC -> disabled (Figure 11-27); EN=0 with EXTD=1 is invalid. BSP is
// read-only and the base address cannot move. Disabling the APIC resets
// its registers.
func (a *APIC) writeBase(val uint64) error {
	const writable = 1<<APIC_BASE_BSP | 1<<APIC_BASE_EXTD | 1<<APIC_BASE_EN | APIC_BASE_ADDR_MASK
	if val&^writable != 0 || val&APIC_BASE_ADDR_MASK != DefaultBase {
		return ErrReservedBits
	}
	from, to := baseMode(a.base), baseMode(val)
	switch {
	case from == to:
	case to == modeInvalid,
		from == modeX2APIC && to == modeXAPIC,
		from == modeDisabled && to == modeX2APIC:
		return ErrTransition
	case to == modeDisabled:
		a.resetRegs()
	}
	a.base = a.base&(1<<APIC_BASE_BSP) | DefaultBase | val&(1<<APIC_BASE_EN|1<<APIC_BASE_EXTD)
	return nil
}

// writeLVT stores an LVT entry. While the APIC is software-disabled the
// mask bit stays set (SDM 11.4.7.2). An unmasked fixed-mode entry with a
// vector below 16 logs "Receive Illegal Vector" at once, as the SDM
// allows (11.5.3); masked ones are left alone, since masked vector 0 is
// the reset value every guest writes back. Switching the timer into or
// out of TSC-deadline mode stops it (SDM 11.5.4.1).
func (a *APIC) writeLVT(i int, val uint64) error {
	if val&^uint64(lvtWritable[i]|lvtIgnored[i]) != 0 {
		return ErrReservedBits
	}
	l := LVT(val) & lvtWritable[i]
	if i == lvtTimer && l.TimerMode() == timerModeReserved {
		return ErrReservedBits
	}
	if a.svr&(1<<SVR_APIC_ENABLE) == 0 {
		l |= 1 << LVT_MASKED
	}
	if i == lvtTimer && (l.TimerMode() == TIMER_TSC_DEADLINE) != (a.timerMode() == TIMER_TSC_DEADLINE) {
		a.armed = false
	}
	a.lvt[i] = l
	if !l.Masked() && l.DeliveryMode() == DM_FIXED && l.Vector() < FirstValidVector {
		a.signalError(1 << ESR_RECV_ILLEGAL_VECTOR)
	}
	return nil
}

// eoi retires the highest in-service vector (SDM 11.8.5).
func (a *APIC) eoi() {
	v := highest(&a.isr)
	if v < 0 {
		a.stats.SpuriousEOIs++
		return
	}
	clearVec(&a.isr, uint8(v))
	a.stats.EOIs++
}

// sendIPI emulates an ICR write (SDM 11.6.1). Only fixed-mode IPIs to
// this APIC are delivered; an illegal vector in a fixed IPI is logged as
// "Send Illegal Vector" (and "Receive" when it was for this APIC).
func (a *APIC) sendIPI(c ICR) {
	self := c.Shorthand() == SH_SELF ||
		c.Shorthand() == SH_NONE && !c.Logical() && c.Dest() == a.id
	if c.DeliveryMode() != DM_FIXED || !self {
		if c.DeliveryMode() == DM_FIXED && c.Vector() < FirstValidVector {
			a.signalError(1 << ESR_SEND_ILLEGAL_VECTOR)
		}
		a.stats.Dropped++
		return
	}
	a.selfIPI(c.Vector())
}

// selfIPI delivers vector to this APIC (SELF IPI register, SDM
// 11.12.11, or a fixed IPI to self).
func (a *APIC) selfIPI(v uint8) {
	if a.deliverLocal(v, 1<<ESR_SEND_ILLEGAL_VECTOR|1<<ESR_RECV_ILLEGAL_VECTOR) {
		a.stats.SelfIPIs++
	}
}
