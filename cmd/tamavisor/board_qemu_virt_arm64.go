// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64 && board_qemu_virt_arm64

package main

import (
	"fmt"
	"io"

	"github.com/tamavisor/tamavisor/board/qemu/virt"
	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/arm64"
	"github.com/tamavisor/tamavisor/hv/manifest"
	"github.com/tamavisor/tamavisor/hv/shell"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

func platform() *hv.Platform { return virt.Platform() }

// startVMs reserves the RAM the hypervisor does not use for guests,
// prepares EL2 for them, brings the secondary CPUs up as guest
// executors, creates the manifest's VMs and starts a scheduler for each
// CPU (all of them goroutines on the boot CPU).
func startVMs(p *hv.Platform, console io.Writer) *vmm.Manager {
	var free []hv.Region
	for _, r := range p.RAM() {
		for _, f := range r.Subtract(p.HypervisorRAM) {
			if err := arm64.MapHostRAM(f); err != nil {
				fmt.Fprintf(console, "tamavisor: %v\r\n", err)
				continue
			}
			free = append(free, f)
		}
	}
	if err := arm64.InitVirtualization(); err != nil {
		fmt.Fprintf(console, "tamavisor: no VMs: %v\r\n", err)
		return nil
	}
	if err := virt.EnableHypervisorTimer(0); err != nil {
		fmt.Fprintf(console, "tamavisor: no VMs: %v\r\n", err)
		return nil
	}
	cpus, err := arm64.StartSecondaries(p.CPUs, virt.MPIDR, virt.EnableHypervisorTimer)
	if err != nil {
		fmt.Fprintf(console, "tamavisor: smp: %v; running guests on %d of %d CPUs\r\n", err, cpus, p.CPUs)
	}
	pool := vmm.NewRAMPool(free)
	man, _ := image("manifest.json")
	m := vmm.New(vmm.Config{
		Manifest: man,
		Image:    image,
		CPUs:     cpus,
		Pool:     pool,
		Reserved: []manifest.Window{{Name: "vgic", Base: arm64.GuestGICDBase, Size: arm64.GuestGICWindow}},
		Arch: &arm64.Arch{
			CPU:    arm64.HardwareCPU(),
			Mem:    arm64.IdentityMemory(),
			Pool:   pool,
			Host:   virt.GICD,
			Loader: arm64.LoadImages,
		},
		HostReserved: virt.HostReserved(p),
		HostIRQs:     virt.HostIRQs,
		Poll:         arm64.PollHostIRQs,
		Console:      console,
		MemView:      arm64.MemView,
		Now:          arm64.Nanotime,
		CPUStats:     func() []vmm.CPUStat { return arm64.CPUStats(p.CPUs) },
	})
	for _, r := range m.Rejected {
		fmt.Fprintf(console, "tamavisor: rejected: %s\r\n", r)
	}
	m.StartAutostart()
	for cpu := 0; cpu < cpus; cpu++ {
		go m.Schedule(cpu)
	}
	return m
}

// codeMemory is live patching's code access: the arena below the image
// and the text, both read-only and executable, written through their
// alias (W^X).
func codeMemory() hotpatch.CodeMemory { return arm64.NewCodeMemory() }

// bootPayloads are the live patches QEMU gives in fw_cfg
// (opt/tamavisor/hotpatch/NAME).
func bootPayloads() []bootPayload { return fwcfgPayloads(virt.FWCfg) }

// boardCommands: none on this board.
func boardCommands() []shell.Command { return nil }
