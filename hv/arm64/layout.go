// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import "github.com/tamavisor/tamavisor/hv"

// Mapping is one range of the hypervisor's EL2 map: PA mapped at VA, or
// at the identity address when VA is zero.
type Mapping struct {
	PA   hv.PA
	Size uint64
	Attr Attr
	VA   hv.VA
}

// MaxMappings bounds the number of ranges HypervisorMap produces: one per
// device window, plus at most three per executable range for RAM and
// its alias.
const MaxMappings = 32

// CodeAlias is the distance between an executable range's identity
// address and its writable alias (HypervisorMap): live patching writes
// code through PA+CodeAlias, never through the read-only, executable
// identity mapping. It lies above every RAM address the boards use and
// inside the 39-bit VA space.
const CodeAlias = 0x40_0000_0000

// HypervisorMap computes tamavisor's EL2 map:
//
//   - every device window as Device memory, read/write, never executable;
//   - hypervisor RAM as Normal cacheable memory, read/write and never
//     executable, except the executable ranges exec (the text segment and
//     the live-patch code arena), rounded out to pages, which are
//     read-only and executable (W^X);
//   - each executable range again at PA+CodeAlias, read/write and never
//     executable: the only way to change code.
//
// exec must be sorted, disjoint after rounding, and inside ram. The page
// at address 0 is never mapped, so null-pointer accesses fault.
//
// It fills out and returns the number used, allocating nothing, because
// it runs in hwinit0 before the Go runtime.
func HypervisorMap(out *[MaxMappings]Mapping, ram hv.Region, exec []hv.Region, devices []hv.Region) (int, error) {
	n := 0
	add := func(m Mapping) error {
		if m.Size == 0 {
			return nil
		}
		if n == MaxMappings {
			return ErrRange
		}
		out[n] = m
		n++
		return nil
	}
	for _, d := range devices {
		base, end := roundDown(d.Base), roundUp(d.End())
		if base == 0 {
			base = hv.PageSize // keep the null page unmapped
		}
		if end <= base {
			continue
		}
		if err := add(Mapping{PA: base, Size: uint64(end - base), Attr: Attr{Type: Device, Writable: true}}); err != nil {
			return 0, err
		}
	}
	rs, re := ram.Base, ram.End()
	if !rs.PageAligned() || !re.PageAligned() || len(exec) == 0 {
		return 0, ErrRange
	}
	rw := Attr{Type: Normal, Writable: true}
	next := rs // start of the RAM not yet mapped
	for _, x := range exec {
		xs, xe := roundDown(x.Base), roundUp(x.End())
		if xs < next || xe > re || xe <= xs || uint64(xe)+CodeAlias < uint64(xe) {
			return 0, ErrRange
		}
		if err := add(Mapping{PA: next, Size: uint64(xs - next), Attr: rw}); err != nil {
			return 0, err
		}
		if err := add(Mapping{PA: xs, Size: uint64(xe - xs), Attr: Attr{Type: Normal, Executable: true}}); err != nil {
			return 0, err
		}
		if err := add(Mapping{PA: xs, Size: uint64(xe - xs), Attr: rw, VA: hv.VA(uint64(xs) + CodeAlias)}); err != nil {
			return 0, err
		}
		next = xe
	}
	if err := add(Mapping{PA: next, Size: uint64(re - next), Attr: rw}); err != nil {
		return 0, err
	}
	return n, nil
}

func roundDown(pa hv.PA) hv.PA { return pa &^ (hv.PageSize - 1) }
func roundUp(pa hv.PA) hv.PA   { return (pa + hv.PageSize - 1) &^ (hv.PageSize - 1) }
