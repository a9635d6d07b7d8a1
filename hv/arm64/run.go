// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"github.com/tamavisor/tamavisor/hv/arm64/vgic"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// exitAction tells the run loop what to do after an exit.
type exitAction int

const (
	actResume exitAction = iota // back into the guest
	actYield                    // end this vCPU's slice
	actStop                     // the vCPU is no longer runnable
	actKick                     // end the slice: another CPU's exit waits
)

// interruptSlice bounds how long a vCPU runs while the virtual GIC holds
// more pending interrupts than list registers, so the rest are delivered
// soon without maintenance interrupts.
const interruptSliceNs = 1_000_000

// Run implements vmm.Machine: run every runnable vCPU of this VM pinned
// to pcpu until until (ns) or until it blocks.
func (m *Machine) Run(pcpu int, until int64) (ran bool, wake int64) {
	m.serviceHostIRQs()
	for _, v := range m.VCPUs {
		if v.PCPU != pcpu {
			continue
		}
		if v.state == vcpuBlocked && v.wakeable(m.cpu.Counter()) {
			v.state = vcpuRunnable
		}
		if v.state == vcpuRunnable {
			ran = true
			if v.run(until) {
				// Kicked: another CPU's exit waits for the
				// scheduler; give the CPU back now.
				return ran, wake
			}
		}
		if v.state == vcpuBlocked {
			if w := v.timerWakeNs(); w != 0 && (wake == 0 || w < wake) {
				wake = w
			}
		}
	}
	return ran, wake
}

// timerFiring reports the level of the vCPU's virtual timer output
// (D11.2.4 "Timer conditions": ENABLE set, IMASK clear, and
// CNTVCT >= CNTV_CVAL as unsigned 64-bit values, with
// CNTVCT = CNTPCT - CNTVOFF).
func (v *VCPU) timerFiring(now uint64) bool {
	c := &v.Ctx
	return c.CNTV_CTL&1 != 0 && c.CNTV_CTL&2 == 0 && now-c.CNTVOFF >= c.CNTV_CVAL
}

// timerDeadline returns the physical count at which the virtual timer
// fires, or false when it is off, masked or already firing.
func (v *VCPU) timerDeadline(now uint64) (uint64, bool) {
	c := &v.Ctx
	if c.CNTV_CTL&1 == 0 || c.CNTV_CTL&2 != 0 || v.timerFiring(now) {
		return 0, false
	}
	d := c.CNTV_CVAL + c.CNTVOFF
	if d < c.CNTV_CVAL {
		return 0, false // beyond the end of the physical count: never
	}
	return d, true
}

func (v *VCPU) wakeable(now uint64) bool {
	return v.timerFiring(now) || v.m.GIC.HasPending(v.Index)
}

// timerWakeNs converts the virtual timer deadline to scheduler time.
func (v *VCPU) timerWakeNs() int64 {
	cpu := v.m.cpu
	now := cpu.Counter()
	d, ok := v.timerDeadline(now)
	if !ok {
		return 0
	}
	return cpu.Nanotime() + countsToNs(d-now, cpu.CounterHz())
}

func countsToNs(counts, hz uint64) int64 {
	if hz == 0 {
		return 0
	}
	if counts > 1<<40 {
		counts = 1 << 40
	}
	return int64(counts * 1000 / (hz / 1_000_000))
}

func nsToCounts(ns int64, hz uint64) uint64 {
	if ns <= 0 {
		return 0
	}
	return uint64(ns) * (hz / 1_000_000) / 1000
}

// run enters the vCPU repeatedly until its slice ends. It reports
// whether the slice ended early because of SGI_KICK.
func (v *VCPU) run(until int64) (kicked bool) {
	m := v.m
	cpu := m.cpu
	var lrs [NumLR]vgic.LR
	for {
		m.serviceHostIRQs()
		now := cpu.Counter()
		m.GIC.SetPPILevel(v.Index, INTID_CNTV, v.timerFiring(now))
		for i := range lrs {
			lrs[i] = vgic.LR(v.Ctx.LR[i])
		}
		more := m.GIC.Flush(v.Index, lrs[:])
		for i := range lrs {
			v.Ctx.LR[i] = uint64(lrs[i])
		}

		left := until - cpu.Nanotime()
		if left <= 0 {
			return
		}
		if more && left > interruptSliceNs {
			left = interruptSliceNs
		}
		deadline := now + nsToCounts(left, cpu.CounterHz())
		if d, ok := v.timerDeadline(now); ok && d < deadline {
			deadline = d
		}
		v.Ctx.HPDeadline = deadline

		cpu.Enter(v.PCPU, &v.Ctx)

		v.Exits++
		m.VM.Stats.Exits++
		for i := range lrs {
			lrs[i] = vgic.LR(v.Ctx.LR[i])
		}
		m.GIC.Sync(v.Index, lrs[:])

		switch v.handleExit() {
		case actYield, actStop:
			return false
		case actKick:
			return true
		}
		if v.state != vcpuRunnable {
			return
		}
	}
}

// handleExit dispatches one exit on the vector and exception class.
// Everything it reads from the Context is guest-controlled.
func (v *VCPU) handleExit() exitAction {
	c := &v.Ctx
	switch c.Vector {
	case VecLowerIRQ, VecLowerIRQ + 4:
		v.m.IRQExits++
		return v.physicalIRQ()
	case VecLowerFIQ, VecLowerFIQ + 4:
		return actResume
	case VecLowerSError, VecLowerSError + 4:
		v.m.VM.Crash("SError (asynchronous abort) from the guest")
		return actStop
	case VecLowerSync:
	default:
		// AArch32 EL0 (vector 12): tamavisor guests are AArch64; an
		// AArch32 process gets an undefined instruction.
		v.injected()
		c.InjectUndef()
		return actResume
	}

	esr := ESR(c.ESR)
	switch esr.EC() {
	case EC_WFX:
		c.PC += 4
		if esr.ISS()&1 == 0 { // TI: WFI (not WFE)
			v.m.WFIs++
			if !v.wakeable(v.m.cpu.Counter()) {
				v.state = vcpuBlocked
				return actStop
			}
			return actResume
		}
		return actYield
	case EC_HVC64:
		if esr.ISS()&0xffff != 0 {
			c.X[0] = vmm.SMCCC_NOT_SUPPORTED
			return actResume
		}
		return v.call(false)
	case EC_SMC64:
		c.PC += 4
		if esr.ISS()&0xffff != 0 {
			c.X[0] = vmm.SMCCC_NOT_SUPPORTED
			return actResume
		}
		return v.call(true)
	case EC_SYSREG:
		v.m.SysRegExits++
		v.sysreg(esr)
		return actResume
	case EC_DABT_LOWER:
		v.dataAbort(esr)
		return actResume
	case EC_IABT_LOWER:
		v.injected()
		c.InjectInstructionAbort()
		return actResume
	default:
		v.injected()
		c.InjectUndef()
		return actResume
	}
}

// injected counts a fault reflected into the guest.
func (v *VCPU) injected() {
	v.m.Injected++
	v.m.VM.Stats.Injected++
}

// physicalIRQ handles the physical interrupt that made the guest exit;
// guest_exit already acknowledged and completed it (Context.IRQ). The
// hypervisor timer (CNTHP) is disabled by the exit path, so it usually
// withdrew itself and the acknowledge read spurious. A kick (SGI_KICK)
// means another CPU's vCPU exited and waits for this CPU's scheduler:
// end the slice.
func (v *VCPU) physicalIRQ() exitAction {
	if v.Ctx.IRQ == SGI_KICK {
		return actKick
	}
	hostIRQ(v.Ctx.IRQ)
	return actResume
}

// call handles HVC and SMC: PSCI and SMCCC architecture calls on both
// conduits, tamavisor hypercalls on HVC, and other SMCs through the
// pluggable SMCHandler (the OP-TEE mediator) or NOT_SUPPORTED.
func (v *VCPU) call(smc bool) exitAction {
	c := &v.Ctx
	fid := c.X[0]
	if isPSCI(fid) || isSMCCCArch(fid) {
		return v.psci()
	}
	if !smc {
		regs := [4]uint64{c.X[0], c.X[1], c.X[2], c.X[3]}
		r := v.m.VM.Hypercall(v.Index, &regs)
		c.X[0], c.X[1], c.X[2], c.X[3] = regs[0], regs[1], regs[2], regs[3]
		if r == vmm.HCYield {
			return actYield
		}
		return actResume
	}
	if h := v.m.SMC; h != nil {
		var regs [18]uint64
		copy(regs[:], c.X[:18])
		if h.HandleSMC(v.m.VM, v.Index, &regs) {
			copy(c.X[:18], regs[:])
			return actResume
		}
	}
	c.X[0] = vmm.SMCCC_NOT_SUPPORTED
	return actResume
}

// dataAbort emulates an access to an unbacked guest-physical address
// through the VM's MMIO bus, or reflects it to the guest as a
// synchronous external abort.
func (v *VCPU) dataAbort(esr ESR) {
	c := &v.Ctx
	m := v.m
	da, err := DecodeDataAbort(esr)
	if err != nil || !da.Valid || da.S1PTW || da.CM || !da.IsTranslationFault() {
		v.injected()
		c.InjectDataAbort(c.FAR, da.Write)
		return
	}
	m.MMIOExits++
	m.VM.Stats.MMIO++
	ipa := FaultIPA(c.HPFAR, c.FAR)
	if da.Write {
		_, err = m.VM.Bus.Dispatch(v.Index, ipa, da.Size, true, da.StoreValue(c.Reg(da.Reg)))
	} else {
		var val uint64
		val, err = m.VM.Bus.Dispatch(v.Index, ipa, da.Size, false, 0)
		if err == nil {
			c.SetReg(da.Reg, da.LoadValue(val))
		}
	}
	if err != nil {
		v.injected()
		c.InjectDataAbort(c.FAR, da.Write)
		return
	}
	c.PC += 4
}

// sysreg emulates a trapped MSR/MRS: the feature ID registers (from the
// sanitized table), SGI generation, the EL1 physical
// timer (not offered to guests: RAZ/WI), debug and PMU registers
// (RAZ/WI); anything else is UNDEFINED for the guest.
func (v *VCPU) sysreg(esr ESR) {
	c := &v.Ctx
	acc, err := DecodeSysReg(esr)
	if err != nil {
		v.injected()
		c.InjectUndef()
		return
	}
	key := acc.Encoding()
	if val, ok := v.m.cpu.IDRegs().Lookup(acc); ok && acc.Read {
		c.SetReg(acc.Rt, val)
		c.PC += 4
		return
	}
	switch {
	case key == SYSREG_ICC_SGI1R_EL1 || key == SYSREG_ICC_ASGI1R_EL1:
		if !acc.Read {
			v.m.GIC.SGI(v.Index, c.Reg(acc.Rt))
		} else {
			c.SetReg(acc.Rt, 0)
		}
	case key == SYSREG_ICC_SGI0R_EL1,
		key == SYSREG_CNTP_CTL_EL0, key == SYSREG_CNTP_CVAL_EL0, key == SYSREG_CNTP_TVAL_EL0,
		acc.Op0 == 2, // debug registers (MDCR_EL2.TDA/TDOSA/TDRA)
		isPMU(acc):
		if acc.Read {
			c.SetReg(acc.Rt, 0)
		}
	default:
		v.injected()
		c.InjectUndef()
		return
	}
	c.PC += 4
}

// isPMU matches the performance monitor registers trapped by
// MDCR_EL2.TPM/TPMCR: op0=3 with CRn=9 (PMCR_EL0 ... PMINTEN*_EL1) or
// op1=3, CRn=14, CRm=8..15 (PMEVCNTR/PMEVTYPER).
func isPMU(a SysRegAccess) bool {
	return a.Op0 == 3 && (a.CRn == 9 && (a.CRm >= 12 || a.Op1 == 0) ||
		a.Op1 == 3 && a.CRn == 14 && a.CRm >= 8)
}
