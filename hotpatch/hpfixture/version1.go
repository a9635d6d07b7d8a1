// hotpatch/hpfixture: the live-patch test fixture (build tag hpfixture).
// SPDX-License-Identifier: BSD-3-Clause

//go:build hpfixture && hpfix1 && !hpfix2

package hpfixture

import "runtime"

// tag is this build's fixture tag: tagBase with the version (1) in
// the low byte.
//
//go:noinline
func tag() uint64 { return tagBase | 1 }

// Checksum is Adler-32 (RFC 1950 section 8.2) of b.
//
//go:noinline
func Checksum(b []byte) uint64 {
	a, s := uint64(1), uint64(0)
	for i := 0; i < len(b); i++ {
		a = (a + uint64(b[i])) % 65521
		s = (s + a) % 65521
	}
	return s<<16 | a
}

//go:noinline
func walk(prev *node, top, depth int, seed uint64, acc *uint64) uint64 {
	if depth == 0 {
		// Check the chain: every node still holds what was put there.
		n := 0
		for p := prev; p != nil; p = p.prev {
			if len(p.pad) != 48 || p.pad[47] != byte(p.depth) {
				return 0
			}
			n++
		}
		if n != top {
			return 0
		}
		return *acc + uint64(top)
	}
	seed = seed*37 + uint64(depth)
	nd := &node{prev: prev, depth: depth, val: seed, pad: make([]byte, 48)}
	nd.pad[47] = byte(depth)
	if depth%64 == 0 {
		runtime.GC()
	}
	*acc += nd.val ^ uint64(depth)
	return walk(nd, top, depth-1, seed, acc)
}
