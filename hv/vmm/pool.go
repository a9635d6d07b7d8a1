// vmm: the architecture-neutral VM manager of tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmm

import (
	"fmt"
	"sort"

	"github.com/tamavisor/tamavisor/hv"
)

// RAMAlign is the alignment of guest RAM in host memory: 2 MiB, so
// stage-2/NPT tables can use block mappings.
const RAMAlign = 2 << 20

// RAMPool hands out host physical memory for guest RAM from the RAM the
// hypervisor does not use itself. Memory given to one VM is never given
// to another while it is allocated.
type RAMPool struct {
	free []hv.Region // sorted, non-overlapping, RAMAlign-aligned
}

// NewRAMPool makes a pool of the given regions, trimmed to RAMAlign.
func NewRAMPool(regions []hv.Region) *RAMPool {
	p := &RAMPool{}
	for _, r := range regions {
		base := (uint64(r.Base) + RAMAlign - 1) &^ (RAMAlign - 1)
		end := (uint64(r.Base) + r.Size) &^ (RAMAlign - 1)
		if end > base {
			p.free = append(p.free, hv.Region{Name: "guest-ram", Kind: hv.RAM, Base: hv.PA(base), Size: end - base})
		}
	}
	p.normalise()
	return p
}

func (p *RAMPool) normalise() {
	sort.Slice(p.free, func(i, j int) bool { return p.free[i].Base < p.free[j].Base })
	out := p.free[:0]
	for _, r := range p.free {
		if n := len(out); n > 0 && out[n-1].End() == r.Base {
			out[n-1].Size += r.Size
			continue
		}
		out = append(out, r)
	}
	p.free = out
}

// Free returns the number of free bytes.
func (p *RAMPool) Free() uint64 {
	var n uint64
	for _, r := range p.free {
		n += r.Size
	}
	return n
}

// Alloc reserves size bytes (rounded up to RAMAlign), first fit.
func (p *RAMPool) Alloc(size uint64) (hv.PA, error) {
	if size == 0 || size > 1<<48 {
		return 0, fmt.Errorf("%w: %#x bytes", ErrNoMemory, size)
	}
	size = (size + RAMAlign - 1) &^ (RAMAlign - 1)
	for i := range p.free {
		r := &p.free[i]
		if r.Size >= size {
			pa := r.Base
			r.Base += hv.PA(size)
			r.Size -= size
			if r.Size == 0 {
				p.free = append(p.free[:i], p.free[i+1:]...)
			}
			return pa, nil
		}
	}
	return 0, fmt.Errorf("%w: %d MiB wanted, largest free block smaller (%d MiB free)", ErrNoMemory, size>>20, p.Free()>>20)
}

// Release gives memory back to the pool.
func (p *RAMPool) Release(pa hv.PA, size uint64) {
	size = (size + RAMAlign - 1) &^ (RAMAlign - 1)
	p.free = append(p.free, hv.Region{Name: "guest-ram", Kind: hv.RAM, Base: pa, Size: size})
	p.normalise()
}
