// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

import (
	"fmt"
	"runtime"
	"unsafe"
)

// CodeArenaSize is the size of the live-patch code arena.
const CodeArenaSize = 1 << 20

// codeArena is the live-patch code arena: Go heap memory, which lies in
// the runtime window next to the image text (well inside the ±2 GiB a
// JMP rel32 trampoline reaches) and which the early page tables map
// executable. It is referenced here forever, so the collector never
// frees it, and holds no pointers, so it never scans it.
var codeArena []byte

// CodeMemory is live patching's access to code (hotpatch.CodeMemory):
// the image text and the code arena, both written through the physmap
// alias of their physical pages (PhysMapBase + pa) rather than through
// the addresses they run at.
//
// Unlike arm64 this is not W^X yet: the early page tables map the image
// text writable and set no NX bit anywhere, so the execution addresses
// are writable too and the alias is executable (README, known gaps).
type CodeMemory struct {
	r                    Relocation
	textStart, textEnd   uint64
	arenaStart, arenaEnd uint64
}

// NewCodeMemory returns the CodeMemory of the running image, allocating
// the arena on first use.
func NewCodeMemory(r Relocation) *CodeMemory {
	if codeArena == nil {
		codeArena = make([]byte, CodeArenaSize)
	}
	ts, te := runtime.TextRegion()
	// SAFETY: only the address is taken.
	a := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(codeArena))))
	return &CodeMemory{r: r, textStart: ts, textEnd: te, arenaStart: a, arenaEnd: a + CodeArenaSize}
}

// Arena is the code arena's execution range.
func (c *CodeMemory) Arena() (base, size uint64) { return c.arenaStart, c.arenaEnd - c.arenaStart }

// alias returns the physmap address of [addr, addr+n), which must lie
// inside the text or the arena and be physically contiguous (both are
// inside the runtime window, which maps to contiguous RAM).
func (c *CodeMemory) alias(addr uint64, n int) (uint64, error) {
	end := addr + uint64(n)
	inText := addr >= c.textStart && end <= c.textEnd
	inArena := addr >= c.arenaStart && end <= c.arenaEnd
	if end < addr || !(inText || inArena) {
		return 0, fmt.Errorf("amd64: code range [%#x, +%d) is neither the image text nor the patch arena", addr, n)
	}
	pa, ok := c.r.VirtToPhys(addr)
	if !ok || !c.r.InWindow(addr) || (n > 0 && !c.r.InWindow(end-1)) || pa+uint64(n) > PhysMapSize {
		return 0, fmt.Errorf("amd64: code range [%#x, +%d) is not in the runtime window", addr, n)
	}
	return PhysMapBase + pa, nil
}

// WriteCode copies b to execution address addr through the physmap
// alias, then executes CPUID, a serialising instruction (Intel SDM Vol.
// 3A 9.1.3 "Handling Self- and Cross-Modifying Code"): only the boot CPU
// runs hypervisor code, so no other CPU needs to synchronise.
func (c *CodeMemory) WriteCode(addr uint64, b []byte) error {
	va, err := c.alias(addr, len(b))
	if err != nil || len(b) == 0 {
		return err
	}
	// SAFETY: the physmap alias of pages of the text or the arena
	// (checked), mapped read/write by the early page tables.
	copy(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(va))), len(b)), b)
	cpuid(0, 0)
	return nil
}

// ReadCode copies the code at addr into b.
func (c *CodeMemory) ReadCode(addr uint64, b []byte) error {
	if _, err := c.alias(addr, len(b)); err != nil {
		return err
	}
	// SAFETY: inside the text or the arena (checked), mapped readable at
	// their execution addresses.
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(uintptr(addr))), len(b)))
	return nil
}
