// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !(tamago && amd64)

package vmx

// HardwareHost stands in for the VMX instructions on host builds, where
// Setup is never called: every hook panics. Host tests build their own
// Host.
func HardwareHost(cpuid CPUIDFunc, rdmsr func(uint32) uint64, wrmsr func(uint32, uint64)) *Host {
	panic("vmx: VMX instructions on a host build")
}
