// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import "testing"

func TestLAPICCount(t *testing.T) {
	for _, c := range []struct {
		ns   int64
		hz   uint64
		want uint32
	}{
		{0, 1e9, 1},
		{-5, 1e9, 1},
		{1, 1e9, 1},
		{1000, 1e9, 1000},
		{10_000_000, 1e9, 10_000_000},
		{10_000_000, 100_000_000, 1_000_000},
		{1, 100, 1},
		{10e9, 1e9, 0xffff_ffff},
		{1 << 62, 1e9, 0xffff_ffff},
		{1_500_000_000, 2_000_000_000, 3_000_000_000},
		{5, 0, 1},
	} {
		if got := lapicCount(c.ns, c.hz); got != c.want {
			t.Errorf("lapicCount(%d ns, %d Hz) = %d, want %d", c.ns, c.hz, got, c.want)
		}
	}
}
