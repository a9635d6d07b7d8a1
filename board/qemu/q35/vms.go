// board/qemu/q35: the qemu-q35-amd64 board.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package q35

import (
	"encoding/binary"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/amd64"
	"github.com/tamavisor/tamavisor/image/boot"
)

// lowMemory is kept from guests: real-mode IVT, BIOS data, EBDA, option
// ROMs and the PVH start info QEMU writes there.
const lowMemory = 1 << 20

// HostReserved lists what no VM may be given: the hypervisor's console
// port, interrupt controllers, HPET and its own RAM.
func HostReserved(p *hv.Platform) []hv.Region {
	return []hv.Region{
		{Name: "com1", Kind: hv.IOPort, Base: COM1, Size: 8},
		{Name: "pit", Kind: hv.IOPort, Base: PIT_BASE, Size: 4},
		{Name: "ioapic", Kind: hv.MMIO, Base: IOAPIC, Size: 0x1000},
		{Name: "hpet", Kind: hv.MMIO, Base: HPET_BASE, Size: 0x400},
		{Name: "lapic", Kind: hv.MMIO, Base: LAPIC_BASE, Size: 0x1000},
		p.HypervisorRAM,
	}
}

// GuestRAM returns the RAM the hypervisor can give to VMs: RAM below
// 4 GiB (the hypervisor reaches it through its physmap alias) without
// the first MiB, the hypervisor's window, the boot modules and the
// Multiboot2 information.
func GuestRAM(p *hv.Platform) []hv.Region {
	holes := append([]hv.Region{{Base: 0, Size: lowMemory}}, bootHoles(p)...)
	var out []hv.Region
	for _, r := range p.RAM() {
		if r.Base >= amd64.PhysMapSize {
			continue
		}
		if r.End() > amd64.PhysMapSize {
			r.Size = uint64(amd64.PhysMapSize - r.Base)
		}
		out = append(out, r.Subtract(holes...)...)
	}
	return out
}

// bootHoles is the memory the hypervisor and what it still reads from
// its loader occupy: its window, the boot modules and the Multiboot2
// information.
func bootHoles(p *hv.Platform) []hv.Region {
	holes := []hv.Region{p.HypervisorRAM}
	for _, m := range bootResult().Info.Modules {
		holes = append(holes, hv.Region{Base: m.Base, Size: m.Size})
	}
	if mbi := bootInfoRange(); mbi.Size != 0 {
		holes = append(holes, mbi)
	}
	return holes
}

// APTrampoline picks the page below 1 MiB the application processors
// start in: usable RAM (e820 or the UEFI map) outside the boot holes.
// Guests never get memory below 1 MiB.
func APTrampoline(p *hv.Platform) (uint64, error) {
	var ram, reserved []amd64.Range
	for _, r := range p.RAM() {
		ram = append(ram, amd64.Range{Base: uint64(r.Base), Size: r.Size})
	}
	for _, h := range bootHoles(p) {
		reserved = append(reserved, amd64.Range{Base: uint64(h.Base), Size: h.Size})
	}
	return amd64.ChooseTrampolinePage(ram, reserved)
}

// APICID is CPU cpu's local APIC ID: QEMU numbers them 0..n-1 for
// -smp n with its default topology (one thread per core, one core per
// socket), which is what the q35 board runs with.
func APICID(cpu int) uint32 { return uint32(cpu) }

// bootInfoRange is the Multiboot2 information structure (its first word
// is its size), or nothing for other protocols.
func bootInfoRange() hv.Region {
	p := amd64.Boot()
	if p.Magic != boot.MB2_BOOTLOADER_MAGIC || p.Info == 0 {
		return hv.Region{}
	}
	b, err := amd64.PhysRead(p.Reloc, uint64(p.Info), 4)
	if err != nil {
		return hv.Region{}
	}
	n := binary.LittleEndian.Uint32(b)
	return hv.Region{Name: "mbi", Base: hv.PA(p.Info), Size: uint64(n)}
}

// ModuleImages returns the manifest boot module and a lookup of the
// other modules by name, or ok=false when the loader passed no manifest.
// The module bytes are viewed in place: GuestRAM keeps their memory out
// of the guest RAM pool.
func ModuleImages() (man []byte, image func(string) ([]byte, bool), ok bool) {
	br := bootResult()
	m, found := br.Module("manifest")
	if !found {
		return nil, nil, false
	}
	view := func(mod hv.BootModule) []byte { return amd64.PhysView(uint64(mod.Base), mod.Size) }
	image = func(name string) ([]byte, bool) {
		mod, ok := br.Module(name)
		if !ok {
			return nil, false
		}
		b := view(mod)
		return b, b != nil
	}
	return view(m), image, true
}

// BootModules returns the loader's boot modules and a view of a
// module's bytes in place (nil when it cannot be reached).
func BootModules() ([]hv.BootModule, func(hv.BootModule) []byte) {
	br := bootResult()
	view := func(m hv.BootModule) []byte { return amd64.PhysView(uint64(m.Base), m.Size) }
	return br.Info.Modules, view
}
