// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Limits on the manifest itself, enforced by Parse. They bound the work a
// malformed or hostile manifest can cause inside the hypervisor.
const (
	MaxSize       = 64 << 10 // bytes of JSON
	MaxVMs        = 16
	MaxVCPUs      = 8 // per VM
	MaxDevices    = 16
	MaxDeviceIRQs = 16 // per device
	MaxPortRanges = 16 // I/O port ranges per device
	MaxNameLen    = 32
	MaxPathLen    = 255
	MaxCmdlineLen = 2048 // arm64 Linux COMMAND_LINE_SIZE
	MaxCPU        = 1023 // highest physical CPU index Parse accepts
	MinMemory     = 1 << 20
	// AddrBits is the widest guest-physical and host-physical address
	// tamavisor maps: a window must end at or below 1<<AddrBits (48-bit
	// stage-2 and NPT/EPT with four levels of 4 KiB tables).
	AddrBits = 48
)

// ConsoleSize is the size of the virtual console window: one PL011
// register block (ARM DDI 0183G, 3.1 "Summary of registers": 4 KiB).
const ConsoleSize = 0x1000

// Shared peripheral interrupts: the INTIDs a manifest may route to a VM.
// ARM IHI 0069H, 2.2.1 "INTIDs", Table 2-1: SPIs are INTIDs 32-1019.
const (
	SPIFirst = 32
	SPILast  = 1019
)

// x86 I/O ports (amd64 VMs).
//
// Intel SDM Vol. 1, 19.3 "I/O Address Space": 64 Ki 8-bit ports,
// 0x0000-0xffff. A port range must end at or below PortSpace.
const PortSpace = 0x10000

// ConsolePorts is the number of I/O ports of a port console: one 16550
// register block, eight registers selected by A0-A2 (National
// Semiconductor PC16550D datasheet, Table II "Register Summary"). Its
// base must be a multiple of ConsolePorts.
const ConsolePorts = 8

// ISA interrupts: the IRQ lines of a port console, as on the two cascaded
// 8259A PICs of a PC (IRQ 0-15). The hypervisor injects ISA IRQ n into
// the VM as vector ISAVectorBase+n (vectors 0-31 are exceptions, Intel
// SDM Vol. 3A, 6.2 "Exception and Interrupt Vectors").
const (
	ISAIRQFirst   = 0
	ISAIRQLast    = 15
	ISAVectorBase = 0x20
)

// Manifest is a parsed partition manifest. Build one with Parse; Validate
// checks it against the machine.
type Manifest struct {
	VMs []*VM
}

// VM is one partition.
type VM struct {
	// Name is 1..MaxNameLen characters of [A-Za-z0-9_-].
	Name string
	// ID is the VM's number, 1..255, unique in the manifest.
	ID uint8
	// VCPUs lists the vCPUs in order (vCPU 0 first).
	VCPUs []VCPU
	// Memory is the guest RAM window.
	Memory Memory
	// Kernel names the kernel image; Initrd an optional initial RAM disk.
	// How a name is resolved is up to Limits.ImageSize: cmd/hvmanifest
	// reads files relative to the manifest, the hypervisor reads its
	// embedded bundle.
	Kernel string
	Initrd string
	// Cmdline is the kernel command line (printable ASCII).
	Cmdline string
	// Console is the virtual PL011, or nil for a VM without one.
	Console *Console
	// Devices are passthrough MMIO devices.
	Devices []Device
	// Autostart says whether the hypervisor starts the VM at boot.
	Autostart bool
}

// VCPU is one virtual CPU.
type VCPU struct {
	// CPU is the index of the physical CPU the vCPU is pinned to.
	CPU int
}

// Memory is the guest RAM window [Base, Base+Size) in the VM's IPA space.
type Memory struct {
	Base hv.IPA
	Size uint64
}

// End returns the first address after the window.
func (m Memory) End() hv.IPA { return m.Base + hv.IPA(m.Size) }

// Console is the VM's virtual UART: either a PL011 in guest-physical
// memory at [Base, Base+ConsoleSize) ("console": {"base": ...}), or a
// 16550 at the I/O ports [Port, Port+ConsolePorts) ("console":
// {"port": ...}, amd64 VMs). HasPort says which; the other address is 0.
type Console struct {
	Base hv.IPA
	// Port is the first I/O port of a 16550 console, a multiple of
	// ConsolePorts; valid only when HasPort is set.
	Port    uint16
	HasPort bool
	// IRQ is the interrupt the virtual UART raises in the VM's virtual
	// interrupt controller: an SPI INTID (SPIFirst..SPILast) for a PL011,
	// an ISA IRQ (ISAIRQFirst..ISAIRQLast, injected as vector
	// ISAVectorBase+IRQ) for a port console.
	IRQ uint32
}

// IsPort reports whether the console is a 16550 at I/O ports rather than
// a PL011 in guest-physical memory.
func (c *Console) IsPort() bool { return c.HasPort }

// Ports returns the I/O ports of a port console; ok is false for a PL011.
func (c *Console) Ports() (r PortRange, ok bool) {
	if !c.HasPort {
		return PortRange{}, false
	}
	return PortRange{Base: c.Port, Size: ConsolePorts}, true
}

// PortRange is the x86 I/O ports [Base, Base+Size). Size counts ports;
// it is at least 1, and Base+Size is at most PortSpace (so Size is wider
// than Base: one range may cover all 64 Ki ports).
type PortRange struct {
	Base uint16
	Size uint32
}

// End returns the first port after the range (up to PortSpace).
func (r PortRange) End() uint32 { return uint32(r.Base) + r.Size }

func (r PortRange) String() string { return fmt.Sprintf("[%#x,%#x)", r.Base, r.End()) }

// Device is a passthrough device. It has a memory window, I/O port
// ranges, or both:
//   - the host-physical window [PA, PA+Size) appears at [Base, Base+Size)
//     in the VM (Size is 0 for a device without one, see HasWindow);
//   - each of Ports is passed through at the same port numbers (amd64);
//   - the physical interrupts IRQs are routed to the VM.
type Device struct {
	Name string
	Base hv.IPA
	Size uint64
	// PA defaults to Base (identity passthrough).
	PA   hv.PA
	IRQs []uint32
	// Ports are I/O port ranges, at most MaxPortRanges.
	Ports []PortRange
}

// HasWindow reports whether the device has a memory window. Parse gives
// every window a size of at least one page, so a zero Size means none.
func (d Device) HasWindow() bool { return d.Size != 0 }

// VM returns the VM called name, or nil.
func (m *Manifest) VM(name string) *VM {
	for _, vm := range m.VMs {
		if vm.Name == name {
			return vm
		}
	}
	return nil
}

// window is a half-open range [base, base+size) in one address space,
// with the label error messages use for it.
type window struct {
	what string
	base uint64
	size uint64
}

func (w window) end() uint64 { return w.base + w.size }

func (w window) overlaps(o window) bool {
	return w.base < o.end() && o.base < w.end()
}

func (w window) String() string {
	return fmt.Sprintf("[%#x,%#x)", w.base, w.end())
}

// UsesCPU reports whether any of the VM's vCPUs is pinned to physical
// CPU pcpu.
func (v *VM) UsesCPU(pcpu int) bool {
	for _, c := range v.VCPUs {
		if c.CPU == pcpu {
			return true
		}
	}
	return false
}
