// vmm: the architecture-neutral VM manager of tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmm

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/manifest"
	"github.com/tamavisor/tamavisor/hv/vdev/pl011"
	"github.com/tamavisor/tamavisor/hv/vdev/uart16550"
)

// Quantum is how long one VM's vCPUs run on a physical CPU before the
// scheduler moves on (and lets the operator shell run).
const Quantum = 10 * time.Millisecond

// LogSize is the size of each VM's console log ring.
const LogSize = 16 << 10

// Manager errors.
var (
	ErrNoVM       = errors.New("vmm: no such vm")
	ErrState      = errors.New("vmm: vm is in the wrong state")
	ErrNoMemory   = errors.New("vmm: not enough host memory for the vm's RAM")
	ErrNoConsole  = errors.New("vmm: vm has no console")
	ErrAttachBusy = errors.New("vmm: a console is already attached")
)

// Config is what the manager needs from the board and the build.
type Config struct {
	// Manifest is the manifest's JSON text.
	Manifest []byte
	// Image returns an embedded image by name.
	Image func(name string) ([]byte, bool)
	// CPUs is the number of physical CPUs.
	CPUs int
	// Pool hands out host memory for guest RAM.
	Pool *RAMPool
	// Reserved are guest-physical windows the architecture claims in
	// every VM (the virtual GIC, for example).
	Reserved []manifest.Window
	// Arch builds the machines.
	Arch Arch
	// Console is the operator console (for attach and messages).
	Console io.Writer
	// MemView returns the hypervisor's view of host memory at
	// [pa, pa+size); on the target an identity-mapped slice.
	MemView func(pa hv.PA, size uint64) []byte
	// Now returns monotonic time in ns (defaults to time.Now based).
	Now func() int64
	// HostReserved and HostIRQs are the host-physical windows and
	// INTIDs the hypervisor keeps; no VM may be given them.
	HostReserved []hv.Region
	HostIRQs     []uint32
	// Poll, if set, runs at the start of every scheduling round of
	// physical CPU 0 (the board polls for physical interrupts there).
	Poll func()
	// CPUStats reports the physical CPUs for the cpus command (nil:
	// the command lists none).
	CPUStats func() []CPUStat
}

// Manager holds every VM of the appliance.
//
// Locking: mu guards the VM list and Rejected; each VM's own mu guards
// its state, machine, console and log, and is held while its vCPUs run
// (by the scheduler of the physical CPU they are pinned to). A VM's lock
// is never taken while holding mu. The attached VM is an atomic pointer,
// read by console output under the VM's lock.
type Manager struct {
	mu       sync.Mutex
	vms      []*VM
	attached atomic.Pointer[VM]
	cfg      Config
	Console  io.Writer
	// Rejected lists the manifest problems found at boot, one line per
	// rejected VM (or one for an unparsable manifest).
	Rejected []string

	// Quiescing (Quiesce): while paused is set no scheduler starts a
	// slice; inSlice counts the slices under way on every CPU.
	paused  atomic.Bool
	inSlice atomic.Int32
}

// New creates the manager and a VM for every valid manifest entry. A VM
// that fails validation, or whose RAM or machine cannot be set up, is
// reported in Rejected and skipped; the others are created.
func New(cfg Config) *Manager {
	if cfg.Now == nil {
		start := time.Now()
		cfg.Now = func() int64 { return int64(time.Since(start)) }
	}
	m := &Manager{cfg: cfg, Console: cfg.Console}
	if len(cfg.Manifest) == 0 {
		m.Rejected = append(m.Rejected, "manifest: none embedded")
		return m
	}
	man, err := manifest.Parse(cfg.Manifest)
	if err != nil {
		m.Rejected = append(m.Rejected, "manifest: "+err.Error())
		return m
	}
	var hostRAM uint64
	if cfg.Pool != nil {
		hostRAM = cfg.Pool.Free()
	}
	rep := man.Validate(manifest.Limits{
		CPUs:         cfg.CPUs,
		GuestRAM:     hostRAM,
		Reserved:     cfg.Reserved,
		HostReserved: cfg.HostReserved,
		HostIRQs:     cfg.HostIRQs,
		ImageSize: func(name string) (int64, bool) {
			b, ok := cfg.Image(name)
			return int64(len(b)), ok
		},
	})
	for _, r := range rep.Rejected {
		m.Rejected = append(m.Rejected, r.Err.Error())
	}
	for _, spec := range rep.Valid {
		vm, err := m.create(spec)
		if err != nil {
			m.Rejected = append(m.Rejected, fmt.Sprintf("vm %q: %v", spec.Name, err))
			continue
		}
		m.vms = append(m.vms, vm)
	}
	return m
}

func (m *Manager) create(spec *manifest.VM) (*VM, error) {
	vm := &VM{ID: int(spec.ID), Name: spec.Name, Spec: spec, State: Stopped, mgr: m, Log: pl011.NewRing(LogSize)}
	vm.Output = output{vm}
	var ok bool
	if vm.Kernel, ok = m.cfg.Image(spec.Kernel); !ok {
		return nil, fmt.Errorf("kernel image %q missing", spec.Kernel)
	}
	if spec.Initrd != "" {
		if vm.Initrd, ok = m.cfg.Image(spec.Initrd); !ok {
			return nil, fmt.Errorf("initrd image %q missing", spec.Initrd)
		}
	}
	if m.cfg.Pool == nil {
		return nil, ErrNoMemory
	}
	pa, err := m.cfg.Pool.Alloc(spec.Memory.Size)
	if err != nil {
		return nil, err
	}
	vm.RAM = GuestRAM{IPA: spec.Memory.Base, PA: pa, Size: spec.Memory.Size, Mem: m.cfg.MemView(pa, spec.Memory.Size)}
	mach, err := m.cfg.Arch.NewMachine(vm)
	if err != nil {
		m.cfg.Pool.Release(pa, spec.Memory.Size)
		return nil, err
	}
	vm.Machine = mach
	if c := spec.Console; c != nil {
		line, err := mach.IRQ(int(c.IRQ))
		if err != nil {
			return nil, fmt.Errorf("console interrupt %d: %w", c.IRQ, err)
		}
		if c.IsPort() {
			u := uart16550.New(spec.Name, vm.Output, line)
			if err := vm.Ports.Register("console", c.Port, manifest.ConsolePorts, u); err != nil {
				return nil, err
			}
			vm.Console = u
		} else {
			u := pl011.New(spec.Name, vm.Output, line)
			if err := vm.Bus.Register("console", c.Base, manifest.ConsoleSize, u); err != nil {
				return nil, err
			}
			vm.Console = u
		}
	}
	return vm, nil
}

// VMs returns the VMs in id order.
func (m *Manager) VMs() []*VM {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]*VM(nil), m.vms...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup finds a VM by name or decimal id.
func (m *Manager) Lookup(name string) (*VM, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, vm := range m.vms {
		if vm.Name == name || fmt.Sprint(vm.ID) == name {
			return vm, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoVM, name)
}

// StartAutostart starts every VM marked autostart.
func (m *Manager) StartAutostart() {
	for _, vm := range m.VMs() {
		if vm.Spec.Autostart {
			if err := m.Start(vm); err != nil {
				fmt.Fprintf(m.Console, "tamavisor: vm %s: %v\r\n", vm.Name, err)
			}
		}
	}
}

// Start boots a VM that is not running.
func (m *Manager) Start(vm *VM) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.State == Running {
		return fmt.Errorf("%w: %s is running", ErrState, vm.Name)
	}
	if err := vm.boot(); err != nil {
		vm.Machine.Stop()
		vm.State = Crashed
		vm.Reason = err.Error()
		return err
	}
	return nil
}

// Stop halts a VM's vCPUs; its RAM and log are kept until it starts again.
func (m *Manager) Stop(vm *VM) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.State != Running {
		return fmt.Errorf("%w: %s is %s", ErrState, vm.Name, vm.State)
	}
	vm.Machine.Stop()
	vm.State = Stopped
	return nil
}

// Reset reboots a VM from its images, whatever its state.
func (m *Manager) Reset(vm *VM) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.Machine.Stop()
	if err := vm.boot(); err != nil {
		vm.State = Crashed
		vm.Reason = err.Error()
		return err
	}
	return nil
}

// Attach connects the operator console to vm's virtual UART.
func (m *Manager) Attach(vm *VM) error {
	if vm.Console == nil {
		return fmt.Errorf("%w: %s", ErrNoConsole, vm.Name)
	}
	if !m.attached.CompareAndSwap(nil, vm) {
		return ErrAttachBusy
	}
	return nil
}

// Detach disconnects the operator console.
func (m *Manager) Detach() {
	m.attached.Store(nil)
}

// MaxPendingInput bounds the operator input queued for a VM whose UART
// FIFO is full; beyond it input is dropped.
const MaxPendingInput = 4096

// Input feeds operator bytes to the attached VM's UART. What the FIFO
// cannot take now is queued (up to MaxPendingInput) and offered again
// before each of the VM's time slices.
func (m *Manager) Input(b []byte) {
	vm := m.attached.Load()
	if vm == nil {
		return
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.Console != nil {
		room := MaxPendingInput - len(vm.pendingIn)
		if len(b) > room {
			b = b[:room]
		}
		vm.pendingIn = append(vm.pendingIn, b...)
		vm.feedInput()
	}
}

// feedInput moves queued operator input into the UART.
func (vm *VM) feedInput() {
	if len(vm.pendingIn) == 0 || vm.Console == nil {
		return
	}
	n := vm.Console.Input(vm.pendingIn)
	vm.pendingIn = vm.pendingIn[:copy(vm.pendingIn, vm.pendingIn[n:])]
}

// Schedule runs the VMs' vCPUs pinned to physical CPU pcpu, round robin,
// forever. Between slices it yields so the shell and other goroutines
// run; when no vCPU is runnable it sleeps until the earliest wake-up.
func (m *Manager) Schedule(pcpu int) {
	for {
		m.RunOnce(pcpu)
	}
}

// RunOnce gives every running VM one slice on pcpu and then yields.
func (m *Manager) RunOnce(pcpu int) {
	if pcpu == 0 && m.cfg.Poll != nil {
		m.cfg.Poll()
	}
	ranAny := false
	wake := int64(0)
	for _, vm := range m.VMs() {
		if !vm.Spec.UsesCPU(pcpu) {
			continue
		}
		if !m.enterSlice() {
			runtime.Gosched()
			continue
		}
		vm.mu.Lock()
		if vm.State == Running {
			vm.feedInput()
			ran, w := vm.Machine.Run(pcpu, m.cfg.Now()+int64(Quantum))
			ranAny = ranAny || ran
			if w != 0 && (wake == 0 || w < wake) {
				wake = w
			}
		}
		vm.mu.Unlock()
		m.inSlice.Add(-1)
		// Let the other CPUs' schedulers (and the shell) in between
		// VMs: their exits are handled on this goroutine's CPU too.
		runtime.Gosched()
	}
	if !ranAny {
		d := 2 * time.Millisecond
		if wake != 0 {
			if until := time.Duration(wake - m.cfg.Now()); until < d {
				d = until
			}
		}
		if d > 0 {
			time.Sleep(d)
		}
	}
}

// ErrQuiesceTimeout is Quiesce's error when a slice did not end in time.
var ErrQuiesceTimeout = errors.New("vmm: vCPUs did not all exit within the quiesce timeout")

// enterSlice counts a slice in unless the world is being stopped.
func (m *Manager) enterSlice() bool {
	if m.paused.Load() {
		return false
	}
	m.inSlice.Add(1)
	if m.paused.Load() { // Quiesce started between the two loads
		m.inSlice.Add(-1)
		return false
	}
	return true
}

// Quiesce stops the world for a live patch (Xen's livepatch rendezvous):
// no scheduler starts another vCPU slice, and Quiesce waits until every
// slice under way on any physical CPU has ended, so every vCPU has exited
// to the hypervisor and is between runs. Slices are bounded by Quantum
// (each run carries its deadline, and an AP's run its own timer), so this
// takes at most about one Quantum unless a CPU is stuck.
//
// It returns resume, which lets the schedulers go on, and how long the
// wait took. If the slices do not all end within timeout it resumes them
// itself and returns ErrQuiesceTimeout; nothing has been stopped then.
// The caller runs the stopped-world work on the boot CPU without
// yielding (tamavisor runs Go code on the boot CPU only, so no other
// goroutine runs until it does).
func (m *Manager) Quiesce(timeout time.Duration) (resume func(), wait time.Duration, err error) {
	if !m.paused.CompareAndSwap(false, true) {
		return nil, 0, errors.New("vmm: a quiesce is already under way")
	}
	start := time.Now()
	deadline := start.Add(timeout)
	for m.inSlice.Load() != 0 {
		if time.Now().After(deadline) {
			m.paused.Store(false)
			return nil, time.Since(start), fmt.Errorf("%w (%v, %d slices still running)", ErrQuiesceTimeout, timeout, m.inSlice.Load())
		}
		// The slices under way are goroutines on this CPU waiting for
		// their AP or for their VM lock: let them finish.
		runtime.Gosched()
	}
	return func() { m.paused.Store(false) }, time.Since(start), nil
}
