// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// I/O permissions map (AMD APM Vol. 2, 15.10.1 "I/O Permissions Map"):
// 12 KiB, physically contiguous and 4 KiB aligned (ControlArea.IOPMBasePA),
// consulted when INTERCEPT_IOIO_PROT is set. Bit n (byte n/8, bit n%8)
// intercepts port n; an access of several bytes is intercepted if the bit
// of any port it touches is set. Bits 0x10000 and up (the third page) are
// only reached by a multi-byte access that runs past port 0xFFFF.
const (
	IOPMSize  = 3 * hv.PageSize
	IOPMPorts = 1 << 16
)

// MSR permissions map (APM Vol. 2, 15.11 "MSR Intercepts", Table 15-5):
// 8 KiB, 4 KiB aligned (ControlArea.MSRPMBasePA), consulted when
// INTERCEPT_MSR_PROT is set. Each MSR in the three ranges below has two
// bits, the even one intercepting RDMSR and the odd one WRMSR; MSRs
// outside the ranges are always intercepted.
const (
	MSRPMSize = 2 * hv.PageSize

	MSRPM_RANGE_SIZE = 0x2000 // MSRs per range
	MSRPM_RANGE0     = 0x0000_0000
	MSRPM_RANGE0_OFF = 0x000 // byte offset of MSR 0000_0000
	MSRPM_RANGE1     = 0xc000_0000
	MSRPM_RANGE1_OFF = 0x800 // byte offset of MSR C000_0000
	MSRPM_RANGE2     = 0xc001_0000
	MSRPM_RANGE2_OFF = 0x1000 // byte offset of MSR C001_0000; 0x1800-0x1FFF reserved
)

// ErrMSRNotInMap is returned for an MSR that no MSRPM bit covers.
const ErrMSRNotInMap = hv.Error("svm: MSR outside the MSR permissions map ranges")

// IOPM is an I/O permissions map. The zero value lets the guest access
// every port; call InterceptAll first and then Allow what it may touch.
type IOPM [IOPMSize]byte

// InterceptAll sets every bit, including the wrap-around page.
func (m *IOPM) InterceptAll() {
	for i := range m {
		m[i] = 0xff
	}
}

// Allow clears the bits of the n ports from port up, continuing into the
// wrap-around page past 0xFFFF (the bits the CPU checks for an access
// that runs past the end of the port space). n <= 0 does nothing; bits
// beyond the end of the map are ignored.
func (m *IOPM) Allow(port uint16, n int) {
	for i := 0; i < n; i++ {
		b := int(port) + i
		if b >= IOPMSize*8 {
			return
		}
		m[b/8] &^= 1 << (b % 8)
	}
}

// Intercept sets the bits of the n ports from port up (the inverse of
// Allow).
func (m *IOPM) Intercept(port uint16, n int) {
	for i := 0; i < n; i++ {
		b := int(port) + i
		if b >= IOPMSize*8 {
			return
		}
		m[b/8] |= 1 << (b % 8)
	}
}

// Intercepted reports whether an access of size bytes (1, 2 or 4) at port
// would be intercepted: whether the bit of any of the ports it covers is
// set, as the CPU checks them (an access at 0xFFFF of 2 bytes checks bit
// 0x10000). Any other size reports true.
func (m *IOPM) Intercepted(port uint16, size int) bool {
	if size != 1 && size != 2 && size != 4 {
		return true
	}
	for i := 0; i < size; i++ {
		b := int(port) + i
		if m[b/8]&(1<<(b%8)) != 0 {
			return true
		}
	}
	return false
}

// MSRPM is an MSR permissions map. The zero value lets the guest read and
// write every MSR in the three ranges; call InterceptAll first.
type MSRPM [MSRPMSize]byte

// InterceptAll sets every bit.
func (m *MSRPM) InterceptAll() {
	for i := range m {
		m[i] = 0xff
	}
}

// msrpmBit returns the index of the read bit of msr (the write bit is the
// next one), or false if no bit covers msr.
func msrpmBit(msr uint32) (int, bool) {
	var off int
	switch {
	case msr-MSRPM_RANGE0 < MSRPM_RANGE_SIZE:
		off = MSRPM_RANGE0_OFF
		msr -= MSRPM_RANGE0
	case msr-MSRPM_RANGE1 < MSRPM_RANGE_SIZE:
		off = MSRPM_RANGE1_OFF
		msr -= MSRPM_RANGE1
	case msr-MSRPM_RANGE2 < MSRPM_RANGE_SIZE:
		off = MSRPM_RANGE2_OFF
		msr -= MSRPM_RANGE2
	default:
		return 0, false
	}
	return off*8 + int(msr)*2, true
}

// Allow sets how the guest may access msr: RDMSR passes through when read
// is true and is intercepted otherwise, and likewise WRMSR with write. It
// returns an error wrapping ErrMSRNotInMap for an MSR outside the three
// ranges (those are always intercepted).
func (m *MSRPM) Allow(msr uint32, read, write bool) error {
	b, ok := msrpmBit(msr)
	if !ok {
		return fmt.Errorf("%w: msr %#x", ErrMSRNotInMap, msr)
	}
	for i, allow := range [2]bool{read, write} {
		bit := b + i
		if allow {
			m[bit/8] &^= 1 << (bit % 8)
		} else {
			m[bit/8] |= 1 << (bit % 8)
		}
	}
	return nil
}

// Intercepted reports whether RDMSR (write false) or WRMSR (write true) of
// msr is intercepted. MSRs outside the ranges always are.
func (m *MSRPM) Intercepted(msr uint32, write bool) bool {
	b, ok := msrpmBit(msr)
	if !ok {
		return true
	}
	if write {
		b++
	}
	return m[b/8]&(1<<(b%8)) != 0
}
