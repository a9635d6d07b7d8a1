// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import "testing"

func TestTCRValue(t *testing.T) {
	// T0SZ 25 (39-bit VA), QEMU -cpu max PARange 0b0101 (48 bits).
	got := TCRValue(25, 0x5)
	want := uint64(1<<31 | 1<<23 | 0b101<<16 | 0b00<<14 | 0b11<<12 | 0b01<<10 | 0b01<<8 | 25)
	if got != want {
		t.Fatalf("TCR_EL2 = %#x, want %#x", got, want)
	}
	// 52-bit PARange is capped at 48.
	if TCRValue(25, 0x6)>>TCR_PS_SHIFT&7 != TCR_PS_48BITS {
		t.Error("PS not capped at 48 bits")
	}
	if PARangeBits(0x2) != 40 || PARangeBits(0x5) != 48 || PARangeBits(0xf) != 0 {
		t.Error("PARangeBits")
	}
}

func TestTicksToNs(t *testing.T) {
	cases := []struct {
		ticks, freq uint64
		want        int64
	}{
		{62_500_000, 62_500_000, 1e9},
		{1, 62_500_000, 16},
		{0, 0, 0},
		{1 << 63, 1, 1<<63 - 1}, // saturates rather than faulting
	}
	for _, c := range cases {
		if got := ticksToNs(c.ticks, c.freq); got != c.want {
			t.Errorf("ticksToNs(%d, %d) = %d, want %d", c.ticks, c.freq, got, c.want)
		}
	}
}

func TestESRDecode(t *testing.T) {
	// Data abort at EL2, translation fault level 3, write: EC 0x25, IL,
	// ISS WnR (bit 6) | DFSC 0b000111.
	esr := ESR(0x25<<26 | 1<<25 | 1<<6 | 0x07)
	if esr.EC() != EC_DABT_CUR || !esr.IsAbort() || !esr.WnR() || !esr.IL() {
		t.Fatalf("decode %#x: EC=%#x abort=%v wnr=%v", uint64(esr), esr.EC(), esr.IsAbort(), esr.WnR())
	}
	if esr.ClassName() != "data abort, same EL" || esr.FaultName() != "translation fault" || esr.FaultLevel() != 3 {
		t.Errorf("names: %q %q %d", esr.ClassName(), esr.FaultName(), esr.FaultLevel())
	}
	if ESR(0x16<<26).ClassName() != "HVC" || ESR(0x3f<<26).ClassName() != "other" {
		t.Error("class names")
	}
	if VectorName(4) != "synchronous, current EL, SP_ELx" || VectorName(16) != "invalid vector" {
		t.Error("vector names")
	}
}
