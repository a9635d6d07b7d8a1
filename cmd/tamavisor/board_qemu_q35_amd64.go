// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64 && board_qemu_q35_amd64

package main

import (
	"fmt"
	"io"

	"github.com/tamavisor/tamavisor/board/qemu/q35"
	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/amd64"
	"github.com/tamavisor/tamavisor/hv/amd64/svm"
	"github.com/tamavisor/tamavisor/hv/amd64/vmx"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

func platform() *hv.Platform { return q35.Platform() }

// startVMs reserves the RAM the hypervisor and the boot loader do not use
// for guests, enables SVM and the preemption timer, starts the
// application processors as guest executors (SVM only), creates the
// manifest's VMs (from the "manifest" boot module when GRUB passed one,
// else from the embedded bundle) and schedules each CPU's vCPUs. SVM is
// used when the CPU has it, else VMX.
func startVMs(p *hv.Platform, console io.Writer) *vmm.Manager {
	pool := vmm.NewRAMPool(q35.GuestRAM(p))
	view := func(pa hv.PA, size uint64) []byte { return amd64.PhysView(uint64(pa), size) }
	// AMD SVM first (QEMU TCG), then Intel VMX (Bochs, Intel machines).
	var ops amd64.VendorOps
	var backend string
	var sops *svm.Ops
	if s, err := svm.Setup(amd64.CPUID, amd64.RDMSR, amd64.WRMSR, pool, amd64.PhysMemory(), view); err == nil {
		ops, sops = s, s
		backend = fmt.Sprintf("SVM with nested paging (%d ASIDs, nrips=%v)", sops.Features.ASIDs, sops.Features.NRIPS)
	} else if vops, verr := vmx.Setup(amd64.CPUID, amd64.RDMSR, amd64.WRMSR, pool, amd64.PhysMemory(), view); verr == nil {
		ops = vops
		backend = "VMX with EPT and unrestricted guest"
	} else {
		fmt.Fprintf(console, "tamavisor: no VMs: %v; %v\r\n", err, verr)
		return nil
	}
	if err := amd64.InitPreemptTimer(); err != nil {
		fmt.Fprintf(console, "tamavisor: no VMs: %v\r\n", err)
		return nil
	}
	fmt.Fprintf(console, "tamavisor: %s, preemption timer %d Hz\r\n", backend, amd64.LAPICTimerHz())
	cpus := startAPs(p, sops, pool, view, console)
	man, img := image("manifest.json")
	lookup := image
	source := "embedded bundle"
	if m, modules, ok := q35.ModuleImages(); ok {
		man, img, lookup = m, true, modules
		source = "boot modules"
	}
	if !img {
		man, source = nil, "none"
	}
	fmt.Fprintf(console, "tamavisor: manifest and images from %s\r\n", source)
	m := vmm.New(vmm.Config{
		Manifest: man,
		Image:    lookup,
		CPUs:     cpus,
		Pool:     pool,
		Arch: &amd64.Arch{
			CPU:    amd64.HardwareCPU(),
			Ops:    ops,
			Mem:    amd64.PhysMemory(),
			View:   view,
			Pool:   pool,
			Loader: amd64.LoadPVH,
		},
		HostReserved: q35.HostReserved(p),
		Console:      console,
		MemView:      view,
		Now:          amd64.Nanotime,
		CPUStats:     func() []vmm.CPUStat { return amd64.CPUStats(p.CPUs) },
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

// startAPs brings the application processors up with INIT-SIPI-SIPI and
// turns SVM on for each; it returns how many CPUs run guests. Under VMX
// the APs stay off: the VMX backend runs every vCPU on the boot CPU.
func startAPs(p *hv.Platform, sops *svm.Ops, pool *vmm.RAMPool, view func(hv.PA, uint64) []byte, console io.Writer) int {
	if p.CPUs <= 1 {
		return 1
	}
	if sops == nil {
		fmt.Fprintf(console, "tamavisor: smp: VMX runs guests on the boot CPU only; %d application processors left off\r\n", p.CPUs-1)
		return 1
	}
	page, err := q35.APTrampoline(p)
	cpus := 1
	if err == nil {
		cpus, err = amd64.StartAPs(p.CPUs, q35.APICID, page)
	}
	for cpu := 1; cpu < cpus; cpu++ {
		if e := sops.EnableCPU(cpu, pool, view, amd64.WRMSROn); e != nil {
			cpus, err = cpu, e
			break
		}
	}
	if err != nil {
		fmt.Fprintf(console, "tamavisor: smp: %v\r\n", err)
	}
	fmt.Fprintf(console, "tamavisor: smp: %d of %d CPUs run guests\r\n", cpus, p.CPUs)
	return cpus
}

// codeMemory is live patching's code access: a heap arena in the runtime
// window, written through the physmap alias.
func codeMemory() hotpatch.CodeMemory { return amd64.NewCodeMemory(amd64.Boot().Reloc) }

// bootPayloads are the live patches given at boot: QEMU fw_cfg files
// opt/tamavisor/hotpatch/NAME, then the loader's modules hotpatch/NAME
// (GRUB module2).
func bootPayloads() []bootPayload {
	mods, view := q35.BootModules()
	return append(fwcfgPayloads(q35.FWCfg), modulePayloads(mods, view)...)
}
