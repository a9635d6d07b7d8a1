// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import "unsafe"

// vaddr is the hypervisor virtual address of *p, for structures handed to
// the CPU or to application processors by address (the IDT and its
// IDTR, AP mailboxes and stacks). p must be a global or otherwise stay
// reachable while the address is in use.
func vaddr[T any](p *T) uint64 {
	// SAFETY: only the address is taken; the object is not moved (Go's
	// collector does not move objects) and its owner keeps it alive.
	return uint64(uintptr(unsafe.Pointer(p)))
}
