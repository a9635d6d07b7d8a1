// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

const hexDigits = "0123456789abcdef"

// PrintHex prints v as 0x-prefixed hex through the runtime's print (the
// console's printk) without allocating, so exception reporters can use
// it when the heap itself may be what faulted.
//
//go:nosplit
func PrintHex(v uint64) {
	print("0x")
	started := false
	for shift := 60; shift >= 0; shift -= 4 {
		d := (v >> uint(shift)) & 0xf
		if d != 0 || started || shift == 0 {
			started = true
			print(hexDigits[d : d+1])
		}
	}
}
