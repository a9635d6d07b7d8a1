// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import "github.com/tamavisor/tamavisor/hv"

// Interrupt descriptor table (Intel SDM Vol. 3A 6.14.1, 64-bit IDT gate
// descriptors).
const (
	IDT_GATE_INTERRUPT = 0x8e // P=1, DPL=0, type 0xE (64-bit interrupt gate)
	CODE_SELECTOR      = 0x08 // cpuinit's GDT: null, code, data
	NumExceptions      = 32
	excStubSize        = 32 // distance between entry stubs (cpu_amd64.s)
)

// IDTGate encodes a 16-byte interrupt gate to handler in the code
// segment selector.
func IDTGate(handler uint64, selector uint16) [2]uint64 {
	lo := handler&0xffff |
		uint64(selector)<<16 |
		uint64(IDT_GATE_INTERRUPT)<<40 |
		(handler>>16&0xffff)<<48
	return [2]uint64{lo, handler >> 32}
}

// ExceptionName names an architectural exception vector (SDM Vol. 3A
// Table 6-1). Constant strings only.
func ExceptionName(v uint64) string {
	names := [...]string{
		"#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
		"#OF overflow", "#BR bound range", "#UD invalid opcode", "#NM device not available",
		"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS", "#NP segment not present",
		"#SS stack fault", "#GP general protection", "#PF page fault", "reserved",
		"#MF x87 FP error", "#AC alignment check", "#MC machine check", "#XM SIMD FP exception",
		"#VE virtualization exception", "#CP control protection",
	}
	if v < uint64(len(names)) {
		return names[v]
	}
	if v < NumExceptions {
		return "reserved"
	}
	return "external interrupt"
}

// exceptionInfo is the frame excCommon records (offsets via go_asm.h).
type exceptionInfo struct {
	Vector uint64
	Error  uint64
	RIP    uint64
	CS     uint64
	RFLAGS uint64
	RSP    uint64
	CR2    uint64
}

var lastException exceptionInfo

// reportException prints an unexpected exception and halts. It does not
// allocate.
func reportException() {
	e := &lastException
	print("\nx86 exception: vector ", e.Vector, " (", ExceptionName(e.Vector), ") error=")
	hv.PrintHex(e.Error)
	print("\n  RIP=")
	hv.PrintHex(e.RIP)
	print(" CS=")
	hv.PrintHex(e.CS)
	print(" RFLAGS=")
	hv.PrintHex(e.RFLAGS)
	print(" RSP=")
	hv.PrintHex(e.RSP)
	if e.Vector == 14 {
		print("\n  page fault: CR2=")
		hv.PrintHex(e.CR2)
		if e.Error&2 != 0 {
			print(" on write")
		} else {
			print(" on read")
		}
		if e.Error&1 == 0 {
			print(", page not present")
		}
	}
	print("\ntamavisor: halted after unexpected exception\n")
	halt()
}
