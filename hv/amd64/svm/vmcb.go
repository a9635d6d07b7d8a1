// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import "fmt"

// VMCB geometry (AMD APM Vol. 2, 15.5.1 "Basic Operation" and Appendix B
// "Layout of VMCB"): one 4 KiB, 4 KiB-aligned page, the control area in
// the first 1 KiB and the state save area from offset 0x400.
const (
	VMCBSize        = 4096
	VMCBControlSize = 0x400
	VMCBSaveOffset  = 0x400
)

// Intercept vector bit numbers (AMD APM Vol. 2, Appendix B, Table B-1
// "VMCB Layout, Control Area"). Each names a bit inside one of the 32-bit
// intercept words of ControlArea; set it with c.InterceptMisc1 |= 1 <<
// INTERCEPT_CPUID and so on.
const (
	// InterceptCR (0x000) and InterceptDR (0x004): bit n intercepts reads
	// of CRn/DRn, bit 16+n writes.
	INTERCEPT_CR_READ_SHIFT  = 0
	INTERCEPT_CR_WRITE_SHIFT = 16
	INTERCEPT_DR_READ_SHIFT  = 0
	INTERCEPT_DR_WRITE_SHIFT = 16

	// InterceptExceptions (0x008): bit n intercepts exception vector n.

	// InterceptMisc1 (0x00C), intercept vector 3.
	INTERCEPT_INTR        = 0
	INTERCEPT_NMI         = 1
	INTERCEPT_SMI         = 2
	INTERCEPT_INIT        = 3
	INTERCEPT_VINTR       = 4
	INTERCEPT_CR0_SEL     = 5 // CR0 writes that change bits other than TS or MP
	INTERCEPT_IDTR_READ   = 6
	INTERCEPT_GDTR_READ   = 7
	INTERCEPT_LDTR_READ   = 8
	INTERCEPT_TR_READ     = 9
	INTERCEPT_IDTR_WRITE  = 10
	INTERCEPT_GDTR_WRITE  = 11
	INTERCEPT_LDTR_WRITE  = 12
	INTERCEPT_TR_WRITE    = 13
	INTERCEPT_RDTSC       = 14
	INTERCEPT_RDPMC       = 15
	INTERCEPT_PUSHF       = 16
	INTERCEPT_POPF        = 17
	INTERCEPT_CPUID       = 18
	INTERCEPT_RSM         = 19
	INTERCEPT_IRET        = 20
	INTERCEPT_INTN        = 21
	INTERCEPT_INVD        = 22
	INTERCEPT_PAUSE       = 23
	INTERCEPT_HLT         = 24
	INTERCEPT_INVLPG      = 25
	INTERCEPT_INVLPGA     = 26
	INTERCEPT_IOIO_PROT   = 27 // consult the IOPM
	INTERCEPT_MSR_PROT    = 28 // consult the MSRPM
	INTERCEPT_TASK_SWITCH = 29
	INTERCEPT_FERR_FREEZE = 30
	INTERCEPT_SHUTDOWN    = 31

	// InterceptMisc2 (0x010), intercept vector 4. VMRUN must always be
	// intercepted or VMRUN fails with VMEXIT_INVALID (15.5.1).
	INTERCEPT_VMRUN               = 0
	INTERCEPT_VMMCALL             = 1
	INTERCEPT_VMLOAD              = 2
	INTERCEPT_VMSAVE              = 3
	INTERCEPT_STGI                = 4
	INTERCEPT_CLGI                = 5
	INTERCEPT_SKINIT              = 6
	INTERCEPT_RDTSCP              = 7
	INTERCEPT_ICEBP               = 8
	INTERCEPT_WBINVD              = 9
	INTERCEPT_MONITOR             = 10
	INTERCEPT_MWAIT               = 11
	INTERCEPT_MWAIT_COND          = 12 // MWAIT with a monitor armed
	INTERCEPT_XSETBV              = 13
	INTERCEPT_RDPRU               = 14
	INTERCEPT_EFER_WRITE_TRAP     = 15
	INTERCEPT_CR_WRITE_TRAP_SHIFT = 16 // bits 31:16: CR0-CR15 write traps

	// INTERCEPT_SVM_INSTRS is the InterceptMisc2 mask of the SVM
	// instructions a guest must not execute natively (INVLPGA is in
	// InterceptMisc1).
	INTERCEPT_SVM_INSTRS = 1<<INTERCEPT_VMRUN | 1<<INTERCEPT_VMLOAD | 1<<INTERCEPT_VMSAVE |
		1<<INTERCEPT_STGI | 1<<INTERCEPT_CLGI | 1<<INTERCEPT_SKINIT

	// InterceptMisc3 (0x014), intercept vector 5.
	INTERCEPT_INVLPGB         = 0
	INTERCEPT_INVLPGB_ILLEGAL = 1
	INTERCEPT_INVPCID         = 2
	INTERCEPT_MCOMMIT         = 3
	INTERCEPT_TLBSYNC         = 4
)

// TLB_CONTROL, VMCB offset 0x05C (Table B-1; 15.16.1 "TLB Flush").
const (
	TLB_CONTROL_DO_NOTHING            = 0x00
	TLB_CONTROL_FLUSH_ALL             = 0x01 // every ASID; host use only
	TLB_CONTROL_FLUSH_GUEST           = 0x03 // this guest's ASID
	TLB_CONTROL_FLUSH_GUEST_NONGLOBAL = 0x07 // this ASID, non-global entries
)

// Virtual interrupt control, VMCB offsets 0x060 and 0x068 (Table B-1;
// 15.21 "Interrupt and Local APIC Support").
const (
	V_TPR_SHIFT          = 0
	V_TPR_MASK           = 0xff
	V_IRQ                = 1 << 8
	V_GIF                = 1 << 9
	V_INTR_PRIO_SHIFT    = 16
	V_INTR_PRIO_MASK     = 0xf
	V_IGN_TPR            = 1 << 20
	V_INTR_MASKING       = 1 << 24
	V_GIF_ENABLE         = 1 << 25
	AVIC_ENABLE          = 1 << 31
	V_INTR_VECTOR_SHIFT  = 32
	V_INTR_VECTOR_MASK   = 0xff
	INTERRUPT_SHADOW     = 1 << 0 // offset 0x068
	GUEST_INTERRUPT_MASK = 1 << 1 // offset 0x068, SEV-ES guests
)

// Nested paging and virtualization extension controls (Table B-1, VMCB
// offsets 0x090 and 0x0B8).
const (
	NP_ENABLE     = 1 << 0 // 0x090
	SEV_ENABLE    = 1 << 1 // 0x090
	SEV_ES_ENABLE = 1 << 2 // 0x090

	LBR_VIRTUALIZATION_ENABLE = 1 << 0 // 0x0B8
	VIRTUAL_VMSAVE_VMLOAD     = 1 << 1 // 0x0B8
)

// VMCB clean bits, VMCB offset 0x0C0 (15.15.3 "VMCB Clean Bits", Table
// 15-9). A set bit tells the CPU that the listed fields did not change
// since the last VMRUN with this VMCB on this CPU, so it may use cached
// copies. Software that edits a field must clear the matching bit.
const (
	VMCB_CLEAN_I    = 1 << 0  // intercepts, TSC offset, pause filter
	VMCB_CLEAN_IOPM = 1 << 1  // IOPM_BASE_PA, MSRPM_BASE_PA
	VMCB_CLEAN_ASID = 1 << 2  // guest ASID
	VMCB_CLEAN_TPR  = 1 << 3  // V_TPR, V_IRQ, V_INTR_*, AVIC enable
	VMCB_CLEAN_NP   = 1 << 4  // NP_ENABLE, N_CR3, G_PAT
	VMCB_CLEAN_CRX  = 1 << 5  // CR0, CR3, CR4, EFER
	VMCB_CLEAN_DRX  = 1 << 6  // DR6, DR7
	VMCB_CLEAN_DT   = 1 << 7  // GDTR, IDTR
	VMCB_CLEAN_SEG  = 1 << 8  // CS, DS, SS, ES, CPL
	VMCB_CLEAN_CR2  = 1 << 9  // CR2
	VMCB_CLEAN_LBR  = 1 << 10 // DBGCTL, BR_FROM/TO, LASTEXCPFROM/TO
	VMCB_CLEAN_AVIC = 1 << 11 // AVIC APIC_BAR, backing page, tables
	VMCB_CLEAN_CET  = 1 << 12 // S_CET, SSP, ISST_ADDR
)

// ControlArea is the VMCB control area, offsets 0x000-0x3FF (AMD APM Vol.
// 2, Appendix B, Table B-1 "VMCB Layout, Control Area"). Field names
// follow the APM; the comment on each gives its offset. Every field sits
// at its natural alignment, so the Go layout is the hardware layout
// (vmcb_test.go checks each offset).
type ControlArea struct {
	InterceptCR         uint32   // 0x000: bits 15:0 CR reads, 31:16 CR writes
	InterceptDR         uint32   // 0x004: bits 15:0 DR reads, 31:16 DR writes
	InterceptExceptions uint32   // 0x008: one bit per exception vector
	InterceptMisc1      uint32   // 0x00C: intercept vector 3 (INTERCEPT_INTR ...)
	InterceptMisc2      uint32   // 0x010: intercept vector 4 (INTERCEPT_VMRUN ...)
	InterceptMisc3      uint32   // 0x014: intercept vector 5 (INTERCEPT_INVLPGB ...)
	_                   [36]byte // 0x018-0x03B reserved
	// PauseFilterThreshold (0x03C) and PauseFilterCount (0x03E)
	// control PAUSE intercept filtering (15.14.4).
	PauseFilterThreshold uint16
	PauseFilterCount     uint16
	IOPMBasePA           uint64 // 0x040: physical base of the IOPM, 4 KiB aligned
	MSRPMBasePA          uint64 // 0x048: physical base of the MSRPM, 4 KiB aligned
	TSCOffset            uint64 // 0x050: added to the TSC the guest reads
	GuestASID            uint32 // 0x058: must not be 0 (the host's)
	TLBControl           uint8  // 0x05C: TLB_CONTROL_*
	_                    [3]byte
	VIntr                uint64   // 0x060: V_TPR, V_IRQ, V_INTR_PRIO, ..., V_INTR_VECTOR
	InterruptShadow      uint64   // 0x068: INTERRUPT_SHADOW, GUEST_INTERRUPT_MASK
	ExitCode             uint64   // 0x070: EXITCODE (Appendix C)
	ExitInfo1            uint64   // 0x078: EXITINFO1
	ExitInfo2            uint64   // 0x080: EXITINFO2
	ExitIntInfo          EventInj // 0x088: EXITINTINFO, the event being delivered at #VMEXIT
	NPEnable             uint64   // 0x090: NP_ENABLE, SEV_ENABLE, SEV_ES_ENABLE, ...
	AVICAPICBar          uint64   // 0x098: AVIC APIC_BAR, bits 51:0
	GHCBGPA              uint64   // 0x0A0: guest-physical address of the GHCB (SEV-ES)
	EventInj             EventInj // 0x0A8: EVENTINJ, the event to inject at VMRUN
	NCR3                 uint64   // 0x0B0: N_CR3, nested page table root (NPT.Root)
	LBRVirt              uint64   // 0x0B8: LBR_VIRTUALIZATION_ENABLE, VIRTUAL_VMSAVE_VMLOAD
	VMCBClean            uint32   // 0x0C0: VMCB_CLEAN_*
	_                    uint32   // 0x0C4 reserved
	NextRIP              uint64   // 0x0C8: nRIP, with the NRIPS feature
	GuestInstrLen        uint8    // 0x0D0: number of instruction bytes fetched (decode assists)
	GuestInstrBytes      [15]byte // 0x0D1-0x0DF: those bytes
	AVICBackingPage      uint64   // 0x0E0: AVIC APIC backing page pointer
	_                    [8]byte  // 0x0E8 reserved
	AVICLogicalTable     uint64   // 0x0F0: AVIC logical table pointer
	AVICPhysicalTable    uint64   // 0x0F8: AVIC physical table pointer, bits 7:0 max index
	_                    [8]byte  // 0x100 reserved
	VMSAPointer          uint64   // 0x108: VMSA pointer (SEV-ES)
	_                    [0x400 - 0x110]byte
}

// SaveArea is the VMCB state save area, VMCB offsets 0x400-0x697 (AMD APM
// Vol. 2, Appendix B, Table B-2 "VMCB Layout, State Save Area"); offsets
// in the field comments are VMCB offsets. Fields the APM lists only for
// SEV-ES or later extensions past LASTEXCPTO are not modelled: that part
// of the page is padding in VMCB, left zero.
type SaveArea struct {
	ES, CS, SS, DS, FS, GS Segment // 0x400-0x45F
	GDTR                   Segment // 0x460: only Limit and Base are used
	LDTR                   Segment // 0x470
	IDTR                   Segment // 0x480: only Limit and Base are used
	TR                     Segment // 0x490
	_                      [43]byte
	CPL                    uint8 // 0x4CB: the guest's CPL
	_                      [4]byte
	EFER                   uint64 // 0x4D0
	_                      [112]byte
	CR4                    uint64 // 0x548
	CR3                    uint64 // 0x550
	CR0                    uint64 // 0x558
	DR7                    uint64 // 0x560
	DR6                    uint64 // 0x568
	RFLAGS                 uint64 // 0x570
	RIP                    uint64 // 0x578
	_                      [88]byte
	RSP                    uint64 // 0x5D8
	SCET                   uint64 // 0x5E0: S_CET
	SSP                    uint64 // 0x5E8
	ISSTAddr               uint64 // 0x5F0: ISST_ADDR
	RAX                    uint64 // 0x5F8
	STAR                   uint64 // 0x600
	LSTAR                  uint64 // 0x608
	CSTAR                  uint64 // 0x610
	SFMASK                 uint64 // 0x618
	KernelGSBase           uint64 // 0x620
	SysenterCS             uint64 // 0x628
	SysenterESP            uint64 // 0x630
	SysenterEIP            uint64 // 0x638
	CR2                    uint64 // 0x640
	_                      [32]byte
	GPAT                   uint64 // 0x668: G_PAT, the guest PAT under nested paging
	DBGCTL                 uint64 // 0x670
	BRFrom                 uint64 // 0x678: BR_FROM
	BRTo                   uint64 // 0x680: BR_TO
	LastExcpFrom           uint64 // 0x688: LASTEXCPFROM
	LastExcpTo             uint64 // 0x690: LASTEXCPTO
}

// VMCB is a whole virtual machine control block: one page, which must be
// 4 KiB aligned in physical memory (15.5.1). Its bytes are little-endian
// in memory, as the Go layout on amd64 is.
type VMCB struct {
	Control ControlArea
	Save    SaveArea
	_       [VMCBSize - VMCBSaveOffset - saveAreaSize]byte
}

// saveAreaSize is the size of SaveArea: 0x698 - 0x400.
const saveAreaSize = 0x298

// Segment is a segment register in the state save area (Table B-2): 16
// bytes, selector, packed attributes, 32-bit limit, 64-bit base.
type Segment struct {
	Selector uint16
	Attrib   SegAttrib
	Limit    uint32
	Base     uint64
}

// Segment attribute bits in the VMCB packed format (Table B-2, note on
// segment attributes; 15.5.1): bits 7:0 are bits 47:40 of the descriptor
// (type, S, DPL, P) and bits 11:8 are bits 55:52 (AVL, L, D/B, G).
const (
	SEG_ATTR_TYPE_SHIFT = 0
	SEG_ATTR_TYPE_MASK  = 0xf
	SEG_ATTR_S          = 1 << 4
	SEG_ATTR_DPL_SHIFT  = 5
	SEG_ATTR_DPL_MASK   = 0x3
	SEG_ATTR_P          = 1 << 7
	SEG_ATTR_AVL        = 1 << 8
	SEG_ATTR_L          = 1 << 9
	SEG_ATTR_DB         = 1 << 10
	SEG_ATTR_G          = 1 << 11

	// Descriptor types (APM Vol. 2, 4.7 "Legacy Segment Descriptors"
	// and 4.8.3 "System Descriptors"), with the accessed bit set where
	// it applies.
	SEG_TYPE_DATA_RW    = 0x3 // read/write data, accessed
	SEG_TYPE_CODE_RX    = 0xb // execute/read code, accessed
	SEG_TYPE_LDT        = 0x2
	SEG_TYPE_TSS64_BUSY = 0xb // 64-bit (or 32-bit) TSS, busy
)

// SegAttrib is a segment's attributes in the VMCB packed format.
type SegAttrib uint16

// SegmentAttrib packs descriptor attributes into the VMCB format: typ is
// the 4-bit descriptor type, s the S bit (code/data rather than system),
// p present, l 64-bit code, db the D/B bit, g 4 KiB granularity and dpl
// the privilege level (0-3). Bits of typ and dpl beyond their widths are
// ignored.
func SegmentAttrib(typ uint8, s, p, l, db, g bool, dpl uint8) SegAttrib {
	a := SegAttrib(typ&SEG_ATTR_TYPE_MASK) | SegAttrib(dpl&SEG_ATTR_DPL_MASK)<<SEG_ATTR_DPL_SHIFT
	if s {
		a |= SEG_ATTR_S
	}
	if p {
		a |= SEG_ATTR_P
	}
	if l {
		a |= SEG_ATTR_L
	}
	if db {
		a |= SEG_ATTR_DB
	}
	if g {
		a |= SEG_ATTR_G
	}
	return a
}

// Type returns the 4-bit descriptor type.
func (a SegAttrib) Type() uint8 { return uint8(a>>SEG_ATTR_TYPE_SHIFT) & SEG_ATTR_TYPE_MASK }

// S reports a code or data (non-system) segment.
func (a SegAttrib) S() bool { return a&SEG_ATTR_S != 0 }

// DPL returns the descriptor privilege level.
func (a SegAttrib) DPL() uint8 { return uint8(a>>SEG_ATTR_DPL_SHIFT) & SEG_ATTR_DPL_MASK }

// P reports a present segment.
func (a SegAttrib) P() bool { return a&SEG_ATTR_P != 0 }

// L reports 64-bit code.
func (a SegAttrib) L() bool { return a&SEG_ATTR_L != 0 }

// DB returns the D/B (default operand size) bit.
func (a SegAttrib) DB() bool { return a&SEG_ATTR_DB != 0 }

// G reports 4 KiB limit granularity.
func (a SegAttrib) G() bool { return a&SEG_ATTR_G != 0 }

func (a SegAttrib) String() string {
	return fmt.Sprintf("attr:%#x type=%#x s=%t dpl=%d p=%t l=%t db=%t g=%t",
		uint16(a), a.Type(), a.S(), a.DPL(), a.P(), a.L(), a.DB(), a.G())
}

// EFER bits (APM Vol. 2, 3.1.7 "Extended Feature Enable Register").
const (
	EFER_SCE   = 1 << 0  // SYSCALL/SYSRET
	EFER_LME   = 1 << 8  // long mode enable
	EFER_LMA   = 1 << 10 // long mode active
	EFER_NXE   = 1 << 11 // no-execute enable
	EFER_SVME  = 1 << 12 // SVM enable; must be set in the guest's EFER too
	EFER_LMSLE = 1 << 13 // long mode segment limit enable
	EFER_FFXSR = 1 << 14 // fast FXSAVE/FXRSTOR
	EFER_TCE   = 1 << 15 // translation cache extension
)

// MSRs SVM software uses (APM Vol. 2, 15.30 "SVM Related MSRs";
// Appendix A "MSR Cross-Reference").
const (
	MSR_EFER           = 0xc000_0080
	MSR_STAR           = 0xc000_0081
	MSR_LSTAR          = 0xc000_0082
	MSR_CSTAR          = 0xc000_0083
	MSR_SFMASK         = 0xc000_0084
	MSR_FS_BASE        = 0xc000_0100
	MSR_GS_BASE        = 0xc000_0101
	MSR_KERNEL_GS_BASE = 0xc000_0102
	MSR_TSC_AUX        = 0xc000_0103
	MSR_VM_CR          = 0xc001_0114
	MSR_VM_HSAVE_PA    = 0xc001_0117

	// VM_CR bits (15.30.1 "VM_CR MSR").
	VM_CR_DPD      = 1 << 0 // debug port disable
	VM_CR_R_INIT   = 1 << 1 // INIT as #SX
	VM_CR_DIS_A20M = 1 << 2
	VM_CR_LOCK     = 1 << 3 // SVMDIS is read-only
	VM_CR_SVMDIS   = 1 << 4 // EFER.SVME cannot be set
)
