// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

// defined in cpu_amd64.s
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func rdtsc() uint64
func rdmsr(msr uint32) uint64
func halt()
func read_cr2() uint64
func read_cr0() uint64
func read_cr3() uint64
func lidt(idtr uintptr)
func excStubs() uintptr
func rdrand() (val uint64, ok bool)
func wrmsr(msr uint32, val uint64)
func irqStubs() (eoi, spurious uintptr)
