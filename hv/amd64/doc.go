// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package amd64 is tamavisor's CPU plumbing for x86-64: the cpuinit entries
// (build tag linkcpuinit) that take the CPU from the 32-bit PVH or
// Multiboot2 entry, GRUB's EFI amd64 entry or a PE32+ UEFI start to long
// mode on self-relocating early page tables (reloc.go) with the legacy PICs
// masked and UEFI boot services exited, the W^X page tables the runtime
// moves to once it is up (wx.go), the exception IDT, CPUID
// feature detection (SVM, NPT, VMX), and the TSC clock calibrated against
// the 8254 PIT.
//
// tamavisor does not use TamaGo's amd64 package: its cpuinit cannot be
// replaced without also losing symbols its SMP code needs, and the
// hypervisor must own the IDT, paging and timers anyway. The package runs
// on GOOS=tamago GOARCH=amd64 (board qemu-q35-amd64); feature decoding
// and clock arithmetic are plain Go and host-tested, and the instruction
// wrappers have !tamago stubs.
package amd64
