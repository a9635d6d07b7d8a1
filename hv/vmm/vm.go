// vmm: the architecture-neutral VM manager of tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package vmm owns tamavisor's partitions: it creates VMs from the
// manifest, reserves their RAM, loads their images through the
// architecture backend, schedules their vCPUs on the physical CPUs they
// are pinned to, serves the hypercall ABI and keeps each VM's console
// output. It is architecture-neutral: everything CPU-specific sits behind
// the Arch and Machine interfaces that hv/arm64 (and later hv/amd64)
// implement. It runs on the target and in host tests with a fake
// Machine.
package vmm

import (
	"fmt"
	"io"
	"sync"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/manifest"
	"github.com/tamavisor/tamavisor/hv/vdev/pl011"
)

// Ring is a VM's console log.
type Ring = pl011.Ring

// State is a VM's life-cycle state.
type State string

const (
	Stopped State = "stopped" // created, not started, or stopped by the operator
	Running State = "running"
	Off     State = "off"     // the guest powered itself off (PSCI SYSTEM_OFF)
	Crashed State = "crashed" // stopped by the hypervisor; Reason says why
)

// GuestRAM is a VM's RAM: a guest-physical window backed by host memory
// reserved at boot.
type GuestRAM struct {
	IPA  hv.IPA
	PA   hv.PA
	Size uint64
	// Mem is the hypervisor's view of the backing memory.
	Mem []byte
}

// Contains reports whether [ipa, ipa+n) lies inside the RAM window.
func (r *GuestRAM) Contains(ipa, n uint64) bool {
	base := uint64(r.IPA)
	return ipa >= base && n <= r.Size && ipa-base <= r.Size-n
}

// Slice returns the bytes of guest RAM at [ipa, ipa+n), or false when the
// range is not entirely inside the VM's RAM. Guest-supplied addresses go
// through here and nowhere else.
func (r *GuestRAM) Slice(ipa, n uint64) ([]byte, bool) {
	if !r.Contains(ipa, n) || uint64(len(r.Mem)) != r.Size {
		return nil, false
	}
	off := ipa - uint64(r.IPA)
	return r.Mem[off : off+n : off+n], true
}

// ToPA translates a guest-physical address inside RAM to host physical.
func (r *GuestRAM) ToPA(ipa hv.IPA) (hv.PA, bool) {
	if !r.Contains(uint64(ipa), 1) {
		return 0, false
	}
	return r.PA + hv.PA(ipa-r.IPA), true
}

// Stats are a VM's counters, reported by `vm list --json`.
type Stats struct {
	Exits         uint64 `json:"exits"`
	Hypercalls    uint64 `json:"hypercalls"`
	BadHypercalls uint64 `json:"bad_hypercalls"`
	MMIO          uint64 `json:"mmio"`
	Injected      uint64 `json:"injected_faults"`
	Starts        uint64 `json:"starts"`
}

// Machine is the architecture part of one VM: translation tables,
// interrupt controller and vCPUs.
type Machine interface {
	// Boot clears the VM's RAM, loads its images and resets the vCPUs
	// so that only the boot vCPU is runnable.
	Boot() error
	// Run runs this VM's runnable vCPUs pinned to physical CPU pcpu until
	// the monotonic time until (ns), or until none is runnable. It
	// returns whether any vCPU ran and the earliest time a blocked vCPU
	// wants to run again (0 when none waits on time).
	Run(pcpu int, until int64) (ran bool, wake int64)
	// Stop makes every vCPU not runnable.
	Stop()
	// VCPUInfo describes the vCPUs for `vm list`.
	VCPUInfo() []VCPUInfo
	// IRQ returns the virtual interrupt line for a device SPI.
	IRQ(intid int) (hv.IRQLine, error)
}

// VCPUInfo is one vCPU in `vm list`.
type VCPUInfo struct {
	Index int    `json:"index"`
	PCPU  int    `json:"pcpu"`
	State string `json:"state"`
	Exits uint64 `json:"exits"`
}

// Arch builds Machines.
type Arch interface {
	NewMachine(vm *VM) (Machine, error)
}

// VM is one partition.
type VM struct {
	// mu guards everything below that changes after creation (see
	// Manager).
	mu sync.Mutex

	ID     int
	Name   string
	Spec   *manifest.VM
	Kernel []byte
	Initrd []byte

	RAM GuestRAM
	Bus hv.MMIOBus
	// Ports are the VM's emulated I/O ports (x86 VMs).
	Ports hv.PortBus

	// Console is the VM's virtual UART; Output is where the guest's
	// console bytes go (the log ring, and the physical console while
	// attached).
	Console ConsoleDevice
	Output  io.Writer
	Log     *Ring

	// pendingIn holds operator input the UART's FIFO could not take yet.
	pendingIn []byte

	State   State
	Reason  string
	Stats   Stats
	Machine Machine

	mgr *Manager
}

// ConsoleDevice is the guest side of a VM console (a virtual PL011 on
// the MMIO bus or a virtual 16550 on the port bus): the manager feeds it
// operator input while attached and resets it when the VM boots.
type ConsoleDevice interface {
	Input(b []byte) int
	Reset()
}

// PowerOff is called by the architecture backend when the guest asks to
// power off (PSCI SYSTEM_OFF). Only this VM stops.
func (vm *VM) PowerOff() {
	vm.Machine.Stop()
	vm.State = Off
	fmt.Fprintf(vm.Output, "\r\n[tamavisor: vm %s powered off]\r\n", vm.Name)
}

// RequestReset is called by the backend on PSCI SYSTEM_RESET: the VM is
// rebooted from its images. Only this VM restarts.
func (vm *VM) RequestReset() {
	if err := vm.boot(); err != nil {
		vm.Crash("reset: " + err.Error())
	}
}

// Crash stops the VM with a reason, e.g. an exception the hypervisor
// cannot reflect. Other VMs keep running.
func (vm *VM) Crash(reason string) {
	vm.Machine.Stop()
	vm.State = Crashed
	vm.Reason = reason
	fmt.Fprintf(vm.Output, "\r\n[tamavisor: vm %s stopped: %s]\r\n", vm.Name, reason)
	if vm.mgr != nil && vm.mgr.Console != nil {
		fmt.Fprintf(vm.mgr.Console, "tamavisor: vm %s stopped: %s\r\n", vm.Name, reason)
	}
}

func (vm *VM) boot() error {
	clear(vm.RAM.Mem)
	if vm.Console != nil {
		vm.Console.Reset()
	}
	if err := vm.Machine.Boot(); err != nil {
		return err
	}
	vm.State = Running
	vm.Reason = ""
	vm.Stats.Starts++
	return nil
}

// output fans guest console bytes out to the log and the attached
// operator console.
type output struct {
	vm *VM
}

func (o output) Write(p []byte) (int, error) {
	o.vm.Log.Write(p)
	if m := o.vm.mgr; m != nil && m.attached.Load() == o.vm && m.Console != nil {
		m.Console.Write(p)
	}
	return len(p), nil
}
