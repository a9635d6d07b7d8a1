// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"errors"
	"testing"
)

func TestIOBitmaps(t *testing.T) {
	var b IOBitmaps
	if b.Intercepted(0x3f8, 1) {
		t.Error("zero bitmaps intercept")
	}
	b.InterceptAll()
	for _, p := range []uint16{0, 0x3f8, 0x7fff, 0x8000, 0xffff} {
		if !b.Intercepted(p, 1) {
			t.Errorf("port %#x not intercepted", p)
		}
	}
	// Ports 0x7ffe-0x8001 straddle bitmaps A and B.
	if err := b.Allow(0x7ffe, 4); err != nil {
		t.Fatal(err)
	}
	if b[0][0xfff] != 0x3f || b[1][0] != 0xfc {
		t.Errorf("bits: A[fff]=%#x B[0]=%#x", b[0][0xfff], b[1][0])
	}
	for _, c := range []struct {
		port uint16
		size int
		want bool
	}{
		{0x7ffe, 1, false}, {0x7ffe, 2, false}, {0x7ffe, 4, false}, {0x8001, 1, false},
		{0x7ffd, 2, true}, {0x8000, 4, true}, {0x8002, 1, true}, {0x7ffe, 3, true}, {0x7ffe, 0, true},
	} {
		if got := b.Intercepted(c.port, c.size); got != c.want {
			t.Errorf("Intercepted(%#x, %d) = %v", c.port, c.size, got)
		}
	}
	// The top of the port space: an access wrapping past FFFF exits even
	// when every port it touches is allowed.
	if err := b.Allow(0xfffc, 4); err != nil {
		t.Fatal(err)
	}
	if err := b.Allow(0, 4); err != nil {
		t.Fatal(err)
	}
	if b.Intercepted(0xfffc, 4) || b.Intercepted(0xffff, 1) || !b.Intercepted(0xffff, 2) || !b.Intercepted(0xfffe, 4) {
		t.Error("wrap-around")
	}
	if err := b.Intercept(0xfffd, 1); err != nil || !b.Intercepted(0xfffc, 4) || b.Intercepted(0xfffc, 1) {
		t.Error("Intercept")
	}
	for _, c := range []struct {
		port  uint16
		count int
	}{{0xffff, 2}, {0, 0}, {0, -1}, {0, 0x10001}} {
		if err := b.Allow(c.port, c.count); !errors.Is(err, ErrIORange) {
			t.Errorf("Allow(%#x, %d): %v", c.port, c.count, err)
		}
	}
	if err := b.Allow(0, 0x10000); err != nil {
		t.Fatal(err)
	}
	if b != (IOBitmaps{}) {
		t.Error("allowing everything left bits set")
	}
}

func TestMSRBitmap(t *testing.T) {
	var m MSRBitmap
	m.InterceptAll()
	const (
		efer    = 0xc000_0080
		fsBase  = 0xc000_0100
		tscAux  = 0xc000_0103
		sysCS   = 0x174
		apicBas = 0x1b
	)
	if err := m.Allow(fsBase, true, true); err != nil {
		t.Fatal(err)
	}
	if err := m.Allow(sysCS, true, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Allow(0x1fff, false, true); err != nil {
		t.Fatal(err)
	}
	// Byte positions (25.6.9): read-low at 0, read-high at 1024,
	// write-low at 2048, write-high at 3072; bit n%8 of byte n/8.
	if m[1024+0x100/8] != 0xfe || m[3072+0x100/8] != 0xfe {
		t.Errorf("FS_BASE bits %#x %#x", m[1024+0x20], m[3072+0x20])
	}
	if m[0x174/8] != 0xef || m[2048+0x174/8] != 0xff {
		t.Errorf("SYSENTER_CS bits %#x %#x", m[0x2e], m[2048+0x2e])
	}
	if m[2048+1023] != 0x7f || m[1023] != 0xff {
		t.Errorf("MSR 0x1fff bits %#x %#x", m[1023], m[2048+1023])
	}
	for _, c := range []struct {
		msr   uint32
		write bool
		want  bool
	}{
		{fsBase, false, false}, {fsBase, true, false}, {sysCS, false, false}, {sysCS, true, true},
		{0x1fff, false, true}, {0x1fff, true, false},
		{efer, false, true}, {tscAux, true, true}, {apicBas, false, true},
		{0x2000, false, true}, {0x4000_0000, false, true}, {0xc000_2000, true, true}, {0xffff_ffff, false, true},
	} {
		if got := m.Intercepted(c.msr, c.write); got != c.want {
			t.Errorf("Intercepted(%#x, write=%v) = %v", c.msr, c.write, got)
		}
	}
	// Outside both ranges: Allow refuses, Intercept is a no-op, and the
	// zero bitmap still intercepts.
	for _, msr := range []uint32{0x2000, 0x4000_0000, 0xbfff_ffff, 0xc000_2000, 0xffff_ffff} {
		if err := m.Allow(msr, true, true); !errors.Is(err, ErrMSRRange) {
			t.Errorf("Allow(%#x): %v", msr, err)
		}
		if err := m.Intercept(msr, true, true); err != nil {
			t.Errorf("Intercept(%#x): %v", msr, err)
		}
		var zero MSRBitmap
		if !zero.Intercepted(msr, false) || !zero.Intercepted(msr, true) {
			t.Errorf("%#x passes the zero bitmap", msr)
		}
	}
	if err := m.Intercept(fsBase, false, true); err != nil || m.Intercepted(fsBase, false) || !m.Intercepted(fsBase, true) {
		t.Error("Intercept write only")
	}
	var zero MSRBitmap
	if zero.Intercepted(efer, true) || zero.Intercepted(0, false) {
		t.Error("zero bitmap intercepts an in-range MSR")
	}
}
