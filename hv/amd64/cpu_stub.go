// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !(tamago && amd64)

package amd64

// Host stand-ins for cpu_amd64.s so the package builds and vets on Linux.
// Host tests never call them.

const hostOnly = "amd64: CPU instruction called on a host build"

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) { panic(hostOnly) }
func rdtsc() uint64                                          { panic(hostOnly) }
func rdmsr(msr uint32) uint64                                { panic(hostOnly) }
func halt()                                                  { panic(hostOnly) }
func read_cr2() uint64                                       { panic(hostOnly) }
func read_cr0() uint64                                       { panic(hostOnly) }
func read_cr3() uint64                                       { panic(hostOnly) }
func lidt(idtr uintptr)                                      { panic(hostOnly) }
func excStubs() uintptr                                      { panic(hostOnly) }
func rdrand() (val uint64, ok bool)                          { panic(hostOnly) }
func wrmsr(msr uint32, val uint64)                           { panic(hostOnly) }
func irqStubs() (eoi, spurious uintptr)                      { panic(hostOnly) }
