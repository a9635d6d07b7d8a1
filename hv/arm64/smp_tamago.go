// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package arm64

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tamavisor/tamavisor/hv/vmm"
)

// SMP: secondary CPUs as guest executors.
//
// The TamaGo runtime runs on the boot CPU only, so the secondaries run no
// Go code. Each one is started with PSCI CPU_ON at secondaryEntry
// (smp_arm64.s), sets up EL2 like the boot CPU and then serves a mailbox:
// the boot CPU's scheduler for that physical CPU posts a vCPU Context,
// the secondary runs the guest until its next exit (enter_guest, the same
// world switch as on the boot CPU, with the physical interrupt of an IRQ
// exit acknowledged there), posts the Context back and kicks the boot CPU
// with SGI_KICK. The exit is handled in Go on the boot CPU while the
// secondary waits; guests run in parallel, exit handling is serialised.

// MaxCPUs bounds the physical CPUs tamavisor uses.
const MaxCPUs = 8

const secondaryStackSize = 16 << 10

// el2State is the boot CPU's EL2 set-up the secondaries copy.
type el2State struct {
	mair, tcr, ttbr0, sctlr, vtcr, mdcr, cnthctl, vbar uint64
}

// mailbox is one secondary's request slot, on its own cache line.
type mailbox struct {
	ctx    uint64 // *Context to run, posted by the boot CPU
	done   uint64 // the Context back after its exit
	online uint64 // set by the secondary once it serves the mailbox
	stack  uint64 // its initial stack pointer
	runs   uint64 // guest runs completed, counted by the secondary
	_      [3]uint64
}

var (
	secondaryBoot   el2State
	mailboxes       [MaxCPUs]mailbox
	secondaryStacks [MaxCPUs][secondaryStackSize]byte
	cpusOnline      = 1
)

// PSCI (DEN0022) CPU_ON, SMC64 function id, and its return codes.
const (
	psciCPUOn64        = 0xC400_0003
	psciAlreadyOn      = -4
	psciOnPending      = -5
	secondaryOnTimeout = time.Second
)

// StartSecondaries brings CPUs 1..n-1 up through the firmware's PSCI
// (SMC conduit) and returns how many CPUs are online, counting the boot
// CPU; CPUs are used in order, so a CPU that fails to come up ends the
// sequence. prepare runs on the boot CPU before each CPU_ON (the board
// initialises that CPU's GIC redistributor there). mpidr gives a CPU's
// MPIDR affinity value. Call it after InitVirtualization.
func StartSecondaries(n int, mpidr func(cpu int) uint64, prepare func(cpu int) error) (int, error) {
	if n > MaxCPUs {
		n = MaxCPUs
	}
	snapshot_el2(&secondaryBoot)
	clean_dcache_range(uint64(uintptr(unsafe.Pointer(&secondaryBoot))), uint64(uintptr(unsafe.Pointer(&secondaryBoot)))+uint64(unsafe.Sizeof(secondaryBoot)))
	for cpu := 1; cpu < n; cpu++ {
		if err := prepare(cpu); err != nil {
			return cpusOnline, fmt.Errorf("cpu %d: %w", cpu, err)
		}
		mb := &mailboxes[cpu]
		mb.ctx, mb.done, mb.online = 0, 0, 0
		mb.stack = uint64(uintptr(unsafe.Pointer(&secondaryStacks[cpu][secondaryStackSize-16])))
		p := uint64(uintptr(unsafe.Pointer(mb)))
		clean_dcache_range(p, p+uint64(unsafe.Sizeof(*mb)))
		if r := int64(smc(psciCPUOn64, mpidr(cpu), secondary_entry_addr(), p)); r != 0 && r != psciOnPending {
			return cpusOnline, fmt.Errorf("cpu %d: PSCI CPU_ON returned %d", cpu, r)
		}
		deadline := Nanotime() + int64(secondaryOnTimeout)
		for atomic.LoadUint64(&mb.online) == 0 {
			if Nanotime() > deadline {
				return cpusOnline, fmt.Errorf("cpu %d: not online %v after PSCI CPU_ON", cpu, secondaryOnTimeout)
			}
		}
		cpusOnline = cpu + 1
	}
	return cpusOnline, nil
}

// CPUsOnline is the number of CPUs that run guests.
func CPUsOnline() int { return cpusOnline }

// bootRuns counts guest runs on the boot CPU.
var bootRuns uint64

// CPUStats reports, for each CPU tamavisor knows of (n from the
// platform), whether it runs guests and how many guest runs (world
// switches in and out) it completed. A secondary's count is kept by the
// secondary itself, so it shows guests really ran there.
func CPUStats(n int) []vmm.CPUStat {
	if n > MaxCPUs {
		n = MaxCPUs
	}
	out := vmm.CPUTable(n, cpusOnline, func(cpu int) uint64 {
		if cpu == 0 {
			return atomic.LoadUint64(&bootRuns)
		}
		return atomic.LoadUint64(&mailboxes[cpu].runs)
	})
	if n > 0 {
		out[0].PolledIRQs = HostIRQStats.Polled.Load()
	}
	return out
}

// remoteEnter runs ctx on secondary CPU cpu and waits, yielding to the
// other goroutines (the boot CPU's own guests, the shell), until the
// exit is posted back.
func remoteEnter(cpu int, ctx *Context) {
	if cpu <= 0 || cpu >= cpusOnline {
		// Not reachable: the manifest check refuses vCPUs pinned to
		// CPUs that are not online. Report a spurious IRQ exit so
		// the vCPU's slice ends without touching it.
		ctx.Vector, ctx.IRQ = VecLowerIRQ, INTID_SPURIOUS
		return
	}
	mb := &mailboxes[cpu]
	atomic.StoreUint64(&mb.done, 0)
	atomic.StoreUint64(&mb.ctx, uint64(uintptr(unsafe.Pointer(ctx))))
	sev()
	for atomic.LoadUint64(&mb.done) == 0 {
		runtime.Gosched()
	}
}

func (hwCPU) Enter(pcpu int, ctx *Context) {
	if pcpu == 0 {
		enter_guest(ctx)
		bootRuns++
		return
	}
	remoteEnter(pcpu, ctx)
}
