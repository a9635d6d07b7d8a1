// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

import (
	"github.com/tamavisor/tamavisor/hv/loader"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// hardwareCPU is the CPU of a running hypervisor.
type hardwareCPU struct{}

// HardwareCPU returns the physical CPU for Arch.CPU.
func HardwareCPU() CPU { return hardwareCPU{} }

func (hardwareCPU) Nanotime() int64                  { return Nanotime() }
func (hardwareCPU) TSC() uint64                      { return rdtsc() }
func (hardwareCPU) TSCHz() uint64                    { return TSC.Hz() }
func (hardwareCPU) Preempt(pcpu int, deadline int64) { preemptOn(pcpu, deadline) }
func (hardwareCPU) Kicked(pcpu int) bool             { return kicked(pcpu) }
func (hardwareCPU) HostCPUID(leaf, sub uint32) (a, b, c, d uint32) {
	return cpuid(leaf, sub)
}

// RDMSR reads a host MSR.
func RDMSR(msr uint32) uint64 { return rdmsr(msr) }

// WRMSR writes a host MSR.
func WRMSR(msr uint32, val uint64) { wrmsr(msr, val) }

// LoadPVH is Arch.Loader for x86 guests: the kernel (an x86-64 ELF with
// a PVH entry note), its initrd and an hvm_start_info in the VM's RAM.
func LoadPVH(vm *vmm.VM) (entry, startInfo uint64, err error) {
	l, err := loader.LoadPVH(vm.Kernel, vm.RAM.IPA, vm.RAM.Mem, vm.Spec.Cmdline, vm.Initrd)
	if err != nil {
		return 0, 0, err
	}
	return uint64(l.Entry), uint64(l.StartInfo), nil
}
