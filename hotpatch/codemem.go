// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	pf "github.com/tamavisor/tamavisor/hotpatch/payload"
)

// CodeMemory is how an engine places and changes machine code on one
// architecture (docs/hotpatch.md, "Code memory"). The target's
// implementations live in hv/arm64 and hv/amd64; the host tests use a
// byte-slice fake.
//
// Addresses are execution addresses: where the CPU fetches the code.
// Writes never go through them: on arm64 the image text and the arena are
// mapped read-only and executable, and the implementation writes through
// a separate read/write, never-executable alias (W^X), then does the
// cache maintenance the architecture requires before the new bytes may be
// fetched (DC CVAU, DSB ISH, IC IVAU, DSB ISH, ISB).
type CodeMemory interface {
	// Arena is the execution address range payload code is placed in
	// (aligned to pf.TextAlign; within branch range of the image text).
	Arena() (base, size uint64)
	// WriteCode copies b to execution address addr, which lies inside
	// the image text or the arena, and makes it visible to instruction
	// fetch on every CPU. It refuses any other range.
	WriteCode(addr uint64, b []byte) error
	// ReadCode copies the code at addr into b (same ranges).
	ReadCode(addr uint64, b []byte) error
}

// ErrArenaFull is the allocator's error when no free range is large
// enough: the upload is refused with ENOMEM.
var ErrArenaFull = errors.New("hotpatch: code arena full")

// arena hands out pf.TextAlign-aligned ranges of a CodeMemory arena,
// first fit. Ranges of payloads that were ever applied are retired, never
// freed: a goroutine may still be parked in the new code after a revert,
// and the runtime module that describes it stays registered
// (docs/hotpatch.md, "Go runtime safety").
type arena struct {
	mu      sync.Mutex
	base    uint64
	size    uint64
	free    []span // sorted by start, coalesced
	retired uint64 // bytes retired
}

type span struct{ start, end uint64 }

func newArena(base, size uint64) *arena {
	a := &arena{base: base, size: size}
	start := alignUp(base, pf.TextAlign)
	if end := base + size; start < end {
		a.free = []span{{start, end}}
	}
	return a
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }

// alloc returns the start of n bytes (rounded up to pf.TextAlign).
func (a *arena) alloc(n uint64) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = alignUp(n, pf.TextAlign)
	for i, s := range a.free {
		if s.end-s.start >= n {
			a.free[i].start += n
			if a.free[i].start == s.end {
				a.free = slices.Delete(a.free, i, i+1)
			}
			return s.start, nil
		}
	}
	return 0, fmt.Errorf("%w: %d bytes wanted, %d of %d free", ErrArenaFull, n, a.freeLocked(), a.size)
}

// release returns [addr, addr+n) to the free list.
func (a *arena) release(addr, n uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = alignUp(n, pf.TextAlign)
	i, _ := slices.BinarySearchFunc(a.free, addr, func(s span, x uint64) int {
		switch {
		case s.start < x:
			return -1
		case s.start > x:
			return 1
		}
		return 0
	})
	a.free = slices.Insert(a.free, i, span{addr, addr + n})
	// Coalesce with the neighbours.
	if i+1 < len(a.free) && a.free[i].end == a.free[i+1].start {
		a.free[i].end = a.free[i+1].end
		a.free = slices.Delete(a.free, i+1, i+2)
	}
	if i > 0 && a.free[i-1].end == a.free[i].start {
		a.free[i-1].end = a.free[i].end
		a.free = slices.Delete(a.free, i, i+1)
	}
}

// retire records that n bytes will never be freed.
func (a *arena) retire(n uint64) {
	a.mu.Lock()
	a.retired += alignUp(n, pf.TextAlign)
	a.mu.Unlock()
}

func (a *arena) freeLocked() uint64 {
	var f uint64
	for _, s := range a.free {
		f += s.end - s.start
	}
	return f
}

// usage reports the free and retired bytes.
func (a *arena) usage() (free, retired uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.freeLocked(), a.retired
}
