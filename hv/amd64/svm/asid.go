// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/tamavisor/tamavisor/hv"
)

// ASID allocation (AMD APM Vol. 2, 15.16 "TLB Control"): each guest runs
// with its own address space ID in ControlArea.GuestASID so its TLB
// entries survive #VMEXIT. ASID 0 is the host's; VMRUN with GuestASID 0
// fails (VMEXIT_INVALID).
const (
	// HostASID is the host's ASID, never handed out.
	HostASID = 0
	// MaxASIDs caps the ASIDs an ASIDs allocator manages (and the size of
	// its bitmap, 8 KiB).
	MaxASIDs = 1 << 16
)

// ASID allocator errors.
const (
	ErrNoASID       = hv.Error("svm: no free ASID")
	ErrASIDNotInUse = hv.Error("svm: freeing an ASID that is not allocated")
)

// ASIDs hands out guest ASIDs 1 to n-1, lowest first. It is safe for
// concurrent use.
type ASIDs struct {
	mu   sync.Mutex
	n    uint32
	used []uint64 // bit i set: ASID i allocated; bit 0 always set
}

// NewASIDs returns an allocator for n ASIDs, the count CPUID
// Fn8000_000A EBX reports (Features.ASIDs) including ASID 0; n is capped
// at MaxASIDs.
func NewASIDs(n uint32) *ASIDs {
	n = min(n, MaxASIDs)
	a := &ASIDs{n: n, used: make([]uint64, max((n+63)/64, 1))}
	a.used[0] = 1 << HostASID
	return a
}

// Len returns the number of ASIDs managed, including ASID 0.
func (a *ASIDs) Len() uint32 { return a.n }

// Alloc returns the lowest free ASID, or ErrNoASID.
func (a *ASIDs) Alloc() (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, w := range a.used {
		if w == ^uint64(0) {
			continue
		}
		id := uint32(i*64 + bits.TrailingZeros64(^w))
		if id >= a.n {
			break
		}
		a.used[i] |= 1 << (id % 64)
		return id, nil
	}
	return 0, fmt.Errorf("%w: all %d in use", ErrNoASID, max(a.n, 1)-1)
}

// Free returns asid to the allocator. Freeing ASID 0, an ASID out of
// range or one not allocated is a hypervisor bug: it changes nothing and
// returns an error wrapping ErrASIDNotInUse. The caller must flush the
// ASID's TLB entries before another guest runs with it: TLB_CONTROL_
// FLUSH_GUEST on that guest's first VMRUN (TLB_CONTROL_FLUSH_ALL without
// FlushByASID).
func (a *ASIDs) Free(asid uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if asid == HostASID || asid >= a.n || a.used[asid/64]&(1<<(asid%64)) == 0 {
		return fmt.Errorf("%w: asid %d", ErrASIDNotInUse, asid)
	}
	a.used[asid/64] &^= 1 << (asid % 64)
	return nil
}
