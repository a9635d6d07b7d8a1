// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"sync"

	"github.com/tamavisor/tamavisor/hv"
)

// ErrNoVPID is returned by VPIDs.Alloc when every VPID is in use.
const ErrNoVPID = hv.Error("vmx: out of VPIDs")

// VPIDs allocates virtual-processor identifiers (Intel SDM Vol. 3C, 29.1
// "Virtual Processor Identifiers (VPIDs)"), the VIRTUAL_PROCESSOR_ID of
// a VMCS with PROC2_ENABLE_VPID. VPID 0 tags the host's own translations
// (VM entry fails with VPID 0 while VPIDs are enabled) and is never
// handed out. It is safe for concurrent use.
//
// The processor keeps translations tagged with a freed VPID: before a
// freed VPID runs another guest, the caller invalidates it (INVVPID
// single-context, or all-context) on every processor that used it.
type VPIDs struct {
	mu   sync.Mutex
	n    uint16
	used []uint64 // bit v set: VPID v in use; bit 0 always set
}

// NewVPIDs returns an allocator of VPIDs 1 to n (n at most 65535, the
// largest 16-bit VPID).
func NewVPIDs(n uint16) *VPIDs {
	v := &VPIDs{n: n, used: make([]uint64, (int(n)+1+63)/64)}
	v.used[0] = 1 // VPID 0
	return v
}

// Len returns n, the largest VPID the allocator hands out.
func (v *VPIDs) Len() uint16 { return v.n }

// Alloc returns the lowest free VPID, or ErrNoVPID.
func (v *VPIDs) Alloc() (uint16, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for w, bits := range v.used {
		if bits == ^uint64(0) {
			continue
		}
		for b := 0; b < 64; b++ {
			id := w*64 + b
			if id > int(v.n) {
				return 0, ErrNoVPID
			}
			if bits&(1<<b) == 0 {
				v.used[w] |= 1 << b
				return uint16(id), nil
			}
		}
	}
	return 0, ErrNoVPID
}

// Free returns id to the allocator. Freeing 0, an id above n or one that
// is not allocated does nothing.
func (v *VPIDs) Free(id uint16) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if id == 0 || id > v.n {
		return
	}
	v.used[id/64] &^= 1 << (id % 64)
}

// InUse reports whether id is allocated (0 always is: it is the host's).
func (v *VPIDs) InUse(id uint16) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if id > v.n {
		return false
	}
	return v.used[id/64]&(1<<(id%64)) != 0
}
