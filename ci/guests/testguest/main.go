// testguest: the bare-metal arm64 test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

// Command testguest is tamavisor's bare-metal arm64 test guest: a TamaGo
// program running at EL1 inside a VM. It checks, from inside, what the
// hypervisor promises a guest (console, hypercall ABI, PSCI, faults
// outside its RAM, virtual timer interrupts, trapped registers) and
// plays hostile guest (random calls, garbage SMCs, trapped register
// writes, bad MMIO, a WFI storm), then prints one parseable line:
//
//	GUEST-TEST testguest TOTAL#n SUCCESS#n FAIL#n
//
// It then idles. ci/boot_test.go reads the line with `vm log`.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// The tamavisor hypercall ABI (hv/vmm/hypercall.go) and PSCI.
const (
	hcVersion      = 0xC600_0000
	hcConsoleWrite = 0xC600_0001
	hcYield        = 0xC600_0002
	hcVCPUID       = 0xC600_0003

	notSupported = ^uint64(0)
	einval       = ^uint64(0) - 1

	psciVersion      = 0x8400_0000
	psciCPUOn        = 0xC400_0003
	psciAffinityInfo = 0xC400_0004
)

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }

var total, failed int

func check(name string, ok bool, detail string) {
	total++
	status := "ok"
	if !ok {
		failed++
		status = "FAIL"
	}
	fmt.Printf("testguest: %-24s %s %s\n", name, status, detail)
}

// probeLoad reads addr with the fault probe armed and reports whether
// the guest took a synchronous exception, with its ESR_EL1 and FAR_EL1.
func probeLoad(addr uint64) (faulted bool, esr, far uint64) {
	probe.faulted = 0
	probe.armed = 1
	load64(addr)
	probe.armed = 0
	return probe.faulted == 1, probe.esr, probe.far
}

func probeFunc(f func()) (faulted bool, esr uint64) {
	probe.faulted = 0
	probe.armed = 1
	f()
	probe.armed = 0
	return probe.faulted == 1, probe.esr
}

func ec(esr uint64) uint64 { return esr >> 26 & 0x3f }

func main() {
	fmt.Printf("testguest: started, MPIDR=%#x, boot arg %#x, CNTFRQ %d Hz\n", readMPIDR(), bootArg, cntfrq())

	testConsole()
	testHypercalls()
	testPSCI()
	testFaults()
	testTimer()
	testPassthrough()
	testCPUOn()
	testHostile()

	fmt.Printf("GUEST-TEST testguest TOTAL#%d SUCCESS#%d FAIL#%d\n", total, total-failed, failed)
	benchNullHVC()
	runtime.GC()
	// On a live-patch test image, keep asking the fixture (every 100 ms,
	// yielding in between) so the test sees a patch change its answer.
	if _, _, ok := hpfixProbe(hvc); ok {
		hpfixWatch(hvc, func() {
			until := cntvct() + cntfrq()/10
			for cntvct() < until {
				hvc(hcYield, 0, 0, 0)
			}
		})
	}
	// Idle with interrupts masked and the timer off: WFI blocks the
	// vCPU in the hypervisor until the VM is reset.
	irqDisable()
	setTimer(0, 0)
	for {
		wfi()
	}
}

// PL011 registers (DDI 0183).
const (
	uartFR        = 0x018
	uartFR_TXFF   = 1 << 5
	uartPeriphID0 = 0xfe0
)

func testConsole() {
	fr := load32(uartBase + uartFR)
	id := load32(uartBase + uartPeriphID0)
	check("console", fr&uartFR_TXFF == 0 && id == 0x11, fmt.Sprintf("UARTFR=%#x PeriphID0=%#x", fr, id))
}

func testHypercalls() {
	v, _ := hvc(hcVersion, 0, 0, 0)
	check("hvc-version", v == 1<<16, hex(v))

	id, vm := hvc(hcVCPUID, 0, 0, 0)
	check("hvc-vcpu-id", id == 0 && vm >= 1 && vm <= 255, fmt.Sprintf("vcpu %d vm %d", id, vm))

	msg := []byte("testguest: hello through HC_CONSOLE_WRITE\n")
	addr := uint64(uintptr(unsafe.Pointer(&msg[0])))
	n, _ := hvc(hcConsoleWrite, addr, uint64(len(msg)), 0)
	check("hvc-console-write", n == uint64(len(msg)), fmt.Sprintf("returned %d", n))

	bad1, _ := hvc(hcConsoleWrite, ramBase+ramSize-4, 16, 0) // runs off the end of RAM
	bad2, _ := hvc(hcConsoleWrite, 0x1000, 8, 0)             // not RAM
	bad3, _ := hvc(hcConsoleWrite, addr, 1<<20, 0)           // too long
	check("hvc-console-write-bad", bad1 == einval && bad2 == einval && bad3 == einval,
		fmt.Sprintf("%#x %#x %#x", bad1, bad2, bad3))

	y, _ := hvc(hcYield, 0, 0, 0)
	check("hvc-yield", y == 0, hex(y))

	u, _ := hvc(0xC600_FFFF, 1, 2, 3)
	check("hvc-unknown", u == notSupported, hex(u))
}

func testPSCI() {
	v := smc(psciVersion, 0, 0, 0)
	check("psci-version", v == 1<<16|1, hex(v))
	h, _ := hvc(psciVersion, 0, 0, 0)
	check("psci-version-hvc", h == v, hex(h))
	u := smc(0x8200_0000|0x1234, 0xdead, 0xbeef, 0)
	check("smc-unknown", u == notSupported, hex(u))
}

func testFaults() {
	// Reads outside the VM's RAM: unbacked guest-physical addresses. The
	// hypervisor must reflect them as synchronous external aborts (EC
	// 0x25, DFSC 0x10) at this EL, with FAR the address.
	for _, addr := range []uint64{ramBase + ramSize, ramBase + ramSize + 0x10_0000, 0x8000_0000, 0x1_0000_0000} {
		f, esr, far := probeLoad(addr)
		check(fmt.Sprintf("fault-%#x", addr), f && ec(esr) == 0x25 && esr&0x3f == 0x10 && far == addr,
			fmt.Sprintf("faulted=%v ESR=%#x FAR=%#x", f, esr, far))
	}
	// Every 16 MiB of guest-physical space from the end of this VM's RAM
	// up to 4 GiB, except the emulated GIC and UART windows, faults: the
	// other VMs' RAM and the hypervisor's (host RAM is 0x40000000 up on
	// this board, so identity-mapped IPAs would land in it) are out of
	// reach.
	sweep, faults := 0, 0
	for addr := uint64(ramBase + ramSize); addr < 1<<32; addr += 16 << 20 {
		sweep++
		if f, esr, far := probeLoad(addr); f && ec(esr) == 0x25 && far == addr {
			faults++
		}
	}
	for addr := uint64(0); addr < 0x0800_0000; addr += 16 << 20 {
		sweep++
		if f, esr, far := probeLoad(addr); f && ec(esr) == 0x25 && far == addr {
			faults++
		}
	}
	check("fault-sweep", faults == sweep, fmt.Sprintf("%d of %d probes faulted", faults, sweep))
	// An IMPLEMENTATION DEFINED register (HCR_EL2.TIDCP) is UNDEFINED.
	f, esr := probeFunc(func() { readImpDef() })
	check("sysreg-undef", f && ec(esr) == 0, fmt.Sprintf("faulted=%v ESR=%#x", f, esr))
	// A 64-bit access to the 32-bit UART data register is not emulated:
	// the hypervisor reflects an external abort and carries on.
	f, esr = probeFunc(func() { store64(uartBase, 0x41) })
	check("mmio-wide", f && ec(esr) == 0x25 && esr&0x3f == 0x10, fmt.Sprintf("faulted=%v ESR=%#x", f, esr))
}

// GICv3 register offsets (IHI 0069H) for the virtual distributor and
// this vCPU's redistributor.
const (
	gicdCTLR       = 0x0000
	gicrWAKER      = 0x0014
	gicrSGIBase    = 0x10000
	gicrISENABLER0 = gicrSGIBase + 0x0100
	gicrIPRIORITYR = gicrSGIBase + 0x0400
)

func gicInit() {
	store32(gicdBase+gicdCTLR, 1<<1|1<<4) // EnableGrp1, ARE
	store32(gicrBase+gicrWAKER, 0)
	for load32(gicrBase+gicrWAKER)&(1<<2) != 0 {
	}
	store32(gicrBase+gicrIPRIORITYR+timerPPI&^3, 0xa0a0a0a0)
	store32(gicrBase+gicrISENABLER0, 1<<timerPPI)
	gicCPUInit()
}

func testTimer() {
	gicInit()
	hz := cntfrq()
	period := hz / 1000 // 1 kHz
	irqs.period = period
	irqs.ticks = 0
	const window = 200 // ms
	start := cntvct()
	setTimer(start+period, 1)
	irqEnable()
	for cntvct()-start < window*period {
	}
	irqDisable()
	setTimer(0, 0)
	n := irqs.ticks
	// The handler moves the compare value by whole periods, so late
	// ticks are caught up: the count matches the window within the
	// scheduling jitter of a shared CPU.
	check("timer-rate", n >= window*8/10 && n <= window+5, fmt.Sprintf("%d ticks in %d ms at 1 kHz", n, window))

	// WFI with the timer armed 5 ms ahead: the vCPU sleeps in the
	// hypervisor and wakes on the virtual interrupt.
	irqs.ticks = 0
	irqs.period = 1 << 62
	t0 := cntvct()
	setTimer(t0+5*period, 1)
	irqEnable()
	for irqs.ticks == 0 && cntvct()-t0 < 1000*period {
		wfi()
	}
	irqDisable()
	setTimer(0, 0)
	slept := (cntvct() - t0) / period
	check("wfi-wakeup", irqs.ticks == 1 && slept >= 5 && slept < 1000, fmt.Sprintf("woke after %d ms", slept))
}

// The PL031 RTC the manifest passes through (examples/*.json): its MMIO
// window at the same guest-physical address and its interrupt, SPI 2.
const (
	rtcBase    = 0x0901_0000
	rtcDR      = 0x00 // data (seconds)
	rtcMR      = 0x04 // match
	rtcIMSC    = 0x10 // interrupt mask set/clear
	rtcRIS     = 0x14 // raw interrupt status
	rtcPeriph0 = 0xfe0
	rtcINTID   = 34
)

// testPassthrough checks a passthrough device: its registers are the
// real PL031's, and its alarm interrupt, forwarded by the hypervisor
// from the physical GIC, arrives through the virtual GIC, twice (the
// second proves the hypervisor unmasked the physical line after the
// first was handled), and a third while the vCPU sleeps in WFI.
func testPassthrough() {
	f, _ := probeFunc(func() { load32(rtcBase + rtcPeriph0) })
	id := uint32(0)
	if !f {
		id = load32(rtcBase + rtcPeriph0)
	}
	check("passthrough-mmio", !f && id == 0x31, fmt.Sprintf("faulted=%v PeriphID0=%#x", f, id))
	if f {
		return
	}
	// Virtual GIC: SPI 34 in Group 1, priority 0xa0, to vCPU 0, enabled.
	store32(gicdBase+0x80+rtcINTID/32*4, load32(gicdBase+0x80+rtcINTID/32*4)|1<<(rtcINTID%32))
	word := uint64(gicdBase + 0x400 + rtcINTID&^3)
	store32(word, load32(word)|0xa0<<(8*(rtcINTID%4)))
	store64(gicdBase+0x6000+8*rtcINTID, 0)
	store32(gicdBase+0x100+rtcINTID/32*4, 1<<(rtcINTID%32))

	hz := cntfrq()
	irqs.rtc = 0
	store32(rtcBase+rtcIMSC, 1)
	for round := uint64(1); round <= 2; round++ {
		// The PL031 interrupts at once when the match register is
		// written with the current count; retry if the second ticked.
		t0 := cntvct()
		for irqs.rtc < round && cntvct()-t0 < 3*hz {
			store32(rtcBase+rtcMR, load32(rtcBase+rtcDR))
			t1 := cntvct()
			irqEnable()
			for irqs.rtc < round && cntvct()-t1 < hz/10 {
			}
			irqDisable()
		}
	}
	// A third alarm at the next second boundary, waited for in WFI with
	// interrupts masked: this vCPU is blocked in the hypervisor and no
	// guest runs on its CPU when the line fires, so the hypervisor has to
	// notice it by polling the boot CPU's interface.
	store32(rtcBase+rtcMR, load32(rtcBase+rtcDR)+1)
	t0 := cntvct()
	for irqs.rtc < 3 && cntvct()-t0 < 3*hz {
		wfi()
		irqEnable()
		isb()
		irqDisable()
	}
	store32(rtcBase+rtcIMSC, 0)
	ris := load32(rtcBase + rtcRIS)
	check("passthrough-irq", irqs.rtc == 3 && ris == 0, fmt.Sprintf("%d alarm interrupts (2 busy, 1 in WFI), RTCRIS=%#x", irqs.rtc, ris))
}

var mailbox [2]uint64

func testCPUOn() {
	mb := uint64(uintptr(unsafe.Pointer(&mailbox[0])))
	entry := secondaryEntryAddr()
	mailbox[0], mailbox[1] = 0, 0
	r := smc(psciCPUOn, 1, entry, mb)
	check("psci-cpu-on", r == 0, hex(r))
	start := cntvct()
	hz := cntfrq()
	for cntvct()-start < hz {
		if atomic.LoadUint64(&mailbox[0]) == 0x5ec0dead {
			break
		}
		hvc(hcYield, 0, 0, 0)
	}
	check("secondary-ran", atomic.LoadUint64(&mailbox[0]) == 0x5ec0dead && atomic.LoadUint64(&mailbox[1])&0xff == 1,
		fmt.Sprintf("mailbox %#x mpidr %#x", mailbox[0], mailbox[1]))
	var aff uint64 = 99
	for cntvct()-start < 2*hz {
		if aff = smc(psciAffinityInfo, 1, 0, 0); aff == 1 {
			break
		}
		hvc(hcYield, 0, 0, 0)
	}
	check("psci-cpu-off", aff == 1, fmt.Sprintf("AFFINITY_INFO=%d", int64(aff)))
	bad := smc(psciCPUOn, 7, entry, mb)
	check("psci-cpu-on-bad", bad == einval, hex(bad))
	self := smc(psciCPUOn, 0, entry, mb)
	check("psci-cpu-on-self", self == uint64(0xfffffffffffffffc), hex(self)) // ALREADY_ON
}

// benchNullHVC times HC_VERSION round trips on the virtual counter and
// prints "BENCH null-hvc <ns>.<hundredths> ns/op". Under QEMU
// "-icount shift=0" one guest instruction takes 1 ns of virtual time, so
// the figure is the instruction count of a null hypercall round trip
// (guest loop, HVC, world switch, exit dispatch, return), which is what
// ci's BenchmarkNullHVC reports. It is a measurement, not a check.
func benchNullHVC() {
	const n = 20000
	hz := cntfrq()
	t0 := cntvct()
	for i := 0; i < n; i++ {
		hvc(hcVersion, 0, 0, 0)
	}
	dt := cntvct() - t0
	centi := dt * 100_000_000_000 / hz / n // hundredths of ns per call
	fmt.Printf("BENCH null-hvc %d.%02d ns/op\n", centi/100, centi%100)
}

func testHostile() {
	// Random hypercall and SMC numbers with random arguments, avoiding
	// the PSCI calls that would legitimately stop this VM.
	odd := 0
	for i := 0; i < 2000; i++ {
		fid := next()
		if f := uint32(fid) &^ 0x4000_0000; fid>>32 == 0 && f >= 0x8400_0000 && f <= 0x8400_001f {
			continue
		}
		r0, _ := hvc(fid, next(), next(), next())
		r1 := smc(next(), next(), next(), next())
		if r1 != notSupported {
			odd++
		}
		_ = r0
	}
	check("hostile-calls", odd == 0, fmt.Sprintf("%d unexpected SMC results", odd))

	// Write every debug system register encoding (op0 = 2; trapped by
	// MDCR_EL2.TDA/TDOSA/TDRA or UNDEFINED) and the trapped timer and
	// SGI registers, through generated MSR instructions.
	code := make([]uint32, 2*1024+16)
	base := (uint64(uintptr(unsafe.Pointer(&code[0]))) + 63) &^ 63
	words := unsafe.Slice((*uint32)(unsafe.Pointer(uintptr(base))), 2)
	undef, emulated := 0, 0
	for enc := uint32(0); enc < 1<<14; enc++ {
		// C6.2.230 MSR (register): o0 = op0-2 = 0 at bit 19; op1,
		// CRn, CRm, op2 = enc at bits [18:5]; Rt = x0.
		words[0] = 0xd5100000 | enc<<5 // MSR S2_<op1>_C<n>_C<m>_<op2>, x0
		words[1] = 0xd65f03c0          // RET
		syncCode(base, 8)
		f, _ := probeFunc(func() { callCode(base, 0) })
		if f {
			undef++
		} else {
			emulated++
		}
	}
	for _, enc := range []uint32{
		0x065d, // ICC_SGI1R_EL1  S3_0_C12_C11_5 (x0 = 0: no targets)
		0x1f11, // CNTP_CTL_EL0   S3_3_C14_C2_1
		0x1f12, // CNTP_CVAL_EL0  S3_3_C14_C2_2
		0x1f10, // CNTP_TVAL_EL0  S3_3_C14_C2_0
	} {
		words[0] = 0xd5100000 | 1<<19 | enc<<5 // op0 = 3
		words[1] = 0xd65f03c0
		syncCode(base, 8)
		f, _ := probeFunc(func() { callCode(base, 0) })
		if f {
			undef++
		} else {
			emulated++
		}
	}
	check("hostile-sysregs", emulated+undef == 1<<14+4, fmt.Sprintf("%d emulated, %d undefined", emulated, undef))

	// Bad MMIO to the emulated UART: a 64-bit store, an unaligned load,
	// an access past the registers.
	bad := 0
	for _, f := range []func(){
		func() { store64(uartBase, 0x4141414141414141) },
		func() { load32(uartBase + 2) },
		func() { load64(uartBase + 0xff8) },
	} {
		if faulted, _ := probeFunc(f); faulted {
			bad++
		}
	}
	check("hostile-mmio", bad >= 2, fmt.Sprintf("%d of 3 aborted", bad))

	// WFI storm: 1000 WFIs, each with the timer armed 20 us ahead and
	// nothing else pending, so each one traps and blocks the vCPU in the
	// hypervisor until the virtual timer interrupt wakes it; then 5000
	// with a masked, already firing timer, which return at once.
	hz := cntfrq()
	irqs.period = 1 << 62 // one tick per arming
	irqs.ticks = 0
	irqDisable()
	t0 := cntvct()
	for i := 0; i < 1000; i++ {
		// Interrupts masked across arming and WFI, so the tick cannot
		// be taken before the WFI (which would then wait forever, on
		// hardware too); WFI wakes on the pending interrupt, which is
		// taken once unmasked.
		setTimer(cntvct()+hz/50000, 1)
		wfi()
		irqEnable()
		isb()
		irqDisable()
	}
	woken := irqs.ticks
	setTimer(0, 1)
	for i := 0; i < 5000; i++ {
		wfi()
	}
	setTimer(0, 0)
	v, _ := hvc(hcVersion, 0, 0, 0)
	check("hostile-wfi-storm", v == 1<<16 && woken >= 990,
		fmt.Sprintf("6000 WFI in %d ms, %d timer wake-ups, hypervisor still answers", (cntvct()-t0)*1000/hz, woken))
}
