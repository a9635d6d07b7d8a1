// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"fmt"
	"sync/atomic"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/arm64/vgic"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// The guest physical layout every arm64 VM sees, after QEMU's virt board
// so the same guest kernels run on tamavisor and on bare QEMU.
const (
	GuestGICDBase = 0x0800_0000
	GuestGICRBase = 0x080a_0000
	// GuestGICWindow is reserved in every VM for the virtual GIC.
	GuestGICWindow = 0x0100_0000
	// GuestSPIs is the number of SPIs each virtual GIC has.
	GuestSPIs = 64
	// GuestIPABits is the size of every VM's guest-physical space.
	GuestIPABits = 40
	// stage2Pool is the host memory reserved per VM for its stage-2
	// tables.
	stage2Pool = 2 << 20
)

// Interrupt IDs (ARM BSA / QEMU virt): PPIs of the generic timer.
const (
	INTID_MAINT    = 25 // GICv3 virtual CPU interface maintenance interrupt
	INTID_CNTHP    = 26 // EL2 physical timer, the hypervisor's deadline
	INTID_CNTV     = 27 // EL1 virtual timer
	INTID_SPURIOUS = 1023
	// SGI_KICK is the SGI a secondary CPU sends the boot CPU when a vCPU
	// it runs has exited (see smp_tamago.go).
	SGI_KICK = 8
)

// HCR_EL2 bits for a running guest (D19.2.48).
const (
	HCR_VM     = 1 << 0
	HCR_SWIO   = 1 << 1
	HCR_FMO    = 1 << 3
	HCR_IMO    = 1 << 4
	HCR_AMO    = 1 << 5
	HCR_FB     = 1 << 9
	HCR_BSU_IS = 1 << 10
	HCR_TWI    = 1 << 13
	HCR_TWE    = 1 << 14
	HCR_TID3   = 1 << 18
	HCR_TSC    = 1 << 19
	HCR_TIDCP  = 1 << 20
	HCR_RW_BIT = 1 << 31

	guestHCR = HCR_VM | HCR_SWIO | HCR_FMO | HCR_IMO | HCR_AMO | HCR_FB | HCR_BSU_IS |
		HCR_TWI | HCR_TWE | HCR_TID3 | HCR_TSC | HCR_TIDCP | HCR_RW_BIT
)

// ICH_HCR_EL2.En (IHI 0069H 12.4.6): enable the virtual CPU interface.
const ICH_HCR_EN = 1 << 0

// vcpuState is a vCPU's power and run state.
type vcpuState int

const (
	vcpuOff vcpuState = iota
	vcpuRunnable
	vcpuBlocked // in WFI until an interrupt or its timer
)

func (s vcpuState) String() string {
	switch s {
	case vcpuOff:
		return "off"
	case vcpuRunnable:
		return "running"
	case vcpuBlocked:
		return "wfi"
	}
	return "?"
}

// VCPU is one virtual CPU of a Machine.
type VCPU struct {
	Ctx   Context
	Index int
	PCPU  int
	state vcpuState
	Exits uint64
	m     *Machine
}

// SMCHandler serves the SMCs of a VM that are not PSCI or SMCCC
// architecture calls: the OP-TEE mediator implements it. regs holds
// x0-x17 on entry and the results on return. It reports false when it
// does not know the call, and the guest then gets NOT_SUPPORTED.
type SMCHandler interface {
	HandleSMC(vm *vmm.VM, vcpu int, regs *[18]uint64) bool
}

// CPU is the per-physical-CPU environment a Machine runs on: the
// hardware entry points on the target, fakes in host tests.
type CPU interface {
	// Enter runs the vCPU on physical CPU pcpu until its next exit. On a
	// CPU other than the boot CPU it hands the Context to that CPU and
	// waits (yielding) until the exit comes back.
	Enter(pcpu int, ctx *Context)
	// Counter returns the physical count (CNTPCT_EL0).
	Counter() uint64
	// CounterHz is CNTFRQ_EL0.
	CounterHz() uint64
	// Nanotime is monotonic time in ns, on the scheduler's clock.
	Nanotime() int64
	// FlushTLB invalidates the VM's stage-1 and stage-2 TLB entries.
	FlushTLB(vttbr uint64)
	// CleanDcache makes [pa, pa+size) visible to a guest running with
	// its caches off.
	CleanDcache(pa hv.PA, size uint64)
	// IDRegs are the feature ID registers guests read (HCR_EL2.TID3).
	IDRegs() *IDRegs
}

// Machine is the arm64 part of one VM: stage-2 tables, virtual GIC,
// virtual timer and vCPUs. It implements vmm.Machine.
type Machine struct {
	VM    *vmm.VM
	S2    *Stage2
	GIC   *vgic.GIC
	VMID  uint16
	VCPUs []*VCPU
	SMC   SMCHandler
	cpu   CPU
	vttbr uint64
	boot  func() (entry, x0 uint64, err error)

	// passthrough SPIs (passthrough.go)
	pass        []passIRQ
	host        HostGIC
	hostPending [maxINTID/64 + 1]atomic.Uint64

	// counters
	MMIOExits, SysRegExits, Injected, WFIs, IRQExits, HostIRQs uint64
}

// Arch builds arm64 Machines; it implements vmm.Arch.
type Arch struct {
	CPU CPU
	// Mem reaches physical memory for stage-2 tables.
	Mem hv.PhysMemory
	// Pool hands out the memory for stage-2 tables.
	Pool *vmm.RAMPool
	// MMFR0 is ID_AA64MMFR0_EL1 (for VTCR_EL2.PS).
	MMFR0 uint64
	// Host is the physical distributor, for passthrough interrupts
	// (nil: VMs with device interrupts are refused).
	Host HostGIC
	// Loader loads the VM's images into RAM and returns the boot vCPU's
	// entry point and x0.
	Loader   func(vm *vmm.VM, m *Machine) (entry, x0 uint64, err error)
	nextVMID uint16
}

// NewMachine creates the arm64 half of vm: stage-2 tables mapping its
// RAM (and nothing else: every other guest-physical access traps), the
// virtual GIC and its vCPUs.
func (a *Arch) NewMachine(vm *vmm.VM) (_ vmm.Machine, err error) {
	spec := vm.Spec
	tablesPA, err := a.Pool.Alloc(stage2Pool)
	if err != nil {
		return nil, fmt.Errorf("stage-2 tables: %w", err)
	}
	defer func() {
		if err != nil {
			a.Pool.Release(tablesPA, stage2Pool)
		}
	}()
	alloc := &hv.BumpAllocator{Next: tablesPA, Limit: tablesPA + stage2Pool, Mem: a.Mem}
	s2, err := NewStage2(alloc, a.Mem, GuestIPABits)
	if err != nil {
		return nil, fmt.Errorf("stage-2 tables: %w", err)
	}
	if err := s2.Map(vm.RAM.IPA, vm.RAM.PA, vm.RAM.Size, S2Attr{Type: S2Normal, Read: true, Write: true, Exec: true}); err != nil {
		return nil, fmt.Errorf("stage-2 map of RAM: %w", err)
	}
	for _, d := range spec.Devices {
		if err := s2.Map(d.Base, d.PA, d.Size, S2Attr{Type: S2Device, Read: true, Write: true}); err != nil {
			return nil, fmt.Errorf("stage-2 map of device %s: %w", d.Name, err)
		}
	}
	g, err := vgic.New(len(spec.VCPUs), GuestSPIs)
	if err != nil {
		return nil, err
	}
	if err := vm.Bus.Register("gicd", GuestGICDBase, vgic.DistSize, g.Dist()); err != nil {
		return nil, err
	}
	if err := vm.Bus.Register("gicr", GuestGICRBase, uint64(len(spec.VCPUs))*vgic.RedistStride, g.Redist()); err != nil {
		return nil, err
	}
	if a.nextVMID == 1<<VMIDBits-1 {
		return nil, fmt.Errorf("no free VMID (%d-bit VMIDs)", VMIDBits)
	}
	m := &Machine{VM: vm, S2: s2, GIC: g, VMID: a.nextVMID + 1, cpu: a.CPU}
	var irqs []uint32
	for _, d := range spec.Devices {
		irqs = append(irqs, d.IRQs...)
	}
	if len(irqs) > 0 {
		if a.Host == nil {
			return nil, fmt.Errorf("passthrough interrupts %v: no host interrupt controller", irqs)
		}
		if err := m.claimHostIRQs(a.Host, irqs); err != nil {
			return nil, err
		}
	}
	a.nextVMID++
	m.vttbr = s2.VTTBR(m.VMID)
	for i, v := range spec.VCPUs {
		vc := &VCPU{Index: i, PCPU: v.CPU, m: m}
		m.VCPUs = append(m.VCPUs, vc)
	}
	m.boot = func() (uint64, uint64, error) { return a.Loader(vm, m) }
	return m, nil
}

// Boot implements vmm.Machine: load the images, power on vCPU 0 at the
// entry point, every other vCPU off (the guest starts them with PSCI).
func (m *Machine) Boot() error {
	m.Stop()
	entry, x0, err := m.boot()
	if err != nil {
		return err
	}
	m.cpu.CleanDcache(m.VM.RAM.PA, m.VM.RAM.Size)
	m.cpu.FlushTLB(m.vttbr)
	// A fresh interrupt controller: nothing pending from the last run.
	m.GIC.Reset()
	off := m.cpu.Counter()
	for _, v := range m.VCPUs {
		v.Ctx = Context{}
		v.Ctx.HCR = guestHCR
		v.Ctx.VTTBR = m.vttbr
		v.Ctx.VMPIDR = vgic.MPIDR(v.Index)
		v.Ctx.CNTVOFF = off
		v.Ctx.ICH_HCR = ICH_HCR_EN
		v.Ctx.ResetEL1(0, 0)
		v.state = vcpuOff
	}
	m.VCPUs[0].Ctx.ResetEL1(entry, x0)
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

// IRQ implements vmm.Machine.
func (m *Machine) IRQ(intid int) (hv.IRQLine, error) { return m.GIC.SPI(intid) }

// ArchStats implements vmm.ArchStats: exit kinds and virtual GIC counters.
func (m *Machine) ArchStats() any {
	return map[string]any{
		"vmid": m.VMID, "host_irqs": m.HostIRQs, "mmio_exits": m.MMIOExits, "sysreg_exits": m.SysRegExits,
		"injected": m.Injected, "wfi": m.WFIs, "irq_exits": m.IRQExits, "gic": m.GIC.Stats(),
	}
}
