// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/tamavisor/tamavisor/hv/vmm"
)

// SMP: application processors as guest executors.
//
// The TamaGo runtime runs on the boot CPU (BSP) only, so the application
// processors (APs) run no Go code. StartAPs wakes each one with
// INIT-SIPI-SIPI (Intel SDM Vol. 3A 9.4.4.1, 11.6.1) into the real-mode
// trampoline (trampoline.go), which enters long mode on cpuinit's page
// tables and jumps to apEntry (smp_amd64.s). apEntry loads the BSP's GDT,
// IDT, CR3 (the W^X tables), CR0, CR4 and PAT, enables its local APIC
// with the preemption timer vector and then serves its mailbox: the BSP
// posts an ABI0 assembly function with four arguments (the vendor world
// switch, or a WRMSR that turns the vendor extension on) and the timer
// count that bounds the guest run; the AP arms its own APIC timer, calls
// the function, posts done and kicks the BSP with VectorKick. The exit is
// decoded and handled in Go on the BSP while the AP waits in HLT. Guests
// run in parallel; exit handling is serialised on the BSP, as on arm64.

// apBootState is the BSP's CPU set-up the APs copy (smp_amd64.s).
type apBootState struct {
	gdtr    [16]byte // limit (2) and base (8), as SGDT stores them
	idtr    [16]byte
	cr0     uint64
	cr3     uint64 // the tables the BSP runs on (W^X once EnableWX ran)
	cr4     uint64
	pat     uint64
	bspAPIC uint64 // the BSP's local APIC ID, for the kick
}

// apMailbox is one AP's request slot, on its own cache lines.
type apMailbox struct {
	fn     uint64    // ABI0 function to call, posted by the BSP; 0 = none
	args   [4]uint64 // its arguments
	timer  uint64    // APIC timer initial count armed around the call (0: none)
	done   uint64    // set by the AP after the call
	online uint64    // set by the AP once it serves the mailbox
	stack  uint64    // its initial stack pointer
	runs   uint64    // calls completed, counted by the AP
	_      [5]uint64
}

var (
	apBoot     apBootState
	mailboxes  [MaxCPUs]apMailbox
	apStacks   [MaxCPUs][apStackSize]byte
	apAPIC     [MaxCPUs]uint32
	cpusOnline = 1
	bootRuns   atomic.Uint64
	// apKick is set by an AP when it posts a done call (smp_amd64.s).
	apKick uint32
)

// defined in smp_amd64.s and cpu_amd64.s
func apEntryAddr() uint64
func wrmsrAddr() uint64
func sgdt(p *[16]byte)
func read_cr4() uint64

// hostMSRPAT is also used by smp_amd64.s.
const (
	hostMSRPAT    = 0x277
	hostMSREFER   = 0xc000_0080
	initWait      = 10 * time.Millisecond
	sipiWait      = 200 * time.Microsecond
	apOnlineLimit = time.Second
)

// StartAPs brings CPUs 1..n-1 up and returns how many CPUs are online,
// counting the BSP; CPUs are used in order, so one that does not come up
// ends the sequence. apicID gives a CPU's local APIC ID; page is the
// physical page below 1 MiB the trampoline is written to (nothing else
// may use it while APs start). Call it after InitPreemptTimer and after
// the vendor extension is on for the BSP (EFER is copied).
func StartAPs(n int, apicID func(cpu int) uint32, page uint64) (int, error) {
	if lapicBase == 0 {
		return 1, errors.New("amd64: smp: the local APIC is not set up (InitPreemptTimer)")
	}
	if n > MaxCPUs {
		n = MaxCPUs
	}
	if n <= 1 {
		return 1, nil
	}
	sgdt(&apBoot.gdtr)
	copy(apBoot.idtr[:], idtr[:])
	apBoot.cr0, apBoot.cr4, apBoot.pat = read_cr0(), read_cr4(), rdmsr(hostMSRPAT)
	apBoot.cr3 = read_cr3()
	apBoot.bspAPIC = uint64(lapicRead(LAPIC_ID) >> ICR_DEST_SHIFT)
	// The trampoline runs from its low page with paging on, which the
	// W^X tables map not executable: it uses cpuinit's tables, and
	// apEntry2 moves the AP to the BSP's (EFER.NXE is in the EFER the
	// trampoline copies).
	trampCR3 := apBoot.cr3
	if wx.Enabled {
		trampCR3 = wx.EarlyCR3
	}
	tramp, err := BuildTrampoline(page, trampCR3&PTE_ADDR_MASK, rdmsr(hostMSREFER), apEntryAddr(), 0)
	if err != nil {
		return 1, err
	}
	mem := PhysView(page, uint64(len(tramp)))
	if mem == nil {
		return 1, fmt.Errorf("amd64: smp: no view of the trampoline page %#x", page)
	}
	for cpu := 1; cpu < n; cpu++ {
		mb := &mailboxes[cpu]
		*mb = apMailbox{}
		mb.stack = vaddr(&apStacks[cpu][apStackSize-64])
		SetTrampolineArg(tramp, vaddr(mb))
		copy(mem, tramp)
		id := apicID(cpu)
		sendICR(id, ICR_INIT|ICR_ASSERT)
		time.Sleep(initWait)
		for sipi := 0; sipi < 2 && atomic.LoadUint64(&mb.online) == 0; sipi++ {
			sendICR(id, ICR_STARTUP|ICR_ASSERT|uint32(page>>12))
			time.Sleep(sipiWait)
		}
		deadline := Nanotime() + int64(apOnlineLimit)
		for atomic.LoadUint64(&mb.online) == 0 {
			if Nanotime() > deadline {
				return cpusOnline, fmt.Errorf("cpu %d (APIC ID %d): not online %v after INIT-SIPI-SIPI", cpu, id, apOnlineLimit)
			}
			runtime.Gosched()
		}
		apAPIC[cpu] = id
		cpusOnline = cpu + 1
	}
	return cpusOnline, nil
}

// sendICR sends an IPI from the BSP's local APIC once the previous one
// left. nosplit: no goroutine switch between the two register writes.
//
//go:nosplit
func sendICR(dest uint32, low uint32) {
	for lapicRead(LAPIC_ICR_LO)&ICR_PENDING != 0 {
	}
	lapicWrite(LAPIC_ICR_HI, dest<<ICR_DEST_SHIFT)
	lapicWrite(LAPIC_ICR_LO, low)
}

// CPUsOnline is the number of CPUs that run guests.
func CPUsOnline() int { return cpusOnline }

// RemoteCall runs the ABI0 assembly function at fn with arguments a on
// AP cpu and waits for it, yielding to the other goroutines (the BSP's
// own guests, the shell). The AP arms its APIC timer with the count
// Preempt left for it around the call.
func RemoteCall(cpu int, fn uint64, a [4]uint64) error {
	if cpu <= 0 || cpu >= cpusOnline {
		return fmt.Errorf("amd64: cpu %d is not an online AP", cpu)
	}
	mb := &mailboxes[cpu]
	mb.args = a
	atomic.StoreUint64(&mb.done, 0)
	atomic.StoreUint64(&mb.fn, fn)
	sendICR(apAPIC[cpu], ICR_FIXED|ICR_ASSERT|VectorKick)
	for atomic.LoadUint64(&mb.done) == 0 {
		runtime.Gosched()
	}
	mb.timer = 0
	return nil
}

// WRMSROn writes an MSR on CPU cpu (the BSP or an online AP).
func WRMSROn(cpu int, msr uint32, val uint64) error {
	if cpu == 0 {
		wrmsr(msr, val)
		return nil
	}
	return RemoteCall(cpu, wrmsrAddr(), [4]uint64{uint64(msr), val})
}

// CountBootRun counts a guest run on the BSP (cpus command).
func CountBootRun() { bootRuns.Add(1) }

// preemptOn is CPU.Preempt: the BSP arms its timer now; for an AP the
// count travels in its mailbox and is armed by the AP itself.
func preemptOn(pcpu int, deadline int64) {
	if pcpu == 0 {
		Preempt(deadline)
		return
	}
	if pcpu < 0 || pcpu >= MaxCPUs {
		return
	}
	c := uint32(0)
	if deadline != 0 {
		c = lapicCount(deadline-Nanotime(), lapicHz)
	}
	mailboxes[pcpu].timer = uint64(c)
}

// kicked reports (and clears) an AP's exit waiting for the BSP.
func kicked(pcpu int) bool {
	return pcpu == 0 && atomic.SwapUint32(&apKick, 0) != 0
}

// CPUStats reports, for each CPU tamavisor knows of (n from the
// platform), whether it runs guests and how many guest runs it
// completed. An AP's count is kept by the AP itself.
func CPUStats(n int) []vmm.CPUStat {
	if n > MaxCPUs {
		n = MaxCPUs
	}
	return vmm.CPUTable(n, cpusOnline, func(cpu int) uint64 {
		if cpu == 0 {
			return bootRuns.Load()
		}
		return atomic.LoadUint64(&mailboxes[cpu].runs)
	})
}
