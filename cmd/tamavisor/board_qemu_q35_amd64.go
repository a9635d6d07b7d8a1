// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64 && board_qemu_q35_amd64

package main

import (
	"fmt"
	"io"

	"github.com/tamavisor/tamavisor/board/qemu/q35"
	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/amd64"
	"github.com/tamavisor/tamavisor/hv/amd64/svm"
	"github.com/tamavisor/tamavisor/hv/amd64/vmx"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

func platform() *hv.Platform { return q35.Platform() }

// startVMs reserves the RAM the hypervisor and the boot loader do not use
// for guests, enables SVM and the preemption timer, creates the
// manifest's VMs (from the "manifest" boot module when GRUB passed one,
// else from the embedded bundle) and schedules them on the boot CPU. SVM
// is used when the CPU has it, else VMX.
func startVMs(p *hv.Platform, console io.Writer) *vmm.Manager {
	pool := vmm.NewRAMPool(q35.GuestRAM(p))
	view := func(pa hv.PA, size uint64) []byte { return amd64.PhysView(uint64(pa), size) }
	// AMD SVM first (QEMU TCG), then Intel VMX (Bochs, Intel machines).
	var ops amd64.VendorOps
	var backend string
	if sops, err := svm.Setup(amd64.CPUID, amd64.RDMSR, amd64.WRMSR, pool, amd64.PhysMemory(), view); err == nil {
		ops = sops
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
	man, img := image("manifest.json")
	lookup := image
	if m, modules, ok := q35.ModuleImages(); ok {
		man, img, lookup = m, true, modules
	}
	if !img {
		man = nil
	}
	m := vmm.New(vmm.Config{
		Manifest: man,
		Image:    lookup,
		// The application processors are not started yet: every vCPU
		// runs on the boot CPU.
		CPUs: 1,
		Pool: pool,
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
	})
	for _, r := range m.Rejected {
		fmt.Fprintf(console, "tamavisor: rejected: %s\r\n", r)
	}
	m.StartAutostart()
	go m.Schedule(0)
	return m
}
