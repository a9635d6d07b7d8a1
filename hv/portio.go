// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import (
	"fmt"
	"sort"
)

// PortSpace is the size of the x86 I/O address space: ports 0 to 0xFFFF
// (Intel SDM Vol. 1, 19.2 "I/O Port Addressing").
const PortSpace = 0x10000

// PortDevice is an emulated device behind a range of x86 I/O ports,
// reached by IN and OUT exits (ExitIO). off is relative to the range
// base; size is 1, 2 or 4 bytes and the access never crosses the range
// end (the bus checks). vcpu is the index of the accessing vCPU inside
// its VM.
//
// Every argument is guest-controlled. A device returns an error for an
// access it cannot emulate (the vCPU then takes #GP); it must never
// panic. Written values arrive masked to size bytes; a read result is
// masked by the bus.
type PortDevice interface {
	PortRead(vcpu int, off uint16, size int) (uint32, error)
	PortWrite(vcpu int, off uint16, size int, val uint32) error
}

// PortRange is one registered block of I/O ports, [Base, Base+Size).
// Size is a uint32 so that a range may end exactly at PortSpace.
type PortRange struct {
	Name   string
	Base   uint16
	Size   uint32
	Dev    PortDevice
	Reads  uint64
	Writes uint64
	Errors uint64
}

// PortBus maps the I/O ports of one VM to emulated devices; it is the
// port-I/O counterpart of MMIOBus and reuses its errors (ErrNoDevice,
// ErrBadAccess, ErrOverlap, ErrEmptyRegion). It is not safe for
// concurrent use; the VM's exit path serialises.
type PortBus struct {
	ranges    []*PortRange // sorted by Base, non-overlapping
	Unclaimed uint64       // accesses that hit no range
}

// Register adds dev at ports [base, base+size). A range that is empty or
// runs past port 0xFFFF fails with ErrEmptyRegion, one that overlaps a
// registered range with ErrOverlap.
func (b *PortBus) Register(name string, base uint16, size uint32, dev PortDevice) error {
	end := uint64(base) + uint64(size)
	if size == 0 || end > PortSpace {
		return fmt.Errorf("%w: %s at port %#x size %#x", ErrEmptyRegion, name, base, size)
	}
	for _, r := range b.ranges {
		rend := uint64(r.Base) + uint64(r.Size)
		if uint64(base) < rend && uint64(r.Base) < end {
			return fmt.Errorf("%w: %s ports [%#x,%#x) and %s [%#x,%#x)", ErrOverlap, name,
				base, end, r.Name, r.Base, rend)
		}
	}
	b.ranges = append(b.ranges, &PortRange{Name: name, Base: base, Size: size, Dev: dev})
	sort.Slice(b.ranges, func(i, j int) bool { return b.ranges[i].Base < b.ranges[j].Base })
	return nil
}

// Ranges returns the registered ranges in port order.
func (b *PortBus) Ranges() []*PortRange { return b.ranges }

// Find returns the range holding port, or nil.
func (b *PortBus) Find(port uint16) *PortRange {
	i := sort.Search(len(b.ranges), func(i int) bool {
		r := b.ranges[i]
		return uint64(r.Base)+uint64(r.Size) > uint64(port)
	})
	if i < len(b.ranges) && b.ranges[i].Base <= port {
		return b.ranges[i]
	}
	return nil
}

// Dispatch performs one guest IN (write false) or OUT (write true) of
// size bytes at port. A read returns the value zero-extended to 32 bits;
// val of a write is masked to size bytes before the device sees it.
//
// A size other than 1, 2 or 4, or an access that straddles the end of
// its range, fails with an error wrapping ErrBadAccess. An access that
// hits no range counts in Unclaimed and returns ErrNoDevice itself,
// unwrapped, so that this frequent case (port 0x80 delays, probes of
// absent legacy devices) does not allocate; the caller knows the port
// and makes such a read return all ones and ignores such a write, as an
// unclaimed ISA cycle does on a PC. Device errors are wrapped with the
// range name and counted in the range's Errors.
func (b *PortBus) Dispatch(vcpu int, port uint16, size int, write bool, val uint32) (uint32, error) {
	switch size {
	case 1, 2, 4:
	default:
		return 0, fmt.Errorf("%w: size %d at port %#x", ErrBadAccess, size, port)
	}
	r := b.Find(port)
	if r == nil {
		b.Unclaimed++
		return 0, ErrNoDevice
	}
	off := uint32(port - r.Base)
	if off+uint32(size) > r.Size {
		r.Errors++
		return 0, fmt.Errorf("%w: %d bytes at port %#x cross the end of %s", ErrBadAccess, size, port, r.Name)
	}
	mask := portMask(size)
	var err error
	if write {
		r.Writes++
		err = r.Dev.PortWrite(vcpu, uint16(off), size, val&mask)
		val = 0
	} else {
		r.Reads++
		val, err = r.Dev.PortRead(vcpu, uint16(off), size)
		val &= mask
	}
	if err != nil {
		r.Errors++
		return 0, fmt.Errorf("%s: %w", r.Name, err)
	}
	return val, nil
}

// portMask is the mask of a size-byte port value (size 1, 2 or 4).
func portMask(size int) uint32 {
	if size >= 4 {
		return 0xffff_ffff
	}
	return 1<<(8*uint(size)) - 1
}
