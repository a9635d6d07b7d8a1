// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package arm64

import (
	"unsafe"

	"github.com/tamavisor/tamavisor/hv"
)

// identity is hv.PhysMemory over tamavisor's identity-mapped address
// space (before the MMU is on, addresses are physical anyway).
type identity struct{}

func (identity) Read64(pa hv.PA) uint64 {
	// SAFETY: callers pass page-table addresses inside reserved RAM.
	return *(*uint64)(unsafe.Pointer(uintptr(hv.IdentityVA(pa))))
}

func (identity) Write64(pa hv.PA, val uint64) {
	// SAFETY: callers pass page-table addresses inside reserved RAM.
	*(*uint64)(unsafe.Pointer(uintptr(hv.IdentityVA(pa)))) = val
}

// MemView returns the hypervisor's view of host memory [pa, pa+size),
// which must be mapped at EL2 (MapHostRAM).
func MemView(pa hv.PA, size uint64) []byte {
	// SAFETY: guest RAM reserved from the pool and mapped by MapHostRAM;
	// the slice is bounded by the reservation.
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(hv.IdentityVA(pa)))), int(size))
}
