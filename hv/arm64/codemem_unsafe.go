// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package arm64

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/tamavisor/tamavisor/hv"
)

// CodeMemory is live patching's access to code (hotpatch.CodeMemory):
// the image text and the code arena EarlyInit mapped, both read-only and
// executable at their identity addresses and written only through their
// writable, never-executable alias at PA+CodeAlias.
type CodeMemory struct {
	text, arena hv.Region
}

// NewCodeMemory returns the CodeMemory of the running image.
func NewCodeMemory() *CodeMemory {
	ts, te := runtime.TextRegion()
	return &CodeMemory{
		text:  hv.Region{Name: "text", Kind: hv.RAM, Base: hv.PA(ts), Size: uint64(te - ts)},
		arena: codeArena,
	}
}

// Arena is the code arena's execution range.
func (c *CodeMemory) Arena() (base, size uint64) { return uint64(c.arena.Base), c.arena.Size }

func (c *CodeMemory) check(addr uint64, n int) error {
	end := addr + uint64(n)
	for _, r := range [2]hv.Region{c.text, c.arena} {
		if r.Size > 0 && end >= addr && addr >= uint64(r.Base) && end <= uint64(r.End()) {
			return nil
		}
	}
	return fmt.Errorf("arm64: code range [%#x, +%d) is neither the image text nor the patch arena", addr, n)
}

// WriteCode copies b to execution address addr through the alias and
// does the cache maintenance that makes it fetchable (sync_code).
func (c *CodeMemory) WriteCode(addr uint64, b []byte) error {
	if err := c.check(addr, len(b)); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	// SAFETY: [addr, addr+len(b)) is inside the text or the arena
	// (checked), whose writable alias EarlyInit mapped at +CodeAlias.
	copy(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(addr+CodeAlias))), len(b)), b)
	sync_code(addr+CodeAlias, addr, uint64(len(b)))
	return nil
}

// ReadCode copies the code at addr into b.
func (c *CodeMemory) ReadCode(addr uint64, b []byte) error {
	if err := c.check(addr, len(b)); err != nil {
		return err
	}
	// SAFETY: inside the text or the arena (checked), both readable at
	// their identity addresses.
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(uintptr(addr))), len(b)))
	return nil
}
