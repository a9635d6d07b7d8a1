// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"errors"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/vdev/x2apic"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// tablePool is the host memory reserved per VM for its nested page
// tables, VMCBs or VMCSs and permission maps.
const tablePool = 2 << 20

// APICTimerHz is the rate the virtual local APIC timer counts at before
// its divider (1 GHz: one count per ns). Guests read it from CPUID leaf
// 0x40000010 EBX (in kHz).
const APICTimerHz = 1_000_000_000

// vcpuState is a vCPU's run state.
type vcpuState int

const (
	vcpuOff      vcpuState = iota
	vcpuRunnable           // runs when its physical CPU schedules the VM
	vcpuHalted             // in HLT with interrupts enabled: waits for one
	vcpuIdle               // in HLT with interrupts disabled: until reset
)

func (s vcpuState) String() string {
	switch s {
	case vcpuOff:
		return "off"
	case vcpuRunnable:
		return "running"
	case vcpuHalted:
		return "hlt"
	case vcpuIdle:
		return "idle"
	}
	return "?"
}

// VCPU is one virtual CPU of a Machine.
type VCPU struct {
	Index int
	PCPU  int
	APIC  *x2apic.APIC
	be    Backend
	m     *Machine
	state vcpuState
	exit  hv.Exit
	// tscOffset makes the guest's TSC start near 0 at boot.
	tscOffset uint64
	Exits     uint64
	// ByReason counts exits per hv.ExitReason.
	ByReason [hv.NumExitReasons]uint64
}

// Machine is the amd64 part of one VM: the vendor Guest (NPT or EPT
// tables, permission maps), a local APIC per vCPU and the vCPUs. It
// implements vmm.Machine. The exit handlers (exits.go) serve SVM and VMX
// alike.
type Machine struct {
	VM    *vmm.VM
	VCPUs []*VCPU
	guest Guest
	cpu   CPU
	boot  func() (entry, startInfo uint64, err error)

	// Counters (vm list --json "arch").
	IOExits, UnclaimedIO, BadIO, NPFaults, MSRFaults, Injected, Triples uint64
	CPUIDs, Halts, Preemptions, Kicks, InterruptsDelivered              uint64
}

// Arch builds amd64 Machines; it implements vmm.Arch.
type Arch struct {
	CPU CPU
	Ops VendorOps
	// Mem and View reach the host memory the table pool hands out.
	Mem  hv.PhysMemory
	View func(pa hv.PA, size uint64) []byte
	// Pool provides each VM's table memory.
	Pool *vmm.RAMPool
	// Loader loads the VM's images into its RAM and returns the PVH
	// entry point and start-info address.
	Loader func(vm *vmm.VM) (entry, startInfo uint64, err error)
}

// ErrNoBackend is returned when the CPU has neither usable SVM nor VMX.
var ErrNoBackend = errors.New("amd64: no virtualisation backend")

// NewMachine creates the amd64 half of vm: tables mapping its RAM and
// passthrough windows (every other guest-physical access exits), the
// passthrough ports, and its vCPUs.
func (a *Arch) NewMachine(vm *vmm.VM) (_ vmm.Machine, err error) {
	if a.Ops == nil {
		return nil, ErrNoBackend
	}
	spec := vm.Spec
	tablesPA, err := a.Pool.Alloc(tablePool)
	if err != nil {
		return nil, fmt.Errorf("%s tables: %w", a.Ops.Name(), err)
	}
	defer func() {
		if err != nil {
			a.Pool.Release(tablesPA, tablePool)
		}
	}()
	alloc := &hv.BumpAllocator{Next: tablesPA, Limit: tablesPA + tablePool, Mem: a.Mem}
	g, err := a.Ops.NewGuest(alloc, a.Mem, a.View)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Ops.Name(), err)
	}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if err := g.Map(vm.RAM.IPA, vm.RAM.PA, vm.RAM.Size, MapAttr{Write: true, Exec: true}); err != nil {
		return nil, fmt.Errorf("map RAM: %w", err)
	}
	for _, d := range spec.Devices {
		if d.Size != 0 {
			if err := g.Map(d.Base, d.PA, d.Size, MapAttr{Write: true, Uncached: true}); err != nil {
				return nil, fmt.Errorf("map device %s: %w", d.Name, err)
			}
		}
		for _, p := range d.Ports {
			g.AllowPorts(p.Base, int(p.Size))
		}
		if len(d.IRQs) > 0 {
			return nil, fmt.Errorf("device %s: passthrough interrupts are not supported on amd64 yet", d.Name)
		}
	}
	m := &Machine{VM: vm, guest: g, cpu: a.CPU}
	for i, v := range spec.VCPUs {
		be, err := g.NewVCPU(i, int(v.CPU))
		if err != nil {
			return nil, fmt.Errorf("vcpu %d: %w", i, err)
		}
		m.VCPUs = append(m.VCPUs, &VCPU{
			Index: i, PCPU: int(v.CPU), be: be, m: m,
			APIC: x2apic.New(uint32(i), APICTimerHz),
		})
	}
	m.boot = func() (uint64, uint64, error) { return a.Loader(vm) }
	return m, nil
}

// Boot implements vmm.Machine: load the images and start vCPU 0 at the
// PVH entry; the other vCPUs stay off (application processors are not
// started by guests yet: there is no INIT/SIPI emulation).
func (m *Machine) Boot() error {
	m.Stop()
	entry, si, err := m.boot()
	if err != nil {
		return err
	}
	off := -m.cpu.TSC()
	for _, v := range m.VCPUs {
		v.APIC.Reset()
		v.tscOffset = off
		v.be.SetTSCOffset(off)
		v.be.ResetPVH(0, 0)
		v.state = vcpuOff
	}
	m.VCPUs[0].be.ResetPVH(entry, si)
	m.VCPUs[0].state = vcpuRunnable
	return nil
}

// Stop implements vmm.Machine.
func (m *Machine) Stop() {
	for _, v := range m.VCPUs {
		v.state = vcpuOff
	}
}

// VCPUInfo implements vmm.Machine.
func (m *Machine) VCPUInfo() []vmm.VCPUInfo {
	out := make([]vmm.VCPUInfo, len(m.VCPUs))
	for i, v := range m.VCPUs {
		out[i] = vmm.VCPUInfo{Index: i, PCPU: v.PCPU, State: v.state.String(), Exits: v.Exits}
	}
	return out
}

// IRQ implements vmm.Machine: ISA interrupt isa (0..15) of the VM, which
// the boot vCPU's local APIC receives as vector 0x20+isa (there is no
// virtual IOAPIC or 8259).
func (m *Machine) IRQ(isa int) (hv.IRQLine, error) {
	if isa < 0 || isa > 15 {
		return nil, fmt.Errorf("amd64: ISA interrupt %d out of range 0..15", isa)
	}
	return m.VCPUs[0].APIC.IRQLine(isa), nil
}

// ArchStats implements vmm.ArchStats.
func (m *Machine) ArchStats() any {
	reasons := map[string]uint64{}
	for _, v := range m.VCPUs {
		for r, n := range v.ByReason {
			if n != 0 {
				reasons[hv.ExitReason(r).String()] += n
			}
		}
	}
	return map[string]any{
		"vendor": m.VCPUs[0].be.Vendor().String(), "exits_by_reason": reasons,
		"io_exits": m.IOExits, "unclaimed_io": m.UnclaimedIO, "bad_io": m.BadIO, "npf_faults": m.NPFaults,
		"msr_faults": m.MSRFaults, "injected": m.Injected, "triple_faults": m.Triples,
		"cpuid": m.CPUIDs, "hlt": m.Halts, "preemptions": m.Preemptions, "kicks": m.Kicks,
		"interrupts": m.InterruptsDelivered, "host_irqs": hostInterrupts(),
	}
}

// Run implements vmm.Machine: run the runnable vCPUs of this VM pinned to
// pcpu until until (ns), or until they halt.
func (m *Machine) Run(pcpu int, until int64) (ran bool, wake int64) {
	for _, v := range m.VCPUs {
		if v.PCPU != pcpu {
			continue
		}
		now := m.cpu.Nanotime()
		if v.state == vcpuHalted {
			if _, ok := v.APIC.Pending(now); ok {
				v.state = vcpuRunnable
			}
		}
		if v.state == vcpuRunnable {
			ran = true
			v.run(until)
		}
		if v.state == vcpuHalted {
			if w := v.APIC.NextEvent(); w != 0 && (wake == 0 || w < wake) {
				wake = w
			}
		}
	}
	return ran, wake
}

// exitAction tells the run loop what to do after an exit.
type exitAction int

const (
	actResume exitAction = iota // back into the guest
	actYield                    // end this vCPU's slice
	actStop                     // the vCPU is no longer runnable
)

// run enters the guest until the slice ends or the vCPU stops running.
func (v *VCPU) run(until int64) {
	cpu := v.m.cpu
	defer cpu.Preempt(v.PCPU, 0)
	for v.state == vcpuRunnable {
		now := cpu.Nanotime()
		if now >= until {
			return
		}
		v.deliverInterrupt(now)
		deadline := until
		if ev := v.APIC.NextEvent(); ev != 0 && ev < deadline {
			deadline = ev
		}
		cpu.Preempt(v.PCPU, deadline)
		v.be.Enter(&v.exit)
		v.Exits++
		v.m.VM.Stats.Exits++
		if int(v.exit.Reason) < len(v.ByReason) {
			v.ByReason[v.exit.Reason]++
		}
		if v.handleExit() != actResume {
			return
		}
	}
}

// deliverInterrupt injects the local APIC's highest pending interrupt if
// the guest can take it now, or asks for an exit when it can.
func (v *VCPU) deliverInterrupt(now int64) {
	vec, ok := v.APIC.Pending(now)
	if !ok {
		return
	}
	if v.be.Interruptible() {
		v.be.InjectInterrupt(vec)
		v.APIC.Accept(vec)
		v.m.InterruptsDelivered++
		return
	}
	v.be.RequestInterruptWindow(true)
}
