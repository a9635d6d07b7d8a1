// vmm: the architecture-neutral VM manager of tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmm

import "fmt"

// The tamavisor hypercall ABI, the same on every architecture (HVC #0 on
// arm64, VMMCALL/VMCALL on amd64). It follows the SMC Calling Convention
// (ARM DEN0028) register usage: function ID in x0/rax, arguments in
// x1-x3 (rdi, rsi, rdx), results in x0-x3. Function IDs sit in the SMCCC
// "Vendor Specific Hypervisor Service" range (owner 6, fast call, SMC64).
// An unknown function returns SMCCC_NOT_SUPPORTED (-1); nothing a guest
// passes here can stop the hypervisor or another VM.
const (
	// HC_VERSION returns the ABI version, major<<16 | minor.
	HC_VERSION = 0xC600_0000
	// HC_CONSOLE_WRITE writes x2 bytes (at most HCConsoleMax) from
	// guest-physical address x1 to the VM's console log. Returns the
	// number of bytes written, or HC_EINVAL if the buffer is not inside
	// the VM's RAM.
	HC_CONSOLE_WRITE = 0xC600_0001
	// HC_YIELD gives up the rest of the vCPU's time slice. Returns 0.
	HC_YIELD = 0xC600_0002
	// HC_VCPU_ID returns the calling vCPU's index in x0 and the VM id in
	// x1.
	HC_VCPU_ID = 0xC600_0003

	// HCVersion is the ABI version HC_VERSION reports (1.0).
	HCVersion = 1 << 16
	// HCConsoleMax bounds one HC_CONSOLE_WRITE.
	HCConsoleMax = 256

	// SMCCC return codes (DEN0028 "Return codes").
	SMCCC_SUCCESS       = 0
	SMCCC_NOT_SUPPORTED = ^uint64(0)     // -1
	HC_EINVAL           = ^uint64(0) - 1 // -2, as PSCI INVALID_PARAMETERS
)

// HypercallResult says what the caller must do after a hypercall.
type HypercallResult int

const (
	// HCContinue: results are in the registers, resume the vCPU.
	HCContinue HypercallResult = iota
	// HCYield: resume later, let others run.
	HCYield
)

// Hypercall executes one call of the ABI for vCPU vcpu of vm. regs holds
// x0-x3 on entry and the results on return. It is architecture-neutral:
// both the arm64 HVC exit and the amd64 VMMCALL/VMCALL exits land here.
func (vm *VM) Hypercall(vcpu int, regs *[4]uint64) HypercallResult {
	vm.Stats.Hypercalls++
	switch regs[0] {
	case HC_VERSION:
		regs[0] = HCVersion
	case HC_CONSOLE_WRITE:
		regs[0] = vm.hcConsoleWrite(regs[1], regs[2])
	case HC_YIELD:
		regs[0] = SMCCC_SUCCESS
		return HCYield
	case HC_VCPU_ID:
		regs[0] = uint64(vcpu)
		regs[1] = uint64(vm.ID)
	default:
		if fn := extraHypercalls[regs[0]]; fn != nil {
			fn(vm, vcpu, regs)
			break
		}
		vm.Stats.BadHypercalls++
		regs[0] = SMCCC_NOT_SUPPORTED
	}
	return HCContinue
}

// extraHypercalls are function IDs added by RegisterHypercall.
var extraHypercalls = map[uint64]func(vm *VM, vcpu int, regs *[4]uint64){}

// HC_FIXTURE_FIRST and HC_FIXTURE_LAST bound the function IDs that
// RegisterHypercall accepts: the top of the vendor range, kept for test
// fixtures (the hotpatch test image's buggy function).
const (
	HC_FIXTURE_FIRST = 0xC600_FF00
	HC_FIXTURE_LAST  = 0xC600_FFFF
)

// RegisterHypercall adds function fid, in [HC_FIXTURE_FIRST,
// HC_FIXTURE_LAST], to the ABI. It must be called before any VM runs
// (from an init function or main): the table is not locked. fn gets the
// registers as Hypercall does and must treat them as untrusted.
func RegisterHypercall(fid uint64, fn func(vm *VM, vcpu int, regs *[4]uint64)) error {
	switch {
	case fid < HC_FIXTURE_FIRST || fid > HC_FIXTURE_LAST:
		return fmt.Errorf("vmm: hypercall %#x outside the fixture range [%#x, %#x]", fid, HC_FIXTURE_FIRST, HC_FIXTURE_LAST)
	case fn == nil || extraHypercalls[fid] != nil:
		return fmt.Errorf("vmm: hypercall %#x: nil or registered twice", fid)
	}
	extraHypercalls[fid] = fn
	return nil
}

func (vm *VM) hcConsoleWrite(ipa, n uint64) uint64 {
	if n > HCConsoleMax {
		vm.Stats.BadHypercalls++
		return HC_EINVAL
	}
	buf, ok := vm.RAM.Slice(ipa, n)
	if !ok {
		vm.Stats.BadHypercalls++
		return HC_EINVAL
	}
	vm.Output.Write(buf)
	return n
}
