// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// Lengths of the instructions whose exits carry no length when the CPU
// does not report one (SVM without NRIPS). A guest that adds redundant
// prefixes to them resumes mid-instruction: that harms only itself.
const (
	lenCPUID     = 2 // 0f a2
	lenRDMSR     = 2 // 0f 32
	lenWRMSR     = 2 // 0f 30
	lenHLT       = 1 // f4
	lenHypercall = 3 // VMMCALL 0f 01 d9, VMCALL 0f 01 c1
)

// handleExit serves one decoded exit, whatever the vendor.
func (v *VCPU) handleExit() exitAction {
	e := &v.exit
	m := v.m
	switch e.Reason {
	case hv.ExitIO:
		return v.portIO()
	case hv.ExitNPF:
		// Nothing is emulated behind nested/extended page faults: the
		// address is outside the VM's RAM and passthrough windows (the
		// other VMs' memory included). The guest gets #GP(0); it keeps
		// running, as does every other VM.
		m.NPFaults++
		v.inject(VEC_GP, 0, true)
		return actResume
	case hv.ExitCPUID:
		m.CPUIDs++
		r := v.be.Regs()
		a, b, c, d := GuestCPUID(m.cpu.HostCPUID, uint32(r.RAX), uint32(r.RCX), v.Index, len(m.VCPUs), m.cpu.TSCHz())
		r.RAX, r.RBX, r.RCX, r.RDX = uint64(a), uint64(b), uint64(c), uint64(d)
		v.skip(lenCPUID)
		return actResume
	case hv.ExitMSR:
		return v.msr()
	case hv.ExitHLT:
		m.Halts++
		v.skip(lenHLT)
		if v.be.Regs().RFLAGS&RFLAGS_IF == 0 {
			// HLT with interrupts off: nothing wakes it until the VM
			// is reset (as on hardware without NMIs).
			v.state = vcpuIdle
			return actStop
		}
		if _, ok := v.APIC.Pending(m.cpu.Nanotime()); ok {
			return actResume
		}
		v.state = vcpuHalted
		return actStop
	case hv.ExitHypercall:
		if v.be.CPL() != 0 {
			// VMMCALL/VMCALL exit at every privilege level; the ABI
			// is the guest kernel's only. User space gets #UD, as
			// without a hypervisor.
			m.VM.Stats.BadHypercalls++
			v.inject(VEC_UD, 0, false)
			return actResume
		}
		r := v.be.Regs()
		regs := [4]uint64{r.RAX, r.RDI, r.RSI, r.RDX}
		res := m.VM.Hypercall(v.Index, &regs)
		r.RAX, r.RDI, r.RSI, r.RDX = regs[0], regs[1], regs[2], regs[3]
		v.skip(lenHypercall)
		if res == vmm.HCYield {
			return actYield
		}
		return actResume
	case hv.ExitException:
		// #DB and #AC are intercepted so a guest cannot wedge the CPU
		// in an endless delivery loop (XSA-156, CVE-2015-5307/8104):
		// reflect them.
		v.inject(e.Vector, e.ErrorCode, e.HasError)
		return actResume
	case hv.ExitInterruptWindow:
		v.be.RequestInterruptWindow(false)
		return actResume
	case hv.ExitInterrupt:
		m.Preemptions++
		if m.cpu.Kicked(v.PCPU) {
			// An application processor's guest exited: let the
			// boot CPU's scheduler handle it now.
			m.Kicks++
			return actYield
		}
		return actResume
	case hv.ExitShutdown:
		m.Triples++
		m.VM.Crash(fmt.Sprintf("vcpu %d: triple fault (shutdown) at rip %#x", v.Index, e.RIP))
		return actStop
	case hv.ExitInvalidState:
		m.VM.Crash(fmt.Sprintf("vcpu %d: the CPU refused the guest state (%s)", v.Index, rawExit(e)))
		return actStop
	case hv.ExitOther:
		// An instruction the guest may not use (SVM, VMX, XSETBV ...).
		v.inject(VEC_UD, 0, false)
		return actResume
	}
	m.VM.Crash(fmt.Sprintf("vcpu %d: unhandled exit (%s) at rip %#x", v.Index, rawExit(e), e.RIP))
	return actStop
}

// rawExit formats the vendor fields of an exit for a crash report.
func rawExit(e *hv.Exit) string {
	switch e.Vendor {
	case hv.VendorSVM:
		return fmt.Sprintf("svm exitcode %#x exitinfo1 %#x exitinfo2 %#x", e.SVM.ExitCode, e.SVM.ExitInfo1, e.SVM.ExitInfo2)
	case hv.VendorVMX:
		return fmt.Sprintf("vmx reason %#x qualification %#x", e.VMX.Reason, e.VMX.Qualification)
	}
	return e.Reason.String()
}

// inject queues an exception and counts it.
func (v *VCPU) inject(vector uint8, code uint32, hasCode bool) {
	v.m.Injected++
	v.m.VM.Stats.Injected++
	v.be.InjectException(vector, code, hasCode)
}

// skip advances RIP past the exiting instruction.
func (v *VCPU) skip(fallback int) {
	n := v.exit.InstrLen
	if n == 0 {
		n = fallback
	}
	v.be.Regs().RIP += uint64(n)
}

// portIO emulates IN and OUT through the VM's port bus. Ports no device
// claims read as all ones and ignore writes (counted), as on a PC with
// nothing decoding them. An access a device refuses, and the string and
// REP forms (not emulated), raise #GP.
func (v *VCPU) portIO() exitAction {
	e := &v.exit
	m := v.m
	m.IOExits++
	if e.IO.String || e.IO.Rep || (e.IO.Size != 1 && e.IO.Size != 2 && e.IO.Size != 4) {
		v.inject(VEC_GP, 0, true)
		return actResume
	}
	r := v.be.Regs()
	val, err := m.VM.Ports.Dispatch(v.Index, e.IO.Port, e.IO.Size, e.IO.Write, e.IO.Value)
	switch {
	case err == hv.ErrNoDevice:
		m.UnclaimedIO++
		val = ^uint32(0)
	case err != nil:
		// A device refused the access (a word access to a byte
		// register, a range end crossed): #GP, RIP and RAX unchanged.
		m.BadIO++
		v.inject(VEC_GP, 0, true)
		return actResume
	}
	if !e.IO.Write {
		switch e.IO.Size {
		case 1:
			r.RAX = r.RAX&^0xff | uint64(val&0xff)
		case 2:
			r.RAX = r.RAX&^0xffff | uint64(val&0xffff)
		case 4:
			// A 32-bit destination zero-extends into RAX (SDM Vol. 1
			// 3.4.1.1).
			r.RAX = uint64(val)
		}
	}
	v.skip(0)
	return actResume
}

// msr emulates RDMSR and WRMSR (every MSR access exits except those the
// backend passes through). Unknown MSRs raise #GP as on hardware.
func (v *VCPU) msr() exitAction {
	e := &v.exit
	r := v.be.Regs()
	now := v.m.cpu.Nanotime()
	if e.Write {
		val := r.RDX<<32 | r.RAX&0xffff_ffff
		if err := v.writeMSR(e.MSR, val, now); err != nil {
			v.m.MSRFaults++
			v.inject(VEC_GP, 0, true)
			return actResume
		}
		v.skip(lenWRMSR)
		return actResume
	}
	val, err := v.readMSR(e.MSR, now)
	if err != nil {
		v.m.MSRFaults++
		v.inject(VEC_GP, 0, true)
		return actResume
	}
	r.RAX = val & 0xffff_ffff
	r.RDX = val >> 32
	v.skip(lenRDMSR)
	return actResume
}

// MSRs emulated by the exit handlers (SDM Vol. 4 Table 2-2).
const (
	MSR_IA32_TSC             = 0x10
	MSR_IA32_APIC_BASE       = 0x1b
	MSR_IA32_FEATURE_CONTROL = 0x3a
	MSR_IA32_BIOS_SIGN_ID    = 0x8b
	MSR_IA32_MTRRCAP         = 0xfe
	MSR_IA32_MISC_ENABLE     = 0x1a0
	MSR_IA32_MTRR_DEF_TYPE   = 0x2ff
	MSR_X2APIC_FIRST         = 0x800
	MSR_X2APIC_LAST          = 0x8ff

	FEATURE_CONTROL_LOCK = 1 << 0
	MISC_ENABLE_FAST_STR = 1 << 0
)

var errMSR = fmt.Errorf("amd64: MSR not emulated")

func (v *VCPU) readMSR(msr uint32, now int64) (uint64, error) {
	switch {
	case msr == MSR_IA32_APIC_BASE || msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST:
		return v.APIC.ReadMSR(msr, now)
	case msr == MSR_IA32_TSC:
		return v.m.cpu.TSC() + v.tscOffset, nil
	case msr == MSR_IA32_FEATURE_CONTROL:
		// Locked with VMX off: the guest sees no nested VMX.
		return FEATURE_CONTROL_LOCK, nil
	case msr == MSR_IA32_MISC_ENABLE:
		return MISC_ENABLE_FAST_STR, nil
	case msr == MSR_IA32_BIOS_SIGN_ID, msr == MSR_IA32_MTRRCAP, msr == MSR_IA32_MTRR_DEF_TYPE:
		// No microcode revision, no MTRRs: the nested tables set the
		// memory types.
		return 0, nil
	}
	if val, ok := v.be.GuestMSR(msr); ok {
		return val, nil
	}
	return 0, errMSR
}

func (v *VCPU) writeMSR(msr uint32, val uint64, now int64) error {
	switch {
	case msr == MSR_IA32_APIC_BASE || msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST:
		return v.APIC.WriteMSR(msr, val, now)
	case msr == MSR_IA32_TSC:
		v.tscOffset = val - v.m.cpu.TSC()
		v.be.SetTSCOffset(v.tscOffset)
		return nil
	case msr == MSR_IA32_MISC_ENABLE, msr == MSR_IA32_BIOS_SIGN_ID:
		// Writes are accepted and have no effect.
		return nil
	case msr == MSR_IA32_MTRR_DEF_TYPE:
		if val != 0 {
			return errMSR
		}
		return nil
	}
	handled, err := v.be.SetGuestMSR(msr, val)
	if err != nil {
		return err
	}
	if !handled {
		return errMSR
	}
	return nil
}
