// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import "unsafe"

// asVMCB, asIOPM and asMSRPM lay the in-RAM hardware formats over a view
// of the page(s) the table pool handed out. A view of the wrong size or
// alignment gives nil.
func asVMCB(b []byte) *VMCB {
	if len(b) < VMCBSize || uintptr(unsafe.Pointer(&b[0]))%VMCBSize != 0 {
		return nil
	}
	// SAFETY: b is a 4 KiB-aligned view of at least VMCBSize bytes that
	// only this vCPU uses; VMCB is plain data of exactly VMCBSize bytes.
	return (*VMCB)(unsafe.Pointer(&b[0]))
}

func asIOPM(b []byte) *IOPM {
	if len(b) < IOPMSize {
		return nil
	}
	// SAFETY: b holds IOPMSize bytes reserved for this map.
	return (*IOPM)(unsafe.Pointer(&b[0]))
}

func asMSRPM(b []byte) *MSRPM {
	if len(b) < MSRPMSize {
		return nil
	}
	// SAFETY: b holds MSRPMSize bytes reserved for this map.
	return (*MSRPM)(unsafe.Pointer(&b[0]))
}

// addrOf is the hypervisor virtual address of b's first byte, for the
// FXSAVE area the world switch uses.
func addrOf(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	// SAFETY: the address is only passed to switch_amd64.s, which uses
	// b's own bytes; b is not Go-heap memory (a table-pool page).
	return uintptr(unsafe.Pointer(&b[0]))
}

// gprsAddr is the address of a vCPU's register block, for the world
// switch run on an application processor.
func gprsAddr(g *GPRs) uint64 {
	// SAFETY: only the address is taken; g belongs to a vCPU that stays
	// reachable while its guest runs.
	return uint64(uintptr(unsafe.Pointer(g)))
}
