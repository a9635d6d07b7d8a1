// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import "unsafe"

// addrOf is the address of b's first byte (b is not empty or has
// capacity): where payload text placed in b would run.
func addrOf(b []byte) uint64 {
	// SAFETY: only the address is taken; nothing is dereferenced.
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// alignOffset is how far into b the first align-aligned byte lies.
func alignOffset(b []byte, align int) int {
	// SAFETY: as addrOf.
	a := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return int((uintptr(align) - a%uintptr(align)) % uintptr(align))
}
