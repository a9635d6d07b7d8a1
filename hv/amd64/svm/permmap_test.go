// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestPermissionMapSizes(t *testing.T) {
	// APM 15.10.1: the IOPM is 12 KiB; 15.11: the MSRPM is 8 KiB.
	if n := binary.Size(IOPM{}); n != 12*1024 {
		t.Errorf("IOPM is %d bytes", n)
	}
	if n := binary.Size(MSRPM{}); n != 8*1024 {
		t.Errorf("MSRPM is %d bytes", n)
	}
}

func TestIOPM(t *testing.T) {
	m := new(IOPM)
	if m.Intercepted(0x3f8, 1) {
		t.Error("zero IOPM intercepts")
	}
	m.InterceptAll()
	for _, p := range []uint16{0, 0x3f8, 0xffff} {
		if !m.Intercepted(p, 1) {
			t.Errorf("port %#x not intercepted after InterceptAll", p)
		}
	}
	// COM1: 8 ports, 0x3f8-0x3ff.
	m.Allow(0x3f8, 8)
	for _, c := range []struct {
		port uint16
		size int
		want bool
	}{
		{0x3f8, 1, false},
		{0x3f8, 4, false},
		{0x3fc, 4, false},
		{0x3ff, 1, false},
		{0x3fe, 2, false},
		{0x3ff, 2, true}, // touches 0x400
		{0x3fd, 4, true}, // touches 0x400
		{0x3f7, 1, true},
		{0x3f7, 2, true}, // touches 0x3f7
		{0x3f8, 3, true}, // no such access size
		{0x3f8, 0, true},
	} {
		if got := m.Intercepted(c.port, c.size); got != c.want {
			t.Errorf("Intercepted(%#x, %d) = %t, want %t", c.port, c.size, got, c.want)
		}
	}
	// Port 0x3f8 is bit 0 of byte 0x7f; 0x3ff is bit 7.
	if m[0x7f] != 0 || m[0x7e] != 0xff || m[0x80] != 0xff {
		t.Errorf("bytes 0x7e-0x80 = %#x %#x %#x", m[0x7e], m[0x7f], m[0x80])
	}

	// The top of the port space: a multi-byte access at 0xffff checks
	// the bits past it, in the third page.
	m.Allow(0xffff, 1)
	if m.Intercepted(0xffff, 1) == true {
		t.Error("0xffff intercepted")
	}
	if !m.Intercepted(0xffff, 2) || !m.Intercepted(0xfffe, 4) {
		t.Error("access wrapping past 0xffff not intercepted by the third page")
	}
	m.Allow(0xfffe, 4) // 0xfffe, 0xffff, and bits 0x10000, 0x10001
	if m.Intercepted(0xffff, 2) || m.Intercepted(0xfffe, 4) {
		t.Error("wrapping access still intercepted")
	}
	if m[0x2000] != 0b1111_1100 {
		t.Errorf("third page first byte %#x", m[0x2000])
	}
	if !m.Intercepted(0, 1) || !m.Intercepted(0, 4) {
		t.Error("port 0 not intercepted: the wrap must not alias port 0")
	}
	m.Intercept(0x3fc, 1)
	if !m.Intercepted(0x3fc, 1) || !m.Intercepted(0x3fa, 4) || m.Intercepted(0x3f8, 4) || m.Intercepted(0x3fd, 2) {
		t.Error("Intercept")
	}
	// Allow past the end of the map, and n <= 0, are harmless.
	m.Allow(0xffff, 1<<20)
	m.Allow(0, 0)
	m.Allow(0, -5)
	m.Intercept(0xffff, 1<<20)
	if !m.Intercepted(0xffff, 4) {
		t.Error("Intercept to the end")
	}
}

func TestMSRPM(t *testing.T) {
	m := new(MSRPM)
	m.InterceptAll()
	for _, c := range []struct {
		msr         uint32
		read, write bool
		byteOff     int
		bit         uint
	}{
		// 15.11 Table 15-5: MSR 0000_0000 at byte 0x000, C000_0000 at
		// 0x800, C001_0000 at 0x1000; 2 bits each, read bit first.
		{0x0000_0000, true, false, 0x000, 0},
		{0x0000_0010, true, true, 0x004, 0}, // TSC: 0x10*2 = bit 32
		{0x0000_1fff, false, true, 0x7ff, 6},
		{MSR_EFER, true, false, 0x800 + 0x80*2/8, 0},
		{MSR_KERNEL_GS_BASE, true, true, 0x800 + 0x102*2/8, 4},
		{MSR_VM_HSAVE_PA, false, false, 0x1000 + 0x117*2/8, 6},
		{0xc001_1fff, true, true, 0x17ff, 6},
	} {
		if err := m.Allow(c.msr, c.read, c.write); err != nil {
			t.Fatalf("Allow(%#x): %v", c.msr, err)
		}
		if m.Intercepted(c.msr, false) == c.read || m.Intercepted(c.msr, true) == c.write {
			t.Errorf("msr %#x: intercepted read=%t write=%t", c.msr, m.Intercepted(c.msr, false), m.Intercepted(c.msr, true))
		}
		got := m[c.byteOff] >> c.bit & 3
		var want byte
		if !c.read {
			want |= 1
		}
		if !c.write {
			want |= 2
		}
		if got != want {
			t.Errorf("msr %#x: bits at byte %#x bit %d = %02b, want %02b", c.msr, c.byteOff, c.bit, got, want)
		}
	}
	// Neighbours stay intercepted.
	for _, msr := range []uint32{0x11, 0xf, MSR_EFER + 1, MSR_EFER - 1} {
		if !m.Intercepted(msr, false) || !m.Intercepted(msr, true) {
			t.Errorf("neighbour %#x allowed", msr)
		}
	}
	// Re-intercepting.
	if err := m.Allow(0x10, false, false); err != nil || !m.Intercepted(0x10, false) || !m.Intercepted(0x10, true) {
		t.Errorf("re-intercept: %v", err)
	}
	// The reserved quarter is never touched.
	for i := 0x1800; i < MSRPMSize; i++ {
		if m[i] != 0xff {
			t.Fatalf("reserved byte %#x = %#x", i, m[i])
		}
	}
	// MSRs outside the ranges: always intercepted, Allow refuses.
	var zero MSRPM
	for _, msr := range []uint32{0x2000, 0x4000_0000, 0xbfff_ffff, 0xc000_2000, 0xc000_ffff, 0xc001_2000, 0xc002_0000, 0xffff_ffff} {
		if err := m.Allow(msr, true, true); !errors.Is(err, ErrMSRNotInMap) {
			t.Errorf("Allow(%#x): %v", msr, err)
		}
		if !zero.Intercepted(msr, false) || !zero.Intercepted(msr, true) {
			t.Errorf("msr %#x outside the map not intercepted", msr)
		}
	}
	if zero.Intercepted(MSR_LSTAR, true) {
		t.Error("zero MSRPM intercepts")
	}
}
