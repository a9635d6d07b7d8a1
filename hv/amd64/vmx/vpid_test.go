// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"errors"
	"sync"
	"testing"
)

func TestVPIDs(t *testing.T) {
	v := NewVPIDs(3)
	if v.Len() != 3 {
		t.Errorf("Len %d", v.Len())
	}
	if !v.InUse(0) {
		t.Error("VPID 0 not reserved")
	}
	for want := uint16(1); want <= 3; want++ {
		if id, err := v.Alloc(); id != want || err != nil {
			t.Fatalf("Alloc = %d, %v; want %d", id, err, want)
		}
	}
	if id, err := v.Alloc(); !errors.Is(err, ErrNoVPID) || id != 0 {
		t.Fatalf("exhausted Alloc = %d, %v", id, err)
	}
	v.Free(2)
	v.Free(2) // double free: no effect
	v.Free(0) // the host's: ignored
	v.Free(9) // out of range: ignored
	if !v.InUse(0) || v.InUse(2) || !v.InUse(3) || v.InUse(9) {
		t.Error("InUse after Free")
	}
	if id, err := v.Alloc(); id != 2 || err != nil {
		t.Fatalf("Alloc after Free = %d, %v", id, err)
	}
	if _, err := NewVPIDs(0).Alloc(); !errors.Is(err, ErrNoVPID) {
		t.Errorf("empty allocator: %v", err)
	}
}

func TestVPIDsFull(t *testing.T) {
	v := NewVPIDs(0xffff)
	seen := make(map[uint16]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id, err := v.Alloc()
				if err != nil {
					return
				}
				mu.Lock()
				if id == 0 || seen[id] {
					t.Errorf("VPID %d handed out twice or is 0", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 0xffff {
		t.Errorf("handed out %d VPIDs, want 65535", len(seen))
	}
	v.Free(0xffff)
	if id, err := v.Alloc(); id != 0xffff || err != nil {
		t.Errorf("last VPID: %d %v", id, err)
	}
}
