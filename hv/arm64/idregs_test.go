// SPDX-License-Identifier: BSD-3-Clause

package arm64

import "testing"

func TestSanitizeIDRegs(t *testing.T) {
	var raw IDRegs
	for i := range raw {
		raw[i] = 0x1111_1111_1111_1111 * uint64(i%15+1)
	}
	// QEMU -cpu max (7.2) values of the registers that matter.
	raw[idxAA64PFR0] = 0x0000_1001_0100_1112 // SVE=1, EL2=1, GIC=1, AMU=1
	raw[idxAA64PFR1] = 0x0000_0000_0100_0221 // SME=1, MTE=2
	raw[idxAA64ZFR0] = 0x0110_0110_0000_0011
	raw[idxAA64DFR0] = 0x0000_0001_f210_5109  // PMUVer=5, PMSVer=1
	raw[idxAA64ISAR1] = 0x0011_1201_0121_1151 // APA=5, API=0
	raw[idxAA64MMFR0] = 0x0000_0000_0000_0005 // 48-bit PA
	raw[idxAA64MMFR1] = 0x0000_0000_1012_1122 // VH=1
	s := SanitizeIDRegs(raw, 40)

	field := func(v uint64, shift uint) uint64 { return v >> shift & 0xf }
	for _, c := range []struct {
		name  string
		idx   int
		shift uint
		want  uint64
	}{
		{"PFR0.SVE", idxAA64PFR0, 32, 0},
		{"PFR0.EL2", idxAA64PFR0, 8, 0},
		{"PFR0.AMU", idxAA64PFR0, 44, 0},
		{"PFR0.GIC kept", idxAA64PFR0, 24, 1},
		{"PFR0.EL1 kept", idxAA64PFR0, 4, 1},
		{"PFR0.EL0 kept", idxAA64PFR0, 0, 2},
		{"PFR1.SME", idxAA64PFR1, 24, 0},
		{"PFR1.MTE", idxAA64PFR1, 8, 0},
		{"PFR1.SSBS kept", idxAA64PFR1, 4, 2},
		{"DFR0.PMUVer", idxAA64DFR0, 8, 0},
		{"DFR0.PMSVer", idxAA64DFR0, 32, 0},
		{"DFR0.DebugVer kept", idxAA64DFR0, 0, 9},
		{"ISAR1.APA", idxAA64ISAR1, 4, 0},
		{"ISAR1.DPB kept", idxAA64ISAR1, 0, 1},
		{"MMFR0.PARange 40 bits", idxAA64MMFR0, 0, 2},
		{"MMFR1.VH", idxAA64MMFR1, 8, 0},
		{"MMFR1.HAFDBS kept", idxAA64MMFR1, 0, 2},
	} {
		if got := field(s[c.idx], c.shift); got != c.want {
			t.Errorf("%s = %d, want %d (reg %#x)", c.name, got, c.want, s[c.idx])
		}
	}
	if s[idxAA64ZFR0] != 0 || s[idxAA64SMFR0] != 0 {
		t.Errorf("ZFR0 %#x SMFR0 %#x, want 0", s[idxAA64ZFR0], s[idxAA64SMFR0])
	}
	// Registers nobody sanitizes pass through untouched.
	for _, i := range []int{(6-1)*8 + 0, (7-1)*8 + 2, (2-1)*8 + 3} {
		if s[i] != raw[i] {
			t.Errorf("reg %d changed: %#x -> %#x", i, raw[i], s[i])
		}
	}
	// A smaller hardware PA range is kept: never report more than exists.
	raw[idxAA64MMFR0] = 1 // 36 bits
	if got := SanitizeIDRegs(raw, 40)[idxAA64MMFR0] & 0xf; got != 1 {
		t.Errorf("PARange with 36-bit hardware = %d, want 1", got)
	}
}

func TestIDRegTrap(t *testing.T) {
	cpu := &fakeCPU{now: 1}
	cpu.id[idxAA64PFR0] = 0x1122_3344_5566_7788
	m, _ := newTestMachine(t, cpu)
	c := &m.VCPUs[0].Ctx
	c.PC = 0x4000_0100
	var outside uint64
	cpu.exits = []func(*Context){
		// mrs x3, ID_AA64PFR0_EL1 (op0=3 op2=0 op1=0 CRn=0 CRm=4, read).
		func(c *Context) {
			c.Vector, c.ESR = VecLowerSync, esr(EC_SYSREG, 3<<20|0<<17|0<<14|0<<10|3<<5|4<<1|1)
		},
		// mrs x4, S3_0_C0_C3_7: unallocated in the ID space, reads as the table (0).
		func(c *Context) {
			c.Vector, c.ESR = VecLowerSync, esr(EC_SYSREG, 3<<20|7<<17|0<<14|0<<10|4<<5|3<<1|1)
			c.X[4] = 0xdead
		},
		func(c *Context) { outside = c.X[4] },
	}
	m.Run(0, 1<<62)
	if c.X[3] != 0x1122_3344_5566_7788 {
		t.Errorf("x3 = %#x", c.X[3])
	}
	if outside != 0 {
		t.Errorf("x4 = %#x, want 0", outside)
	}
	if m.Injected != 0 {
		t.Errorf("injected %d faults for ID register reads", m.Injected)
	}
}
