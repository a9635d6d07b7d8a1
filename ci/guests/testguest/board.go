// testguest: the bare-metal arm64 test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package main

import (
	_ "unsafe"
)

// The VM this guest expects (examples/testguest.json): RAM at
// 0x40000000, 64 MiB; the virtual PL011 at 0x09000000; the virtual GIC
// at QEMU virt's addresses.
const (
	ramBase  = 0x4000_0000
	ramSize  = 64 << 20
	uartBase = 0x0900_0000
	gicdBase = 0x0800_0000
	gicrBase = 0x080a_0000
	timerPPI = 27
)

//go:linkname runtimeRamStart runtime.ramStart
var runtimeRamStart uint64 = ramBase

//go:linkname runtimeRamSize runtime.ramSize
var runtimeRamSize uint64 = ramSize

//go:linkname runtimeRamStackOffset runtime.ramStackOffset
var runtimeRamStackOffset uint64 = 0x100

// bootArg is x0 at entry (cpuinit_arm64.s).
var bootArg uint64

//go:linkname hwinit0 runtime.hwinit0
func hwinit0() {}

//go:linkname hwinit1 runtime.hwinit1
func hwinit1() {}

//go:linkname printk runtime.printk
func printk(c byte) {
	if c == '\n' {
		store32(uartBase, '\r')
	}
	store32(uartBase, uint32(c))
}

var freq uint64

//go:linkname nanotime1 runtime.nanotime1
func nanotime1() int64 {
	if freq == 0 {
		freq = cntfrq()
	}
	t := cntvct()
	return int64(t/freq*1e9 + t%freq*1e9/freq)
}

//go:linkname initRNG runtime.initRNG
func initRNG() { rngState = cntvct() | 1 }

// defined in cpu_arm64.s
func hvc(fid, a1, a2, a3 uint64) (r0, r1 uint64)
func smc(fid, a1, a2, a3 uint64) (r0 uint64)
func cntvct() uint64
func cntfrq() uint64
func setTimer(cval, ctl uint64)
func gicCPUInit()
func irqEnable()
func irqDisable()
func wfi()
func isb()
func readMPIDR() uint64
func load64(addr uint64) uint64
func load32(addr uint64) uint32
func store32(addr uint64, val uint32)
func store64(addr, val uint64)
func readImpDef() uint64
func callCode(addr, x0 uint64)
func syncCode(addr, size uint64)

// secondaryEntryAddr returns the address of secondaryEntry.
// defined in cpuinit_arm64.s
func secondaryEntryAddr() uint64

// probe is shared with syncException: armed, then ESR, FAR, faulted.
var probe struct {
	armed, esr, far, faulted uint64
}

// irqs is shared with irqException.
var irqs struct {
	ticks, period, other, rtc uint64
}

// fatalException is called by syncException for an unexpected exception.
func fatalException() {
	print("\ntestguest: unexpected exception ESR=", hex(probe.esr), " ELR=", hex(probe.far), "\n")
	print("GUEST-TEST testguest TOTAL#1 SUCCESS#0 FAIL#1\n")
	for {
		wfi()
	}
}
