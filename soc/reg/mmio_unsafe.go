// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

package reg

import (
	"sync/atomic"
	"unsafe"
)

// The atomic loads and stores below are single, naturally aligned
// accesses that the compiler may neither merge, split nor elide, which is
// what device registers need.

func (m MMIO) Read32(off uint32) uint32 {
	// SAFETY: Base+off is an identity-mapped device register (type doc).
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(m.Base + uintptr(off))))
}

func (m MMIO) Write32(off uint32, val uint32) {
	// SAFETY: Base+off is an identity-mapped device register (type doc).
	atomic.StoreUint32((*uint32)(unsafe.Pointer(m.Base+uintptr(off))), val)
}

func (m MMIO) Read64(off uint32) uint64 {
	// SAFETY: Base+off is an identity-mapped device register (type doc).
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(m.Base + uintptr(off))))
}

func (m MMIO) Write64(off uint32, val uint64) {
	// SAFETY: Base+off is an identity-mapped device register (type doc).
	atomic.StoreUint64((*uint64)(unsafe.Pointer(m.Base+uintptr(off))), val)
}
