// ci/guests/testguest: the test guest of tamavisor's integration tests.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

package main

import (
	"fmt"
	"unsafe"
)

// hcHPFixSum is the live-patch test fixture's hypercall
// (hotpatch/hpfixture): the checksum of a buffer and the fixture's
// version. Only hpfixture test images have it.
const hcHPFixSum = 0xC600_FF00

// hpfixData is what the guest asks the fixture to checksum: the bytes 1
// to 64, whose Adler-32 is 0xb3000821; version 0 of the fixture leaves
// the last byte out (0xaadf07e1).
var hpfixData = func() []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}()

// hpfixProbe asks the fixture once. ok is false on an image without it.
func hpfixProbe(call func(fid, a1, a2, a3 uint64) (r0, r1 uint64)) (sum, version uint64, ok bool) {
	addr := uint64(uintptr(unsafe.Pointer(&hpfixData[0])))
	sum, version = call(hcHPFixSum, addr, uint64(len(hpfixData)), 0)
	return sum, version, sum != notSupported
}

// hpfixWatch calls the fixture's hypercall after every wait() and prints
// a line whenever the answer changes, so the live-patch test sees the
// patch take effect from a guest, and counts the calls:
//
//	testguest: hpfix version V sum 0x... calls N
//
// It never returns.
func hpfixWatch(call func(fid, a1, a2, a3 uint64) (r0, r1 uint64), wait func()) {
	var lastSum, lastVer uint64 = 1, 1 << 63
	for calls := uint64(1); ; calls++ {
		sum, ver, _ := hpfixProbe(call)
		if sum != lastSum || ver != lastVer {
			fmt.Printf("testguest: hpfix version %d sum %#x calls %d\n", ver, sum, calls)
			lastSum, lastVer = sum, ver
		}
		wait()
	}
}
