// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import "testing"

func TestIntrInfo(t *testing.T) {
	for _, c := range []struct {
		vector uint8
		typ    uint8
		err    bool
		want   uint32
	}{
		{14, INTR_TYPE_HARDWARE_EXCEPTION, true, 0x8000_0b0e}, // #PF
		{6, INTR_TYPE_HARDWARE_EXCEPTION, false, 0x8000_0306}, // #UD
		{2, INTR_TYPE_NMI, false, 0x8000_0202},
		{0x30, INTR_TYPE_EXTERNAL_INTERRUPT, false, 0x8000_0030},
		{0x80, INTR_TYPE_SOFTWARE_INTERRUPT, false, 0x8000_0480},
		{1, INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION, false, 0x8000_0501},
		{3, INTR_TYPE_SOFTWARE_EXCEPTION, false, 0x8000_0603},
		{0, INTR_TYPE_OTHER_EVENT, false, 0x8000_0700},
		{0xff, 0xff, true, 0x8000_0fff}, // type masked to 3 bits
	} {
		i := NewIntrInfo(c.vector, c.typ, c.err)
		if uint32(i) != c.want {
			t.Errorf("NewIntrInfo(%d, %d, %v) = %#x, want %#x", c.vector, c.typ, c.err, uint32(i), c.want)
		}
		if !i.Valid() || i.Vector() != c.vector || i.Type() != c.typ&7 || i.ErrorValid() != c.err || i.NMIUnblocking() {
			t.Errorf("%v decodes wrong", i)
		}
	}
	if i := IntrInfo(0x0000_1b0e); i.Valid() || !i.NMIUnblocking() || i.String() != "intr:0x1b0e invalid" {
		t.Errorf("%v", i)
	}
	if s := InjectException(13).String(); s != "intr:0x80000b0d vector=13 type=3 err=true" {
		t.Errorf("%q", s)
	}
	if InjectException(VECTOR_PF) != 0x8000_0b0e || InjectException(3) != 0x8000_0303 {
		t.Error("InjectException")
	}
}

func TestExceptionHasErrorCode(t *testing.T) {
	with := map[uint8]bool{8: true, 10: true, 11: true, 12: true, 13: true, 14: true, 17: true, 21: true}
	for v := 0; v < 256; v++ {
		if ExceptionHasErrorCode(uint8(v)) != with[uint8(v)] {
			t.Errorf("vector %d: %v", v, ExceptionHasErrorCode(uint8(v)))
		}
	}
}

func TestInjectHelpers(t *testing.T) {
	if i := InjectNMI(); i != 0x8000_0202 || i.Type() != INTR_TYPE_NMI {
		t.Errorf("InjectNMI %v", i)
	}
	if i := InjectInterrupt(0x30); i != 0x8000_0030 || i.Type() != INTR_TYPE_EXTERNAL_INTERRUPT || i.ErrorValid() {
		t.Errorf("InjectInterrupt %v", i)
	}
}
