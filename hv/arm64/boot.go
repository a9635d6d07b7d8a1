// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"debug/elf"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/arm64/guestfdt"
	"github.com/tamavisor/tamavisor/hv/loader"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// LoadImages puts a VM's kernel (and initrd) into its RAM and returns the
// boot vCPU's entry point and x0.
//
//   - An arm64 Linux Image is booted per the Linux arm64 boot protocol:
//     x0 is the guest-physical address of a device tree the hypervisor
//     generates for the VM (memory, vCPUs, PSCI over SMC, GICv3, timer,
//     PL011 console, chosen: bootargs and initrd), placed after the
//     kernel with the initrd.
//   - An ELF image (the bare-metal test guest) is loaded by its program
//     headers and entered with x0 = 0.
func LoadImages(vm *vmm.VM, m *Machine) (entry, x0 uint64, err error) {
	ram := vm.RAM
	l, err := loader.Load(vm.Kernel, ram.IPA, ram.Mem, elf.EM_AARCH64)
	if err != nil {
		return 0, 0, fmt.Errorf("kernel %q: %w", vm.Spec.Kernel, err)
	}
	if l.Kind != loader.LinuxARM64 {
		return uint64(l.Entry), 0, nil
	}
	cfg := guestfdt.VirtConfig(len(m.VCPUs), guestfdt.Range{Base: ram.IPA, Size: ram.Size})
	cfg.GICSPIs = GuestSPIs
	cfg.Bootargs = vm.Spec.Cmdline
	if c := vm.Spec.Console; c != nil {
		cfg.UART = &guestfdt.UART{Base: c.Base, SPI: c.IRQ - 32}
	} else {
		cfg.UART = nil
	}
	for _, d := range vm.Spec.Devices {
		dev := guestfdt.Device{Name: d.Name, Base: d.Base, Size: d.Size, Compatible: []string{"tamavisor,passthrough"}}
		for _, irq := range d.IRQs {
			dev.SPIs = append(dev.SPIs, irq-32)
		}
		cfg.Devices = append(cfg.Devices, dev)
	}
	// Two passes: the initrd range goes into the tree, and the tree's
	// size decides where the initrd goes.
	probe, err := guestfdt.Generate(withInitrd(cfg, ram.IPA, uint64(len(vm.Initrd))))
	if err != nil {
		return 0, 0, fmt.Errorf("device tree: %w", err)
	}
	lay, err := loader.PlaceBlobs(ram.IPA, ram.Size, l.End, uint64(len(probe)), uint64(len(vm.Initrd)))
	if err != nil {
		return 0, 0, err
	}
	if len(vm.Initrd) > 0 {
		cfg.Initrd = guestfdt.Range{Base: lay.Initrd, Size: uint64(len(vm.Initrd))}
		if err := loader.CopyIn(ram.Mem, ram.IPA, lay.Initrd, vm.Initrd); err != nil {
			return 0, 0, fmt.Errorf("initrd: %w", err)
		}
	}
	dtb, err := guestfdt.Generate(cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("device tree: %w", err)
	}
	if uint64(len(dtb)) > loader.MaxDTBSize {
		return 0, 0, fmt.Errorf("device tree of %d bytes too large", len(dtb))
	}
	if err := loader.CopyIn(ram.Mem, ram.IPA, lay.DTB, dtb); err != nil {
		return 0, 0, fmt.Errorf("device tree: %w", err)
	}
	return uint64(l.Entry), uint64(lay.DTB), nil
}

func withInitrd(cfg guestfdt.Config, base hv.IPA, size uint64) guestfdt.Config {
	if size > 0 {
		cfg.Initrd = guestfdt.Range{Base: base, Size: size}
	}
	return cfg
}
