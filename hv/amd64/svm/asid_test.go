// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"errors"
	"sync"
	"testing"
)

func TestASIDs(t *testing.T) {
	a := NewASIDs(16) // QEMU TCG: 16 ASIDs, so guests get 1-15
	if a.Len() != 16 {
		t.Fatalf("Len %d", a.Len())
	}
	for want := uint32(1); want < 16; want++ {
		got, err := a.Alloc()
		if err != nil || got != want {
			t.Fatalf("Alloc = %d, %v; want %d", got, err, want)
		}
	}
	if _, err := a.Alloc(); !errors.Is(err, ErrNoASID) {
		t.Fatalf("exhausted Alloc: %v", err)
	}
	if err := a.Free(7); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(3); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint32{3, 7} {
		if got, err := a.Alloc(); err != nil || got != want {
			t.Fatalf("reuse: %d, %v; want %d", got, err, want)
		}
	}
	for _, bad := range []uint32{HostASID, 16, 1 << 20} {
		if err := a.Free(bad); !errors.Is(err, ErrASIDNotInUse) {
			t.Errorf("Free(%d): %v", bad, err)
		}
	}
	if err := a.Free(5); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(5); !errors.Is(err, ErrASIDNotInUse) {
		t.Errorf("double Free: %v", err)
	}
}

func TestASIDsLimits(t *testing.T) {
	for _, n := range []uint32{0, 1} {
		if _, err := NewASIDs(n).Alloc(); !errors.Is(err, ErrNoASID) {
			t.Errorf("%d ASIDs: %v", n, err)
		}
	}
	// Word boundaries: 64 and 65 ASIDs.
	for _, n := range []uint32{64, 65, 129} {
		a := NewASIDs(n)
		for i := uint32(1); i < n; i++ {
			if got, err := a.Alloc(); err != nil || got != i {
				t.Fatalf("n=%d: %d, %v", n, got, err)
			}
		}
		if _, err := a.Alloc(); !errors.Is(err, ErrNoASID) {
			t.Errorf("n=%d: over-allocated", n)
		}
	}
	// A huge CPUID count is capped.
	if a := NewASIDs(0xffff_ffff); a.Len() != MaxASIDs {
		t.Errorf("cap: %d", a.Len())
	}
}

func TestASIDsConcurrent(t *testing.T) {
	a := NewASIDs(1025)
	var wg sync.WaitGroup
	got := make([][]uint32, 8)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 128; i++ {
				id, err := a.Alloc()
				if err != nil {
					t.Error(err)
					return
				}
				got[g] = append(got[g], id)
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, ids := range got {
		for _, id := range ids {
			if id == HostASID || seen[id] {
				t.Fatalf("ASID %d handed out twice or is the host's", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 1024 {
		t.Errorf("%d ASIDs", len(seen))
	}
}
