// vmm: the architecture-neutral VM manager of tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmm

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/shell"
)

func TestGuestRAMSlice(t *testing.T) {
	r := GuestRAM{IPA: 0x4000_0000, PA: 0x5000_0000, Size: 0x1000, Mem: make([]byte, 0x1000)}
	for _, c := range []struct {
		ipa, n uint64
		ok     bool
	}{
		{0x4000_0000, 0x1000, true},
		{0x4000_0ff0, 0x10, true},
		{0x4000_0ff0, 0x11, false},
		{0x3fff_ffff, 1, false},
		{0x4000_1001, 0, false},
		{^uint64(0), 2, false},
		{0x4000_0000, ^uint64(0), false},
	} {
		b, ok := r.Slice(c.ipa, c.n)
		if ok != c.ok || (ok && uint64(len(b)) != c.n) {
			t.Errorf("Slice(%#x, %#x) = %d bytes, %v; want ok=%v", c.ipa, c.n, len(b), ok, c.ok)
		}
	}
	if pa, ok := r.ToPA(0x4000_0010); !ok || pa != 0x5000_0010 {
		t.Errorf("ToPA = %v %v", pa, ok)
	}
}

func TestRAMPool(t *testing.T) {
	p := NewRAMPool([]hv.Region{{Base: 0x5010_0000, Size: 0x1000_0000}})
	// Trimmed to 2 MiB alignment at both ends.
	if p.Free() != 0x1000_0000-RAMAlign {
		t.Fatalf("Free = %#x", p.Free())
	}
	a, err := p.Alloc(1)
	if err != nil || a != 0x5020_0000 {
		t.Fatalf("Alloc = %v, %v", a, err)
	}
	b, err := p.Alloc(64 << 20)
	if err != nil || b != a+RAMAlign {
		t.Fatalf("second Alloc = %v, %v", b, err)
	}
	if _, err := p.Alloc(1 << 40); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("huge Alloc err = %v", err)
	}
	p.Release(a, 1)
	p.Release(b, 64<<20)
	if p.Free() != 0x1000_0000-RAMAlign || len(p.free) != 1 {
		t.Fatalf("after release: free %#x in %d blocks", p.Free(), len(p.free))
	}
}

func TestHypercallABI(t *testing.T) {
	mgr := &Manager{}
	vm := &VM{ID: 7, Name: "t", mgr: mgr, Log: NewRingForTest(),
		RAM: GuestRAM{IPA: 0x4000_0000, Size: 0x1000, Mem: make([]byte, 0x1000)}}
	vm.Output = output{vm}
	copy(vm.RAM.Mem[0x100:], "hello")
	call := func(r ...uint64) [4]uint64 {
		var regs [4]uint64
		copy(regs[:], r)
		vm.Hypercall(2, &regs)
		return regs
	}
	if r := call(HC_VERSION); r[0] != HCVersion {
		t.Errorf("HC_VERSION = %#x", r[0])
	}
	if r := call(HC_VCPU_ID); r[0] != 2 || r[1] != 7 {
		t.Errorf("HC_VCPU_ID = %d, %d", r[0], r[1])
	}
	if r := call(HC_CONSOLE_WRITE, 0x4000_0100, 5); r[0] != 5 || string(vm.Log.Bytes()) != "hello" {
		t.Errorf("HC_CONSOLE_WRITE = %d, log %q", r[0], vm.Log.Bytes())
	}
	for _, bad := range [][2]uint64{{0x4000_0ffe, 4}, {0x1000, 1}, {0x4000_0000, HCConsoleMax + 1}, {^uint64(0), 2}} {
		if r := call(HC_CONSOLE_WRITE, bad[0], bad[1]); r[0] != HC_EINVAL {
			t.Errorf("HC_CONSOLE_WRITE(%#x, %d) = %#x, want EINVAL", bad[0], bad[1], r[0])
		}
	}
	var regs [4]uint64
	regs[0] = HC_YIELD
	if vm.Hypercall(0, &regs) != HCYield || regs[0] != 0 {
		t.Errorf("HC_YIELD")
	}
	if r := call(0xC600_0099); r[0] != SMCCC_NOT_SUPPORTED {
		t.Errorf("unknown = %#x", r[0])
	}
	if vm.Stats.BadHypercalls != 5 {
		t.Errorf("bad hypercalls = %d, want 5", vm.Stats.BadHypercalls)
	}
}

// fakeMachine records what the manager asks of it.
type fakeMachine struct {
	boots, stops, runs int
	failBoot           bool
}

func (f *fakeMachine) Boot() error {
	f.boots++
	if f.failBoot {
		return errors.New("bad image")
	}
	return nil
}
func (f *fakeMachine) Run(pcpu int, until int64) (bool, int64) { f.runs++; return true, 0 }
func (f *fakeMachine) Stop()                                   { f.stops++ }
func (f *fakeMachine) VCPUInfo() []VCPUInfo                    { return []VCPUInfo{{Index: 0, State: "running"}} }
func (f *fakeMachine) IRQ(intid int) (hv.IRQLine, error)       { return nil, nil }

type fakeArch struct{ machines []*fakeMachine }

func (a *fakeArch) NewMachine(vm *VM) (Machine, error) {
	m := &fakeMachine{}
	a.machines = append(a.machines, m)
	return m, nil
}

const testManifest = `{"vms": [
 {"name": "a", "id": 1, "vcpus": [{"cpu": 0}], "memory": {"base": "0x40000000", "size": "4M"},
  "kernel": "k", "console": {"base": "0x09000000", "irq": 33}, "autostart": true},
 {"name": "b", "id": 2, "vcpus": [{"cpu": 3}], "memory": {"base": "0x40000000", "size": "4M"}, "kernel": "k"},
 {"name": "c", "id": 3, "vcpus": [{"cpu": 0}], "memory": {"base": "0x40000000", "size": "4M"}, "kernel": "missing"}
]}`

func newTestManager(t *testing.T) (*Manager, *fakeArch, *bytes.Buffer) {
	t.Helper()
	arch := &fakeArch{}
	con := &bytes.Buffer{}
	mem := map[hv.PA][]byte{}
	m := New(Config{
		Manifest: []byte(testManifest),
		Image: func(name string) ([]byte, bool) {
			if name == "k" {
				return []byte{1, 2, 3, 4}, true
			}
			return nil, false
		},
		CPUs:    2,
		Pool:    NewRAMPool([]hv.Region{{Base: 0x5000_0000, Size: 64 << 20}}),
		Arch:    arch,
		Console: con,
		MemView: func(pa hv.PA, size uint64) []byte {
			b := make([]byte, size)
			mem[pa] = b
			return b
		},
	})
	return m, arch, con
}

// TestManagerRejectsAndStarts: invalid VMs (a vCPU pinned to a CPU the
// machine lacks, a missing image) are reported and skipped; the valid
// one is created, autostarted, stopped, reset and listed.
func TestManagerRejectsAndStarts(t *testing.T) {
	m, arch, _ := newTestManager(t)
	if len(m.VMs()) != 1 || m.VMs()[0].Name != "a" {
		t.Fatalf("VMs = %v", m.VMs())
	}
	if len(m.Rejected) != 2 || !strings.Contains(strings.Join(m.Rejected, "\n"), `"b"`) ||
		!strings.Contains(strings.Join(m.Rejected, "\n"), `"c"`) {
		t.Fatalf("Rejected = %q", m.Rejected)
	}
	m.StartAutostart()
	vm, err := m.Lookup("1")
	if err != nil || vm.State != Running || arch.machines[0].boots != 1 {
		t.Fatalf("after autostart: %v %v boots %d", vm, err, arch.machines[0].boots)
	}
	if err := m.Start(vm); !errors.Is(err, ErrState) {
		t.Errorf("Start of running VM: %v", err)
	}
	m.RunOnce(0)
	if arch.machines[0].runs != 1 {
		t.Errorf("runs = %d", arch.machines[0].runs)
	}
	if err := m.Stop(vm); err != nil || vm.State != Stopped {
		t.Errorf("Stop: %v %s", err, vm.State)
	}
	m.RunOnce(0)
	if arch.machines[0].runs != 1 {
		t.Errorf("a stopped VM ran")
	}
	if err := m.Reset(vm); err != nil || vm.State != Running || vm.Stats.Starts != 2 {
		t.Errorf("Reset: %v %s starts %d", err, vm.State, vm.Stats.Starts)
	}
	arch.machines[0].failBoot = true
	if err := m.Reset(vm); err == nil || vm.State != Crashed {
		t.Errorf("failed reset: %v %s", err, vm.State)
	}
}

func TestShellVM(t *testing.T) {
	m, _, _ := newTestManager(t)
	m.StartAutostart()
	vm, _ := m.Lookup("a")
	vm.Output.Write([]byte("guest says hi\n"))

	// A serial console delivers what was typed, one burst per read.
	got := runShell(t, m, "vm list\r", "vm list --json\r", "vm log a\r", "vm stop a\r", "vm stop a\r",
		"vm bogus a\r", "vm start nosuch\r", "vm start a\r", "vm console a\r", "typed", "more\x1d", "vm list\r")
	for _, want := range []string{
		"a            running",
		`"name":"a"`,
		`"rejected":[`,
		"guest says hi",
		"vm a: stopped",
		"error: vmm: vm is in the wrong state: a is stopped",
		"error: usage: vm",
		`error: vmm: no such vm: "nosuch"`,
		"[attached to a; Ctrl-] detaches]",
		"[detached from a]",
		"vm a: running",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("shell output lacks %q:\n%s", want, got)
		}
	}
	// The typed bytes reached the VM's UART receive path (its FIFO takes
	// one byte until the guest enables it; the rest waits in pendingIn).
	if vm.Console == nil {
		t.Fatal("no console device")
	}
	u := vm.Console.(interface{ RXSpace() int })
	if got := 1 - u.RXSpace() + len(vm.pendingIn); got != len("typedmore") {
		t.Errorf("console input queued %d bytes, want %d", got, len("typedmore"))
	}
}

type bursts struct{ parts []string }

func (b *bursts) Read(p []byte) (int, error) {
	if len(b.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.parts[0])
	if n == len(b.parts[0]) {
		b.parts = b.parts[1:]
	} else {
		b.parts[0] = b.parts[0][n:]
	}
	return n, nil
}

// TestRunOncePerCPU: each physical CPU's scheduler runs only the VMs with
// a vCPU pinned to it, and the board's poll hook runs on CPU 0's rounds.
func TestRunOncePerCPU(t *testing.T) {
	m, arch, _ := newTestManager(t)
	polls := 0
	m.cfg.Poll = func() { polls++ }
	m.StartAutostart() // "a", pinned to CPU 0
	fa := arch.machines[0]
	m.RunOnce(1)
	if fa.runs != 0 || polls != 0 {
		t.Fatalf("CPU 1 round: vm a ran %d times, %d polls", fa.runs, polls)
	}
	m.RunOnce(0)
	if fa.runs != 1 || polls != 1 {
		t.Fatalf("CPU 0 round: vm a ran %d times, %d polls", fa.runs, polls)
	}
}

func TestShellCPUs(t *testing.T) {
	m, _, _ := newTestManager(t)
	m.cfg.CPUStats = func() []CPUStat {
		return []CPUStat{{CPU: 0, Online: true, Role: "boot", GuestRuns: 7}, {CPU: 1, Online: false, Role: "guest executor"}}
	}
	got := runShell(t, m, "cpus\r", "cpus --json\r", "cpus extra\r")
	for _, want := range []string{
		"0    true    7            boot",
		"1    false   0            guest executor",
		`{"cpus":[{"cpu":0,"online":true,"role":"boot","guest_runs":7},{"cpu":1,"online":false,"role":"guest executor","guest_runs":0}]}`,
		"error: usage: cpus",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("cpus output lacks %q:\n%s", want, got)
		}
	}
}

// runShell runs the manager's commands in a shell fed parts, one burst
// per read as a serial console delivers them, and returns the output.
func runShell(t *testing.T, m *Manager, parts ...string) string {
	t.Helper()
	in := &bursts{parts: parts}
	out := &bytes.Buffer{}
	sh := shell.New(in, out)
	sh.SetEcho(false)
	for _, c := range m.Commands(in) {
		if err := sh.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := sh.Run(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestCPUTable(t *testing.T) {
	got := CPUTable(3, 2, func(cpu int) uint64 { return uint64(10 * (cpu + 1)) })
	want := []CPUStat{
		{CPU: 0, Online: true, Role: "boot: Go runtime, schedulers, exit handling, guests", GuestRuns: 10},
		{CPU: 1, Online: true, Role: "guest executor", GuestRuns: 20},
		{CPU: 2, Online: false, Role: "guest executor", GuestRuns: 30},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CPUTable = %+v\nwant %+v", got, want)
	}
	if len(CPUTable(0, 0, nil)) != 0 {
		t.Error("CPUTable(0) not empty")
	}
}

// TestQuiesce: while the world is stopped no scheduler starts a slice; a
// slice under way is waited for, or the stop gives up at its timeout and
// lets the schedulers go on; a second concurrent stop is refused.
func TestQuiesce(t *testing.T) {
	m, arch, _ := newTestManager(t)
	m.StartAutostart()
	fa := arch.machines[0]
	resume, _, err := m.Quiesce(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Quiesce(time.Millisecond); err == nil {
		t.Error("second Quiesce while stopped succeeded")
	}
	m.RunOnce(0)
	if fa.runs != 0 {
		t.Errorf("a slice ran while stopped (%d)", fa.runs)
	}
	resume()
	m.RunOnce(0)
	if fa.runs != 1 {
		t.Errorf("no slice after resume (%d)", fa.runs)
	}
	// A slice that never ends: the stop times out and undoes itself.
	m.inSlice.Add(1)
	if _, _, err := m.Quiesce(20 * time.Millisecond); !errors.Is(err, ErrQuiesceTimeout) {
		t.Errorf("Quiesce over a stuck slice: %v", err)
	}
	m.inSlice.Add(-1)
	m.RunOnce(0)
	if fa.runs != 2 {
		t.Errorf("schedulers still stopped after a timed-out Quiesce (%d)", fa.runs)
	}
	// A slice that ends while Quiesce waits.
	m.inSlice.Add(1)
	go func() { time.Sleep(10 * time.Millisecond); m.inSlice.Add(-1) }()
	resume, wait, err := m.Quiesce(time.Second)
	if err != nil || wait < 5*time.Millisecond {
		t.Errorf("Quiesce over an ending slice: %v after %v", err, wait)
	} else {
		resume()
	}
}

func TestRegisterHypercall(t *testing.T) {
	const fid = HC_FIXTURE_FIRST + 0x42
	if err := RegisterHypercall(HC_VERSION, func(*VM, int, *[4]uint64) {}); err == nil {
		t.Error("registered an ABI function id")
	}
	if err := RegisterHypercall(fid, nil); err == nil {
		t.Error("registered nil")
	}
	if err := RegisterHypercall(fid, func(vm *VM, vcpu int, r *[4]uint64) { r[0] = r[1] + uint64(vcpu) }); err != nil {
		t.Fatal(err)
	}
	defer delete(extraHypercalls, fid)
	if err := RegisterHypercall(fid, func(*VM, int, *[4]uint64) {}); err == nil {
		t.Error("registered twice")
	}
	vm := &VM{Log: NewRingForTest()}
	regs := [4]uint64{fid, 40}
	vm.Hypercall(2, &regs)
	if regs[0] != 42 || vm.Stats.BadHypercalls != 0 {
		t.Errorf("fixture hypercall: %d, %d bad", regs[0], vm.Stats.BadHypercalls)
	}
}
