// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import "fmt"

// Field is the encoding of a VMCS component, the operand VMREAD and
// VMWRITE take (Intel SDM Vol. 3C, 25.11.2 "VMREAD, VMWRITE, and
// Encodings of VMCS Fields", table "Structure of VMCS Component
// Encoding"):
//
//	bit 0      access type: 0 full, 1 high (the upper 32 bits of a
//	           64-bit field; must be 0 for the other widths)
//	bits 9:1   index
//	bits 11:10 type: 0 control, 1 VM-exit information (read-only
//	           data), 2 guest state, 3 host state
//	bit 12     reserved, 0
//	bits 14:13 width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural-width
//	bits 31:15 reserved, 0
type Field uint32

// Component encoding bit fields (25.11.2).
const (
	FIELD_ACCESS_HIGH   = 1 << 0
	FIELD_INDEX_SHIFT   = 1
	FIELD_INDEX_MASK    = 0x1ff
	FIELD_TYPE_SHIFT    = 10
	FIELD_TYPE_MASK     = 0x3
	FIELD_WIDTH_SHIFT   = 13
	FIELD_WIDTH_MASK    = 0x3
	FIELD_RESERVED_MASK = 0xffff_9000 // bits 31:15 and 12
)

// FieldWidth is bits 14:13 of a field encoding.
type FieldWidth uint8

const (
	WIDTH_16      FieldWidth = 0
	WIDTH_64      FieldWidth = 1
	WIDTH_32      FieldWidth = 2
	WIDTH_NATURAL FieldWidth = 3 // 64 bits on processors with Intel 64
)

func (w FieldWidth) String() string {
	switch w {
	case WIDTH_16:
		return "16-bit"
	case WIDTH_64:
		return "64-bit"
	case WIDTH_32:
		return "32-bit"
	}
	return "natural-width"
}

// FieldType is bits 11:10 of a field encoding.
type FieldType uint8

const (
	TYPE_CONTROL   FieldType = 0
	TYPE_EXIT_INFO FieldType = 1 // VM-exit information, "read-only data"
	TYPE_GUEST     FieldType = 2
	TYPE_HOST      FieldType = 3
)

func (t FieldType) String() string {
	switch t {
	case TYPE_CONTROL:
		return "control"
	case TYPE_EXIT_INFO:
		return "read-only data"
	case TYPE_GUEST:
		return "guest-state"
	}
	return "host-state"
}

// Width returns the field's width.
func (f Field) Width() FieldWidth {
	return FieldWidth(f >> FIELD_WIDTH_SHIFT & FIELD_WIDTH_MASK)
}

// Type returns the field's type.
func (f Field) Type() FieldType {
	return FieldType(f >> FIELD_TYPE_SHIFT & FIELD_TYPE_MASK)
}

// Index returns the field's index within its width and type.
func (f Field) Index() uint16 {
	return uint16(f >> FIELD_INDEX_SHIFT & FIELD_INDEX_MASK)
}

// High reports whether f is the high-access encoding, naming bits 63:32
// of a 64-bit field.
func (f Field) High() bool { return f&FIELD_ACCESS_HIGH != 0 }

// HighHalf returns the high-access encoding of a 64-bit field (for
// VMREAD/VMWRITE of its upper 32 bits in 32-bit code). It returns f
// unchanged for other widths, which have no high half.
func (f Field) HighHalf() Field {
	if f.Width() != WIDTH_64 {
		return f
	}
	return f | FIELD_ACCESS_HIGH
}

// Valid reports whether f is well formed: reserved bits clear, and the
// high access type only with a 64-bit width. A well-formed encoding may
// still name a field the processor does not support (IA32_VMX_VMCS_ENUM
// gives the highest index it does).
func (f Field) Valid() bool {
	if f&FIELD_RESERVED_MASK != 0 {
		return false
	}
	return !f.High() || f.Width() == WIDTH_64
}

// String returns the field's name as below, with "_HIGH" for the
// high-access encoding of a 64-bit field, or a description of the
// encoding for a field this package does not name.
func (f Field) String() string {
	if name, ok := fieldName(f &^ FIELD_ACCESS_HIGH); ok && f.Valid() {
		if f.High() {
			return name + "_HIGH"
		}
		return name
	}
	return fmt.Sprintf("vmcs-field:%#x(%v %v index %d)", uint32(f), f.Width(), f.Type(), f.Index())
}

// 16-bit control fields (Intel SDM Vol. 3D, B.1.1).
const (
	VIRTUAL_PROCESSOR_ID Field = 0x0000
	POSTED_INTR_NV       Field = 0x0002 // posted-interrupt notification vector
	EPTP_INDEX           Field = 0x0004
)

// 16-bit guest-state fields (B.1.2).
const (
	GUEST_ES_SELECTOR   Field = 0x0800
	GUEST_CS_SELECTOR   Field = 0x0802
	GUEST_SS_SELECTOR   Field = 0x0804
	GUEST_DS_SELECTOR   Field = 0x0806
	GUEST_FS_SELECTOR   Field = 0x0808
	GUEST_GS_SELECTOR   Field = 0x080A
	GUEST_LDTR_SELECTOR Field = 0x080C
	GUEST_TR_SELECTOR   Field = 0x080E
	GUEST_INTR_STATUS   Field = 0x0810 // guest interrupt status
	GUEST_PML_INDEX     Field = 0x0812
)

// 16-bit host-state fields (B.1.3). The host has no LDTR.
const (
	HOST_ES_SELECTOR Field = 0x0C00
	HOST_CS_SELECTOR Field = 0x0C02
	HOST_SS_SELECTOR Field = 0x0C04
	HOST_DS_SELECTOR Field = 0x0C06
	HOST_FS_SELECTOR Field = 0x0C08
	HOST_GS_SELECTOR Field = 0x0C0A
	HOST_TR_SELECTOR Field = 0x0C0C
)

// 64-bit control fields (B.2.1), full access encodings.
const (
	IO_BITMAP_A            Field = 0x2000
	IO_BITMAP_B            Field = 0x2002
	MSR_BITMAP             Field = 0x2004
	VM_EXIT_MSR_STORE_ADDR Field = 0x2006
	VM_EXIT_MSR_LOAD_ADDR  Field = 0x2008
	VM_ENTRY_MSR_LOAD_ADDR Field = 0x200A
	EXECUTIVE_VMCS_POINTER Field = 0x200C
	PML_ADDRESS            Field = 0x200E
	TSC_OFFSET             Field = 0x2010
	VIRTUAL_APIC_PAGE_ADDR Field = 0x2012
	APIC_ACCESS_ADDR       Field = 0x2014
	POSTED_INTR_DESC_ADDR  Field = 0x2016
	VM_FUNCTION_CONTROL    Field = 0x2018
	EPT_POINTER            Field = 0x201A
	EOI_EXIT_BITMAP0       Field = 0x201C
	EOI_EXIT_BITMAP1       Field = 0x201E
	EOI_EXIT_BITMAP2       Field = 0x2020
	EOI_EXIT_BITMAP3       Field = 0x2022
	EPTP_LIST_ADDRESS      Field = 0x2024
	VMREAD_BITMAP          Field = 0x2026
	VMWRITE_BITMAP         Field = 0x2028
	VE_INFORMATION_ADDRESS Field = 0x202A // virtualization-exception information
	XSS_EXIT_BITMAP        Field = 0x202C
	ENCLS_EXITING_BITMAP   Field = 0x202E
	SPPT_POINTER           Field = 0x2030 // sub-page-permission-table pointer
	TSC_MULTIPLIER         Field = 0x2032
	TERTIARY_VM_EXEC_CTRL  Field = 0x2034 // tertiary processor-based controls
)

// 64-bit read-only data field (B.2.2).
const (
	GUEST_PHYSICAL_ADDRESS Field = 0x2400
)

// 64-bit guest-state fields (B.2.3).
const (
	VMCS_LINK_POINTER           Field = 0x2800
	GUEST_IA32_DEBUGCTL         Field = 0x2802
	GUEST_IA32_PAT              Field = 0x2804
	GUEST_IA32_EFER             Field = 0x2806
	GUEST_IA32_PERF_GLOBAL_CTRL Field = 0x2808
	GUEST_PDPTE0                Field = 0x280A
	GUEST_PDPTE1                Field = 0x280C
	GUEST_PDPTE2                Field = 0x280E
	GUEST_PDPTE3                Field = 0x2810
	GUEST_IA32_BNDCFGS          Field = 0x2812
	GUEST_IA32_RTIT_CTL         Field = 0x2814
	GUEST_IA32_LBR_CTL          Field = 0x2816
	GUEST_IA32_PKRS             Field = 0x2818
)

// 64-bit host-state fields (B.2.4).
const (
	HOST_IA32_PAT              Field = 0x2C00
	HOST_IA32_EFER             Field = 0x2C02
	HOST_IA32_PERF_GLOBAL_CTRL Field = 0x2C04
	HOST_IA32_PKRS             Field = 0x2C06
)

// 32-bit control fields (B.3.1).
const (
	PIN_BASED_VM_EXEC_CONTROL     Field = 0x4000
	CPU_BASED_VM_EXEC_CONTROL     Field = 0x4002 // primary processor-based
	EXCEPTION_BITMAP              Field = 0x4004
	PAGE_FAULT_ERROR_CODE_MASK    Field = 0x4006
	PAGE_FAULT_ERROR_CODE_MATCH   Field = 0x4008
	CR3_TARGET_COUNT              Field = 0x400A
	VM_EXIT_CONTROLS              Field = 0x400C // primary VM-exit controls
	VM_EXIT_MSR_STORE_COUNT       Field = 0x400E
	VM_EXIT_MSR_LOAD_COUNT        Field = 0x4010
	VM_ENTRY_CONTROLS             Field = 0x4012
	VM_ENTRY_MSR_LOAD_COUNT       Field = 0x4014
	VM_ENTRY_INTR_INFO_FIELD      Field = 0x4016 // see IntrInfo
	VM_ENTRY_EXCEPTION_ERROR_CODE Field = 0x4018
	VM_ENTRY_INSTRUCTION_LEN      Field = 0x401A
	TPR_THRESHOLD                 Field = 0x401C
	SECONDARY_VM_EXEC_CONTROL     Field = 0x401E
	PLE_GAP                       Field = 0x4020
	PLE_WINDOW                    Field = 0x4022
)

// 32-bit read-only data fields (B.3.2).
const (
	VM_INSTRUCTION_ERROR     Field = 0x4400
	VM_EXIT_REASON           Field = 0x4402
	VM_EXIT_INTR_INFO        Field = 0x4404
	VM_EXIT_INTR_ERROR_CODE  Field = 0x4406
	IDT_VECTORING_INFO_FIELD Field = 0x4408
	IDT_VECTORING_ERROR_CODE Field = 0x440A
	VM_EXIT_INSTRUCTION_LEN  Field = 0x440C
	VMX_INSTRUCTION_INFO     Field = 0x440E
)

// 32-bit guest-state fields (B.3.3). Index 0x16 (0x482C) is unused.
const (
	GUEST_ES_LIMIT              Field = 0x4800
	GUEST_CS_LIMIT              Field = 0x4802
	GUEST_SS_LIMIT              Field = 0x4804
	GUEST_DS_LIMIT              Field = 0x4806
	GUEST_FS_LIMIT              Field = 0x4808
	GUEST_GS_LIMIT              Field = 0x480A
	GUEST_LDTR_LIMIT            Field = 0x480C
	GUEST_TR_LIMIT              Field = 0x480E
	GUEST_GDTR_LIMIT            Field = 0x4810
	GUEST_IDTR_LIMIT            Field = 0x4812
	GUEST_ES_AR_BYTES           Field = 0x4814
	GUEST_CS_AR_BYTES           Field = 0x4816
	GUEST_SS_AR_BYTES           Field = 0x4818
	GUEST_DS_AR_BYTES           Field = 0x481A
	GUEST_FS_AR_BYTES           Field = 0x481C
	GUEST_GS_AR_BYTES           Field = 0x481E
	GUEST_LDTR_AR_BYTES         Field = 0x4820
	GUEST_TR_AR_BYTES           Field = 0x4822
	GUEST_INTERRUPTIBILITY_INFO Field = 0x4824
	GUEST_ACTIVITY_STATE        Field = 0x4826
	GUEST_SMBASE                Field = 0x4828
	GUEST_SYSENTER_CS           Field = 0x482A
	VMX_PREEMPTION_TIMER_VALUE  Field = 0x482E
)

// 32-bit host-state field (B.3.4).
const (
	HOST_IA32_SYSENTER_CS Field = 0x4C00
)

// Natural-width control fields (B.4.1).
const (
	CR0_GUEST_HOST_MASK Field = 0x6000
	CR4_GUEST_HOST_MASK Field = 0x6002
	CR0_READ_SHADOW     Field = 0x6004
	CR4_READ_SHADOW     Field = 0x6006
	CR3_TARGET_VALUE0   Field = 0x6008
	CR3_TARGET_VALUE1   Field = 0x600A
	CR3_TARGET_VALUE2   Field = 0x600C
	CR3_TARGET_VALUE3   Field = 0x600E
)

// Natural-width read-only data fields (B.4.2).
const (
	EXIT_QUALIFICATION   Field = 0x6400
	IO_RCX               Field = 0x6402
	IO_RSI               Field = 0x6404
	IO_RDI               Field = 0x6406
	IO_RIP               Field = 0x6408
	GUEST_LINEAR_ADDRESS Field = 0x640A
)

// Natural-width guest-state fields (B.4.3).
const (
	GUEST_CR0                    Field = 0x6800
	GUEST_CR3                    Field = 0x6802
	GUEST_CR4                    Field = 0x6804
	GUEST_ES_BASE                Field = 0x6806
	GUEST_CS_BASE                Field = 0x6808
	GUEST_SS_BASE                Field = 0x680A
	GUEST_DS_BASE                Field = 0x680C
	GUEST_FS_BASE                Field = 0x680E
	GUEST_GS_BASE                Field = 0x6810
	GUEST_LDTR_BASE              Field = 0x6812
	GUEST_TR_BASE                Field = 0x6814
	GUEST_GDTR_BASE              Field = 0x6816
	GUEST_IDTR_BASE              Field = 0x6818
	GUEST_DR7                    Field = 0x681A
	GUEST_RSP                    Field = 0x681C
	GUEST_RIP                    Field = 0x681E
	GUEST_RFLAGS                 Field = 0x6820
	GUEST_PENDING_DBG_EXCEPTIONS Field = 0x6822
	GUEST_SYSENTER_ESP           Field = 0x6824
	GUEST_SYSENTER_EIP           Field = 0x6826
	GUEST_S_CET                  Field = 0x6828
	GUEST_SSP                    Field = 0x682A
	GUEST_INTR_SSP_TABLE_ADDR    Field = 0x682C
)

// Natural-width host-state fields (B.4.4).
const (
	HOST_CR0                 Field = 0x6C00
	HOST_CR3                 Field = 0x6C02
	HOST_CR4                 Field = 0x6C04
	HOST_FS_BASE             Field = 0x6C06
	HOST_GS_BASE             Field = 0x6C08
	HOST_TR_BASE             Field = 0x6C0A
	HOST_GDTR_BASE           Field = 0x6C0C
	HOST_IDTR_BASE           Field = 0x6C0E
	HOST_IA32_SYSENTER_ESP   Field = 0x6C10
	HOST_IA32_SYSENTER_EIP   Field = 0x6C12
	HOST_RSP                 Field = 0x6C14
	HOST_RIP                 Field = 0x6C16
	HOST_S_CET               Field = 0x6C18
	HOST_SSP                 Field = 0x6C1A
	HOST_INTR_SSP_TABLE_ADDR Field = 0x6C1C
)

type namedField struct {
	f    Field
	name string
}

// fieldNames lists every Field constant above in increasing encoding
// order (fieldName searches it; the tests check order and completeness).
// A composite literal of constants: it is laid out by the linker and
// needs no initialisation code.
var fieldNames = [...]namedField{
	{VIRTUAL_PROCESSOR_ID, "VIRTUAL_PROCESSOR_ID"},
	{POSTED_INTR_NV, "POSTED_INTR_NV"},
	{EPTP_INDEX, "EPTP_INDEX"},
	{GUEST_ES_SELECTOR, "GUEST_ES_SELECTOR"},
	{GUEST_CS_SELECTOR, "GUEST_CS_SELECTOR"},
	{GUEST_SS_SELECTOR, "GUEST_SS_SELECTOR"},
	{GUEST_DS_SELECTOR, "GUEST_DS_SELECTOR"},
	{GUEST_FS_SELECTOR, "GUEST_FS_SELECTOR"},
	{GUEST_GS_SELECTOR, "GUEST_GS_SELECTOR"},
	{GUEST_LDTR_SELECTOR, "GUEST_LDTR_SELECTOR"},
	{GUEST_TR_SELECTOR, "GUEST_TR_SELECTOR"},
	{GUEST_INTR_STATUS, "GUEST_INTR_STATUS"},
	{GUEST_PML_INDEX, "GUEST_PML_INDEX"},
	{HOST_ES_SELECTOR, "HOST_ES_SELECTOR"},
	{HOST_CS_SELECTOR, "HOST_CS_SELECTOR"},
	{HOST_SS_SELECTOR, "HOST_SS_SELECTOR"},
	{HOST_DS_SELECTOR, "HOST_DS_SELECTOR"},
	{HOST_FS_SELECTOR, "HOST_FS_SELECTOR"},
	{HOST_GS_SELECTOR, "HOST_GS_SELECTOR"},
	{HOST_TR_SELECTOR, "HOST_TR_SELECTOR"},
	{IO_BITMAP_A, "IO_BITMAP_A"},
	{IO_BITMAP_B, "IO_BITMAP_B"},
	{MSR_BITMAP, "MSR_BITMAP"},
	{VM_EXIT_MSR_STORE_ADDR, "VM_EXIT_MSR_STORE_ADDR"},
	{VM_EXIT_MSR_LOAD_ADDR, "VM_EXIT_MSR_LOAD_ADDR"},
	{VM_ENTRY_MSR_LOAD_ADDR, "VM_ENTRY_MSR_LOAD_ADDR"},
	{EXECUTIVE_VMCS_POINTER, "EXECUTIVE_VMCS_POINTER"},
	{PML_ADDRESS, "PML_ADDRESS"},
	{TSC_OFFSET, "TSC_OFFSET"},
	{VIRTUAL_APIC_PAGE_ADDR, "VIRTUAL_APIC_PAGE_ADDR"},
	{APIC_ACCESS_ADDR, "APIC_ACCESS_ADDR"},
	{POSTED_INTR_DESC_ADDR, "POSTED_INTR_DESC_ADDR"},
	{VM_FUNCTION_CONTROL, "VM_FUNCTION_CONTROL"},
	{EPT_POINTER, "EPT_POINTER"},
	{EOI_EXIT_BITMAP0, "EOI_EXIT_BITMAP0"},
	{EOI_EXIT_BITMAP1, "EOI_EXIT_BITMAP1"},
	{EOI_EXIT_BITMAP2, "EOI_EXIT_BITMAP2"},
	{EOI_EXIT_BITMAP3, "EOI_EXIT_BITMAP3"},
	{EPTP_LIST_ADDRESS, "EPTP_LIST_ADDRESS"},
	{VMREAD_BITMAP, "VMREAD_BITMAP"},
	{VMWRITE_BITMAP, "VMWRITE_BITMAP"},
	{VE_INFORMATION_ADDRESS, "VE_INFORMATION_ADDRESS"},
	{XSS_EXIT_BITMAP, "XSS_EXIT_BITMAP"},
	{ENCLS_EXITING_BITMAP, "ENCLS_EXITING_BITMAP"},
	{SPPT_POINTER, "SPPT_POINTER"},
	{TSC_MULTIPLIER, "TSC_MULTIPLIER"},
	{TERTIARY_VM_EXEC_CTRL, "TERTIARY_VM_EXEC_CTRL"},
	{GUEST_PHYSICAL_ADDRESS, "GUEST_PHYSICAL_ADDRESS"},
	{VMCS_LINK_POINTER, "VMCS_LINK_POINTER"},
	{GUEST_IA32_DEBUGCTL, "GUEST_IA32_DEBUGCTL"},
	{GUEST_IA32_PAT, "GUEST_IA32_PAT"},
	{GUEST_IA32_EFER, "GUEST_IA32_EFER"},
	{GUEST_IA32_PERF_GLOBAL_CTRL, "GUEST_IA32_PERF_GLOBAL_CTRL"},
	{GUEST_PDPTE0, "GUEST_PDPTE0"},
	{GUEST_PDPTE1, "GUEST_PDPTE1"},
	{GUEST_PDPTE2, "GUEST_PDPTE2"},
	{GUEST_PDPTE3, "GUEST_PDPTE3"},
	{GUEST_IA32_BNDCFGS, "GUEST_IA32_BNDCFGS"},
	{GUEST_IA32_RTIT_CTL, "GUEST_IA32_RTIT_CTL"},
	{GUEST_IA32_LBR_CTL, "GUEST_IA32_LBR_CTL"},
	{GUEST_IA32_PKRS, "GUEST_IA32_PKRS"},
	{HOST_IA32_PAT, "HOST_IA32_PAT"},
	{HOST_IA32_EFER, "HOST_IA32_EFER"},
	{HOST_IA32_PERF_GLOBAL_CTRL, "HOST_IA32_PERF_GLOBAL_CTRL"},
	{HOST_IA32_PKRS, "HOST_IA32_PKRS"},
	{PIN_BASED_VM_EXEC_CONTROL, "PIN_BASED_VM_EXEC_CONTROL"},
	{CPU_BASED_VM_EXEC_CONTROL, "CPU_BASED_VM_EXEC_CONTROL"},
	{EXCEPTION_BITMAP, "EXCEPTION_BITMAP"},
	{PAGE_FAULT_ERROR_CODE_MASK, "PAGE_FAULT_ERROR_CODE_MASK"},
	{PAGE_FAULT_ERROR_CODE_MATCH, "PAGE_FAULT_ERROR_CODE_MATCH"},
	{CR3_TARGET_COUNT, "CR3_TARGET_COUNT"},
	{VM_EXIT_CONTROLS, "VM_EXIT_CONTROLS"},
	{VM_EXIT_MSR_STORE_COUNT, "VM_EXIT_MSR_STORE_COUNT"},
	{VM_EXIT_MSR_LOAD_COUNT, "VM_EXIT_MSR_LOAD_COUNT"},
	{VM_ENTRY_CONTROLS, "VM_ENTRY_CONTROLS"},
	{VM_ENTRY_MSR_LOAD_COUNT, "VM_ENTRY_MSR_LOAD_COUNT"},
	{VM_ENTRY_INTR_INFO_FIELD, "VM_ENTRY_INTR_INFO_FIELD"},
	{VM_ENTRY_EXCEPTION_ERROR_CODE, "VM_ENTRY_EXCEPTION_ERROR_CODE"},
	{VM_ENTRY_INSTRUCTION_LEN, "VM_ENTRY_INSTRUCTION_LEN"},
	{TPR_THRESHOLD, "TPR_THRESHOLD"},
	{SECONDARY_VM_EXEC_CONTROL, "SECONDARY_VM_EXEC_CONTROL"},
	{PLE_GAP, "PLE_GAP"},
	{PLE_WINDOW, "PLE_WINDOW"},
	{VM_INSTRUCTION_ERROR, "VM_INSTRUCTION_ERROR"},
	{VM_EXIT_REASON, "VM_EXIT_REASON"},
	{VM_EXIT_INTR_INFO, "VM_EXIT_INTR_INFO"},
	{VM_EXIT_INTR_ERROR_CODE, "VM_EXIT_INTR_ERROR_CODE"},
	{IDT_VECTORING_INFO_FIELD, "IDT_VECTORING_INFO_FIELD"},
	{IDT_VECTORING_ERROR_CODE, "IDT_VECTORING_ERROR_CODE"},
	{VM_EXIT_INSTRUCTION_LEN, "VM_EXIT_INSTRUCTION_LEN"},
	{VMX_INSTRUCTION_INFO, "VMX_INSTRUCTION_INFO"},
	{GUEST_ES_LIMIT, "GUEST_ES_LIMIT"},
	{GUEST_CS_LIMIT, "GUEST_CS_LIMIT"},
	{GUEST_SS_LIMIT, "GUEST_SS_LIMIT"},
	{GUEST_DS_LIMIT, "GUEST_DS_LIMIT"},
	{GUEST_FS_LIMIT, "GUEST_FS_LIMIT"},
	{GUEST_GS_LIMIT, "GUEST_GS_LIMIT"},
	{GUEST_LDTR_LIMIT, "GUEST_LDTR_LIMIT"},
	{GUEST_TR_LIMIT, "GUEST_TR_LIMIT"},
	{GUEST_GDTR_LIMIT, "GUEST_GDTR_LIMIT"},
	{GUEST_IDTR_LIMIT, "GUEST_IDTR_LIMIT"},
	{GUEST_ES_AR_BYTES, "GUEST_ES_AR_BYTES"},
	{GUEST_CS_AR_BYTES, "GUEST_CS_AR_BYTES"},
	{GUEST_SS_AR_BYTES, "GUEST_SS_AR_BYTES"},
	{GUEST_DS_AR_BYTES, "GUEST_DS_AR_BYTES"},
	{GUEST_FS_AR_BYTES, "GUEST_FS_AR_BYTES"},
	{GUEST_GS_AR_BYTES, "GUEST_GS_AR_BYTES"},
	{GUEST_LDTR_AR_BYTES, "GUEST_LDTR_AR_BYTES"},
	{GUEST_TR_AR_BYTES, "GUEST_TR_AR_BYTES"},
	{GUEST_INTERRUPTIBILITY_INFO, "GUEST_INTERRUPTIBILITY_INFO"},
	{GUEST_ACTIVITY_STATE, "GUEST_ACTIVITY_STATE"},
	{GUEST_SMBASE, "GUEST_SMBASE"},
	{GUEST_SYSENTER_CS, "GUEST_SYSENTER_CS"},
	{VMX_PREEMPTION_TIMER_VALUE, "VMX_PREEMPTION_TIMER_VALUE"},
	{HOST_IA32_SYSENTER_CS, "HOST_IA32_SYSENTER_CS"},
	{CR0_GUEST_HOST_MASK, "CR0_GUEST_HOST_MASK"},
	{CR4_GUEST_HOST_MASK, "CR4_GUEST_HOST_MASK"},
	{CR0_READ_SHADOW, "CR0_READ_SHADOW"},
	{CR4_READ_SHADOW, "CR4_READ_SHADOW"},
	{CR3_TARGET_VALUE0, "CR3_TARGET_VALUE0"},
	{CR3_TARGET_VALUE1, "CR3_TARGET_VALUE1"},
	{CR3_TARGET_VALUE2, "CR3_TARGET_VALUE2"},
	{CR3_TARGET_VALUE3, "CR3_TARGET_VALUE3"},
	{EXIT_QUALIFICATION, "EXIT_QUALIFICATION"},
	{IO_RCX, "IO_RCX"},
	{IO_RSI, "IO_RSI"},
	{IO_RDI, "IO_RDI"},
	{IO_RIP, "IO_RIP"},
	{GUEST_LINEAR_ADDRESS, "GUEST_LINEAR_ADDRESS"},
	{GUEST_CR0, "GUEST_CR0"},
	{GUEST_CR3, "GUEST_CR3"},
	{GUEST_CR4, "GUEST_CR4"},
	{GUEST_ES_BASE, "GUEST_ES_BASE"},
	{GUEST_CS_BASE, "GUEST_CS_BASE"},
	{GUEST_SS_BASE, "GUEST_SS_BASE"},
	{GUEST_DS_BASE, "GUEST_DS_BASE"},
	{GUEST_FS_BASE, "GUEST_FS_BASE"},
	{GUEST_GS_BASE, "GUEST_GS_BASE"},
	{GUEST_LDTR_BASE, "GUEST_LDTR_BASE"},
	{GUEST_TR_BASE, "GUEST_TR_BASE"},
	{GUEST_GDTR_BASE, "GUEST_GDTR_BASE"},
	{GUEST_IDTR_BASE, "GUEST_IDTR_BASE"},
	{GUEST_DR7, "GUEST_DR7"},
	{GUEST_RSP, "GUEST_RSP"},
	{GUEST_RIP, "GUEST_RIP"},
	{GUEST_RFLAGS, "GUEST_RFLAGS"},
	{GUEST_PENDING_DBG_EXCEPTIONS, "GUEST_PENDING_DBG_EXCEPTIONS"},
	{GUEST_SYSENTER_ESP, "GUEST_SYSENTER_ESP"},
	{GUEST_SYSENTER_EIP, "GUEST_SYSENTER_EIP"},
	{GUEST_S_CET, "GUEST_S_CET"},
	{GUEST_SSP, "GUEST_SSP"},
	{GUEST_INTR_SSP_TABLE_ADDR, "GUEST_INTR_SSP_TABLE_ADDR"},
	{HOST_CR0, "HOST_CR0"},
	{HOST_CR3, "HOST_CR3"},
	{HOST_CR4, "HOST_CR4"},
	{HOST_FS_BASE, "HOST_FS_BASE"},
	{HOST_GS_BASE, "HOST_GS_BASE"},
	{HOST_TR_BASE, "HOST_TR_BASE"},
	{HOST_GDTR_BASE, "HOST_GDTR_BASE"},
	{HOST_IDTR_BASE, "HOST_IDTR_BASE"},
	{HOST_IA32_SYSENTER_ESP, "HOST_IA32_SYSENTER_ESP"},
	{HOST_IA32_SYSENTER_EIP, "HOST_IA32_SYSENTER_EIP"},
	{HOST_RSP, "HOST_RSP"},
	{HOST_RIP, "HOST_RIP"},
	{HOST_S_CET, "HOST_S_CET"},
	{HOST_SSP, "HOST_SSP"},
	{HOST_INTR_SSP_TABLE_ADDR, "HOST_INTR_SSP_TABLE_ADDR"},
}

// fieldName finds f in fieldNames by binary search.
func fieldName(f Field) (string, bool) {
	lo, hi := 0, len(fieldNames)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if fieldNames[m].f < f {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(fieldNames) && fieldNames[lo].f == f {
		return fieldNames[lo].name, true
	}
	return "", false
}
