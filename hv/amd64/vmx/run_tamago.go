// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package vmx

import "github.com/tamavisor/tamavisor/hv"

// defined in switch_amd64.s
func vmx_vmxon(region uint64) uint64
func vmx_vmclear(vmcs uint64) uint64
func vmx_vmread(vmcs, field uint64) (val, status uint64)
func vmx_vmwrite(vmcs, field, val uint64) uint64
func vmx_invept(typ, eptp uint64) uint64
func vmx_invvpid(typ, vpid uint64) uint64
func vmx_run(vmcs, launched uint64, gprs *GPRs, fpu uintptr) (status uint64)
func vmx_exit_addr() uint64
func read_cr0() uint64
func read_cr3() uint64
func read_cr4() uint64
func write_cr0(v uint64)
func write_cr4(v uint64)
func host_selectors() (cs, ss, ds, es, fs, gs, tr uint16)
func host_gdtr() (base uint64, limit uint16)
func host_idtr() (base uint64, limit uint16)
func load_gdt_tr(base uint64, limit, tr uint16)

// Not callable from Go: vmx_enter takes its arguments in registers and
// vmx_exit_entry is where VM exits land (HOST_RIP). Declared so the
// assembler checks their frames.
//
// defined in switch_amd64.s
func vmx_enter()
func vmx_exit_entry()

// currentVMCS is the physical address of the processor's current VMCS,
// 0 for none. Only switch_amd64.s reads and writes it, with interrupts
// irrelevant (no interrupt handler uses VMX instructions) and without
// calling Go, so no goroutine switch can come between the check and the
// VMREAD, VMWRITE or VM entry that relies on it.
var currentVMCS uint64

// hwVMCS is the VMCS at pa, accessed with VMREAD and VMWRITE.
type hwVMCS struct{ pa uint64 }

// Read implements VMCS.
func (h hwVMCS) Read(f Field) uint64 {
	v, st := vmx_vmread(h.pa, uint64(f))
	if st != 0 {
		vmcsFailed(f, Status(st))
	}
	return v
}

// Write implements VMCS.
func (h hwVMCS) Write(f Field, v uint64) {
	if st := vmx_vmwrite(h.pa, uint64(f), v); st != 0 {
		vmcsFailed(f, Status(st))
	}
}

// HardwareHost returns the boot processor: cpuid, rdmsr and wrmsr as
// given (hv/amd64's), everything else this package's instructions.
func HardwareHost(cpuid CPUIDFunc, rdmsr func(uint32) uint64, wrmsr func(uint32, uint64)) *Host {
	return &Host{
		CPUID: cpuid, RDMSR: rdmsr, WRMSR: wrmsr,
		ReadCR0: read_cr0, ReadCR3: read_cr3, ReadCR4: read_cr4,
		WriteCR0: write_cr0, WriteCR4: write_cr4,
		Segments: func() HostSegments {
			var s HostSegments
			s.CS, s.SS, s.DS, s.ES, s.FS, s.GS, s.TR = host_selectors()
			s.GDTRBase, s.GDTRLimit = host_gdtr()
			s.IDTRBase, s.IDTRLimit = host_idtr()
			return s
		},
		LoadGDT: load_gdt_tr,
		Linear:  linearView,
		VMXON:   func(pa hv.PA) Status { return Status(vmx_vmxon(uint64(pa))) },
		VMCLEAR: func(pa hv.PA) Status { return Status(vmx_vmclear(uint64(pa))) },
		VMCS:    func(pa hv.PA) VMCS { return hwVMCS{uint64(pa)} },
		INVEPT:  func(typ, eptp uint64) Status { return Status(vmx_invept(typ, eptp)) },
		INVVPID: func(typ uint64, vpid uint16) Status { return Status(vmx_invvpid(typ, uint64(vpid))) },
		Run: func(vmcs hv.PA, launched bool, gprs *GPRs, fpu uintptr) RunStatus {
			var l uint64
			if launched {
				l = 1
			}
			return RunStatus(vmx_run(uint64(vmcs), l, gprs, fpu))
		},
		ExitRIP: vmx_exit_addr(),
	}
}
