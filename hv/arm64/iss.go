// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"fmt"
	"strconv"

	"github.com/tamavisor/tamavisor/hv"
)

// Decoders for the instruction-specific syndrome (ESR_EL2.ISS) of the
// exits a guest causes. Every value decoded here is under guest control:
// the decoders accept any 64-bit ESR, never panic and allocate nothing
// (except the String and name functions).

// ErrESRClass is returned by a decoder given an ESR of another exception
// class.
const ErrESRClass = hv.Error("arm64: ESR exception class does not match the decoder")

// ISS encoding for an exception from a Data Abort (ARM DDI 0487K.a,
// D19.2 ESR_EL2, "ISS encoding for an exception from a Data Abort").
// SAS, SSE, SRT, SF and AR are valid only when ISV is 1.
const (
	ISS_DA_ISV        = 1 << 24
	ISS_DA_SAS_SHIFT  = 22
	ISS_DA_SAS_MASK   = 0x3
	ISS_DA_SSE        = 1 << 21
	ISS_DA_SRT_SHIFT  = 16
	ISS_DA_SRT_MASK   = 0x1f
	ISS_DA_SF         = 1 << 15
	ISS_DA_AR         = 1 << 14
	ISS_DA_VNCR       = 1 << 13
	ISS_DA_SET_SHIFT  = 11
	ISS_DA_SET_MASK   = 0x3
	ISS_DA_FNV        = 1 << 10
	ISS_DA_EA         = 1 << 9
	ISS_DA_CM         = 1 << 8
	ISS_DA_S1PTW      = 1 << 7
	ISS_DA_WNR        = 1 << 6
	ISS_DA_DFSC_SHIFT = 0
	ISS_DA_DFSC_MASK  = 0x3f
)

// ISS encoding for an exception from an Instruction Abort (ARM DDI
// 0487K.a, D19.2 ESR_EL2).
const (
	ISS_IA_SET_SHIFT  = 11
	ISS_IA_SET_MASK   = 0x3
	ISS_IA_FNV        = 1 << 10
	ISS_IA_EA         = 1 << 9
	ISS_IA_S1PTW      = 1 << 7
	ISS_IA_IFSC_SHIFT = 0
	ISS_IA_IFSC_MASK  = 0x3f
)

// ISS encoding for an exception from MSR, MRS, or System instruction
// execution in AArch64 state (ARM DDI 0487K.a, D19.2 ESR_EL2).
const (
	ISS_SYS_OP0_SHIFT = 20
	ISS_SYS_OP0_MASK  = 0x3
	ISS_SYS_OP2_SHIFT = 17
	ISS_SYS_OP2_MASK  = 0x7
	ISS_SYS_OP1_SHIFT = 14
	ISS_SYS_OP1_MASK  = 0x7
	ISS_SYS_CRN_SHIFT = 10
	ISS_SYS_CRN_MASK  = 0xf
	ISS_SYS_RT_SHIFT  = 5
	ISS_SYS_RT_MASK   = 0x1f
	ISS_SYS_CRM_SHIFT = 1
	ISS_SYS_CRM_MASK  = 0xf
	ISS_SYS_DIR_READ  = 1 << 0 // Direction: 1 = read (MRS), 0 = write (MSR)
)

// ISS encoding for an exception from HVC or SVC instruction execution, and
// from SMC instruction execution in AArch64 state (ARM DDI 0487K.a, D19.2
// ESR_EL2).
const (
	ISS_IMM16_MASK = 0xffff
)

// ISS encoding for an exception from a WFI or WFE instruction (ARM DDI
// 0487K.a, D19.2 ESR_EL2). RN and RV come with FEAT_WFxT.
const (
	ISS_WFX_CV         = 1 << 24
	ISS_WFX_COND_SHIFT = 20
	ISS_WFX_COND_MASK  = 0xf
	ISS_WFX_RN_SHIFT   = 5
	ISS_WFX_RN_MASK    = 0x1f
	ISS_WFX_RV         = 1 << 2
	ISS_WFX_TI_SHIFT   = 0
	ISS_WFX_TI_MASK    = 0x3
)

// HPFAR_EL2, Hypervisor IPA Fault Address Register (ARM DDI 0487K.a,
// D19.2): FIPA, bits [43:4], holds IPA[51:12] of a stage 2 fault.
const (
	HPFAR_FIPA_SHIFT = 4
	HPFAR_FIPA_MASK  = 1<<40 - 1
	HPFAR_NS         = 1 << 63
	FAR_PAGE_MASK    = 0xfff
)

// FSC is a fault status code, the DFSC or IFSC field (ISS bits [5:0]) of
// an abort (ARM DDI 0487K.a, D19.2 ESR_EL2, DFSC encodings). Levels -1
// and -2 come with FEAT_LPA2 and FEAT_D128.
type FSC uint8

// Fault status codes. The ones ending in _L0 are the level 0 form of a
// group of four, one per level 0..3.
const (
	FSC_ADDR_SIZE_L0   FSC = 0b000000
	FSC_TRANS_L0       FSC = 0b000100
	FSC_ACCESS_L0      FSC = 0b001000
	FSC_PERM_L0        FSC = 0b001100
	FSC_SEA            FSC = 0b010000 // synchronous external abort, not on a walk
	FSC_TAG_CHECK      FSC = 0b010001
	FSC_SEA_WALK_LM2   FSC = 0b010010
	FSC_SEA_WALK_LM1   FSC = 0b010011
	FSC_SEA_WALK_L0    FSC = 0b010100
	FSC_ECC            FSC = 0b011000
	FSC_ECC_WALK_LM1   FSC = 0b011011
	FSC_ECC_WALK_L0    FSC = 0b011100
	FSC_ALIGNMENT      FSC = 0b100001
	FSC_GPF_WALK_LM1   FSC = 0b100011
	FSC_GPF_WALK_L0    FSC = 0b100100
	FSC_GPF            FSC = 0b101000
	FSC_ADDR_SIZE_LM1  FSC = 0b101001
	FSC_TRANS_LM2      FSC = 0b101010
	FSC_TRANS_LM1      FSC = 0b101011
	FSC_ADDR_SIZE_LM2  FSC = 0b101100
	FSC_TLB_CONFLICT   FSC = 0b110000
	FSC_ATOMIC_HW_UPD  FSC = 0b110001
	FSC_IMPDEF_LOCKDWN FSC = 0b110100
	FSC_IMPDEF_EXCL    FSC = 0b110101
)

func (f FSC) group() FSC { return f &^ 3 }

// IsTranslation reports a translation fault (nothing mapped).
func (f FSC) IsTranslation() bool {
	return f.group() == FSC_TRANS_L0 || f == FSC_TRANS_LM1 || f == FSC_TRANS_LM2
}

// IsPermission reports a permission fault.
func (f FSC) IsPermission() bool { return f.group() == FSC_PERM_L0 }

// IsAccessFlag reports an access flag fault.
func (f FSC) IsAccessFlag() bool { return f.group() == FSC_ACCESS_L0 }

// IsAddressSize reports an address size fault.
func (f FSC) IsAddressSize() bool {
	return f.group() == FSC_ADDR_SIZE_L0 || f == FSC_ADDR_SIZE_LM1 || f == FSC_ADDR_SIZE_LM2
}

// Level returns the translation level a fault was reported at, for the
// codes that carry one (address size, translation, access flag and
// permission faults, and external aborts, ECC errors and granule
// protection faults on a table walk). It is -2 to 3.
func (f FSC) Level() (int, bool) {
	switch f {
	case FSC_ADDR_SIZE_LM1, FSC_TRANS_LM1, FSC_SEA_WALK_LM1, FSC_ECC_WALK_LM1, FSC_GPF_WALK_LM1:
		return -1, true
	case FSC_ADDR_SIZE_LM2, FSC_TRANS_LM2, FSC_SEA_WALK_LM2:
		return -2, true
	}
	switch f.group() {
	case FSC_ADDR_SIZE_L0, FSC_TRANS_L0, FSC_ACCESS_L0, FSC_PERM_L0,
		FSC_SEA_WALK_L0, FSC_ECC_WALK_L0, FSC_GPF_WALK_L0:
		return int(f & 3), true
	}
	return 0, false
}

// String names the fault. Constant strings only.
func (f FSC) String() string {
	switch {
	case f.IsAddressSize():
		return "address size fault"
	case f.IsTranslation():
		return "translation fault"
	case f.IsAccessFlag():
		return "access flag fault"
	case f.IsPermission():
		return "permission fault"
	case f == FSC_SEA:
		return "synchronous external abort"
	case f == FSC_TAG_CHECK:
		return "tag check fault"
	case f == FSC_SEA_WALK_LM2 || f == FSC_SEA_WALK_LM1 || f.group() == FSC_SEA_WALK_L0:
		return "synchronous external abort on table walk"
	case f == FSC_ECC:
		return "parity/ECC error"
	case f == FSC_ECC_WALK_LM1 || f.group() == FSC_ECC_WALK_L0:
		return "parity/ECC error on table walk"
	case f == FSC_ALIGNMENT:
		return "alignment fault"
	case f == FSC_GPF_WALK_LM1 || f.group() == FSC_GPF_WALK_L0:
		return "granule protection fault on table walk"
	case f == FSC_GPF:
		return "granule protection fault"
	case f == FSC_TLB_CONFLICT:
		return "TLB conflict abort"
	case f == FSC_ATOMIC_HW_UPD:
		return "unsupported atomic hardware update fault"
	case f == FSC_IMPDEF_LOCKDWN || f == FSC_IMPDEF_EXCL:
		return "IMPLEMENTATION DEFINED fault"
	}
	return "reserved fault status"
}

func bit(v uint64, mask uint64) bool { return v&mask != 0 }

// DataAbort is the decoded syndrome of a data abort (EC 0x24 from a lower
// EL, 0x25 from EL2).
type DataAbort struct {
	// Lower is set for EC 0x24 (from the guest), clear for 0x25.
	Lower bool
	// Valid is ISV: the access is a single load or store of one general
	// purpose register and Size, SignExtend, Reg, Sixty4 and Acquire
	// describe it. When Valid is false they are zero and the hypervisor
	// must not emulate the access from the syndrome.
	Valid bool
	// Size is the access size in bytes (1 << SAS): 1, 2, 4 or 8.
	Size int
	// SignExtend is SSE: a load that sign-extends to the register.
	SignExtend bool
	// Reg is SRT, the transfer register 0..30, where 31 means XZR.
	Reg int
	// Sixty4 is SF: the register is 64-bit X<n> rather than W<n>.
	Sixty4 bool
	// Acquire is AR: acquire/release semantics.
	Acquire bool
	// Write is WnR: the abort was on a write. For a cache maintenance
	// instruction (CM) it is 1, and for a fault on a stage 1 table walk
	// (S1PTW) it does not describe the guest's own access.
	Write bool
	// VNCR: the fault came from a VNCR_EL2-relative access (FEAT_NV2).
	VNCR bool
	// SET is the synchronous error type when EA is set (FEAT_RAS).
	SET uint8
	// FnV: FAR_EL2 is not valid.
	FnV bool
	// EA: external abort type, IMPLEMENTATION DEFINED classification.
	EA bool
	// CM: the fault came from a cache maintenance or address translation
	// instruction.
	CM bool
	// S1PTW: stage 2 fault on the guest's stage 1 table walk.
	S1PTW bool
	// DFSC is the data fault status code.
	DFSC FSC
}

// DecodeDataAbort decodes the ISS of a data abort. It fails with
// ErrESRClass unless the EC is 0x24 or 0x25.
func DecodeDataAbort(esr ESR) (DataAbort, error) {
	ec := esr.EC()
	if ec != EC_DABT_LOWER && ec != EC_DABT_CUR {
		return DataAbort{}, ErrESRClass
	}
	iss := esr.ISS()
	d := DataAbort{
		Lower: ec == EC_DABT_LOWER,
		Valid: bit(iss, ISS_DA_ISV),
		Write: bit(iss, ISS_DA_WNR),
		VNCR:  bit(iss, ISS_DA_VNCR),
		SET:   uint8(iss >> ISS_DA_SET_SHIFT & ISS_DA_SET_MASK),
		FnV:   bit(iss, ISS_DA_FNV),
		EA:    bit(iss, ISS_DA_EA),
		CM:    bit(iss, ISS_DA_CM),
		S1PTW: bit(iss, ISS_DA_S1PTW),
		DFSC:  FSC(iss >> ISS_DA_DFSC_SHIFT & ISS_DA_DFSC_MASK),
	}
	if d.Valid {
		d.Size = 1 << (iss >> ISS_DA_SAS_SHIFT & ISS_DA_SAS_MASK)
		d.SignExtend = bit(iss, ISS_DA_SSE)
		d.Reg = int(iss >> ISS_DA_SRT_SHIFT & ISS_DA_SRT_MASK)
		d.Sixty4 = bit(iss, ISS_DA_SF)
		d.Acquire = bit(iss, ISS_DA_AR)
	}
	return d, nil
}

// ISS encodes d back into an ISS value: DecodeDataAbort of an ESR with
// this ISS gives d again. It serves tests and building the ESR_EL1 of an
// abort injected into a guest. A Size other than 1, 2, 4 or 8 encodes as
// 1.
func (d DataAbort) ISS() uint64 {
	var iss uint64
	set := func(b bool, m uint64) {
		if b {
			iss |= m
		}
	}
	if d.Valid {
		iss |= ISS_DA_ISV
		var sas uint64
		switch d.Size {
		case 2:
			sas = 1
		case 4:
			sas = 2
		case 8:
			sas = 3
		}
		iss |= sas << ISS_DA_SAS_SHIFT
		iss |= uint64(d.Reg) & ISS_DA_SRT_MASK << ISS_DA_SRT_SHIFT
		set(d.SignExtend, ISS_DA_SSE)
		set(d.Sixty4, ISS_DA_SF)
		set(d.Acquire, ISS_DA_AR)
	}
	set(d.VNCR, ISS_DA_VNCR)
	iss |= uint64(d.SET) & ISS_DA_SET_MASK << ISS_DA_SET_SHIFT
	set(d.FnV, ISS_DA_FNV)
	set(d.EA, ISS_DA_EA)
	set(d.CM, ISS_DA_CM)
	set(d.S1PTW, ISS_DA_S1PTW)
	set(d.Write, ISS_DA_WNR)
	iss |= uint64(d.DFSC) & ISS_DA_DFSC_MASK
	return iss
}

// IsTranslationFault reports a translation fault: nothing is mapped at
// the IPA (the usual MMIO exit).
func (d DataAbort) IsTranslationFault() bool { return d.DFSC.IsTranslation() }

// IsPermissionFault reports a permission fault.
func (d DataAbort) IsPermissionFault() bool { return d.DFSC.IsPermission() }

// IsAccessFlagFault reports an access flag fault.
func (d DataAbort) IsAccessFlagFault() bool { return d.DFSC.IsAccessFlag() }

// FaultLevel returns the lookup level of the fault, if DFSC carries one.
func (d DataAbort) FaultLevel() (int, bool) { return d.DFSC.Level() }

// LoadValue returns what an emulated load described by d writes to the
// register, given the raw little-endian value read from the device:
// truncated to Size, sign-extended if SignExtend, and cut to 32 bits for
// a W register.
func (d DataAbort) LoadValue(raw uint64) uint64 {
	v := Truncate(raw, d.Size)
	if d.SignExtend {
		v = SignExtend(v, d.Size)
	}
	if !d.Sixty4 {
		v &= 0xffff_ffff
	}
	return v
}

// StoreValue returns the data an emulated store of register value reg
// writes: its low Size bytes.
func (d DataAbort) StoreValue(reg uint64) uint64 { return Truncate(reg, d.Size) }

func (d DataAbort) String() string {
	dir := "read"
	if d.Write {
		dir = "write"
	}
	s := fmt.Sprintf("data abort (%s) on %s", d.DFSC, dir)
	if l, ok := d.FaultLevel(); ok {
		s += fmt.Sprintf(" level %d", l)
	}
	if d.Valid {
		w := "w"
		if d.Sixty4 {
			w = "x"
		}
		s += fmt.Sprintf(", %d bytes %s%d", d.Size, w, d.Reg)
		if d.SignExtend {
			s += " sign-extended"
		}
	} else {
		s += ", no valid syndrome"
	}
	if d.S1PTW {
		s += ", on stage 1 walk"
	}
	return s
}

// Truncate returns the low size bytes of val. Sizes outside 1..7 return
// val unchanged.
func Truncate(val uint64, size int) uint64 {
	if size <= 0 || size >= 8 {
		return val
	}
	return val & (1<<(uint(size)*8) - 1)
}

// SignExtend sign-extends the low size bytes of val to 64 bits (a load
// with SSE set). Sizes outside 1..7 return val unchanged.
func SignExtend(val uint64, size int) uint64 {
	if size <= 0 || size >= 8 {
		return val
	}
	sh := 64 - uint(size)*8
	return uint64(int64(val<<sh) >> sh)
}

// FaultIPA returns the faulting IPA of a stage 2 abort: the page from
// HPFAR_EL2.FIPA and the offset from FAR_EL2 (HPFAR_EL2 holds only
// IPA[51:12]). HPFAR_EL2 is valid for stage 2 translation, access flag
// and permission faults and for faults on a stage 1 walk; the offset is
// meaningful only when FnV is clear.
func FaultIPA(hpfar, far uint64) hv.IPA {
	page := (hpfar >> HPFAR_FIPA_SHIFT & HPFAR_FIPA_MASK) << 12
	return hv.IPA(page | far&FAR_PAGE_MASK)
}

// InstAbort is the decoded syndrome of an instruction abort (EC 0x20 from
// a lower EL, 0x21 from EL2).
type InstAbort struct {
	Lower bool
	SET   uint8
	FnV   bool
	EA    bool
	S1PTW bool
	IFSC  FSC
}

// DecodeInstAbort decodes the ISS of an instruction abort. It fails with
// ErrESRClass unless the EC is 0x20 or 0x21.
func DecodeInstAbort(esr ESR) (InstAbort, error) {
	ec := esr.EC()
	if ec != EC_IABT_LOWER && ec != EC_IABT_CUR {
		return InstAbort{}, ErrESRClass
	}
	iss := esr.ISS()
	return InstAbort{
		Lower: ec == EC_IABT_LOWER,
		SET:   uint8(iss >> ISS_IA_SET_SHIFT & ISS_IA_SET_MASK),
		FnV:   bit(iss, ISS_IA_FNV),
		EA:    bit(iss, ISS_IA_EA),
		S1PTW: bit(iss, ISS_IA_S1PTW),
		IFSC:  FSC(iss >> ISS_IA_IFSC_SHIFT & ISS_IA_IFSC_MASK),
	}, nil
}

// SysRegKey identifies a system register or system instruction by
// op0:op1:CRn:CRm:op2, packed as bits [20:5] of the MSR and MRS
// instructions are, shifted down by 5 (ARM DDI 0487K.a, chapter C5 "The
// A64 System Instruction Class", and MRS and MSR (register) in C6.2):
// op0 in [15:14], op1 in [13:11], CRn in [10:7], CRm in [6:3], op2 in
// [2:0].
type SysRegKey uint32

const (
	SYSREG_OP0_SHIFT = 14
	SYSREG_OP0_MASK  = 0x3
	SYSREG_OP1_SHIFT = 11
	SYSREG_OP1_MASK  = 0x7
	SYSREG_CRN_SHIFT = 7
	SYSREG_CRN_MASK  = 0xf
	SYSREG_CRM_SHIFT = 3
	SYSREG_CRM_MASK  = 0xf
	SYSREG_OP2_SHIFT = 0
	SYSREG_OP2_MASK  = 0x7
)

// SysReg packs a SysRegKey; out-of-range fields are masked.
func SysReg(op0, op1, crn, crm, op2 uint8) SysRegKey {
	return SysRegKey(uint32(op0)&SYSREG_OP0_MASK<<SYSREG_OP0_SHIFT |
		uint32(op1)&SYSREG_OP1_MASK<<SYSREG_OP1_SHIFT |
		uint32(crn)&SYSREG_CRN_MASK<<SYSREG_CRN_SHIFT |
		uint32(crm)&SYSREG_CRM_MASK<<SYSREG_CRM_SHIFT |
		uint32(op2)&SYSREG_OP2_MASK<<SYSREG_OP2_SHIFT)
}

func (k SysRegKey) Op0() uint8 { return uint8(k >> SYSREG_OP0_SHIFT & SYSREG_OP0_MASK) }
func (k SysRegKey) Op1() uint8 { return uint8(k >> SYSREG_OP1_SHIFT & SYSREG_OP1_MASK) }
func (k SysRegKey) CRn() uint8 { return uint8(k >> SYSREG_CRN_SHIFT & SYSREG_CRN_MASK) }
func (k SysRegKey) CRm() uint8 { return uint8(k >> SYSREG_CRM_SHIFT & SYSREG_CRM_MASK) }
func (k SysRegKey) Op2() uint8 { return uint8(k >> SYSREG_OP2_SHIFT & SYSREG_OP2_MASK) }

// String gives the generic assembler name, e.g. "S3_3_C14_C2_1" (bits
// above the key's 16 are ignored).
func (k SysRegKey) String() string {
	b := make([]byte, 0, 16)
	b = append(b, 'S')
	b = strconv.AppendUint(b, uint64(k.Op0()), 10)
	b = append(b, '_')
	b = strconv.AppendUint(b, uint64(k.Op1()), 10)
	b = append(b, '_', 'C')
	b = strconv.AppendUint(b, uint64(k.CRn()), 10)
	b = append(b, '_', 'C')
	b = strconv.AppendUint(b, uint64(k.CRm()), 10)
	b = append(b, '_')
	b = strconv.AppendUint(b, uint64(k.Op2()), 10)
	return string(b)
}

// System registers tamavisor traps or emulates (encodings from the
// register descriptions in ARM DDI 0487K.a chapter D19 and, for ICC_*,
// the GICv3 architecture specification ARM IHI 0069, "AArch64 System
// register descriptions of the CPU interface").
const (
	SYSREG_ICC_SGI1R_EL1  = SysRegKey(3<<14 | 0<<11 | 12<<7 | 11<<3 | 5)
	SYSREG_ICC_ASGI1R_EL1 = SysRegKey(3<<14 | 0<<11 | 12<<7 | 11<<3 | 6)
	SYSREG_ICC_SGI0R_EL1  = SysRegKey(3<<14 | 0<<11 | 12<<7 | 11<<3 | 7)
	SYSREG_CNTP_TVAL_EL0  = SysRegKey(3<<14 | 3<<11 | 14<<7 | 2<<3 | 0)
	SYSREG_CNTP_CTL_EL0   = SysRegKey(3<<14 | 3<<11 | 14<<7 | 2<<3 | 1)
	SYSREG_CNTP_CVAL_EL0  = SysRegKey(3<<14 | 3<<11 | 14<<7 | 2<<3 | 2)
	SYSREG_ACTLR_EL1      = SysRegKey(3<<14 | 0<<11 | 1<<7 | 0<<3 | 1)
	SYSREG_MDCCINT_EL1    = SysRegKey(2<<14 | 0<<11 | 0<<7 | 2<<3 | 0)
	SYSREG_MDSCR_EL1      = SysRegKey(2<<14 | 0<<11 | 0<<7 | 2<<3 | 2)
	SYSREG_MDRAR_EL1      = SysRegKey(2<<14 | 0<<11 | 1<<7 | 0<<3 | 0)
	SYSREG_OSLAR_EL1      = SysRegKey(2<<14 | 0<<11 | 1<<7 | 0<<3 | 4)
	SYSREG_OSLSR_EL1      = SysRegKey(2<<14 | 0<<11 | 1<<7 | 1<<3 | 4)
	SYSREG_OSDLR_EL1      = SysRegKey(2<<14 | 0<<11 | 1<<7 | 3<<3 | 4)
	SYSREG_DBGPRCR_EL1    = SysRegKey(2<<14 | 0<<11 | 1<<7 | 4<<3 | 4)
	SYSREG_MDCCSR_EL0     = SysRegKey(2<<14 | 3<<11 | 0<<7 | 1<<3 | 0)

	// The breakpoint and watchpoint registers <n> = 0..15 have CRm = n
	// (see SysRegDBG).
	SYSREG_DBGBVR0_EL1 = SysRegKey(2<<14 | 0<<11 | 0<<7 | 0<<3 | 4)
	SYSREG_DBGBCR0_EL1 = SysRegKey(2<<14 | 0<<11 | 0<<7 | 0<<3 | 5)
	SYSREG_DBGWVR0_EL1 = SysRegKey(2<<14 | 0<<11 | 0<<7 | 0<<3 | 6)
	SYSREG_DBGWCR0_EL1 = SysRegKey(2<<14 | 0<<11 | 0<<7 | 0<<3 | 7)
)

// SysRegDBG returns DBGBVR<n>_EL1, DBGBCR<n>_EL1, DBGWVR<n>_EL1 or
// DBGWCR<n>_EL1 given the <n>=0 key and n (masked to 0..15).
func SysRegDBG(reg0 SysRegKey, n uint8) SysRegKey {
	return reg0&^(SYSREG_CRM_MASK<<SYSREG_CRM_SHIFT) | SysRegKey(n&SYSREG_CRM_MASK)<<SYSREG_CRM_SHIFT
}

var sysRegNames = [...]struct {
	key  SysRegKey
	name string
}{
	{SYSREG_ICC_SGI1R_EL1, "ICC_SGI1R_EL1"},
	{SYSREG_ICC_ASGI1R_EL1, "ICC_ASGI1R_EL1"},
	{SYSREG_ICC_SGI0R_EL1, "ICC_SGI0R_EL1"},
	{SYSREG_CNTP_TVAL_EL0, "CNTP_TVAL_EL0"},
	{SYSREG_CNTP_CTL_EL0, "CNTP_CTL_EL0"},
	{SYSREG_CNTP_CVAL_EL0, "CNTP_CVAL_EL0"},
	{SYSREG_ACTLR_EL1, "ACTLR_EL1"},
	{SYSREG_MDCCINT_EL1, "MDCCINT_EL1"},
	{SYSREG_MDSCR_EL1, "MDSCR_EL1"},
	{SYSREG_MDRAR_EL1, "MDRAR_EL1"},
	{SYSREG_OSLAR_EL1, "OSLAR_EL1"},
	{SYSREG_OSLSR_EL1, "OSLSR_EL1"},
	{SYSREG_OSDLR_EL1, "OSDLR_EL1"},
	{SYSREG_DBGPRCR_EL1, "DBGPRCR_EL1"},
	{SYSREG_MDCCSR_EL0, "MDCCSR_EL0"},
}

// SysRegName returns the architectural name of the registers in the table
// above (and DBG{B,W}{V,C}R<n>_EL1), or "" for any other key.
func SysRegName(k SysRegKey) string {
	for _, r := range sysRegNames {
		if r.key == k {
			return r.name
		}
	}
	// op0=2, op1=0, CRn=0, CRm=n, op2=4..7
	if k&^(SYSREG_CRM_MASK<<SYSREG_CRM_SHIFT|SYSREG_OP2_MASK) == 2<<SYSREG_OP0_SHIFT && k.Op2() >= 4 {
		kinds := [4]string{"DBGBVR", "DBGBCR", "DBGWVR", "DBGWCR"}
		return kinds[k.Op2()-4] + strconv.Itoa(int(k.CRm())) + "_EL1"
	}
	return ""
}

// SysRegAccess is a trapped MSR, MRS or system instruction (EC 0x18).
type SysRegAccess struct {
	Op0, Op1, CRn, CRm, Op2 uint8
	// Rt is the general purpose register 0..30 transferred; 31 means
	// XZR (reads as zero, writes are discarded).
	Rt int
	// Read is set for MRS (and SYSL), clear for MSR (and SYS).
	Read bool
}

// DecodeSysReg decodes the ISS of a trapped MSR, MRS or system
// instruction. It fails with ErrESRClass unless the EC is 0x18.
func DecodeSysReg(esr ESR) (SysRegAccess, error) {
	if esr.EC() != EC_SYSREG {
		return SysRegAccess{}, ErrESRClass
	}
	iss := esr.ISS()
	return SysRegAccess{
		Op0:  uint8(iss >> ISS_SYS_OP0_SHIFT & ISS_SYS_OP0_MASK),
		Op1:  uint8(iss >> ISS_SYS_OP1_SHIFT & ISS_SYS_OP1_MASK),
		CRn:  uint8(iss >> ISS_SYS_CRN_SHIFT & ISS_SYS_CRN_MASK),
		CRm:  uint8(iss >> ISS_SYS_CRM_SHIFT & ISS_SYS_CRM_MASK),
		Op2:  uint8(iss >> ISS_SYS_OP2_SHIFT & ISS_SYS_OP2_MASK),
		Rt:   int(iss >> ISS_SYS_RT_SHIFT & ISS_SYS_RT_MASK),
		Read: bit(iss, ISS_SYS_DIR_READ),
	}, nil
}

// Encoding returns the register's key.
func (s SysRegAccess) Encoding() SysRegKey { return SysReg(s.Op0, s.Op1, s.CRn, s.CRm, s.Op2) }

// String gives the register's generic name, e.g. "S3_0_C4_C6_0".
func (s SysRegAccess) String() string { return s.Encoding().String() }

// Describe gives the access as assembly, e.g. "mrs x3, CNTP_CTL_EL0".
func (s SysRegAccess) Describe() string {
	name := SysRegName(s.Encoding())
	if name == "" {
		name = s.String()
	}
	reg := "xzr"
	if s.Rt < 31 {
		reg = "x" + strconv.Itoa(s.Rt)
	}
	if s.Read {
		return "mrs " + reg + ", " + name
	}
	return "msr " + name + ", " + reg
}

// DecodeHVC returns the immediate of a trapped HVC (EC 0x16). The
// preferred return address (ELR_EL2) is the instruction after the HVC.
func DecodeHVC(esr ESR) (uint16, error) {
	if esr.EC() != EC_HVC64 {
		return 0, ErrESRClass
	}
	return uint16(esr.ISS() & ISS_IMM16_MASK), nil
}

// DecodeSMC returns the immediate of an SMC trapped by HCR_EL2.TSC (EC
// 0x17). Unlike HVC, ELR_EL2 then holds the address of the SMC itself, so
// the hypervisor must advance it by 4 to skip the emulated instruction.
func DecodeSMC(esr ESR) (uint16, error) {
	if esr.EC() != EC_SMC64 {
		return 0, ErrESRClass
	}
	return uint16(esr.ISS() & ISS_IMM16_MASK), nil
}

// WFxKind is the TI field of a trapped WFI/WFE.
type WFxKind uint8

const (
	WFX_TI_WFI  WFxKind = 0b00
	WFX_TI_WFE  WFxKind = 0b01
	WFX_TI_WFIT WFxKind = 0b10 // FEAT_WFxT
	WFX_TI_WFET WFxKind = 0b11 // FEAT_WFxT
)

func (k WFxKind) String() string {
	return [...]string{"WFI", "WFE", "WFIT", "WFET"}[k&ISS_WFX_TI_MASK]
}

// WFx is a trapped WFI, WFE, WFIT or WFET (EC 0x01).
type WFx struct {
	Kind WFxKind
	// CondValid and Cond are CV and COND; a trap from AArch64 has CV = 1
	// and COND = 0b1110 (always).
	CondValid bool
	Cond      uint8
	// RegValid is RV: Reg holds the register with the WFIT/WFET timeout.
	RegValid bool
	Reg      int
}

// DecodeWFx decodes the ISS of a trapped WFI or WFE. It fails with
// ErrESRClass unless the EC is 0x01.
func DecodeWFx(esr ESR) (WFx, error) {
	if esr.EC() != EC_WFX {
		return WFx{}, ErrESRClass
	}
	iss := esr.ISS()
	return WFx{
		Kind:      WFxKind(iss >> ISS_WFX_TI_SHIFT & ISS_WFX_TI_MASK),
		CondValid: bit(iss, ISS_WFX_CV),
		Cond:      uint8(iss >> ISS_WFX_COND_SHIFT & ISS_WFX_COND_MASK),
		RegValid:  bit(iss, ISS_WFX_RV),
		Reg:       int(iss >> ISS_WFX_RN_SHIFT & ISS_WFX_RN_MASK),
	}, nil
}
