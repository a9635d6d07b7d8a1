// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package svm holds the in-memory formats and the pure decision logic of
// AMD Secure Virtual Machine (AMD-V) support, as described in the AMD64
// Architecture Programmer's Manual Volume 2 (publication 24593), chapter
// 15 "Secure Virtual Machine" and appendices B and C:
//
//   - the VMCB control and state save areas (vmcb.go),
//   - event injection and EXITINTINFO (event.go),
//   - the I/O and MSR permission maps (permmap.go),
//   - nested page tables built through hv.PageAllocator (npt.go),
//   - #VMEXIT decoding into the vendor-neutral hv.Exit (exit.go),
//   - SVM feature detection from CPUID and VM_CR (features.go),
//   - the ASID allocator (asid.go).
//
// The package contains no assembly and no unsafe code: the instructions
// (VMRUN, VMLOAD, VMSAVE, CLGI, STGI, RDMSR/WRMSR) and the placement of a
// VMCB in physical memory belong to the caller. It builds and is
// host-tested on Linux with the ordinary go tool, and runs unchanged on
// GOOS=tamago GOARCH=amd64 (board qemu-q35-amd64).
package svm
