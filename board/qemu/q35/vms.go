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
	holes := []hv.Region{{Base: 0, Size: lowMemory}, p.HypervisorRAM}
	br := bootResult()
	for _, m := range br.Info.Modules {
		holes = append(holes, hv.Region{Base: m.Base, Size: m.Size})
	}
	if mbi := bootInfoRange(); mbi.Size != 0 {
		holes = append(holes, mbi)
	}
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
