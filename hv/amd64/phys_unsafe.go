// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

import (
	"fmt"
	"unsafe"

	"github.com/tamavisor/tamavisor/hv"
)

// PhysRead copies n bytes of physical memory at pa, reached through
// r.PhysToVirt: the window for the hypervisor's own load range, the
// physmap alias for anything else below 4 GiB. The range must not
// straddle the two.
func PhysRead(r Relocation, pa uint64, n int) ([]byte, error) {
	if n < 0 || uint64(n) > PhysMapSize || pa+uint64(n) < pa {
		return nil, fmt.Errorf("%w: read of %d bytes at %#x", ErrRelocation, n, pa)
	}
	if n == 0 {
		return []byte{}, nil
	}
	va, ok := r.PhysToVirt(pa)
	last, ok2 := r.PhysToVirt(pa + uint64(n) - 1)
	if !ok || !ok2 || last-va != uint64(n)-1 {
		return nil, fmt.Errorf("%w: %d bytes at %#x are not mapped contiguously", ErrRelocation, n, pa)
	}
	if va < 0x1000 {
		return nil, fmt.Errorf("%w: read at %#x hits the null page", ErrRelocation, pa)
	}
	out := make([]byte, n)
	// SAFETY: va..va+n-1 is mapped by cpuinit's early tables (window or
	// physmap alias, checked above); the bytes are copied, never aliased.
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(uintptr(va))), n))
	return out, nil
}

// CheckEarlyMap walks the live page tables (CR3) and verifies they
// implement r (CheckMap). Boards report the result.
func CheckEarlyMap(r Relocation) []error {
	return CheckMap(tableReader(r), read_cr3(), r)
}

// PhysView returns the hypervisor's view of host physical memory
// [pa, pa+size) through the physmap alias. The range must lie below
// 4 GiB; the board only hands out such memory (guest RAM, table pools).
func PhysView(pa uint64, size uint64) []byte {
	if size == 0 || pa+size < pa || pa+size > PhysMapSize {
		return nil
	}
	// SAFETY: PhysMapBase+[0, 4 GiB) maps all of physical memory below
	// 4 GiB (cpuinit's early tables, checked at boot by CheckEarlyMap).
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(PhysMapBase+pa))), size)
}

// physMem is hv.PhysMemory over the physmap alias.
type physMem struct{}

// PhysMemory returns hv.PhysMemory for physical memory below 4 GiB, for
// the nested page-table builders.
func PhysMemory() hv.PhysMemory { return physMem{} }

func (physMem) Read64(pa hv.PA) uint64 {
	// SAFETY: see PhysView; table pages are 8-byte aligned below 4 GiB.
	return *(*uint64)(unsafe.Pointer(uintptr(PhysMapBase + uint64(pa))))
}

func (physMem) Write64(pa hv.PA, val uint64) {
	// SAFETY: see Read64.
	*(*uint64)(unsafe.Pointer(uintptr(PhysMapBase + uint64(pa)))) = val
}
