// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

var (
	idt  [256][2]uint64
	idtr [10]byte

	// TSC is the clock behind runtime.nanotime1.
	TSC Clock
)

// EarlyInit installs the exception IDT. Boards call it from
// runtime.hwinit0; it allocates nothing.
func EarlyInit() {
	base := uint64(excStubs())
	for v := 0; v < NumExceptions; v++ {
		idt[v] = IDTGate(base+uint64(v*excStubSize), CODE_SELECTOR)
	}
	// External interrupts: the preemption timer (and anything else
	// that fires) is acknowledged and dropped; the spurious vector
	// needs no EOI (SDM Vol. 3A 11.9).
	eoi, spurious := irqStubs()
	for v := NumExceptions; v < len(idt); v++ {
		idt[v] = IDTGate(uint64(eoi), CODE_SELECTOR)
	}
	idt[VectorSpurious] = IDTGate(uint64(spurious), CODE_SELECTOR)
	limit := uint16(len(idt)*16 - 1)
	addr := vaddr(&idt)
	idtr[0], idtr[1] = byte(limit), byte(limit>>8)
	for i := 0; i < 8; i++ {
		idtr[2+i] = byte(addr >> (8 * i))
	}
	lidt(uintptr(vaddr(&idtr)))
}

// Nanotime is runtime.nanotime1 for amd64 boards.
//
//go:nosplit
func Nanotime() int64 { return TSC.Nanos(rdtsc()) }

// ReadTSC returns the time-stamp counter.
func ReadTSC() uint64 { return rdtsc() }

// CPUID executes the instruction.
func CPUID(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) { return cpuid(leaf, subleaf) }

// Halt stops this CPU with interrupts off.
func Halt() { halt() }
