// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package vmx is tamavisor's Intel VT-x backend: it runs the guests of
// hv/amd64's vendor-neutral Machine under VMX with EPT, VPIDs and
// unrestricted guests, behind the same amd64.VendorOps, amd64.Guest and
// amd64.Backend interfaces as the AMD SVM backend (hv/amd64/svm).
//
// The data parts are pure Go: VMCS field encodings (fields.go), the
// VM-execution, VM-exit and VM-entry control bits and the capability
// MSRs that bound them (controls.go), extended page tables (ept.go), the
// decoding of a VM exit into the vendor-neutral hv.Exit (exit.go), event
// injection (intr.go), the I/O and MSR bitmaps (bitmaps.go) and VPID
// allocation (vpid.go).
//
// The runtime is written against two small replaceable seams, so every
// decision in it is host-tested:
//
//   - VMCS (vmcs.go): Read and Write of one VMCS field. On the target each
//     call is a VMREAD or VMWRITE of that VMCS, made current with VMPTRLD
//     when another one is (every vCPU runs on the boot processor in
//     turn); host tests use MapVMCS.
//   - Host (setup.go): the boot processor's CPUID, MSRs, control and
//     segment registers and VMX instructions, with the world switch as a
//     RunFunc. HardwareHost (run_tamago.go, switch_amd64.s) is the real
//     one; run_stub.go stands in on host builds.
//
// Setup (setup.go) detects and enables VMX (VMXON); Ops, guest and vcpu
// (backend.go) build each VM's EPT and bitmaps and run its vCPUs.
//
// References are to the Intel 64 and IA-32 Architectures Software
// Developer's Manual: Vol. 3C chapters 24 ("Introduction to Virtual
// Machine Extensions"), 25 ("Virtual Machine Control Structures"), 26
// ("VMX Non-Root Operation"), 27 ("VM Entries"), 28 ("VM Exits"), 29
// ("VMX Support for Address Translation") and "VMX Instruction
// Reference", and Vol. 3D Appendices A (VMX capability reporting), B
// (field encodings) and C (basic exit reasons).
//
// The package builds and is tested on any host; the instructions exist
// only on GOOS=tamago GOARCH=amd64 (board qemu-q35-amd64, run under Bochs,
// whose emulated CPUs have VMX; QEMU's TCG has none). Decoders of
// guest-controlled values never panic and the exit path allocates
// nothing.
package vmx
