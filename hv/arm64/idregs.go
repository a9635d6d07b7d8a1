// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

// The feature ID registers a guest sees.
//
// HCR_EL2.TID3 traps EL1 reads of the ID group 3 registers (op0=3,
// op1=0, CRn=0, CRm=1..7: the AArch32 and AArch64 feature registers) to
// EL2. The hypervisor answers them from a table read once from the
// hardware and then sanitized: features whose state the world switch does
// not save (SVE, SME, pointer-authentication keys, MTE tags, AMU and PMU
// counters, statistical profiling, trace, MPAM, RME, EL2 itself) are
// hidden, and the physical address range is cut to the VM's IPA size. A
// guest that believes an ID register never touches the missing feature's
// registers, which would otherwise trap and be UNDEFINED.

// NumIDRegs is the size of the ID group 3 space: CRm 1..7, op2 0..7.
const NumIDRegs = 7 * 8

// IDRegs holds the ID group 3 registers, indexed by (CRm-1)*8 + op2.
type IDRegs [NumIDRegs]uint64

// idIndex returns the table index of an ID group 3 encoding.
func idIndex(a SysRegAccess) (int, bool) {
	if a.Op0 != 3 || a.Op1 != 0 || a.CRn != 0 || a.CRm < 1 || a.CRm > 7 {
		return 0, false
	}
	return int(a.CRm-1)*8 + int(a.Op2), true
}

// Table indexes of the registers that are sanitized.
const (
	idxAA64PFR0  = (4-1)*8 + 0
	idxAA64PFR1  = (4-1)*8 + 1
	idxAA64ZFR0  = (4-1)*8 + 4
	idxAA64SMFR0 = (4-1)*8 + 5
	idxAA64DFR0  = (5-1)*8 + 0
	idxAA64ISAR1 = (6-1)*8 + 1
	idxAA64ISAR2 = (6-1)*8 + 2
	idxAA64MMFR0 = (7-1)*8 + 0
	idxAA64MMFR1 = (7-1)*8 + 1
	idxDFR0      = (1-1)*8 + 2 // AArch32 ID_DFR0_EL1
)

// field is a 4-bit ID register field at bit shift.
type field uint8

func clearFields(v uint64, fs ...field) uint64 {
	for _, f := range fs {
		v &^= 0xf << f
	}
	return v
}

// parangeBits maps ID_AA64MMFR0_EL1.PARange to a physical address size.
var parangeBits = [...]int{32, 36, 40, 42, 44, 48, 52}

// SanitizeIDRegs returns what guests with an ipaBits-bit IPA space see
// of the hardware ID registers raw.
func SanitizeIDRegs(raw IDRegs, ipaBits int) IDRegs {
	r := raw
	// ID_AA64PFR0_EL1: EL2[11:8], SVE[35:32], SEL2[39:36], MPAM[43:40],
	// AMU[47:44], RME[55:52].
	r[idxAA64PFR0] = clearFields(r[idxAA64PFR0], 8, 32, 36, 40, 44, 52)
	// ID_AA64PFR1_EL1: MTE[11:8], MPAM_frac[19:16], SME[27:24],
	// NMI[39:36], GCS[47:44], THE[51:48], MTEX[55:52].
	r[idxAA64PFR1] = clearFields(r[idxAA64PFR1], 8, 16, 24, 36, 44, 48, 52)
	r[idxAA64ZFR0] = 0
	r[idxAA64SMFR0] = 0
	// ID_AA64DFR0_EL1: TraceVer[7:4], PMUVer[11:8], PMSVer[35:32],
	// TraceFilt[43:40], TraceBuffer[47:44], MTPMU[51:48], BRBE[55:52].
	r[idxAA64DFR0] = clearFields(r[idxAA64DFR0], 4, 8, 32, 40, 44, 48, 52)
	// ID_DFR0_EL1 (AArch32): PerfMon[27:24], MProfDbg/trace fields.
	r[idxDFR0] = clearFields(r[idxDFR0], 12, 24)
	// ID_AA64ISAR1_EL1: APA[7:4], API[11:8], GPA[27:24], GPI[31:28].
	r[idxAA64ISAR1] = clearFields(r[idxAA64ISAR1], 4, 8, 24, 28)
	// ID_AA64ISAR2_EL1: WFxT[3:0], GPA3[11:8], APA3[15:12], MOPS[19:16].
	r[idxAA64ISAR2] = clearFields(r[idxAA64ISAR2], 0, 8, 12, 16)
	// ID_AA64MMFR0_EL1.PARange[3:0]: at most the IPA size.
	pa := r[idxAA64MMFR0] & 0xf
	for i := len(parangeBits) - 1; i >= 0; i-- {
		if parangeBits[i] <= ipaBits && uint64(i) <= pa {
			r[idxAA64MMFR0] = r[idxAA64MMFR0]&^0xf | uint64(i)
			break
		}
	}
	// ID_AA64MMFR1_EL1: VH[11:8] (no EL2 in the guest).
	r[idxAA64MMFR1] = clearFields(r[idxAA64MMFR1], 8)
	return r
}

// Lookup returns the value of a trapped ID register read.
func (r *IDRegs) Lookup(a SysRegAccess) (uint64, bool) {
	i, ok := idIndex(a)
	if !ok {
		return 0, false
	}
	return r[i], true
}
