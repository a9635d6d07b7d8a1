// testguest: the bare-metal test guest run by the integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

package main

import _ "unsafe"

// rngState is seeded from the architecture's counter by initRNG
// (board.go, board_amd64.go).
var rngState uint64

//go:linkname getRandomData runtime.getRandomData
func getRandomData(b []byte) {
	for i := range b {
		b[i] = byte(next() >> 32)
	}
}

// next is xorshift64*: test randomness only (the guest fuzzes the
// hypervisor's call interfaces with it).
func next() uint64 {
	rngState ^= rngState >> 12
	rngState ^= rngState << 25
	rngState ^= rngState >> 27
	return rngState * 2685821657736338717
}
