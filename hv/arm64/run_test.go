// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"io"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/arm64/vgic"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// fakeCPU stands in for the processor: Enter replays one scripted exit.
type fakeCPU struct {
	now   uint64
	exits []func(c *Context)
	id    IDRegs
}

func (f *fakeCPU) Enter(_ int, c *Context) {
	if len(f.exits) == 0 {
		c.Vector, c.ESR = VecLowerSync, EC_WFX<<ESR_EC_SHIFT // WFI: block
		return
	}
	f.exits[0](c)
	f.exits = f.exits[1:]
}
func (f *fakeCPU) Counter() uint64           { return f.now }
func (f *fakeCPU) CounterHz() uint64         { return 62_500_000 }
func (f *fakeCPU) Nanotime() int64           { return int64(f.now * 16) }
func (f *fakeCPU) FlushTLB(uint64)           {}
func (f *fakeCPU) CleanDcache(hv.PA, uint64) {}
func (f *fakeCPU) IDRegs() *IDRegs           { return &f.id }

type regDev struct{ last uint64 }

func (d *regDev) MMIORead(_ int, off uint64, size int) (uint64, error) {
	return 0x8877665544332211, nil
}
func (d *regDev) MMIOWrite(_ int, off uint64, size int, v uint64) error {
	d.last = v
	return nil
}

func newTestMachine(t *testing.T, cpu *fakeCPU) (*Machine, *regDev) {
	t.Helper()
	vm := &vmm.VM{ID: 1, Name: "t", RAM: vmm.GuestRAM{IPA: 0x4000_0000, Size: 0x10000, Mem: make([]byte, 0x10000)}}
	g, err := vgic.New(2, 32)
	if err != nil {
		t.Fatal(err)
	}
	dev := &regDev{}
	if err := vm.Bus.Register("dev", 0x0900_0000, 0x1000, dev); err != nil {
		t.Fatal(err)
	}
	m := &Machine{VM: vm, GIC: g, cpu: cpu}
	vm.Machine, vm.Output = m, io.Discard
	for i := 0; i < 2; i++ {
		m.VCPUs = append(m.VCPUs, &VCPU{Index: i, m: m})
	}
	m.VCPUs[0].Ctx.ResetEL1(0x4000_0000, 0)
	m.VCPUs[0].state = vcpuRunnable
	return m, dev
}

func esr(ec, iss uint64) uint64 { return ec<<ESR_EC_SHIFT | ESR_IL | iss }

func TestExitDispatch(t *testing.T) {
	cpu := &fakeCPU{now: 1000}
	m, dev := newTestMachine(t, cpu)
	c := &m.VCPUs[0].Ctx
	var steps []string
	cpu.exits = []func(*Context){
		// HVC #0 HC_VCPU_ID: PC already past the HVC.
		func(c *Context) {
			c.Vector, c.ESR, c.X[0] = VecLowerSync, esr(EC_HVC64, 0), 0xC600_0003
			steps = append(steps, "hvc")
		},
		// 32-bit store of w5 to the device, ISV=1 SAS=2 SRT=5 WnR, translation fault level 3.
		func(c *Context) {
			if c.X[0] != 0 || c.X[1] != 1 {
				t.Errorf("HC_VCPU_ID returned %d, %d", c.X[0], c.X[1])
			}
			c.Vector, c.ESR = VecLowerSync, esr(EC_DABT_LOWER, 1<<24|2<<22|5<<16|1<<6|0x07)
			c.X[5], c.FAR, c.HPFAR = 0x1_2345_6789, 0x0900_0010, 0x0900_0000>>8
			steps = append(steps, "store")
		},
		// Sign-extending 16-bit load into x7 (SSE, SF).
		func(c *Context) {
			if dev.last != 0x2345_6789 {
				t.Errorf("device got %#x", dev.last)
			}
			c.Vector, c.ESR = VecLowerSync, esr(EC_DABT_LOWER, 1<<24|1<<22|1<<21|7<<16|1<<15|0x07)
			c.FAR, c.HPFAR = 0x0900_0000, 0x0900_0000>>8
			steps = append(steps, "load")
		},
		// A load from an unbacked IPA: external abort into the guest.
		func(c *Context) {
			if c.X[7] != 0x2211 {
				t.Errorf("x7 = %#x, want 0x2211 (sign-extended halfword)", c.X[7])
			}
			c.VBAR_EL1, c.PSTATE = 0x4000_8000, PSR_MODE_EL1h
			c.Vector, c.ESR = VecLowerSync, esr(EC_DABT_LOWER, 1<<24|3<<22|0x07)
			c.FAR, c.HPFAR = 0x8000_0000, 0x8000_0000>>8
			steps = append(steps, "abort")
		},
		// An IMPLEMENTATION DEFINED register: UNDEFINED.
		func(c *Context) {
			if c.PC != 0x4000_8200 || c.ESR_EL1>>ESR_EC_SHIFT != EC_DABT_CUR || c.ESR_EL1&0x3f != FSC_SYNC_EXTERNAL || c.FAR_EL1 != 0x8000_0000 {
				t.Errorf("abort injection: PC %#x ESR_EL1 %#x FAR_EL1 %#x", c.PC, c.ESR_EL1, c.FAR_EL1)
			}
			c.PC, c.PSTATE = 0x4000_0100, PSR_MODE_EL1h
			c.Vector, c.ESR = VecLowerSync, esr(EC_SYSREG, 3<<20|0<<17|0<<14|15<<10|0<<1|1)
			steps = append(steps, "sysreg")
		},
		// SMC PSCI CPU_ON for vCPU 1; SMC leaves ELR at the instruction.
		func(c *Context) {
			if c.PC != 0x4000_8200 || c.ESR_EL1>>ESR_EC_SHIFT != EC_UNKNOWN {
				t.Errorf("undef injection: PC %#x ESR_EL1 %#x", c.PC, c.ESR_EL1)
			}
			c.PC = 0x4000_0200
			c.Vector, c.ESR = VecLowerSync, esr(EC_SMC64, 0)
			c.X[0], c.X[1], c.X[2], c.X[3] = 0xC400_0003, 1, 0x4000_1000, 42
			steps = append(steps, "cpu_on")
		},
	}
	m.Run(0, 1<<62)
	if len(steps) != 6 {
		t.Fatalf("ran %v", steps)
	}
	// CPU_ON returned SUCCESS past the SMC; then vCPU 0 hit the fake's
	// default exit, a WFI (PC + 4), and blocked.
	if c.PC != 0x4000_0208 || c.X[0] != 0 {
		t.Errorf("after CPU_ON: PC %#x x0 %#x", c.PC, c.X[0])
	}
	// vCPU 1 started at the entry with x0 = context id, EL1h masked, and
	// ran to its own WFI.
	v1 := m.VCPUs[1]
	if v1.Ctx.PC != 0x4000_1004 || v1.Ctx.X[0] != 42 || v1.Ctx.PSTATE != PSR_EL1h_MASKED {
		t.Errorf("vCPU 1 not started as asked: %+v", v1.Ctx)
	}
	if m.VCPUs[0].state != vcpuBlocked {
		t.Errorf("vCPU 0 after WFI is %v", m.VCPUs[0].state)
	}
	if m.Injected != 2 || m.MMIOExits != 3 {
		t.Errorf("counters: injected %d mmio %d", m.Injected, m.MMIOExits)
	}
}

// TestGarbageExits feeds random syndromes and registers: the handler must
// neither panic nor touch anything outside the VM.
func TestGarbageExits(t *testing.T) {
	cpu := &fakeCPU{now: 1}
	m, _ := newTestMachine(t, cpu)
	var x uint64 = 0x9e3779b97f4a7c15
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	for i := 0; i < 20000; i++ {
		cpu.exits = append(cpu.exits, func(c *Context) {
			c.Vector = next() % 16
			c.ESR, c.FAR, c.HPFAR = next(), next(), next()
			for r := range c.X {
				c.X[r] = next()
			}
			if c.X[0]>>32 == 0 && uint32(c.X[0])&^psci64 >= PSCI_CPU_OFF && uint32(c.X[0])&^psci64 <= PSCI_SYSTEM_RESET {
				c.X[0] = 0 // keep the VM powered for the test
			}
		})
	}
	for len(cpu.exits) > 0 {
		m.VCPUs[0].state = vcpuRunnable // also after an SError stopped the VM
		m.Run(0, 1<<62)
	}
	if m.VM.Stats.Exits < 20000 {
		t.Errorf("only %d exits handled", m.VM.Stats.Exits)
	}
}

// TestTimerCondition: the virtual timer fires when CNTVCT >= CVAL as
// unsigned values; a guest CVAL near 2^64 never fires and gives no
// deadline (it must not wrap into an exit storm).
func TestTimerCondition(t *testing.T) {
	v := &VCPU{}
	v.Ctx.CNTVOFF = 1000
	v.Ctx.CNTV_CTL = 1
	for _, c := range []struct {
		now, cval uint64
		firing    bool
		deadline  bool
	}{
		{2000, 999, true, false},
		{2000, 1000, true, false},
		{2000, 1001, false, true},
		{2000, ^uint64(0), false, false},
		{2000, ^uint64(0) - 500, false, false},
	} {
		v.Ctx.CNTV_CVAL = c.cval
		if got := v.timerFiring(c.now); got != c.firing {
			t.Errorf("now %d cval %#x: firing %v, want %v", c.now, c.cval, got, c.firing)
		}
		if _, ok := v.timerDeadline(c.now); ok != c.deadline {
			t.Errorf("now %d cval %#x: deadline %v, want %v", c.now, c.cval, ok, c.deadline)
		}
	}
	v.Ctx.CNTV_CVAL = 0
	v.Ctx.CNTV_CTL = 1 | 2 // IMASK
	if v.timerFiring(2000) {
		t.Errorf("masked timer fires")
	}
}

// TestPSCISystemOffReset: SYSTEM_OFF and SYSTEM_RESET from a guest act on
// its own VM only.
func TestPSCISystemOffReset(t *testing.T) {
	cpu := &fakeCPU{now: 1}
	m, _ := newTestMachine(t, cpu)
	boots := 0
	m.boot = func() (uint64, uint64, error) { boots++; return 0x4000_0000, 0, nil }
	m.vttbr = 1 << 48
	other, _ := newTestMachine(t, &fakeCPU{now: 1})

	copy(m.VM.RAM.Mem, "dirty")
	cpu.exits = []func(*Context){func(c *Context) {
		c.Vector, c.ESR, c.X[0] = VecLowerSync, esr(EC_SMC64, 0), PSCI_SYSTEM_RESET
	}}
	m.VM.State = vmm.Running
	m.Run(0, 1<<62)
	if boots != 1 || m.VM.State != vmm.Running || m.VM.RAM.Mem[0] != 0 || m.VCPUs[0].Ctx.PC != 0x4000_0000 {
		t.Errorf("SYSTEM_RESET: boots %d state %s RAM[0] %#x PC %#x", boots, m.VM.State, m.VM.RAM.Mem[0], m.VCPUs[0].Ctx.PC)
	}
	cpu.exits = []func(*Context){func(c *Context) {
		c.Vector, c.ESR, c.X[0] = VecLowerSync, esr(EC_HVC64, 0), PSCI_SYSTEM_OFF
	}}
	m.Run(0, 1<<62)
	if m.VM.State != vmm.Off || m.VCPUs[0].state != vcpuOff || m.VCPUs[1].state != vcpuOff {
		t.Errorf("SYSTEM_OFF: state %s vcpus %v %v", m.VM.State, m.VCPUs[0].state, m.VCPUs[1].state)
	}
	if other.VCPUs[0].state != vcpuRunnable {
		t.Errorf("the other VM was affected")
	}
}
