// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import (
	"fmt"
	"sort"
)

// MMIODevice is an emulated device behind a trapped guest-physical
// region. Offsets are relative to the region base; size is 1, 2, 4 or 8
// bytes and the access never crosses the region end (the bus checks).
// vcpu is the index of the accessing vCPU inside its VM, for banked
// registers.
//
// Every argument is guest-controlled. A device returns an error for an
// access it cannot emulate (the vCPU then takes an external abort); it
// must never panic.
type MMIODevice interface {
	MMIORead(vcpu int, off uint64, size int) (uint64, error)
	MMIOWrite(vcpu int, off uint64, size int, val uint64) error
}

// IRQLine is one interrupt input of a virtual interrupt controller, as a
// level. Edge-triggered sources raise and lower it.
type IRQLine interface {
	SetLevel(high bool)
}

// MMIO errors.
const (
	ErrNoDevice    = Error("mmio: no device at address")
	ErrBadAccess   = Error("mmio: unsupported access size or alignment")
	ErrOverlap     = Error("mmio: region overlaps another")
	ErrEmptyRegion = Error("mmio: empty or wrapping region")
)

// MMIORegion is one registered device window.
type MMIORegion struct {
	Name   string
	Base   IPA
	Size   uint64
	Dev    MMIODevice
	Reads  uint64
	Writes uint64
	Errors uint64
}

// MMIOBus maps guest-physical windows to emulated devices for one VM.
// It is not safe for concurrent use; the VM's exit path serialises.
type MMIOBus struct {
	regions   []*MMIORegion // sorted by Base, non-overlapping
	Unclaimed uint64        // accesses that hit no region
}

// Register adds dev at [base, base+size). Overlapping windows are refused.
func (b *MMIOBus) Register(name string, base IPA, size uint64, dev MMIODevice) error {
	if size == 0 || uint64(base)+size < uint64(base) {
		return fmt.Errorf("%w: %s at %v size %#x", ErrEmptyRegion, name, base, size)
	}
	for _, r := range b.regions {
		if uint64(base) < uint64(r.Base)+r.Size && uint64(r.Base) < uint64(base)+size {
			return fmt.Errorf("%w: %s [%#x,%#x) and %s [%#x,%#x)", ErrOverlap, name,
				uint64(base), uint64(base)+size, r.Name, uint64(r.Base), uint64(r.Base)+r.Size)
		}
	}
	b.regions = append(b.regions, &MMIORegion{Name: name, Base: base, Size: size, Dev: dev})
	sort.Slice(b.regions, func(i, j int) bool { return b.regions[i].Base < b.regions[j].Base })
	return nil
}

// Regions returns the registered windows in address order.
func (b *MMIOBus) Regions() []*MMIORegion { return b.regions }

// Find returns the region holding addr, or nil.
func (b *MMIOBus) Find(addr IPA) *MMIORegion {
	i := sort.Search(len(b.regions), func(i int) bool {
		r := b.regions[i]
		return uint64(r.Base)+r.Size > uint64(addr)
	})
	if i < len(b.regions) && b.regions[i].Base <= addr {
		return b.regions[i]
	}
	return nil
}

// Dispatch performs one guest access. For a read it returns the value
// (zero-extended to 64 bits). An access that hits no region, straddles a
// region end, or has a size other than 1, 2, 4 or 8 is an error.
func (b *MMIOBus) Dispatch(vcpu int, addr IPA, size int, write bool, val uint64) (uint64, error) {
	switch size {
	case 1, 2, 4, 8:
	default:
		return 0, fmt.Errorf("%w: size %d at %v", ErrBadAccess, size, addr)
	}
	r := b.Find(addr)
	if r == nil {
		b.Unclaimed++
		return 0, fmt.Errorf("%w: %v", ErrNoDevice, addr)
	}
	off := uint64(addr - r.Base)
	if off+uint64(size) > r.Size {
		r.Errors++
		return 0, fmt.Errorf("%w: %d bytes at %v crosses the end of %s", ErrBadAccess, size, addr, r.Name)
	}
	var err error
	if write {
		r.Writes++
		if size < 8 {
			val &= 1<<(8*uint(size)) - 1
		}
		err = r.Dev.MMIOWrite(vcpu, off, size, val)
		val = 0
	} else {
		r.Reads++
		val, err = r.Dev.MMIORead(vcpu, off, size)
		if size < 8 {
			val &= 1<<(8*uint(size)) - 1
		}
	}
	if err != nil {
		r.Errors++
		return 0, fmt.Errorf("%s: %w", r.Name, err)
	}
	return val, nil
}
