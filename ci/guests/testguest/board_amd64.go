// testguest: the bare-metal test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package main

import (
	_ "unsafe"
)

// The VM this guest expects (examples/q35-demo.json): RAM at
// guest-physical 0, 64 MiB; the image linked at 0x201000 (Makefile); the
// virtual 16550 at COM1. The Go runtime owns [ramBase, ramBase+ramSize).
const (
	vmRAMSize = 64 << 20
	ramBase   = 0x20_0000
	ramSize   = vmRAMSize - ramBase
	com1      = 0x3f8
	com1LSR   = com1 + 5
	com1SCR   = com1 + 7
	lsrTHRE   = 1 << 5
	lsrTEMT   = 1 << 6
)

//go:linkname runtimeRamStart runtime.ramStart
var runtimeRamStart uint64 = ramBase

//go:linkname runtimeRamSize runtime.ramSize
var runtimeRamSize uint64 = ramSize

//go:linkname runtimeRamStackOffset runtime.ramStackOffset
var runtimeRamStackOffset uint64 = 0x100

// startInfo is EBX at the PVH entry (cpuinit_amd64.s): the guest-physical
// address of the hvm_start_info the hypervisor wrote.
var startInfo uint64

// startInfoMax bytes at startInfo are copied to startInfoCopy before the
// runtime starts (the PVH blob is at most 8 KiB: hv/loader).
const startInfoMax = 8192

var startInfoCopy [startInfoMax]byte

//go:linkname hwinit0 runtime.hwinit0
func hwinit0() {}

//go:linkname hwinit1 runtime.hwinit1
func hwinit1() {
	loadIDT()
}

//go:linkname printk runtime.printk
func printk(c byte) {
	if c == '\n' {
		putc('\r')
	}
	putc(c)
}

func putc(c byte) {
	for in8(com1LSR)&lsrTHRE == 0 {
	}
	out8(com1, c)
}

// tscHz is the TSC rate from the hypervisor's timing leaf.
var tscHz uint64

//go:linkname nanotime1 runtime.nanotime1
func nanotime1() int64 {
	if tscHz == 0 {
		khz, _, _, _ := cpuid(0x4000_0010, 0)
		tscHz = uint64(khz) * 1000
		if tscHz == 0 {
			tscHz = 1_000_000_000
		}
	}
	t := rdtsc()
	return int64(t/tscHz*1e9 + t%tscHz*1e9/tscHz)
}

//go:linkname initRNG runtime.initRNG
func initRNG() { rngState = rdtsc() | 1 }

// defined in cpu_amd64.s
func vmmcall(fn, a1, a2, a3 uint64) (r0, r1, r2, r3 uint64)
func vmcall(fn, a1, a2, a3 uint64) (r0, r1, r2, r3 uint64)
func cpuid(leaf, sub uint32) (a, b, c, d uint32)
func rdtsc() uint64
func in8(port uint16) uint8
func out8(port uint16, val uint8)
func in32(port uint16) uint32
func out32(port uint16, val uint32)
func rdmsr(msr uint32) uint64
func wrmsr(msr uint32, val uint64)
func sti()
func cli()
func hlt()
func stiHlt()
func loadIDT()
func lidtEmpty()
func ud2()
func probeLoad64(addr uint64) uint64
func probeStore64(addr, val uint64)
func probeRdmsr(msr uint32) uint64
func probeWrmsr(msr uint32, val uint64)

// probeState is shared with the exception stub (cpu_amd64.s): the
// stub resumes at probeResume when Armed, recording the vector.
type probeState struct {
	Armed, Faulted, Vector, Error uint64
}

var probe probeState

// irqCount counts interrupts per vector (cpu_amd64.s); unexpected
// vectors count under vectorOther.
var irqCount [256]uint64

// fatal records an exception taken with no probe armed.
var fatal probeState
