// hotpatch/hpfixture: the live-patch test fixture (build tag hpfixture).
// SPDX-License-Identifier: BSD-3-Clause

//go:build hpfixture

package hpfixture

import (
	"hash/adler32"
	"testing"
)

// Run with each version's tags (the Makefile's test target does):
// version 0 must differ from Adler-32 exactly when the last byte
// matters, versions 1 and 2 must equal it, and Walk must match its
// independent computation at depths that grow the stack many times.
func TestChecksum(t *testing.T) {
	inputs := [][]byte{nil, {0}, {1}, []byte("tamavisor"), make([]byte, 4096)}
	for i := range inputs[4] {
		inputs[4][i] = byte(i*7 + 3)
	}
	for _, b := range inputs {
		want := uint64(adler32.Checksum(b))
		got := Checksum(b)
		if Version() == 0 {
			if len(b) > 0 {
				want = uint64(adler32.Checksum(b[:len(b)-1]))
			}
		}
		if got != want {
			t.Errorf("version %d: Checksum(%d bytes) = %#x, want %#x", Version(), len(b), got, want)
		}
	}
}

func TestWalk(t *testing.T) {
	for _, depth := range []int{1, 63, 64, 1000, 20000} {
		acc := uint64(0)
		if got, want := Walk(depth, 5, &acc), expectWalk(depth, 5, Version()); got != want {
			t.Errorf("version %d: Walk(%d) = %#x, want %#x", Version(), depth, got, want)
		}
	}
}
