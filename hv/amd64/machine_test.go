// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/vdev/uart16550"
	"github.com/tamavisor/tamavisor/hv/vdev/x2apic"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// fakeCPU is the physical CPU: a clock and TSC the test moves by hand,
// the preemption deadlines the run loop arms, and QEMU TCG's CPUID.
type fakeCPU struct {
	now      int64
	tsc      uint64
	hz       uint64
	preempts []int64
	cpuid    CPUIDFunc
	// preemptCPU is the CPU whose timer was armed last; kick is a
	// pending kick from another CPU.
	preemptCPU int
	kick       bool
}

func (c *fakeCPU) Nanotime() int64 { return c.now }
func (c *fakeCPU) TSC() uint64     { return c.tsc }
func (c *fakeCPU) TSCHz() uint64   { return c.hz }
func (c *fakeCPU) Preempt(pcpu int, d int64) {
	c.preempts = append(c.preempts, d)
	c.preemptCPU = pcpu
}
func (c *fakeCPU) Kicked(pcpu int) bool {
	if pcpu != 0 {
		return false
	}
	k := c.kick
	c.kick = false
	return k
}
func (c *fakeCPU) HostCPUID(leaf, subleaf uint32) (a, b, cc, d uint32) {
	return c.cpuid(leaf, subleaf)
}

// deadline is the preemption deadline last armed (0: disarmed).
func (c *fakeCPU) deadline() int64 {
	if len(c.preempts) == 0 {
		return 0
	}
	return c.preempts[len(c.preempts)-1]
}

// event is an exception or interrupt queued for an entry.
type event struct {
	intr    bool
	vector  uint8
	code    uint32
	hasCode bool
}

func exc(vector uint8, code uint32, hasCode bool) event {
	return event{vector: vector, code: code, hasCode: hasCode}
}
func intr(vector uint8) event { return event{intr: true, vector: vector} }

var gp0 = exc(VEC_GP, 0, true)

// entry is what the backend saw at one Enter.
type entry struct {
	regs     Regs
	events   []event
	window   bool
	deadline int64 // the preemption deadline armed
	now      int64
}

// step is one scripted exit: do runs first (time or the TSC moves while
// the guest runs), then set puts the guest registers in their state at
// the exit, then Enter returns exit (RIP filled from the registers
// unless given).
type step struct {
	exit hv.Exit
	set  func(r *Regs)
	do   func()
}

// MSRs the fake "CPU" keeps for the guest (AMD APM Vol. 2, 3.1.7 EFER).
const (
	msrEFER     = 0xc000_0080
	eferAllowed = 1<<0 | 1<<8 | 1<<10 | 1<<11 // SCE LME LMA NXE
)

// fakeBackend is a scripted vCPU: each Enter pops the next step.
type fakeBackend struct {
	cpu     *fakeCPU
	index   int
	pcpu    int
	regs    Regs
	script  []step
	entries []entry
	pending []event
	window  bool
	// windowReqs records every RequestInterruptWindow argument.
	windowReqs []bool
	// shadow blocks interrupts (an STI or MOV SS shadow) even with IF.
	shadow     bool
	resets     [][2]uint64
	tscOffsets []uint64
	msrs       map[uint32]uint64
	cpl        uint8
}

func (b *fakeBackend) Vendor() hv.Vendor { return hv.VendorSVM }

func (b *fakeBackend) CPL() uint8 { return b.cpl }

func (b *fakeBackend) ResetPVH(entry, startInfo uint64) {
	b.regs = Regs{RIP: entry, RBX: startInfo, RFLAGS: RFLAGS_RESERVED}
	b.pending = nil
	b.resets = append(b.resets, [2]uint64{entry, startInfo})
}

func (b *fakeBackend) Enter(e *hv.Exit) {
	if len(b.entries) > 1_000_000 {
		panic("fakeBackend: runaway run loop")
	}
	b.entries = append(b.entries, entry{regs: b.regs, events: b.pending, window: b.window,
		deadline: b.cpu.deadline(), now: b.cpu.now})
	b.pending = nil
	if len(b.script) == 0 {
		// The guest computes until the preemption timer fires.
		if d := b.cpu.deadline(); d > b.cpu.now {
			b.cpu.now = d
		}
		*e = hv.Exit{Reason: hv.ExitInterrupt, Vendor: hv.VendorSVM, RIP: b.regs.RIP}
		return
	}
	s := b.script[0]
	b.script = b.script[1:]
	if s.do != nil {
		s.do()
	}
	if s.set != nil {
		s.set(&b.regs)
	}
	*e = s.exit
	if e.RIP == 0 {
		e.RIP = b.regs.RIP
	}
}

func (b *fakeBackend) Regs() *Regs { return &b.regs }

func (b *fakeBackend) InjectException(vector uint8, code uint32, hasCode bool) {
	b.pending = append(b.pending, exc(vector, code, hasCode))
}

func (b *fakeBackend) Interruptible() bool {
	return b.regs.RFLAGS&RFLAGS_IF != 0 && !b.shadow && len(b.pending) == 0
}

func (b *fakeBackend) InjectInterrupt(vector uint8) {
	if !b.Interruptible() {
		panic(fmt.Sprintf("fakeBackend: InjectInterrupt(%#x) while not interruptible", vector))
	}
	b.pending = append(b.pending, intr(vector))
}

func (b *fakeBackend) RequestInterruptWindow(on bool) {
	b.window = on
	b.windowReqs = append(b.windowReqs, on)
}

func (b *fakeBackend) GuestMSR(msr uint32) (uint64, bool) {
	v, ok := b.msrs[msr]
	return v, ok
}

func (b *fakeBackend) SetGuestMSR(msr uint32, val uint64) (bool, error) {
	if _, ok := b.msrs[msr]; !ok {
		return false, nil
	}
	if msr == msrEFER && val&^eferAllowed != 0 {
		return true, fmt.Errorf("fake: EFER reserved bits %#x", val)
	}
	b.msrs[msr] = val
	return true, nil
}

func (b *fakeBackend) SetTSCOffset(off uint64) { b.tscOffsets = append(b.tscOffsets, off) }

// last returns the registers and events of the latest entry.
func (b *fakeBackend) last() entry { return b.entries[len(b.entries)-1] }

type mapping struct {
	gpa  hv.IPA
	pa   hv.PA
	size uint64
	attr MapAttr
}

// fakeGuest records what NewMachine asks of the vendor tables.
type fakeGuest struct {
	cpu    *fakeCPU
	table  hv.PA // the page NewGuest took from its allocator
	maps   []mapping
	ports  [][2]int
	vcpus  []*fakeBackend
	closed int
}

func (g *fakeGuest) Map(gpa hv.IPA, pa hv.PA, size uint64, attr MapAttr) error {
	g.maps = append(g.maps, mapping{gpa, pa, size, attr})
	return nil
}

func (g *fakeGuest) AllowPorts(base uint16, n int) { g.ports = append(g.ports, [2]int{int(base), n}) }

func (g *fakeGuest) NewVCPU(index, pcpu int) (Backend, error) {
	b := &fakeBackend{cpu: g.cpu, index: index, pcpu: pcpu, msrs: map[uint32]uint64{msrEFER: 0x500}}
	g.vcpus = append(g.vcpus, b)
	return b, nil
}

func (g *fakeGuest) Close() { g.closed++ }

type fakeOps struct {
	cpu    *fakeCPU
	guests []*fakeGuest
	fail   error
}

func (o *fakeOps) Name() hv.Vendor { return hv.VendorSVM }

func (o *fakeOps) NewGuest(alloc hv.PageAllocator, mem hv.PhysMemory, view func(hv.PA, uint64) []byte) (Guest, error) {
	if o.fail != nil {
		return nil, o.fail
	}
	pa, err := alloc.AllocPage()
	if err != nil {
		return nil, err
	}
	mem.Write64(pa, uint64(pa)|1) // a "table entry"
	g := &fakeGuest{cpu: o.cpu, table: pa}
	o.guests = append(o.guests, g)
	return g, nil
}

// mapMemory is sparse physical memory for the table pool.
type mapMemory map[hv.PA]uint64

func (m mapMemory) Read64(pa hv.PA) uint64       { return m[pa] }
func (m mapMemory) Write64(pa hv.PA, val uint64) { m[pa] = val }

const (
	testEntry     = 0x10_0000
	testStartInfo = 0x7000
	testTSCHz     = 2_000_000_000
	poolBase      = 0x1000_0000
	poolSize      = 128 << 20
)

// x86Manifest has the VM under test (two vCPUs on CPU 0, a passthrough
// port range and MMIO window), a bystander on the same CPU and a VM that
// NewMachine must refuse (passthrough interrupts).
const x86Manifest = `{"vms": [
 {"name": "x86", "id": 1, "vcpus": [{"cpu": 0}, {"cpu": 0}], "memory": {"base": 0, "size": "16M"},
  "kernel": "k", "console": {"port": "0x3f8", "irq": 4},
  "devices": [{"name": "com2", "ports": [{"base": "0x2f8", "size": 8}]},
              {"name": "fb", "base": "0xfd000000", "size": "64K"}]},
 {"name": "bystander", "id": 2, "vcpus": [{"cpu": 0}], "memory": {"base": "0x100000", "size": "16M"},
  "kernel": "k", "console": {"port": "0x3f8", "irq": 4}},
 {"name": "irqdev", "id": 3, "vcpus": [{"cpu": 0}], "memory": {"base": 0, "size": "16M"}, "kernel": "k",
  "devices": [{"name": "nic", "base": "0xfe000000", "size": "4K", "irqs": [40]}]}
]}`

var dummyKernel = []byte("\x7fELF\x02\x01\x01 not really a kernel")

type testEnv struct {
	cpu     *fakeCPU
	ops     *fakeOps
	mem     mapMemory
	pool    *vmm.RAMPool
	arch    *Arch
	mgr     *vmm.Manager
	con     *bytes.Buffer
	loads   []string
	loadErr error
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	cpu := &fakeCPU{now: 1_000_000, tsc: 7_000_000, hz: testTSCHz, cpuid: qemuTCGMax}
	env := &testEnv{cpu: cpu, ops: &fakeOps{cpu: cpu}, mem: mapMemory{}, con: &bytes.Buffer{},
		pool: vmm.NewRAMPool([]hv.Region{{Name: "ram", Kind: hv.RAM, Base: poolBase, Size: poolSize}})}
	env.arch = &Arch{
		CPU: cpu, Ops: env.ops, Mem: env.mem, Pool: env.pool,
		View: func(pa hv.PA, size uint64) []byte { return make([]byte, size) },
		Loader: func(vm *vmm.VM) (uint64, uint64, error) {
			env.loads = append(env.loads, vm.Name)
			if env.loadErr != nil {
				return 0, 0, env.loadErr
			}
			b, ok := vm.RAM.Slice(testEntry, uint64(len(vm.Kernel)))
			if !ok {
				return 0, 0, errors.New("kernel outside RAM")
			}
			copy(b, vm.Kernel)
			return testEntry, testStartInfo, nil
		},
	}
	env.mgr = vmm.New(vmm.Config{
		Manifest: []byte(x86Manifest),
		Image: func(name string) ([]byte, bool) {
			if name == "k" {
				return dummyKernel, true
			}
			return nil, false
		},
		CPUs:    1,
		Pool:    env.pool,
		Arch:    env.arch,
		Console: env.con,
		MemView: func(pa hv.PA, size uint64) []byte { return make([]byte, size) },
		Now:     cpu.Nanotime,
	})
	return env
}

// machine returns a VM, its Machine and its fake vendor tables.
func (env *testEnv) machine(t *testing.T, name string) (*vmm.VM, *Machine, *fakeGuest) {
	t.Helper()
	vm, err := env.mgr.Lookup(name)
	if err != nil {
		t.Fatalf("%v (rejected: %q)", err, env.mgr.Rejected)
	}
	m := vm.Machine.(*Machine)
	return vm, m, m.guest.(*fakeGuest)
}

// start boots the VM under test with script for vCPU 0.
func (env *testEnv) start(t *testing.T, script ...step) (*vmm.VM, *Machine, *fakeBackend) {
	t.Helper()
	vm, m, _ := env.machine(t, "x86")
	if err := env.mgr.Start(vm); err != nil {
		t.Fatal(err)
	}
	b := m.VCPUs[0].be.(*fakeBackend)
	b.script = script
	return vm, m, b
}

// run gives the machine one scheduler quantum on CPU 0.
func (env *testEnv) run(m *Machine) (bool, int64) {
	return m.Run(0, env.cpu.now+int64(vmm.Quantum))
}

// Exits as the backends decode them.

func ioExit(port uint16, size int, write bool, val uint32, instrLen int) hv.Exit {
	return hv.Exit{Reason: hv.ExitIO, Vendor: hv.VendorSVM, InstrLen: instrLen,
		IO: hv.IOExit{Port: port, Size: size, Write: write, Value: val}}
}

func outStep(port uint16, size int, val uint32, instrLen int) step {
	return step{exit: ioExit(port, size, true, val, instrLen)}
}

func inStep(port uint16, size int, rax uint64, instrLen int) step {
	return step{exit: ioExit(port, size, false, 0, instrLen), set: func(r *Regs) { r.RAX = rax }}
}

// garbage fills the upper halves RDMSR/WRMSR must ignore or clear.
const garbage = 0xdead_beef_0000_0000

func wrmsrStep(msr uint32, val uint64) step {
	return step{exit: hv.Exit{Reason: hv.ExitMSR, Vendor: hv.VendorSVM, MSR: msr, Write: true},
		set: func(r *Regs) { r.RCX, r.RAX, r.RDX = uint64(msr), garbage|val&0xffff_ffff, garbage|val>>32 }}
}

func rdmsrStep(msr uint32) step {
	return step{exit: hv.Exit{Reason: hv.ExitMSR, Vendor: hv.VendorSVM, MSR: msr},
		set: func(r *Regs) { r.RCX, r.RAX, r.RDX = uint64(msr), ^uint64(0), ^uint64(0) }}
}

func simple(reason hv.ExitReason) step {
	return step{exit: hv.Exit{Reason: reason, Vendor: hv.VendorSVM}}
}

func cpuidStep(leaf, subleaf uint32, instrLen int) step {
	return step{exit: hv.Exit{Reason: hv.ExitCPUID, Vendor: hv.VendorSVM, InstrLen: instrLen},
		set: func(r *Regs) { r.RAX, r.RCX = garbage|uint64(leaf), garbage|uint64(subleaf) }}
}

func hypercall(regs ...uint64) step {
	return step{exit: hv.Exit{Reason: hv.ExitHypercall, Vendor: hv.VendorSVM}, set: func(r *Regs) {
		p := []*uint64{&r.RAX, &r.RDI, &r.RSI, &r.RDX}
		for i, v := range regs {
			*p[i] = v
		}
	}}
}

func hlt(ifSet bool) step {
	return step{exit: hv.Exit{Reason: hv.ExitHLT, Vendor: hv.VendorSVM}, set: func(r *Regs) {
		r.RFLAGS = RFLAGS_RESERVED
		if ifSet {
			r.RFLAGS |= RFLAGS_IF
		}
	}}
}

// The guest's x2APIC timer programming: software enable, divide by 1,
// one-shot vector timerVector, count ns (the timer counts at 1 GHz).
const timerVector = 0xec

func armTimer(count uint64) []step {
	return []step{
		wrmsrStep(x2apic.IA32_X2APIC_SIVR, 1<<x2apic.SVR_APIC_ENABLE|0xff),
		wrmsrStep(x2apic.IA32_X2APIC_DIV_CONF, 0xb),
		wrmsrStep(x2apic.IA32_X2APIC_LVT_TIMER, timerVector),
		wrmsrStep(x2apic.IA32_X2APIC_INIT_COUNT, count),
	}
}

func TestNewMachine(t *testing.T) {
	env := newTestEnv(t)
	// "irqdev" asks for passthrough interrupts: refused, with its
	// vendor tables closed and its RAM and table pool given back.
	if len(env.mgr.Rejected) != 1 || !strings.Contains(env.mgr.Rejected[0], `"irqdev"`) ||
		!strings.Contains(env.mgr.Rejected[0], "passthrough interrupts are not supported") {
		t.Fatalf("Rejected = %q", env.mgr.Rejected)
	}
	if len(env.ops.guests) != 3 || env.ops.guests[2].closed != 1 || env.ops.guests[0].closed+env.ops.guests[1].closed != 0 {
		t.Fatalf("guests %d, closed %v", len(env.ops.guests), []int{env.ops.guests[0].closed, env.ops.guests[1].closed})
	}
	if free, want := env.pool.Free(), uint64(poolSize-2*(16<<20+tablePool)); free != want {
		t.Errorf("pool free %#x, want %#x (RAM and tables of two VMs)", free, want)
	}

	vm, m, g := env.machine(t, "x86")
	want := []mapping{
		{0, vm.RAM.PA, 16 << 20, MapAttr{Write: true, Exec: true}},
		{0xfd00_0000, 0xfd00_0000, 64 << 10, MapAttr{Write: true, Uncached: true}},
	}
	if !reflect.DeepEqual(g.maps, want) {
		t.Errorf("maps = %+v\nwant %+v", g.maps, want)
	}
	if !reflect.DeepEqual(g.ports, [][2]int{{0x2f8, 8}}) {
		t.Errorf("passthrough ports = %v", g.ports)
	}
	// The tables come from the pool, outside every VM's RAM.
	for _, name := range []string{"x86", "bystander"} {
		_, _, gg := env.machine(t, name)
		if gg.table < poolBase || gg.table >= poolBase+poolSize || !gg.table.PageAligned() {
			t.Errorf("%s: table page %#x outside the pool", name, gg.table)
		}
		for _, other := range env.mgr.VMs() {
			if gg.table >= other.RAM.PA && gg.table < other.RAM.PA+hv.PA(other.RAM.Size) {
				t.Errorf("%s: table page %#x inside the RAM of %s", name, gg.table, other.Name)
			}
		}
		if env.mem[gg.table] != uint64(gg.table)|1 {
			t.Errorf("%s: table write lost", name)
		}
	}
	if len(m.VCPUs) != 2 || len(g.vcpus) != 2 || m.VCPUs[1].APIC.ID() != 1 || m.VCPUs[1].PCPU != 0 {
		t.Fatalf("vcpus: %d machine, %d backends", len(m.VCPUs), len(g.vcpus))
	}
	if r := vm.Ports.Find(0x3ff); r == nil || r.Name != "console" || r.Base != 0x3f8 {
		t.Errorf("console not on the port bus: %+v", r)
	}
	if info := m.VCPUInfo(); info[0].State != "off" || info[1].State != "off" {
		t.Errorf("before boot: %+v", info)
	}

	// No vendor backend, and a vendor that fails: nothing leaks.
	if _, err := (&Arch{Pool: env.pool}).NewMachine(vm); !errors.Is(err, ErrNoBackend) {
		t.Errorf("no backend: %v", err)
	}
	free := env.pool.Free()
	env.ops.fail = errors.New("no ASID left")
	if _, err := env.arch.NewMachine(vm); err == nil || !strings.Contains(err.Error(), "svm: no ASID left") {
		t.Errorf("failing vendor: %v", err)
	}
	if env.pool.Free() != free {
		t.Errorf("failing vendor leaked table memory: %#x -> %#x", free, env.pool.Free())
	}
}

func TestBootPVH(t *testing.T) {
	env := newTestEnv(t)
	vm, m, _ := env.machine(t, "x86")
	// A stale APIC state and a dirty RAM from an earlier run.
	if err := m.VCPUs[0].APIC.WriteMSR(x2apic.IA32_X2APIC_SIVR, 0x1ff, 0); err != nil {
		t.Fatal(err)
	}
	if err := env.mgr.Start(vm); err != nil {
		t.Fatal(err)
	}
	b0, b1 := m.VCPUs[0].be.(*fakeBackend), m.VCPUs[1].be.(*fakeBackend)
	if len(env.loads) != 1 || vm.State != vmm.Running {
		t.Fatalf("loads %v state %s", env.loads, vm.State)
	}
	if b0.regs.RIP != testEntry || b0.regs.RBX != testStartInfo || b0.resets[len(b0.resets)-1] != [2]uint64{testEntry, testStartInfo} {
		t.Errorf("vCPU 0 not at the PVH entry: %+v resets %v", b0.regs, b0.resets)
	}
	if len(b1.resets) == 0 || b1.resets[len(b1.resets)-1] != [2]uint64{} {
		t.Errorf("vCPU 1 resets %v", b1.resets)
	}
	bootTSC := env.cpu.tsc
	wantOff := -bootTSC // the guest's TSC starts at 0
	for i, b := range []*fakeBackend{b0, b1} {
		if len(b.tscOffsets) != 1 || b.tscOffsets[0] != wantOff {
			t.Errorf("vCPU %d TSC offsets %#x, want [%#x]", i, b.tscOffsets, wantOff)
		}
	}
	if got := m.VCPUInfo(); !reflect.DeepEqual(got, []vmm.VCPUInfo{{Index: 0, State: "running"}, {Index: 1, State: "off"}}) {
		t.Errorf("VCPUInfo = %+v", got)
	}
	if svr, _ := m.VCPUs[0].APIC.ReadMSR(x2apic.IA32_X2APIC_SIVR, 0); svr != 0xff {
		t.Errorf("APIC not reset at boot: SVR %#x", svr)
	}
	if !bytes.Equal(vm.RAM.Mem[testEntry:testEntry+len(dummyKernel)], dummyKernel) {
		t.Error("kernel not loaded")
	}
	// Only vCPU 0 enters the guest.
	env.run(m)
	if len(b0.entries) == 0 || len(b1.entries) != 0 {
		t.Errorf("entries: vCPU 0 %d, vCPU 1 %d", len(b0.entries), len(b1.entries))
	}
	if e := b0.entries[0]; e.regs.RIP != testEntry || e.regs.RBX != testStartInfo {
		t.Errorf("first entry %+v", e.regs)
	}

	// A reset whose loader fails leaves every vCPU off.
	env.loadErr = errors.New("bad kernel")
	if err := env.mgr.Reset(vm); err == nil || vm.State != vmm.Crashed || !strings.Contains(vm.Reason, "bad kernel") {
		t.Fatalf("failed reset: %v, %s %q", err, vm.State, vm.Reason)
	}
	n := len(b0.entries)
	if ran, _ := env.run(m); ran || len(b0.entries) != n {
		t.Errorf("a VM that failed to boot ran")
	}
}

func TestPortIO(t *testing.T) {
	env := newTestEnv(t)
	vm, m, b := env.start(t,
		outStep(0x3f8+uart16550.THR, 1, 'h', 1), // out dx, al (EE)
		outStep(0x3f8+uart16550.THR, 1, 'i', 1),
		inStep(0x3f8+uart16550.LSR, 1, 0xdead_beef_cafe_ba00, 1), // in al, dx (EC)
		inStep(0x510, 2, 0x1111_2222_3333_4444, 2),               // in ax, dx (66 ED): nothing there
		inStep(0x510, 4, 0xaaaa_bbbb_cccc_dddd, 1),               // in eax, dx (ED)
		outStep(0x80, 1, 0x42, 2),                                // out 0x80, al (E6 80): a POST-code delay
		// outsb (6E), rep insb (F3 6C), and a size no instruction has.
		step{exit: hv.Exit{Reason: hv.ExitIO, Vendor: hv.VendorSVM, InstrLen: 1,
			IO: hv.IOExit{Port: 0x3f8, Size: 1, Write: true, String: true}}},
		step{exit: hv.Exit{Reason: hv.ExitIO, Vendor: hv.VendorSVM, InstrLen: 2,
			IO: hv.IOExit{Port: 0x3f8, Size: 1, String: true, Rep: true}}},
		step{exit: ioExit(0x3f8, 3, false, 0, 1)},
	)
	env.run(m)
	if got := string(vm.Log.Bytes()); got != "hi" {
		t.Errorf("console log %q, want \"hi\"", got)
	}
	lsr := uint64(1<<uart16550.LSR_THRE | 1<<uart16550.LSR_TEMT)
	for i, c := range []struct {
		rip    uint64
		rax    uint64 // 0: not checked
		events []event
	}{
		1: {testEntry + 1, 0, nil},
		2: {testEntry + 2, 0, nil},
		3: {testEntry + 3, 0xdead_beef_cafe_ba00 | lsr, nil},
		4: {testEntry + 5, 0x1111_2222_3333_ffff, nil},
		5: {testEntry + 6, 0xffff_ffff, nil}, // a 32-bit IN zero-extends
		6: {testEntry + 8, 0, nil},
		7: {testEntry + 8, 0, []event{gp0}}, // string I/O: #GP, RIP kept
		8: {testEntry + 8, 0, []event{gp0}},
		9: {testEntry + 8, 0, []event{gp0}},
	} {
		if i == 0 {
			continue
		}
		e := b.entries[i]
		if e.regs.RIP != c.rip || (c.rax != 0 && e.regs.RAX != c.rax) || !reflect.DeepEqual(e.events, c.events) {
			t.Errorf("after exit %d: rip %#x rax %#x events %v; want rip %#x rax %#x events %v",
				i-1, e.regs.RIP, e.regs.RAX, e.events, c.rip, c.rax, c.events)
		}
	}
	if m.IOExits != 9 || m.UnclaimedIO != 3 || vm.Ports.Unclaimed != 3 || m.Injected != 3 || vm.Stats.Injected != 3 {
		t.Errorf("counters: io %d unclaimed %d/%d injected %d/%d", m.IOExits, m.UnclaimedIO, vm.Ports.Unclaimed, m.Injected, vm.Stats.Injected)
	}
	if m.VCPUs[0].ByReason[hv.ExitIO] != 9 || vm.State != vmm.Running {
		t.Errorf("io exits by reason %d, state %s", m.VCPUs[0].ByReason[hv.ExitIO], vm.State)
	}
}

// TestPortIODeviceErrorInjectsGP: an access a device refuses (the 16550
// takes only byte accesses) must raise #GP, as hv.PortDevice and the
// uart16550 package document, not read as an absent port.
func TestPortIODeviceErrorInjectsGP(t *testing.T) {
	env := newTestEnv(t)
	_, m, b := env.start(t, inStep(0x3f8+uart16550.LSR, 2, 0x1234_5678, 2))
	env.run(m)
	if e := b.entries[1]; !reflect.DeepEqual(e.events, []event{gp0}) || e.regs.RIP != testEntry || e.regs.RAX != 0x1234_5678 {
		t.Errorf("16-bit IN from the UART: rip %#x rax %#x events %v; want #GP(0), nothing changed", e.regs.RIP, e.regs.RAX, e.events)
	}
	if m.UnclaimedIO != 0 {
		t.Errorf("counted as unclaimed")
	}
}

func TestNPFInjectsGP(t *testing.T) {
	env := newTestEnv(t)
	vm, m, b := env.start(t,
		step{exit: hv.Exit{Reason: hv.ExitNPF, Vendor: hv.VendorSVM, GPA: 0x4000_0000, Access: hv.AccessWrite, InstrLen: 3}},
		cpuidStep(0, 0, 2),
	)
	env.run(m)
	if len(b.entries) != 3 {
		t.Fatalf("%d entries, want 3 (the VM keeps running after the fault)", len(b.entries))
	}
	if e := b.entries[1]; e.regs.RIP != testEntry || !reflect.DeepEqual(e.events, []event{gp0}) {
		t.Errorf("after NPF: rip %#x events %v", e.regs.RIP, e.events)
	}
	if m.NPFaults != 1 || m.Injected != 1 || vm.Stats.Injected != 1 || m.CPUIDs != 1 || vm.State != vmm.Running {
		t.Errorf("npf %d injected %d/%d cpuid %d state %s", m.NPFaults, m.Injected, vm.Stats.Injected, m.CPUIDs, vm.State)
	}
}

func TestCPUIDExit(t *testing.T) {
	env := newTestEnv(t)
	_, m, b := env.start(t,
		cpuidStep(CPUID_INFO, 0, 0),      // no length reported: 0f a2
		cpuidStep(CPUID_HV_BASE, 0, 3),   // with a redundant prefix
		cpuidStep(CPUID_HV_TIMING, 0, 2), // reported
		cpuidStep(CPUID_EXT_INFO, 0, 2),
	)
	env.run(m)
	check := func(i int, leaf uint32, rip uint64) {
		t.Helper()
		a, bb, c, d := GuestCPUID(qemuTCGMax, leaf, 0, 0, 2, testTSCHz)
		r := b.entries[i].regs
		if r.RAX != uint64(a) || r.RBX != uint64(bb) || r.RCX != uint64(c) || r.RDX != uint64(d) || r.RIP != rip {
			t.Errorf("leaf %#x: rax %#x rbx %#x rcx %#x rdx %#x rip %#x; want %#x %#x %#x %#x rip %#x",
				leaf, r.RAX, r.RBX, r.RCX, r.RDX, r.RIP, a, bb, c, d, rip)
		}
	}
	check(1, CPUID_INFO, testEntry+2)
	check(2, CPUID_HV_BASE, testEntry+5)
	check(3, CPUID_HV_TIMING, testEntry+7)
	check(4, CPUID_EXT_INFO, testEntry+9)
	r := b.entries[1].regs
	if r.RCX&(1<<INFO_ECX_HV) == 0 || r.RCX&(1<<INFO_ECX_X2APIC) == 0 || r.RBX>>16&0xff != 2 {
		t.Errorf("leaf 1 as the guest sees it: ebx %#x ecx %#x", r.RBX, r.RCX)
	}
	if r := b.entries[3].regs; r.RAX != testTSCHz/1000 || r.RBX != APICTimerHz/1000 {
		t.Errorf("timing leaf %d kHz, %d kHz", r.RAX, r.RBX)
	}
	if b.entries[4].regs.RCX&(1<<EXT_INFO_ECX_SVM) != 0 {
		t.Error("guest sees SVM")
	}
	if m.CPUIDs != 4 {
		t.Errorf("cpuid counter %d", m.CPUIDs)
	}
}

func TestMSRs(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	boot := cpu.tsc
	script := []step{
		0:  wrmsrStep(x2apic.IA32_X2APIC_SIVR, 0x1ff),
		1:  rdmsrStep(x2apic.IA32_X2APIC_SIVR),
		2:  rdmsrStep(MSR_IA32_APIC_BASE),
		3:  rdmsrStep(x2apic.IA32_X2APIC_APICID),
		4:  rdmsrStep(MSR_IA32_TSC),
		5:  wrmsrStep(MSR_IA32_TSC, 0x10_0000_0000),
		6:  rdmsrStep(MSR_IA32_TSC),
		7:  rdmsrStep(0xc001_0999), // not an MSR anything emulates
		8:  wrmsrStep(0xc001_0999, 1),
		9:  rdmsrStep(msrEFER), // kept by the backend
		10: wrmsrStep(msrEFER, 0xffff),
		11: wrmsrStep(x2apic.IA32_X2APIC_APICID, 5), // read-only
		12: rdmsrStep(MSR_IA32_FEATURE_CONTROL),
		13: wrmsrStep(MSR_IA32_MTRR_DEF_TYPE, 6),
		14: rdmsrStep(x2apic.IA32_X2APIC_EOI), // write-only
		15: wrmsrStep(msrEFER, 0xd01),
	}
	script[4].do = func() { cpu.tsc = boot + 0x1_2345_6789 }
	script[6].do = func() { cpu.tsc += 100 }
	_, m, b := env.start(t, script...)
	env.run(m)

	type want struct {
		fault    bool
		rax, rdx uint64
		check    bool // compare RAX and RDX
	}
	wants := []want{
		0:  {},
		1:  {rax: 0x1ff, check: true},
		2:  {rax: x2apic.DefaultBase | 1<<x2apic.APIC_BASE_EN | 1<<x2apic.APIC_BASE_EXTD | 1<<x2apic.APIC_BASE_BSP, check: true},
		3:  {rax: 0, check: true},
		4:  {rax: 0x2345_6789, rdx: 1, check: true}, // TSC read = host TSC + offset, split EDX:EAX
		5:  {},
		6:  {rax: 100, rdx: 0x10, check: true},
		7:  {fault: true},
		8:  {fault: true},
		9:  {rax: 0x500, check: true},
		10: {fault: true},
		11: {fault: true},
		12: {rax: FEATURE_CONTROL_LOCK, check: true},
		13: {fault: true},
		14: {fault: true},
		15: {},
	}
	rip := uint64(testEntry)
	faults := 0
	for i, w := range wants {
		e := b.entries[i+1]
		if w.fault {
			faults++
			if e.regs.RIP != rip || !reflect.DeepEqual(e.events, []event{gp0}) {
				t.Errorf("msr step %d: rip %#x events %v, want #GP(0) at %#x", i, e.regs.RIP, e.events, rip)
			}
			continue
		}
		rip += 2 // no length reported: 0f 32 / 0f 30
		if e.regs.RIP != rip || len(e.events) != 0 {
			t.Errorf("msr step %d: rip %#x events %v, want %#x", i, e.regs.RIP, e.events, rip)
		}
		if w.check && (e.regs.RAX != w.rax || e.regs.RDX != w.rdx) {
			t.Errorf("msr step %d: edx:eax %#x:%#x, want %#x:%#x", i, e.regs.RDX, e.regs.RAX, w.rdx, w.rax)
		}
	}
	if m.MSRFaults != uint64(faults) || m.Injected != uint64(faults) {
		t.Errorf("msr faults %d injected %d, want %d", m.MSRFaults, m.Injected, faults)
	}
	// WRMSR took EDX:EAX, not the garbage above them.
	if svr, _ := m.VCPUs[0].APIC.ReadMSR(x2apic.IA32_X2APIC_SIVR, cpu.now); svr != 0x1ff {
		t.Errorf("APIC SVR %#x", svr)
	}
	if off := b.tscOffsets[len(b.tscOffsets)-1]; off != 0x10_0000_0000-(boot+0x1_2345_6789) {
		t.Errorf("TSC offset after WRMSR %#x", off)
	}
	if b.msrs[msrEFER] != 0xd01 {
		t.Errorf("EFER %#x", b.msrs[msrEFER])
	}
}

func TestHLTWaitsForAPICTimer(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	t0 := cpu.now
	_, m, b := env.start(t, append(armTimer(5000), hlt(true))...)
	ran, wake := env.run(m)
	if !ran || wake != t0+5000 {
		t.Fatalf("Run = %v, %d; want true, %d (the timer deadline)", ran, wake, t0+5000)
	}
	if st := m.VCPUInfo()[0].State; st != "hlt" || m.Halts != 1 {
		t.Fatalf("after HLT: %s, halts %d", st, m.Halts)
	}
	if b.regs.RIP != testEntry+4*2+1 || cpu.now != t0 {
		t.Errorf("rip %#x now %d", b.regs.RIP, cpu.now)
	}
	n := len(b.entries)

	// Before the deadline nothing runs.
	cpu.now = t0 + 4999
	if ran, wake := env.run(m); ran || wake != t0+5000 || len(b.entries) != n {
		t.Fatalf("before the deadline: Run = %v, %d, %d entries", ran, wake, len(b.entries)-n)
	}
	// After it the vCPU resumes and takes the timer interrupt.
	cpu.now = t0 + 5010
	if ran, wake := env.run(m); !ran || wake != 0 {
		t.Fatalf("after the deadline: Run = %v, %d", ran, wake)
	}
	if e := b.entries[n]; !reflect.DeepEqual(e.events, []event{intr(timerVector)}) || e.regs.RIP != testEntry+9 {
		t.Errorf("wake-up entry: events %v rip %#x", e.events, e.regs.RIP)
	}
	if m.InterruptsDelivered != 1 || m.VCPUInfo()[0].State != "running" {
		t.Errorf("delivered %d state %s", m.InterruptsDelivered, m.VCPUInfo()[0].State)
	}
	isr, _ := m.VCPUs[0].APIC.ReadMSR(x2apic.IA32_X2APIC_ISR0+timerVector/32, cpu.now)
	if isr != 1<<(timerVector%32) {
		t.Errorf("ISR %#x: vector not accepted", isr)
	}
}

func TestHLTInterruptWindow(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	t0 := cpu.now
	_, m, b := env.start(t, append(armTimer(1000), hlt(true))...)
	env.run(m)
	// The guest cannot take the interrupt when it wakes (an interrupt
	// shadow, say): the machine asks for a window and injects there.
	b.shadow = true
	b.script = []step{{exit: hv.Exit{Reason: hv.ExitInterruptWindow, Vendor: hv.VendorSVM}, do: func() { b.shadow = false }}}
	n := len(b.entries)
	cpu.now = t0 + 1000
	env.run(m)
	if e := b.entries[n]; !e.window || len(e.events) != 0 {
		t.Errorf("first entry after waking: window %v events %v", e.window, e.events)
	}
	if e := b.entries[n+1]; e.window || !reflect.DeepEqual(e.events, []event{intr(timerVector)}) {
		t.Errorf("after the window exit: window %v events %v", e.window, e.events)
	}
	if !reflect.DeepEqual(b.windowReqs, []bool{true, false}) || m.InterruptsDelivered != 1 {
		t.Errorf("window requests %v delivered %d", b.windowReqs, m.InterruptsDelivered)
	}
}

func TestHLTWithInterruptAlreadyPending(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	h := hlt(true)
	h.do = func() { cpu.now += 2000 } // the timer expired before HLT
	_, m, b := env.start(t, append(armTimer(1000), h)...)
	env.run(m)
	if e := b.entries[5]; !reflect.DeepEqual(e.events, []event{intr(timerVector)}) || e.regs.RIP != testEntry+9 {
		t.Errorf("after HLT: events %v rip %#x", e.events, e.regs.RIP)
	}
	if m.Halts != 1 || m.VCPUInfo()[0].State != "running" {
		t.Errorf("halts %d state %s", m.Halts, m.VCPUInfo()[0].State)
	}
}

func TestHLTWithInterruptsOff(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	_, m, b := env.start(t, append(armTimer(1000), hlt(false))...)
	if ran, wake := env.run(m); !ran || wake != 0 {
		t.Fatalf("Run = %v, %d; want true, 0", ran, wake)
	}
	if st := m.VCPUInfo()[0].State; st != "idle" {
		t.Fatalf("state %s, want idle", st)
	}
	n := len(b.entries)
	cpu.now += 1_000_000 // the timer fires: it does not wake an IF=0 HLT
	if ran, wake := env.run(m); ran || wake != 0 || len(b.entries) != n {
		t.Errorf("idle vCPU ran: %v, %d", ran, wake)
	}
}

func TestHypercalls(t *testing.T) {
	env := newTestEnv(t)
	vm, m, b := env.start(t,
		hypercall(vmm.HC_VERSION),
		hypercall(0xC600_0099, 1, 2, 3),
		hypercall(vmm.HC_VCPU_ID),
		hypercall(vmm.HC_CONSOLE_WRITE, 0x8000, 5),
		hypercall(vmm.HC_YIELD),
		cpuidStep(0, 0, 2),
	)
	copy(vm.RAM.Mem[0x8000:], "hello")
	env.run(m)
	if len(b.entries) != 5 || len(b.script) != 1 {
		t.Fatalf("%d entries, %d steps left: HC_YIELD must end the slice", len(b.entries), len(b.script))
	}
	if cpu := env.cpu; cpu.deadline() != 0 {
		t.Errorf("preemption timer left armed at %d", cpu.deadline())
	}
	for i, w := range []struct{ rax, rdi uint64 }{
		{vmm.HCVersion, 0},
		{vmm.SMCCC_NOT_SUPPORTED, 1},
		{0, uint64(vm.ID)}, // vCPU 0 of VM 1
		{5, 0x8000},
	} {
		r := b.entries[i+1].regs
		if r.RAX != w.rax || r.RDI != w.rdi || r.RIP != testEntry+3*uint64(i+1) {
			t.Errorf("hypercall %d: rax %#x rdi %#x rip %#x; want %#x %#x %#x", i, r.RAX, r.RDI, r.RIP, w.rax, w.rdi, testEntry+3*(i+1))
		}
	}
	if r := b.regs; r.RAX != vmm.SMCCC_SUCCESS || r.RIP != testEntry+15 {
		t.Errorf("HC_YIELD: rax %#x rip %#x", r.RAX, r.RIP)
	}
	if string(vm.Log.Bytes()) != "hello" || vm.Stats.Hypercalls != 5 || vm.Stats.BadHypercalls != 1 {
		t.Errorf("log %q hypercalls %d bad %d", vm.Log.Bytes(), vm.Stats.Hypercalls, vm.Stats.BadHypercalls)
	}
	// The next slice goes on where the yield left off.
	env.run(m)
	if len(b.script) != 0 || m.CPUIDs != 1 {
		t.Errorf("after the yield: %d steps left", len(b.script))
	}
}

func TestShutdownCrashesOnlyThatVM(t *testing.T) {
	env := newTestEnv(t)
	vm, m, b := env.start(t,
		cpuidStep(0, 0, 2),
		step{exit: hv.Exit{Reason: hv.ExitShutdown, Vendor: hv.VendorSVM}, set: func(r *Regs) { r.RIP = 0xfff0 }},
	)
	other, om, _ := env.machine(t, "bystander")
	if err := env.mgr.Start(other); err != nil {
		t.Fatal(err)
	}
	ob := om.VCPUs[0].be.(*fakeBackend)
	env.mgr.RunOnce(0)
	if vm.State != vmm.Crashed || !strings.Contains(vm.Reason, "triple fault") || !strings.Contains(vm.Reason, "0xfff0") || m.Triples != 1 {
		t.Fatalf("x86: state %s reason %q triples %d", vm.State, vm.Reason, m.Triples)
	}
	if info := m.VCPUInfo(); info[0].State != "off" || info[1].State != "off" {
		t.Errorf("vCPUs after the crash: %+v", info)
	}
	if !strings.Contains(env.con.String(), "vm x86 stopped") {
		t.Errorf("operator console: %q", env.con.String())
	}
	if other.State != vmm.Running || len(ob.entries) == 0 {
		t.Fatalf("bystander: state %s, %d entries", other.State, len(ob.entries))
	}
	n, on := len(b.entries), len(ob.entries)
	env.mgr.RunOnce(0)
	if len(b.entries) != n || len(ob.entries) <= on || other.State != vmm.Running {
		t.Errorf("second round: crashed VM entered %d times, bystander %d", len(b.entries)-n, len(ob.entries)-on)
	}
}

func TestFatalExitsCrashTheVM(t *testing.T) {
	for _, c := range []struct {
		name string
		exit hv.Exit
		want []string
	}{
		{"svm invalid", hv.Exit{Reason: hv.ExitInvalidState, Vendor: hv.VendorSVM,
			SVM: hv.SVMExit{ExitCode: ^uint64(0), ExitInfo1: 0x1, ExitInfo2: 0x2}},
			[]string{"refused the guest state", "svm exitcode 0xffffffffffffffff exitinfo1 0x1 exitinfo2 0x2"}},
		{"vmx entry failure", hv.Exit{Reason: hv.ExitInvalidState, Vendor: hv.VendorVMX,
			VMX: hv.VMXExit{Reason: 0x8000_0021, Qualification: 0x3}},
			[]string{"refused the guest state", "vmx reason 0x80000021 qualification 0x3"}},
		{"svm unknown", hv.Exit{Reason: hv.ExitUnknown, Vendor: hv.VendorSVM, RIP: 0x1234,
			SVM: hv.SVMExit{ExitCode: 0x6e, ExitInfo1: 0x12, ExitInfo2: 0x34}},
			[]string{"unhandled exit (svm exitcode 0x6e exitinfo1 0x12 exitinfo2 0x34) at rip 0x1234"}},
		{"vmx unknown", hv.Exit{Reason: hv.ExitUnknown, Vendor: hv.VendorVMX,
			VMX: hv.VMXExit{Reason: 0x10, Qualification: 0x7}},
			[]string{"unhandled exit (vmx reason 0x10 qualification 0x7)"}},
		{"out of range", hv.Exit{Reason: hv.ExitReason(200)}, []string{"unhandled exit (exit(200))"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := newTestEnv(t)
			vm, m, b := env.start(t, step{exit: c.exit})
			env.run(m)
			if vm.State != vmm.Crashed || m.VCPUInfo()[0].State != "off" {
				t.Fatalf("state %s, vCPU %s", vm.State, m.VCPUInfo()[0].State)
			}
			for _, w := range c.want {
				if !strings.Contains(vm.Reason, w) {
					t.Errorf("reason %q lacks %q", vm.Reason, w)
				}
			}
			if len(b.entries) != 1 {
				t.Errorf("%d entries after a fatal exit", len(b.entries))
			}
		})
	}
}

func TestReflectedExits(t *testing.T) {
	env := newTestEnv(t)
	vm, m, b := env.start(t,
		step{exit: hv.Exit{Reason: hv.ExitOther, Vendor: hv.VendorSVM, InstrLen: 3}}, // VMRUN
		step{exit: hv.Exit{Reason: hv.ExitException, Vendor: hv.VendorSVM, Vector: VEC_AC, HasError: true}},
		step{exit: hv.Exit{Reason: hv.ExitException, Vendor: hv.VendorSVM, Vector: VEC_DB}},
	)
	env.run(m)
	for i, want := range []event{exc(VEC_UD, 0, false), exc(VEC_AC, 0, true), exc(VEC_DB, 0, false)} {
		if e := b.entries[i+1]; !reflect.DeepEqual(e.events, []event{want}) || e.regs.RIP != testEntry {
			t.Errorf("exit %d: events %v rip %#x, want %v", i, e.events, e.regs.RIP, want)
		}
	}
	if m.Injected != 3 || vm.Stats.Injected != 3 || vm.State != vmm.Running {
		t.Errorf("injected %d/%d state %s", m.Injected, vm.Stats.Injected, vm.State)
	}
}

func TestPreemption(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	_, m, b := env.start(t, cpuidStep(0, 0, 2), cpuidStep(0, 0, 2))
	t0 := cpu.now
	cpu.preempts = nil
	// Every entry arms the slice end; the fake guest then computes until
	// it, and the run returns disarmed.
	m.Run(0, t0+5000)
	if want := []int64{t0 + 5000, t0 + 5000, t0 + 5000, 0}; !reflect.DeepEqual(cpu.preempts, want) {
		t.Errorf("preempts %v, want %v", cpu.preempts, want)
	}
	if cpu.now != t0+5000 || m.Preemptions != 1 || len(b.entries) != 3 {
		t.Errorf("now %d preemptions %d entries %d", cpu.now, m.Preemptions, len(b.entries))
	}

	// A slice that has already ended enters nothing.
	cpu.preempts = nil
	m.Run(0, cpu.now)
	if len(b.entries) != 3 || !reflect.DeepEqual(cpu.preempts, []int64{0}) {
		t.Errorf("expired slice: %d entries, preempts %v", len(b.entries), cpu.preempts)
	}

	// An exit after the slice end stops the run even with work left.
	slow := cpuidStep(0, 0, 2)
	slow.do = func() { cpu.now += 10_000 }
	b.script = []step{slow, cpuidStep(0, 0, 2)}
	m.Run(0, cpu.now+1000)
	if len(b.entries) != 4 || len(b.script) != 1 {
		t.Errorf("overrun slice: %d entries, %d steps left", len(b.entries), len(b.script))
	}

	// An APIC timer due before the slice end arms the earlier deadline;
	// once it fired the slice end is armed again.
	b.script = armTimer(500)
	b.regs.RFLAGS |= RFLAGS_IF
	cpu.preempts = nil
	t1 := cpu.now
	m.Run(0, t1+5000)
	if want := []int64{t1 + 5000, t1 + 5000, t1 + 5000, t1 + 5000, t1 + 500, t1 + 5000, 0}; !reflect.DeepEqual(cpu.preempts, want) {
		t.Errorf("preempts %v, want %v", cpu.preempts, want)
	}
	if e := b.last(); !reflect.DeepEqual(e.events, []event{intr(timerVector)}) || e.now != t1+500 {
		t.Errorf("entry after the timer: events %v at %d", e.events, e.now)
	}
}

// TestConsoleInterrupt: the 16550's THR-empty interrupt, gated by
// MCR.OUT2, reaches the guest as ISA vector 0x20+4.
func TestConsoleInterrupt(t *testing.T) {
	env := newTestEnv(t)
	sivr := wrmsrStep(x2apic.IA32_X2APIC_SIVR, 1<<x2apic.SVR_APIC_ENABLE|0xff)
	set := sivr.set
	sivr.set = func(r *Regs) { set(r); r.RFLAGS |= RFLAGS_IF }
	_, m, b := env.start(t,
		sivr,
		outStep(0x3f8+uart16550.MCR, 1, 1<<uart16550.MCR_OUT2, 1),
		outStep(0x3f8+uart16550.IER, 1, 1<<uart16550.IER_ETBEI, 1),
	)
	env.run(m)
	if e := b.entries[2]; len(e.events) != 0 {
		t.Errorf("interrupt before IER: %v", e.events)
	}
	if e := b.entries[3]; !reflect.DeepEqual(e.events, []event{intr(x2apic.ISAVectorBase + 4)}) {
		t.Errorf("after IER.ETBEI: events %v, want vector %#x", e.events, x2apic.ISAVectorBase+4)
	}
	if _, err := m.IRQ(16); err == nil {
		t.Error("IRQ(16) accepted")
	}
	if _, err := m.IRQ(-1); err == nil {
		t.Error("IRQ(-1) accepted")
	}
}

func TestArchStats(t *testing.T) {
	env := newTestEnv(t)
	_, m, _ := env.start(t, cpuidStep(0, 0, 2), outStep(0x80, 1, 0, 2), simple(hv.ExitOther))
	env.run(m)
	s := m.ArchStats().(map[string]any)
	reasons := s["exits_by_reason"].(map[string]uint64)
	if s["vendor"] != "svm" || reasons["cpuid"] != 1 || reasons["io"] != 1 || reasons["other"] != 1 || reasons["interrupt"] != 1 {
		t.Errorf("stats %v", s)
	}
	if s["cpuid"] != uint64(1) || s["unclaimed_io"] != uint64(1) || s["injected"] != uint64(1) || s["preemptions"] != uint64(1) {
		t.Errorf("stats %v", s)
	}
	if m.VCPUs[0].Exits != 4 || m.VM.Stats.Exits != 4 {
		t.Errorf("exits %d/%d", m.VCPUs[0].Exits, m.VM.Stats.Exits)
	}
}

// TestGarbageExits feeds random exits and registers: the handlers must
// neither panic nor touch another VM.
func TestGarbageExits(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	rng := rand.New(rand.NewPCG(3, 4))
	var script []step
	for i := 0; i < 20000; i++ {
		e := hv.Exit{
			Reason:   hv.ExitReason(rng.IntN(hv.NumExitReasons + 2)),
			Vendor:   hv.Vendor(rng.IntN(3)),
			InstrLen: rng.IntN(17),
			IO: hv.IOExit{Port: uint16(rng.Uint32()), Size: rng.IntN(6), Write: rng.IntN(2) == 0,
				String: rng.IntN(8) == 0, Rep: rng.IntN(8) == 0, Value: rng.Uint32()},
			GPA: hv.IPA(rng.Uint64()), MSR: rng.Uint32(), Write: rng.IntN(2) == 0,
			Vector: uint8(rng.Uint32()), ErrorCode: rng.Uint32(), HasError: rng.IntN(2) == 0,
			SVM: hv.SVMExit{ExitCode: rng.Uint64()}, VMX: hv.VMXExit{Reason: rng.Uint32()},
		}
		if rng.IntN(2) == 0 { // aim at the x2APIC and emulated MSRs
			e.MSR = []uint32{MSR_IA32_TSC, MSR_IA32_APIC_BASE, 0x800 + uint32(rng.IntN(0x100))}[rng.IntN(3)]
		}
		if e.Reason == hv.ExitShutdown && rng.IntN(4) != 0 {
			e.Reason = hv.ExitCPUID
		}
		regs := [18]uint64{}
		for j := range regs {
			regs[j] = rng.Uint64()
		}
		if rng.IntN(2) == 0 { // a hypercall number in the ABI's range
			regs[0] = vmm.HC_VERSION + uint64(rng.IntN(5))
		}
		script = append(script, step{exit: e, set: func(r *Regs) {
			*r = Regs{regs[0], regs[1], regs[2], regs[3], regs[4], regs[5], regs[6], regs[7],
				regs[8], regs[9], regs[10], regs[11], regs[12], regs[13], regs[14], regs[15], regs[16], regs[17]}
		}})
	}
	vm, m, b := env.start(t, script...)
	other, om, _ := env.machine(t, "bystander")
	otherRAM := append([]byte(nil), other.RAM.Mem[:1<<16]...)
	for rounds := 0; len(b.script) > 0; rounds++ {
		if rounds > 40000 {
			t.Fatal("no progress")
		}
		if vm.State != vmm.Running {
			if err := env.mgr.Reset(vm); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range m.VCPUs[:1] {
			v.state = vcpuRunnable // also after HLT
		}
		m.Run(0, cpu.now+1_000_000)
	}
	if vm.Stats.Exits < 20000 {
		t.Errorf("only %d exits handled", vm.Stats.Exits)
	}
	if om.VCPUs[0].Exits != 0 || !bytes.Equal(other.RAM.Mem[:1<<16], otherRAM) {
		t.Error("the other VM was touched")
	}
}

// TestHypercallFromUserMode: VMMCALL at CPL 3 is not a hypercall; the
// guest gets #UD and nothing is executed.
func TestHypercallFromUserMode(t *testing.T) {
	env := newTestEnv(t)
	vm, m, b := env.start(t, hypercall(vmm.HC_CONSOLE_WRITE, 0x8000, 5))
	b.cpl = 3
	copy(vm.RAM.Mem[0x8000:], "hello")
	env.run(m)
	if len(vm.Log.Bytes()) != 0 || vm.Stats.BadHypercalls != 1 || vm.Stats.Hypercalls != 0 {
		t.Fatalf("log %q hypercalls %d bad %d", vm.Log.Bytes(), vm.Stats.Hypercalls, vm.Stats.BadHypercalls)
	}
	if len(b.entries) < 2 || !reflect.DeepEqual(b.entries[1].events, []event{exc(VEC_UD, 0, false)}) || b.entries[1].regs.RIP != testEntry {
		t.Fatalf("entries %+v: want #UD at the VMMCALL", b.entries)
	}
}

// A physical interrupt exit on the boot CPU ends the slice when another
// CPU's guest is waiting for its exit to be handled (a kick), and
// resumes the guest otherwise.
func TestKickEndsBootCPUSlice(t *testing.T) {
	env := newTestEnv(t)
	cpu := env.cpu
	intrExit := step{exit: hv.Exit{Reason: hv.ExitInterrupt, Vendor: hv.VendorSVM}}
	kick := step{exit: hv.Exit{Reason: hv.ExitInterrupt, Vendor: hv.VendorSVM}, do: func() { cpu.kick = true }}
	_, m, b := env.start(t, intrExit, kick, intrExit)
	if ran, _ := env.run(m); !ran {
		t.Fatal("vCPU did not run")
	}
	// Two entries: the plain interrupt resumed, the kick yielded.
	if len(b.entries) != 2 || m.Kicks != 1 || m.Preemptions != 2 {
		t.Fatalf("entries %d kicks %d preemptions %d; want 2, 1, 2", len(b.entries), m.Kicks, m.Preemptions)
	}
	if cpu.kick {
		t.Error("the kick was not consumed")
	}
	if cpu.preemptCPU != 0 || cpu.deadline() != 0 {
		t.Errorf("timer left armed on CPU %d: %d", cpu.preemptCPU, cpu.deadline())
	}
	env.run(m)
	if len(b.entries) < 4 {
		t.Errorf("the next slice did not resume the guest: %d entries", len(b.entries))
	}
}

// A vCPU pinned to an application processor runs only from that CPU's
// scheduler, arms that CPU's timer, and a kick (meant for the boot CPU)
// does not end its slice.
func TestVCPUPinnedToAP(t *testing.T) {
	env := newTestEnv(t)
	env.mgr = vmm.New(vmm.Config{
		Manifest: []byte(`{"vms": [{"name": "ap", "id": 1, "vcpus": [{"cpu": 1}], "memory": {"base": 0, "size": "16M"},
			"kernel": "k", "console": {"port": "0x3f8", "irq": 4}}]}`),
		Image: func(name string) ([]byte, bool) { return dummyKernel, name == "k" },
		CPUs:  2, Pool: env.pool, Arch: env.arch, Console: env.con,
		MemView: func(pa hv.PA, size uint64) []byte { return make([]byte, size) },
		Now:     func() int64 { return env.cpu.now },
	})
	vm, err := env.mgr.Lookup("ap")
	if err != nil {
		t.Fatalf("%v (rejected %q)", err, env.mgr.Rejected)
	}
	if err := env.mgr.Start(vm); err != nil {
		t.Fatal(err)
	}
	m := vm.Machine.(*Machine)
	b := m.VCPUs[0].be.(*fakeBackend)
	if b.pcpu != 1 || m.VCPUInfo()[0].PCPU != 1 {
		t.Fatalf("backend pinned to %d, info %+v", b.pcpu, m.VCPUInfo())
	}
	if ran, _ := m.Run(0, env.cpu.now+int64(vmm.Quantum)); ran || len(b.entries) != 0 {
		t.Fatalf("CPU 0 ran the vCPU pinned to CPU 1")
	}
	env.cpu.kick = true
	b.script = []step{{exit: hv.Exit{Reason: hv.ExitInterrupt, Vendor: hv.VendorSVM}}, hlt(false)}
	if ran, _ := m.Run(1, env.cpu.now+int64(vmm.Quantum)); !ran {
		t.Fatal("CPU 1 did not run its vCPU")
	}
	if len(b.entries) != 2 || m.Kicks != 0 || !env.cpu.kick {
		t.Errorf("entries %d kicks %d: a kick ended an AP's slice", len(b.entries), m.Kicks)
	}
	if env.cpu.preemptCPU != 1 || b.entries[0].deadline == 0 {
		t.Errorf("timer armed on CPU %d (deadline %d), want CPU 1", env.cpu.preemptCPU, b.entries[0].deadline)
	}
}
