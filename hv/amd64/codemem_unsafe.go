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

// codeArenaMem holds the live-patch code arena: a static array in the
// image's bss, so inside the runtime window next to the text (well
// inside the ±2 GiB a JMP rel32 trampoline reaches). The arena is its
// 4 KiB-aligned CodeArenaSize bytes, which no other variable shares a
// page with: EnableWX maps them read-only and executable (wx.go).
var codeArenaMem [CodeArenaSize + 4096]byte

// codeArenaSpan returns the arena's execution address and size.
func codeArenaSpan() (base, size uint64) {
	// SAFETY: only the address is taken.
	a := uint64(uintptr(unsafe.Pointer(&codeArenaMem[0])))
	return (a + 0xfff) &^ 0xfff, CodeArenaSize
}

// CodeMemory is live patching's access to code (hotpatch.CodeMemory):
// the image text and the code arena, both written through the physmap
// alias of their physical pages (PhysMapBase + pa), which is writable
// and not executable, and executed at their own addresses, which are
// read-only (EnableWX; before it, or on a CPU without NX, see WX()).
type CodeMemory struct {
	r                    Relocation
	textStart, textEnd   uint64
	arenaStart, arenaEnd uint64
}

// NewCodeMemory returns the CodeMemory of the running image.
func NewCodeMemory(r Relocation) *CodeMemory {
	ts, te := runtime.TextRegion()
	a, n := codeArenaSpan()
	return &CodeMemory{r: r, textStart: ts, textEnd: te, arenaStart: a, arenaEnd: a + n}
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
	// (checked), mapped read/write by the early and the W^X tables.
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
