// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import "testing"

func TestEventInj(t *testing.T) {
	for _, c := range []struct {
		name    string
		e       EventInj
		want    uint64
		vector  uint8
		typ     uint8
		hasErr  bool
		errCode uint32
		str     string
	}{
		// APM 15.20 Figure 15-4: vector 7:0, type 10:8, EV 11, V 31,
		// error code 63:32.
		{"#GP(0x10)", InjectException(VECTOR_GP, 0x10, true), 0x0000_0010_8000_0b0d, 13, EVENT_TYPE_EXCEPTION, true, 0x10, "event:exception vector=13 error=0x10"},
		{"#PF(0xffffffff)", InjectException(VECTOR_PF, 0xffff_ffff, true), 0xffff_ffff_8000_0b0e, 14, EVENT_TYPE_EXCEPTION, true, 0xffff_ffff, "event:exception vector=14 error=0xffffffff"},
		{"#UD", InjectException(VECTOR_UD, 0x1234, false), 0x8000_0306, 6, EVENT_TYPE_EXCEPTION, false, 0, "event:exception vector=6"},
		{"INTR 0x20", InjectInterrupt(0x20), 0x8000_0020, 0x20, EVENT_TYPE_INTR, false, 0, "event:intr vector=32"},
		{"INTR 0xff", InjectInterrupt(0xff), 0x8000_00ff, 0xff, EVENT_TYPE_INTR, false, 0, "event:intr vector=255"},
		{"NMI", InjectNMI(), 0x8000_0202, 2, EVENT_TYPE_NMI, false, 0, "event:nmi vector=2"},
		{"INT 0x80", InjectSoftInt(0x80), 0x8000_0480, 0x80, EVENT_TYPE_SOFT_INT, false, 0, "event:softint vector=128"},
		{"type truncated", NewEventInj(1, 0xf, 0, false), 0x8000_0701, 1, 7, false, 0, "event:reserved7 vector=1"},
	} {
		e := c.e
		if uint64(e) != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, uint64(e), c.want)
		}
		if !e.Valid() || e.Vector() != c.vector || e.Type() != c.typ || e.HasErrorCode() != c.hasErr || e.ErrorCode() != c.errCode {
			t.Errorf("%s: decodes as valid=%t vector=%d type=%d ev=%t err=%#x", c.name, e.Valid(), e.Vector(), e.Type(), e.HasErrorCode(), e.ErrorCode())
		}
		if e.String() != c.str {
			t.Errorf("%s: String %q", c.name, e.String())
		}
	}
}

func TestExitIntInfo(t *testing.T) {
	// EXITINTINFO after a #VMEXIT that interrupted delivery of a #PF
	// with error code 2: same format as EVENTINJ, so it can be
	// re-injected unchanged.
	var c ControlArea
	c.ExitIntInfo = EventInj(0x0000_0002_8000_0b0e)
	ii := c.ExitIntInfo
	if !ii.Valid() || ii.Vector() != VECTOR_PF || ii.Type() != EVENT_TYPE_EXCEPTION || !ii.HasErrorCode() || ii.ErrorCode() != 2 {
		t.Fatalf("decoded %v", ii)
	}
	c.EventInj = c.ExitIntInfo
	if c.EventInj != InjectException(VECTOR_PF, 2, true) {
		t.Errorf("re-injection %v", c.EventInj)
	}
	// V clear: nothing was being delivered, whatever the other bits.
	if e := EventInj(0x0000_0002_0000_0b0e); e.Valid() || e.String() != "event:0x200000b0e invalid" {
		t.Errorf("invalid event %v", e)
	}
}

func TestExceptionHasErrorCode(t *testing.T) {
	with := map[uint8]bool{8: true, 10: true, 11: true, 12: true, 13: true, 14: true, 17: true, 21: true, 29: true, 30: true}
	for v := 0; v < 256; v++ {
		if got := ExceptionHasErrorCode(uint8(v)); got != with[uint8(v)] {
			t.Errorf("vector %d: %t", v, got)
		}
	}
}
