// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import (
	"io"
	"sort"
	"time"
)

// RegionKind says what lives in a Region of the physical address map.
type RegionKind string

const (
	// RAM is ordinary memory.
	RAM RegionKind = "ram"
	// MMIO is a device register window.
	MMIO RegionKind = "mmio"
	// IOPort is an x86 I/O-port range (Base and Size count ports).
	IOPort RegionKind = "ioport"
)

// Region is one named range of the machine's physical address map.
type Region struct {
	Name string     `json:"name"`
	Kind RegionKind `json:"kind"`
	Base PA         `json:"base"`
	Size uint64     `json:"size"`
}

// End returns the first address after the region.
func (r Region) End() PA { return r.Base + PA(r.Size) }

// Platform is what a board tells the core about the machine it runs on.
// A board fills it in once at start-up (platform as data,
// CONVENTIONS.md §9); the core and the shell only read it.
type Platform struct {
	// Board is the board name, e.g. "qemu-virt-arm64".
	Board string
	// Arch is the Go architecture, "arm64" or "amd64".
	Arch string
	// Mode is the exception level or CPU mode the hypervisor runs in,
	// e.g. "EL2" or "long mode CPL0".
	Mode string
	// CPUs is the number of physical CPUs found.
	CPUs int
	// MemoryMap lists RAM and device windows, in address order.
	MemoryMap []Region
	// HypervisorRAM is the part of RAM the hypervisor image, heap and
	// stacks occupy (runtime.MemRegion on the target).
	HypervisorRAM Region
	// Features reports CPU capabilities relevant to virtualisation,
	// e.g. "svm", "npt", "vmx", "el2", "gicv3".
	Features map[string]bool
	// Details holds further facts shown by `info` (e.g. "entered_el",
	// "tsc_hz").
	Details map[string]string

	// Console is the operator's serial line.
	Console io.ReadWriter
	// Uptime returns the time since the hypervisor started.
	Uptime func() time.Duration
	// Poweroff turns the machine off. It returns only on failure.
	Poweroff func() error
	// Boot describes the boot path; nil when the board does not say.
	Boot *BootInfo
}

// RAM returns the RAM regions of the memory map.
func (p *Platform) RAM() []Region {
	var r []Region
	for _, m := range p.MemoryMap {
		if m.Kind == RAM {
			r = append(r, m)
		}
	}
	return r
}

// BootInfo says how the hypervisor was started and where it runs
// (`info` shows it). Addresses are physical except LinkBase.
type BootInfo struct {
	// Protocol is "pvh", "multiboot2", "multiboot2-efi" (GRUB's EFI
	// amd64 entry with boot services running), "uefi" (a PE32+
	// application started by firmware) or "kernel" (QEMU -kernel on
	// arm64).
	Protocol string
	// Loader is the boot loader's name, when it gave one.
	Loader string
	// Cmdline is the hypervisor's command line.
	Cmdline string
	// LinkBase is the address the image is linked at, LoadBase where it
	// runs; the hypervisor maps one onto the other.
	LinkBase uint64
	LoadBase uint64
	// Modules are the boot modules, in the loader's order.
	Modules []BootModule
	// ExitBootServices says who ended UEFI boot services: "loader",
	// "tamavisor" or "" (no UEFI).
	ExitBootServices string
	// ACPIRoot is the physical address of the ACPI XSDT (or RSDT for
	// ACPI 1.0) from a checksummed RSDP, 0 if none was found;
	// ACPISource says where the RSDP came from.
	ACPIRoot   uint64
	ACPISource string
	// Errors lists problems found while reading the boot information;
	// the boot went on without the part concerned.
	Errors []string
}

// Offset returns LoadBase - LinkBase.
func (b *BootInfo) Offset() int64 { return int64(b.LoadBase - b.LinkBase) }

// BootModule is one module handed over by the boot loader.
type BootModule struct {
	// Name is the first word of the module's command line.
	Name    string
	Cmdline string
	Base    PA
	Size    uint64
}

// End returns the first address after the module.
func (m BootModule) End() PA { return m.Base + PA(m.Size) }

// Subtract returns the parts of r that no hole covers, in address order.
func (r Region) Subtract(holes ...Region) []Region {
	out := []Region{r}
	for _, h := range holes {
		if h.Size == 0 {
			continue
		}
		var next []Region
		for _, x := range out {
			if h.End() <= x.Base || h.Base >= x.End() {
				next = append(next, x)
				continue
			}
			if h.Base > x.Base {
				next = append(next, Region{Name: x.Name, Kind: x.Kind, Base: x.Base, Size: uint64(h.Base - x.Base)})
			}
			if h.End() < x.End() {
				next = append(next, Region{Name: x.Name, Kind: x.Kind, Base: h.End(), Size: uint64(x.End() - h.End())})
			}
		}
		out = next
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Base < out[j].Base })
	return out
}
