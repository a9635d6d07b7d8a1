// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import "github.com/tamavisor/tamavisor/hv"

// Mapping is one range of the hypervisor's identity map.
type Mapping struct {
	PA   hv.PA
	Size uint64
	Attr Attr
}

// MaxMappings bounds the number of ranges HypervisorMap produces: one per
// device window, plus at most three for RAM (before, text, after).
const MaxMappings = 32

// HypervisorMap computes tamavisor's EL2 identity map: every device window
// as Device memory, read/write, never executable; hypervisor RAM as Normal
// cacheable memory, read/write and never executable, except the text
// segment [textStart, textEnd) (rounded out to pages), which is
// read-only and executable (W^X). The page at address 0 is never mapped,
// so null-pointer accesses fault.
//
// It fills out and returns the number used, allocating nothing, because
// it runs in hwinit0 before the Go runtime.
func HypervisorMap(out *[MaxMappings]Mapping, ram hv.Region, textStart, textEnd hv.PA, devices []hv.Region) (int, error) {
	n := 0
	add := func(pa hv.PA, size uint64, a Attr) error {
		if size == 0 {
			return nil
		}
		if n == MaxMappings {
			return ErrRange
		}
		out[n] = Mapping{PA: pa, Size: size, Attr: a}
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
		if err := add(base, uint64(end-base), Attr{Type: Device, Writable: true}); err != nil {
			return 0, err
		}
	}
	ts, te := roundDown(textStart), roundUp(textEnd)
	rs, re := ram.Base, ram.End()
	if ts < rs || te > re || te <= ts || !rs.PageAligned() || !re.PageAligned() {
		return 0, ErrRange
	}
	rw := Attr{Type: Normal, Writable: true}
	if err := add(rs, uint64(ts-rs), rw); err != nil {
		return 0, err
	}
	if err := add(ts, uint64(te-ts), Attr{Type: Normal, Executable: true}); err != nil {
		return 0, err
	}
	if err := add(te, uint64(re-te), rw); err != nil {
		return 0, err
	}
	return n, nil
}

func roundDown(pa hv.PA) hv.PA { return pa &^ (hv.PageSize - 1) }
func roundUp(pa hv.PA) hv.PA   { return (pa + hv.PageSize - 1) &^ (hv.PageSize - 1) }
