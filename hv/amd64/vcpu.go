// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import "github.com/tamavisor/tamavisor/hv"

// Regs are a guest's general-purpose registers, RIP and RFLAGS, as the
// exit handlers see them. A Backend loads them before every entry and
// stores them after every exit, wherever its hardware keeps them (the
// VMCB holds RAX, RSP, RIP and RFLAGS on SVM; the VMCS holds RSP, RIP
// and RFLAGS on VMX).
type Regs struct {
	RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// RFLAGS bits (Intel SDM Vol. 1 3.4.3).
const (
	RFLAGS_IF       = 1 << 9
	RFLAGS_RESERVED = 1 << 1 // always 1
)

// Exception vectors the handlers inject (SDM Vol. 3A Table 6-1).
const (
	VEC_DB = 1
	VEC_UD = 6
	VEC_GP = 13
	VEC_AC = 17
)

// Backend is one vCPU of one vendor (SVM or VMX): it owns the VMCB or
// VMCS and runs the guest. The exit handlers in this package are
// vendor-neutral and drive either backend through this interface.
type Backend interface {
	// Vendor says which extension runs the vCPU.
	Vendor() hv.Vendor
	// ResetPVH puts the vCPU in the PVH boot state: 32-bit protected
	// mode with paging off, flat 4 GiB code and data segments, RIP =
	// entry, RBX = the start-info address, other registers 0, RFLAGS = 2,
	// no pending event.
	ResetPVH(entry, startInfo uint64)
	// Enter runs the guest until its next exit and decodes the exit into
	// e. Before it returns, an event the CPU did not finish delivering
	// (EXITINTINFO, IDT-vectoring information) is queued again.
	Enter(e *hv.Exit)
	// Regs are the guest registers, valid between exits.
	Regs() *Regs
	// InjectException queues an exception for the next entry.
	InjectException(vector uint8, errorCode uint32, hasError bool)
	// Interruptible reports whether the guest can take an external
	// interrupt now: RFLAGS.IF set, no interrupt shadow, no event queued.
	Interruptible() bool
	// InjectInterrupt queues an external interrupt for the next entry;
	// only call it when Interruptible.
	InjectInterrupt(vector uint8)
	// RequestInterruptWindow makes the guest exit as soon as it can take
	// an interrupt (ExitInterruptWindow); false cancels the request.
	RequestInterruptWindow(on bool)
	// GuestMSR reads an MSR the CPU keeps for the guest (EFER, PAT,
	// segment bases ...); ok is false for one it does not keep.
	GuestMSR(msr uint32) (val uint64, ok bool)
	// SetGuestMSR writes one; handled is false for an MSR it does not
	// keep, err non-nil for a value the guest may not write (#GP).
	SetGuestMSR(msr uint32, val uint64) (handled bool, err error)
	// SetTSCOffset sets the value added to the TSC while the guest runs.
	SetTSCOffset(off uint64)
	// CPL is the guest's current privilege level (0 = kernel).
	CPL() uint8
}

// Guest is the vendor part of one VM: its second-level address
// translation (NPT or EPT) and port and MSR permissions, shared by its
// vCPUs.
type Guest interface {
	// Map gives the VM [gpa, gpa+size) backed by host [pa, pa+size).
	Map(gpa hv.IPA, pa hv.PA, size uint64, attr MapAttr) error
	// AllowPorts lets the VM access ports [base, base+n) directly
	// (passthrough); every other port access exits.
	AllowPorts(base uint16, n int)
	// NewVCPU creates vCPU index of the VM, pinned to physical CPU
	// pcpu.
	NewVCPU(index, pcpu int) (Backend, error)
	// Close releases what NewGuest took beyond its page allocator (the
	// ASID or VPID).
	Close()
}

// MapAttr are the permissions of a guest-physical mapping.
type MapAttr struct {
	Write, Exec bool
	// Uncached maps device memory (passthrough MMIO).
	Uncached bool
}

// VendorOps creates Guests; SVM and VMX each provide one.
type VendorOps interface {
	Name() hv.Vendor
	// NewGuest builds the VM's tables with pages from alloc; view gives
	// the hypervisor's access to a physical range alloc handed out.
	NewGuest(alloc hv.PageAllocator, mem hv.PhysMemory, view func(pa hv.PA, size uint64) []byte) (Guest, error)
}

// CPU is the physical CPU environment a Machine runs on: hardware on the
// target, a fake in host tests.
type CPU interface {
	// Nanotime is monotonic time in ns, on the scheduler's clock.
	Nanotime() int64
	// TSC reads the host time-stamp counter; TSCHz is its frequency.
	TSC() uint64
	TSCHz() uint64
	// Preempt arms the timer of physical CPU pcpu that forces its guest
	// out at deadline (ns on the Nanotime clock); 0 disarms it.
	Preempt(pcpu int, deadline int64)
	// Kicked reports, and clears, that a guest on another physical CPU
	// exited and waits for its exit to be handled by pcpu's goroutines
	// (the boot CPU's): the current slice on pcpu should end.
	Kicked(pcpu int) bool
	// HostCPUID executes CPUID on the host.
	HostCPUID(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
}
