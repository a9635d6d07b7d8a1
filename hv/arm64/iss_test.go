// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"errors"
	"regexp"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// esrOf builds an ESR_EL2 value: EC, IL = 1 (32-bit instruction), ISS.
func esrOf(ec, iss uint64) ESR { return ESR(ec<<ESR_EC_SHIFT | 1<<ESR_IL_SHIFT | iss) }

func TestDecodeDataAbort(t *testing.T) {
	cases := []struct {
		name string
		esr  ESR
		want DataAbort
	}{
		// ldr w1, [x0]: ISV, SAS 0b10, SRT 1, translation fault level 2.
		{"ldr w1", 0x9381_0006, DataAbort{Lower: true, Valid: true, Size: 4, Reg: 1, DFSC: 0x06}},
		// strb wzr, [x2]: SAS 0b00, SRT 31, WnR, translation fault level 3.
		{"strb wzr", 0x931f_0047, DataAbort{Lower: true, Valid: true, Size: 1, Reg: 31, Write: true, DFSC: 0x07}},
		// ldrsh x3, [x4]: SAS 0b01, SSE, SRT 3, SF.
		{"ldrsh x3", 0x9363_8006, DataAbort{Lower: true, Valid: true, Size: 2, SignExtend: true, Reg: 3, Sixty4: true, DFSC: 0x06}},
		// ldar x5, [x6]: SAS 0b11, SRT 5, SF, AR.
		{"ldar x5", 0x93c5_c007, DataAbort{Lower: true, Valid: true, Size: 8, Reg: 5, Sixty4: true, Acquire: true, DFSC: 0x07}},
		// ldp: no valid syndrome, permission fault level 1; the ignored
		// syndrome bits must not leak into the decode.
		{"ldp", 0x9200_0000 | 0x3f<<14 | 0x0d, DataAbort{Lower: true, DFSC: 0x0d}},
		// stage 2 fault on the guest's stage 1 walk, FAR not valid,
		// external abort, cache maintenance, from EL2 (EC 0x25).
		{"s1ptw", 0x9600_0000 | 1<<10 | 1<<9 | 1<<8 | 1<<7 | 1<<6 | 0x15, DataAbort{FnV: true, EA: true, CM: true, S1PTW: true, Write: true, DFSC: 0x15}},
		// VNCR and SET.
		{"vncr", 0x9200_0000 | 1<<13 | 0b10<<11 | 0x10, DataAbort{Lower: true, VNCR: true, SET: 2, DFSC: 0x10}},
	}
	for _, c := range cases {
		got, err := DecodeDataAbort(c.esr)
		if err != nil || got != c.want {
			t.Errorf("%s: DecodeDataAbort(%#x) = %+v, %v\nwant %+v", c.name, uint64(c.esr), got, err, c.want)
			continue
		}
		// ISS re-encodes what was decoded (the ldp case dropped the
		// ignored bits on purpose).
		if c.name != "ldp" && got.ISS() != c.esr.ISS() {
			t.Errorf("%s: ISS() = %#x, want %#x", c.name, got.ISS(), c.esr.ISS())
		}
	}
	d, _ := DecodeDataAbort(0x9381_0006)
	if !d.IsTranslationFault() || d.IsPermissionFault() || d.IsAccessFlagFault() {
		t.Error("DFSC 0x06 classification")
	}
	if l, ok := d.FaultLevel(); !ok || l != 2 {
		t.Errorf("FaultLevel %d %v", l, ok)
	}
	if got := d.String(); got != "data abort (translation fault) on read level 2, 4 bytes w1" {
		t.Errorf("String %q", got)
	}
	for _, ec := range []uint64{EC_IABT_LOWER, EC_SYSREG, EC_HVC64, 0x3f, 0} {
		if _, err := DecodeDataAbort(esrOf(ec, 0x1ff_ffff)); !errors.Is(err, ErrESRClass) {
			t.Errorf("EC %#x: %v", ec, err)
		}
	}
}

func TestLoadStoreValue(t *testing.T) {
	ldrsh := DataAbort{Valid: true, Size: 2, SignExtend: true, Sixty4: true}
	if v := ldrsh.LoadValue(0xdead_8001); v != 0xffff_ffff_ffff_8001 {
		t.Errorf("ldrsh x: %#x", v)
	}
	ldrshW := DataAbort{Valid: true, Size: 2, SignExtend: true}
	if v := ldrshW.LoadValue(0x8001); v != 0xffff_8001 {
		t.Errorf("ldrsh w: %#x", v)
	}
	ldrb := DataAbort{Valid: true, Size: 1}
	if v := ldrb.LoadValue(0x1ff); v != 0xff {
		t.Errorf("ldrb: %#x", v)
	}
	ldrsw := DataAbort{Valid: true, Size: 4, SignExtend: true, Sixty4: true}
	if v := ldrsw.LoadValue(0x8000_0000); v != 0xffff_ffff_8000_0000 {
		t.Errorf("ldrsw: %#x", v)
	}
	ldrx := DataAbort{Valid: true, Size: 8, Sixty4: true}
	if v := ldrx.LoadValue(0x1122_3344_5566_7788); v != 0x1122_3344_5566_7788 {
		t.Errorf("ldr x: %#x", v)
	}
	strh := DataAbort{Valid: true, Size: 2, Write: true}
	if v := strh.StoreValue(0x1234_5678); v != 0x5678 {
		t.Errorf("strh: %#x", v)
	}
	for _, c := range []struct {
		val  uint64
		size int
		want uint64
	}{
		{0x80, 1, 0xffff_ffff_ffff_ff80},
		{0x7f, 1, 0x7f},
		{0x1_8000, 2, 0xffff_ffff_ffff_8000},
		{0xffff_ffff, 4, 0xffff_ffff_ffff_ffff},
		{0x8000_0000_0000_0000, 8, 0x8000_0000_0000_0000},
		{0x80, 0, 0x80},
		{0x80, -3, 0x80},
		{0x80, 1000, 0x80},
	} {
		if got := SignExtend(c.val, c.size); got != c.want {
			t.Errorf("SignExtend(%#x, %d) = %#x, want %#x", c.val, c.size, got, c.want)
		}
	}
	if Truncate(0x1234, 1) != 0x34 || Truncate(0x1234, 8) != 0x1234 || Truncate(0x1234, -1) != 0x1234 {
		t.Error("Truncate")
	}
}

func TestFaultIPA(t *testing.T) {
	// A guest access to its UART at IPA 0x0900_0678 through a kernel VA.
	hpfar := uint64(0x0900_0000>>12) << 4
	if got := FaultIPA(hpfar, 0xffff_0000_1234_5678); got != 0x0900_0678 {
		t.Errorf("FaultIPA = %v", got)
	}
	// NS (bit 63) and bits outside FIPA are ignored; FIPA covers IPA[51:12].
	if got := FaultIPA(HPFAR_NS|0xfff_ffff_ffff_ffff, 0xabc); got != hv.IPA(1<<52-1)&^0xfff|0xabc {
		t.Errorf("FaultIPA(all ones) = %v", got)
	}
}

func TestFSC(t *testing.T) {
	for _, c := range []struct {
		fsc                    FSC
		trans, perm, af, asize bool
		level                  int
		hasLevel               bool
		name                   string
	}{
		{0x00, false, false, false, true, 0, true, "address size fault"},
		{0x04, true, false, false, false, 0, true, "translation fault"},
		{0x07, true, false, false, false, 3, true, "translation fault"},
		{0x0a, false, false, true, false, 2, true, "access flag fault"},
		{0x0f, false, true, false, false, 3, true, "permission fault"},
		{0x2b, true, false, false, false, -1, true, "translation fault"},
		{0x2a, true, false, false, false, -2, true, "translation fault"},
		{0x29, false, false, false, true, -1, true, "address size fault"},
		{0x10, false, false, false, false, 0, false, "synchronous external abort"},
		{0x15, false, false, false, false, 1, true, "synchronous external abort on table walk"},
		{0x13, false, false, false, false, -1, true, "synchronous external abort on table walk"},
		{0x21, false, false, false, false, 0, false, "alignment fault"},
		{0x30, false, false, false, false, 0, false, "TLB conflict abort"},
		{0x3f, false, false, false, false, 0, false, "reserved fault status"},
	} {
		f := c.fsc
		l, ok := f.Level()
		if f.IsTranslation() != c.trans || f.IsPermission() != c.perm || f.IsAccessFlag() != c.af ||
			f.IsAddressSize() != c.asize || ok != c.hasLevel || (ok && l != c.level) || f.String() != c.name {
			t.Errorf("FSC %#x: trans %v perm %v af %v asize %v level %d/%v %q", uint8(f),
				f.IsTranslation(), f.IsPermission(), f.IsAccessFlag(), f.IsAddressSize(), l, ok, f.String())
		}
	}
	// Every code has a name and a level in range; the string agrees with
	// ESR.FaultName for the groups both know.
	for f := FSC(0); f < 64; f++ {
		if l, ok := f.Level(); ok && (l < -2 || l > 3) {
			t.Errorf("FSC %#x level %d", uint8(f), l)
		}
		if f.String() == "" {
			t.Errorf("FSC %#x unnamed", uint8(f))
		}
		if f < 0x10 && esrOf(EC_DABT_LOWER, uint64(f)).FaultName() != f.String() {
			t.Errorf("FSC %#x: %q vs ESR.FaultName %q", uint8(f), f.String(), esrOf(EC_DABT_LOWER, uint64(f)).FaultName())
		}
	}
}

func TestDecodeInstAbort(t *testing.T) {
	// Instruction abort from the guest: stage 2 translation fault level 3.
	got, err := DecodeInstAbort(0x8200_0007)
	if err != nil || got != (InstAbort{Lower: true, IFSC: 0x07}) {
		t.Errorf("got %+v, %v", got, err)
	}
	// From EL2, FnV, EA, S1PTW, SET.
	got, err = DecodeInstAbort(esrOf(EC_IABT_CUR, 1<<12|1<<10|1<<9|1<<7|0x0c))
	if err != nil || got != (InstAbort{SET: 2, FnV: true, EA: true, S1PTW: true, IFSC: 0x0c}) {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := DecodeInstAbort(0x9381_0006); !errors.Is(err, ErrESRClass) {
		t.Errorf("data abort accepted: %v", err)
	}
}

func TestDecodeSysReg(t *testing.T) {
	cases := []struct {
		esr      ESR
		want     SysRegAccess
		key      SysRegKey
		generic  string
		name     string
		describe string
	}{
		// mrs x3, CNTP_CTL_EL0
		{0x6232_f865, SysRegAccess{3, 3, 14, 2, 1, 3, true}, SYSREG_CNTP_CTL_EL0, "S3_3_C14_C2_1", "CNTP_CTL_EL0", "mrs x3, CNTP_CTL_EL0"},
		// msr ICC_SGI1R_EL1, x2
		{0x623a_3056, SysRegAccess{3, 0, 12, 11, 5, 2, false}, SYSREG_ICC_SGI1R_EL1, "S3_0_C12_C11_5", "ICC_SGI1R_EL1", "msr ICC_SGI1R_EL1, x2"},
		// msr DBGBCR5_EL1, x0
		{0x622a_000a, SysRegAccess{2, 0, 0, 5, 5, 0, false}, SysRegDBG(SYSREG_DBGBCR0_EL1, 5), "S2_0_C0_C5_5", "DBGBCR5_EL1", "msr DBGBCR5_EL1, x0"},
		// mrs xzr, OSLSR_EL1
		{esrOf(EC_SYSREG, 2<<20|4<<17|0<<14|1<<10|31<<5|1<<1|1), SysRegAccess{2, 0, 1, 1, 4, 31, true}, SYSREG_OSLSR_EL1, "S2_0_C1_C1_4", "OSLSR_EL1", "mrs xzr, OSLSR_EL1"},
		// msr S3_0_C4_C6_0 (ICC_PMR_EL1, not in the table), x30
		{esrOf(EC_SYSREG, 3<<20|0<<17|0<<14|4<<10|30<<5|6<<1), SysRegAccess{3, 0, 4, 6, 0, 30, false}, SysReg(3, 0, 4, 6, 0), "S3_0_C4_C6_0", "", "msr S3_0_C4_C6_0, x30"},
	}
	for _, c := range cases {
		got, err := DecodeSysReg(c.esr)
		if err != nil || got != c.want {
			t.Errorf("DecodeSysReg(%#x) = %+v, %v; want %+v", uint64(c.esr), got, err, c.want)
			continue
		}
		if got.Encoding() != c.key || got.String() != c.generic || SysRegName(c.key) != c.name || got.Describe() != c.describe {
			t.Errorf("%#x: key %#x %q %q %q", uint64(c.esr), uint32(got.Encoding()), got.String(), SysRegName(got.Encoding()), got.Describe())
		}
	}
	// The key is bits [20:5] of the MSR/MRS instruction: mrs x0,
	// cntp_ctl_el0 is 0xd53be220 and msr icc_sgi1r_el1, x0 is 0xd518cba0.
	if w := 0xd530_0000 | uint32(SYSREG_CNTP_CTL_EL0)<<5; w != 0xd53b_e220 {
		t.Errorf("mrs x0, cntp_ctl_el0 = %#x", w)
	}
	if w := 0xd510_0000 | uint32(SYSREG_ICC_SGI1R_EL1)<<5; w != 0xd518_cba0 {
		t.Errorf("msr icc_sgi1r_el1, x0 = %#x", w)
	}
	for _, c := range []struct {
		k    SysRegKey
		name string
	}{
		{SysReg(3, 0, 12, 11, 5), "ICC_SGI1R_EL1"},
		{SysReg(3, 0, 12, 11, 7), "ICC_SGI0R_EL1"},
		{SysReg(3, 0, 12, 11, 6), "ICC_ASGI1R_EL1"},
		{SysReg(3, 3, 14, 2, 1), "CNTP_CTL_EL0"},
		{SysReg(3, 3, 14, 2, 2), "CNTP_CVAL_EL0"},
		{SysReg(3, 3, 14, 2, 0), "CNTP_TVAL_EL0"},
		{SysReg(2, 0, 1, 0, 4), "OSLAR_EL1"},
		{SysReg(2, 0, 1, 1, 4), "OSLSR_EL1"},
		{SysReg(2, 0, 1, 3, 4), "OSDLR_EL1"},
		{SysReg(2, 0, 0, 2, 2), "MDSCR_EL1"},
		{SysReg(3, 0, 1, 0, 1), "ACTLR_EL1"},
		{SysReg(2, 0, 0, 0, 4), "DBGBVR0_EL1"},
		{SysReg(2, 0, 0, 15, 5), "DBGBCR15_EL1"},
		{SysReg(2, 0, 0, 7, 6), "DBGWVR7_EL1"},
		{SysReg(2, 0, 0, 10, 7), "DBGWCR10_EL1"},
		{SysReg(2, 0, 0, 2, 0), "MDCCINT_EL1"},
		{SysReg(2, 0, 0, 2, 3), ""},
		{SysReg(2, 1, 0, 2, 4), ""},
		{SysReg(3, 0, 1, 0, 0), ""}, // SCTLR_EL1: not trapped
		{SYSREG_ICC_SGI1R_EL1 | 1<<20, ""},
	} {
		if got := SysRegName(c.k); got != c.name {
			t.Errorf("SysRegName(%v) = %q, want %q", c.k, got, c.name)
		}
	}
	if k := SysReg(0xff, 0xff, 0xff, 0xff, 0xff); k != 0xffff {
		t.Errorf("SysReg masks: %#x", uint32(k))
	}
	if _, err := DecodeSysReg(0x5a00_1234); !errors.Is(err, ErrESRClass) {
		t.Errorf("HVC accepted: %v", err)
	}
}

func TestDecodeHVCSMC(t *testing.T) {
	if imm, err := DecodeHVC(0x5a00_1234); err != nil || imm != 0x1234 {
		t.Errorf("hvc #0x1234: %#x %v", imm, err)
	}
	if imm, err := DecodeSMC(0x5e00_0000); err != nil || imm != 0 {
		t.Errorf("smc #0: %#x %v", imm, err)
	}
	if imm, err := DecodeSMC(esrOf(EC_SMC64, 0x1ff_ffff)); err != nil || imm != 0xffff {
		t.Errorf("smc #0xffff with RES0 bits set: %#x %v", imm, err)
	}
	if _, err := DecodeHVC(0x5e00_0000); !errors.Is(err, ErrESRClass) {
		t.Errorf("SMC as HVC: %v", err)
	}
	if _, err := DecodeSMC(0x5a00_0000); !errors.Is(err, ErrESRClass) {
		t.Errorf("HVC as SMC: %v", err)
	}
}

func TestDecodeWFx(t *testing.T) {
	for _, c := range []struct {
		esr  ESR
		want WFx
		name string
	}{
		{0x07e0_0000, WFx{Kind: WFX_TI_WFI, CondValid: true, Cond: 0xe}, "WFI"},
		{0x07e0_0001, WFx{Kind: WFX_TI_WFE, CondValid: true, Cond: 0xe}, "WFE"},
		// wfit x4: TI 0b10, RV, RN 4
		{0x07e0_0086, WFx{Kind: WFX_TI_WFIT, CondValid: true, Cond: 0xe, RegValid: true, Reg: 4}, "WFIT"},
		{esrOf(EC_WFX, 31<<5|3), WFx{Kind: WFX_TI_WFET, Reg: 31}, "WFET"},
	} {
		got, err := DecodeWFx(c.esr)
		if err != nil || got != c.want || got.Kind.String() != c.name {
			t.Errorf("DecodeWFx(%#x) = %+v %v", uint64(c.esr), got, err)
		}
	}
	if _, err := DecodeWFx(0x5a00_0000); !errors.Is(err, ErrESRClass) {
		t.Errorf("HVC as WFx: %v", err)
	}
	if WFxKind(0xff).String() != "WFET" {
		t.Error("WFxKind.String out of range")
	}
}

var genericSysReg = regexp.MustCompile(`^S[0-3]_[0-7]_C([0-9]|1[0-5])_C([0-9]|1[0-5])_[0-7]$`)

// FuzzDecodeESR guards the ISS decoders of ARM DDI 0487K.a D19.2
// ESR_EL2 ("ISS encoding for an exception from a Data Abort", "... an
// Instruction Abort", "... MSR, MRS, or System instruction execution",
// "... HVC or SVC", "... SMC", "... a WFI or WFE instruction") and
// HPFAR_EL2: any ESR a guest can cause decodes without panicking, into
// values in range, and consistently.
func FuzzDecodeESR(f *testing.F) {
	for _, esr := range []uint64{0x9381_0006, 0x931f_0047, 0x93c5_c007, 0x8200_0007, 0x6232_f865, 0x5a00_1234, 0x07e0_0086, 0} {
		f.Add(esr, uint64(0x90000), uint64(0xffff_0000_1234_5678))
	}
	f.Fuzz(func(t *testing.T, esr, hpfar, far uint64) {
		e := ESR(esr)
		ec := e.EC()
		// Exactly the decoder for the EC accepts it.
		da, err := DecodeDataAbort(e)
		if (err == nil) != (ec == EC_DABT_LOWER || ec == EC_DABT_CUR) {
			t.Fatalf("DecodeDataAbort(%#x): %v", esr, err)
		}
		if err == nil {
			if da.Valid {
				if da.Size != 1 && da.Size != 2 && da.Size != 4 && da.Size != 8 {
					t.Fatalf("size %d", da.Size)
				}
				if da.Reg < 0 || da.Reg > 31 {
					t.Fatalf("reg %d", da.Reg)
				}
			} else if da.Size != 0 || da.Reg != 0 || da.SignExtend || da.Sixty4 || da.Acquire {
				t.Fatalf("syndrome without ISV: %+v", da)
			}
			if da.DFSC > 0x3f || da.SET > 3 || da.Lower != (ec == EC_DABT_LOWER) {
				t.Fatalf("%+v", da)
			}
			// Re-encoding gives the ISS minus the bits ignored without ISV.
			iss := e.ISS()
			if !da.Valid {
				iss &^= 0x3ff << 14
			}
			if da.ISS() != iss {
				t.Fatalf("ISS round trip %#x -> %#x", iss, da.ISS())
			}
			if l, ok := da.FaultLevel(); ok && (l < -2 || l > 3) {
				t.Fatalf("level %d", l)
			}
			v := da.LoadValue(far)
			if da.Valid && !da.Sixty4 && v>>32 != 0 {
				t.Fatalf("W load %#x", v)
			}
			if da.Valid && !da.SignExtend && da.Size < 8 && v>>(8*da.Size) != 0 {
				t.Fatalf("zero-extended load %#x", v)
			}
			_ = da.StoreValue(far)
			_ = da.String()
		}
		ia, err := DecodeInstAbort(e)
		if (err == nil) != (ec == EC_IABT_LOWER || ec == EC_IABT_CUR) || ia.IFSC > 0x3f {
			t.Fatalf("DecodeInstAbort(%#x): %+v %v", esr, ia, err)
		}
		sr, err := DecodeSysReg(e)
		if (err == nil) != (ec == EC_SYSREG) {
			t.Fatalf("DecodeSysReg(%#x): %v", esr, err)
		}
		if err == nil {
			if sr.Rt < 0 || sr.Rt > 31 {
				t.Fatalf("rt %d", sr.Rt)
			}
			k := sr.Encoding()
			if k > 0xffff || k.Op0() != sr.Op0 || k.Op1() != sr.Op1 || k.CRn() != sr.CRn || k.CRm() != sr.CRm || k.Op2() != sr.Op2 {
				t.Fatalf("key %#x for %+v", uint32(k), sr)
			}
			if !genericSysReg.MatchString(sr.String()) {
				t.Fatalf("name %q", sr.String())
			}
			_ = sr.Describe()
		}
		_ = SysRegName(SysRegKey(esr))
		_ = SysRegKey(esr >> 32).String()
		if imm, err := DecodeHVC(e); (err == nil) != (ec == EC_HVC64) || (err == nil && uint64(imm) != esr&0xffff) {
			t.Fatalf("DecodeHVC(%#x): %#x %v", esr, imm, err)
		}
		if _, err := DecodeSMC(e); (err == nil) != (ec == EC_SMC64) {
			t.Fatalf("DecodeSMC(%#x): %v", esr, err)
		}
		w, err := DecodeWFx(e)
		if (err == nil) != (ec == EC_WFX) || w.Kind > 3 || w.Reg < 0 || w.Reg > 31 || w.Cond > 0xf {
			t.Fatalf("DecodeWFx(%#x): %+v %v", esr, w, err)
		}
		_ = w.Kind.String()
		ipa := FaultIPA(hpfar, far)
		if uint64(ipa) >= 1<<52 || uint64(ipa)&0xfff != far&0xfff || uint64(ipa)>>12 != hpfar>>4&(1<<40-1) {
			t.Fatalf("FaultIPA(%#x, %#x) = %v", hpfar, far, ipa)
		}
		size := int(int8(esr >> 56))
		_ = SignExtend(far, size)
		_ = Truncate(far, size)
		_ = FSC(esr).String()
		_, _ = FSC(esr).Level()
	})
}
