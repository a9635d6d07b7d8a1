// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

// Package reg is the small register-access interface every tamavisor
// driver is written against (CONVENTIONS.md §3). On the target a driver
// gets an MMIO or Port value that touches hardware; in host tests it gets a
// Fake, which backs registers with memory and records every access, so a
// test can check the exact sequence of writes a driver makes.
//
// It builds on every GOOS. Only MMIO and Port touch hardware, and only
// when GOOS=tamago (see mmio_unsafe.go and pio_amd64.s).
package reg

// Bus is a block of memory-mapped registers addressed by byte offset
// from the block's base.
type Bus interface {
	Read32(off uint32) uint32
	Write32(off uint32, val uint32)
	Read64(off uint32) uint64
	Write64(off uint32, val uint64)
}

// Bus8 is a block of 8-bit registers, as found behind x86 I/O ports
// (16550 UART, 8259 PIC, 8254 PIT) or byte-wide MMIO.
type Bus8 interface {
	Read8(off uint32) uint8
	Write8(off uint32, val uint8)
}

// Set sets bit n of the 32-bit register at off (read-modify-write).
func Set(b Bus, off uint32, n int) {
	b.Write32(off, b.Read32(off)|1<<n)
}

// Clear clears bit n of the 32-bit register at off (read-modify-write).
func Clear(b Bus, off uint32, n int) {
	b.Write32(off, b.Read32(off)&^(1<<n))
}

// Get returns the field of the 32-bit register at off that starts at bit
// shift and is selected by mask (after shifting).
func Get(b Bus, off uint32, shift int, mask uint32) uint32 {
	return (b.Read32(off) >> shift) & mask
}

// Wait polls the 32-bit register at off until (value>>shift)&mask equals
// want, or tries reads have been made. It reports whether the value was
// seen. Drivers use it for hardware handshakes (e.g. GICD_CTLR.RWP) so a
// broken device cannot hang the hypervisor.
func Wait(b Bus, off uint32, shift int, mask, want uint32, tries int) bool {
	for i := 0; i < tries; i++ {
		if (b.Read32(off)>>shift)&mask == want {
			return true
		}
	}
	return false
}
