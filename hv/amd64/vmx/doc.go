// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package vmx holds the parts of tamavisor's Intel VT-x backend that are
// data rather than instructions: VMCS field encodings (fields.go), the
// VM-execution, VM-exit and VM-entry control bits and the capability
// MSRs that bound them (controls.go), extended page tables (ept.go), the
// decoding of a VM exit into the vendor-neutral hv.Exit (exit.go), event
// injection (intr.go), the I/O and MSR bitmaps (bitmaps.go) and VPID
// allocation (vpid.go).
//
// References are to the Intel 64 and IA-32 Architectures Software
// Developer's Manual: Vol. 3C chapters 25 ("Virtual Machine Control
// Structures"), 28 ("VM Exits") and 29 ("VMX Support for Address
// Translation"), and Vol. 3D Appendices A (VMX capability reporting), B
// (field encodings) and C (basic exit reasons).
//
// The package is pure Go without assembly or unsafe: it builds and is
// tested on any host, and runs unchanged on GOOS=tamago GOARCH=amd64 where
// the VMX instructions themselves (VMXON, VMREAD, VMWRITE, VMLAUNCH, ...)
// live in a separate package that uses these definitions. Decoders of
// guest-controlled values never panic and the exit path allocates nothing.
package vmx
