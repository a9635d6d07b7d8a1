// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// I/O bitmaps (Intel SDM Vol. 3C, 25.6.4 "I/O-Bitmap Addresses"; 26.1.3
// "Instructions That Cause VM Exits Conditionally"): with
// PROC_USE_IO_BITMAPS, bitmap A (IO_BITMAP_A) has one bit per port
// 0000-7FFF and bitmap B (IO_BITMAP_B) one bit per port 8000-FFFF; bit n
// of the bitmap is bit n%8 of byte n/8. A set bit makes an access to the
// port exit.
const (
	IO_BITMAP_SIZE    = 4096   // bytes in each of A and B
	IO_BITMAP_B_FIRST = 0x8000 // first port covered by bitmap B
	ioPorts           = 0x10000
)

// MSR bitmap (Vol. 3C, 25.6.9 "MSR-Bitmap Address"; 26.1.3): with
// PROC_USE_MSR_BITMAPS, four 1 KiB bitmaps in one 4 KiB page at
// MSR_BITMAP. A set bit makes RDMSR (read bitmaps) or WRMSR (write
// bitmaps) of the MSR exit; any MSR outside the two ranges always exits.
const (
	MSR_BITMAP_SIZE       = 4096
	MSR_BITMAP_READ_LOW   = 0    // MSRs 00000000-00001FFF
	MSR_BITMAP_READ_HIGH  = 1024 // MSRs C0000000-C0001FFF
	MSR_BITMAP_WRITE_LOW  = 2048
	MSR_BITMAP_WRITE_HIGH = 3072
	MSR_LOW_FIRST         = 0x0000_0000
	MSR_HIGH_FIRST        = 0xC000_0000
	MSR_RANGE_COUNT       = 0x2000 // MSRs in each range
)

// Bitmap errors.
const (
	ErrIORange  = hv.Error("vmx: I/O port range empty or beyond port FFFF")
	ErrMSRRange = hv.Error("vmx: MSR outside the ranges the MSR bitmap covers")
)

// IOBitmaps are I/O bitmaps A ([0]) and B ([1]). The processor reads them
// from two separate 4 KiB pages, so the caller places the value
// page-aligned and writes the addresses of [0] and [1] to IO_BITMAP_A
// and IO_BITMAP_B. The zero value lets every port through; start from
// InterceptAll.
type IOBitmaps [2][IO_BITMAP_SIZE]byte

func ioBit(port uint32) (half, byteIdx int, mask byte) {
	return int(port / IO_BITMAP_B_FIRST), int(port % IO_BITMAP_B_FIRST / 8), 1 << (port % 8)
}

// InterceptAll sets every bit: every port access exits.
func (b *IOBitmaps) InterceptAll() {
	for h := range b {
		for i := range b[h] {
			b[h][i] = 0xff
		}
	}
}

func (b *IOBitmaps) set(port uint16, count int, intercept bool) error {
	if count < 1 || int(port)+count > ioPorts {
		return fmt.Errorf("%w: port %#x count %d", ErrIORange, port, count)
	}
	for p := uint32(port); p < uint32(port)+uint32(count); p++ {
		h, i, m := ioBit(p)
		if intercept {
			b[h][i] |= m
		} else {
			b[h][i] &^= m
		}
	}
	return nil
}

// Allow lets the guest access ports [port, port+count) directly. The
// range must not pass port FFFF (ErrIORange).
func (b *IOBitmaps) Allow(port uint16, count int) error { return b.set(port, count, false) }

// Intercept makes accesses to ports [port, port+count) exit.
func (b *IOBitmaps) Intercept(port uint16, count int) error { return b.set(port, count, true) }

// Intercepted reports whether an I/O instruction accessing size bytes (1,
// 2 or 4) at port exits under these bitmaps: it does if the bit of any
// port it touches is set, if it wraps past port FFFF, or (defensively) if
// size is not 1, 2 or 4.
func (b *IOBitmaps) Intercepted(port uint16, size int) bool {
	if size != 1 && size != 2 && size != 4 {
		return true
	}
	if int(port)+size > ioPorts {
		return true
	}
	for p := uint32(port); p < uint32(port)+uint32(size); p++ {
		h, i, m := ioBit(p)
		if b[h][i]&m != 0 {
			return true
		}
	}
	return false
}

// MSRBitmap is the 4 KiB MSR bitmap; the caller places it page-aligned
// and writes its address to MSR_BITMAP. The zero value lets every MSR in
// the two ranges through; start from InterceptAll.
type MSRBitmap [MSR_BITMAP_SIZE]byte

// msrBit returns the byte offset of the read bit of msr (the write bit
// is MSR_BITMAP_WRITE_LOW bytes further) and its mask.
func msrBit(msr uint32) (off int, mask byte, ok bool) {
	var base int
	switch {
	case msr-MSR_LOW_FIRST < MSR_RANGE_COUNT:
		base = MSR_BITMAP_READ_LOW
	case msr-MSR_HIGH_FIRST < MSR_RANGE_COUNT:
		base = MSR_BITMAP_READ_HIGH
	default:
		return 0, 0, false
	}
	n := msr % MSR_RANGE_COUNT
	return base + int(n/8), 1 << (n % 8), true
}

// InterceptAll sets every bit: every RDMSR and WRMSR exits.
func (m *MSRBitmap) InterceptAll() {
	for i := range m {
		m[i] = 0xff
	}
}

// Allow lets the guest read (if read) and write (if write) msr directly;
// it leaves the other direction as it is. msr must lie in 00000000-00001FFF
// or C0000000-C0001FFF (ErrMSRRange): other MSRs always exit.
func (m *MSRBitmap) Allow(msr uint32, read, write bool) error {
	off, mask, ok := msrBit(msr)
	if !ok {
		return fmt.Errorf("%w: %#x", ErrMSRRange, msr)
	}
	if read {
		m[off] &^= mask
	}
	if write {
		m[off+MSR_BITMAP_WRITE_LOW] &^= mask
	}
	return nil
}

// Intercept makes reads (if read) and writes (if write) of msr exit. An
// MSR outside the bitmap's ranges always exits, so for it Intercept does
// nothing and returns nil.
func (m *MSRBitmap) Intercept(msr uint32, read, write bool) error {
	off, mask, ok := msrBit(msr)
	if !ok {
		return nil
	}
	if read {
		m[off] |= mask
	}
	if write {
		m[off+MSR_BITMAP_WRITE_LOW] |= mask
	}
	return nil
}

// Intercepted reports whether RDMSR (write false) or WRMSR (write true)
// of msr exits under this bitmap.
func (m *MSRBitmap) Intercepted(msr uint32, write bool) bool {
	off, mask, ok := msrBit(msr)
	if !ok {
		return true
	}
	if write {
		off += MSR_BITMAP_WRITE_LOW
	}
	return m[off]&mask != 0
}
