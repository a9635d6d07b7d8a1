// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

type fieldCase struct {
	f    Field
	enc  uint32 // the encoding as Intel SDM Vol. 3D Appendix B prints it
	name string
}

// fieldGroup is one table of Appendix B: the SDM puts every field in it
// at one width and of one type, in increasing index order.
type fieldGroup struct {
	section string
	width   FieldWidth
	typ     FieldType
	fields  []fieldCase
}

var sdmFields = []fieldGroup{
	{"B.1.1 16-bit control", WIDTH_16, TYPE_CONTROL, []fieldCase{
		{VIRTUAL_PROCESSOR_ID, 0x0000, "VIRTUAL_PROCESSOR_ID"},
		{POSTED_INTR_NV, 0x0002, "POSTED_INTR_NV"},
		{EPTP_INDEX, 0x0004, "EPTP_INDEX"},
	}},
	{"B.1.2 16-bit guest-state", WIDTH_16, TYPE_GUEST, []fieldCase{
		{GUEST_ES_SELECTOR, 0x0800, "GUEST_ES_SELECTOR"},
		{GUEST_CS_SELECTOR, 0x0802, "GUEST_CS_SELECTOR"},
		{GUEST_SS_SELECTOR, 0x0804, "GUEST_SS_SELECTOR"},
		{GUEST_DS_SELECTOR, 0x0806, "GUEST_DS_SELECTOR"},
		{GUEST_FS_SELECTOR, 0x0808, "GUEST_FS_SELECTOR"},
		{GUEST_GS_SELECTOR, 0x080A, "GUEST_GS_SELECTOR"},
		{GUEST_LDTR_SELECTOR, 0x080C, "GUEST_LDTR_SELECTOR"},
		{GUEST_TR_SELECTOR, 0x080E, "GUEST_TR_SELECTOR"},
		{GUEST_INTR_STATUS, 0x0810, "GUEST_INTR_STATUS"},
		{GUEST_PML_INDEX, 0x0812, "GUEST_PML_INDEX"},
	}},
	{"B.1.3 16-bit host-state", WIDTH_16, TYPE_HOST, []fieldCase{
		{HOST_ES_SELECTOR, 0x0C00, "HOST_ES_SELECTOR"},
		{HOST_CS_SELECTOR, 0x0C02, "HOST_CS_SELECTOR"},
		{HOST_SS_SELECTOR, 0x0C04, "HOST_SS_SELECTOR"},
		{HOST_DS_SELECTOR, 0x0C06, "HOST_DS_SELECTOR"},
		{HOST_FS_SELECTOR, 0x0C08, "HOST_FS_SELECTOR"},
		{HOST_GS_SELECTOR, 0x0C0A, "HOST_GS_SELECTOR"},
		{HOST_TR_SELECTOR, 0x0C0C, "HOST_TR_SELECTOR"},
	}},
	{"B.2.1 64-bit control", WIDTH_64, TYPE_CONTROL, []fieldCase{
		{IO_BITMAP_A, 0x2000, "IO_BITMAP_A"},
		{IO_BITMAP_B, 0x2002, "IO_BITMAP_B"},
		{MSR_BITMAP, 0x2004, "MSR_BITMAP"},
		{VM_EXIT_MSR_STORE_ADDR, 0x2006, "VM_EXIT_MSR_STORE_ADDR"},
		{VM_EXIT_MSR_LOAD_ADDR, 0x2008, "VM_EXIT_MSR_LOAD_ADDR"},
		{VM_ENTRY_MSR_LOAD_ADDR, 0x200A, "VM_ENTRY_MSR_LOAD_ADDR"},
		{EXECUTIVE_VMCS_POINTER, 0x200C, "EXECUTIVE_VMCS_POINTER"},
		{PML_ADDRESS, 0x200E, "PML_ADDRESS"},
		{TSC_OFFSET, 0x2010, "TSC_OFFSET"},
		{VIRTUAL_APIC_PAGE_ADDR, 0x2012, "VIRTUAL_APIC_PAGE_ADDR"},
		{APIC_ACCESS_ADDR, 0x2014, "APIC_ACCESS_ADDR"},
		{POSTED_INTR_DESC_ADDR, 0x2016, "POSTED_INTR_DESC_ADDR"},
		{VM_FUNCTION_CONTROL, 0x2018, "VM_FUNCTION_CONTROL"},
		{EPT_POINTER, 0x201A, "EPT_POINTER"},
		{EOI_EXIT_BITMAP0, 0x201C, "EOI_EXIT_BITMAP0"},
		{EOI_EXIT_BITMAP1, 0x201E, "EOI_EXIT_BITMAP1"},
		{EOI_EXIT_BITMAP2, 0x2020, "EOI_EXIT_BITMAP2"},
		{EOI_EXIT_BITMAP3, 0x2022, "EOI_EXIT_BITMAP3"},
		{EPTP_LIST_ADDRESS, 0x2024, "EPTP_LIST_ADDRESS"},
		{VMREAD_BITMAP, 0x2026, "VMREAD_BITMAP"},
		{VMWRITE_BITMAP, 0x2028, "VMWRITE_BITMAP"},
		{VE_INFORMATION_ADDRESS, 0x202A, "VE_INFORMATION_ADDRESS"},
		{XSS_EXIT_BITMAP, 0x202C, "XSS_EXIT_BITMAP"},
		{ENCLS_EXITING_BITMAP, 0x202E, "ENCLS_EXITING_BITMAP"},
		{SPPT_POINTER, 0x2030, "SPPT_POINTER"},
		{TSC_MULTIPLIER, 0x2032, "TSC_MULTIPLIER"},
		{TERTIARY_VM_EXEC_CTRL, 0x2034, "TERTIARY_VM_EXEC_CTRL"},
	}},
	{"B.2.2 64-bit read-only data", WIDTH_64, TYPE_EXIT_INFO, []fieldCase{
		{GUEST_PHYSICAL_ADDRESS, 0x2400, "GUEST_PHYSICAL_ADDRESS"},
	}},
	{"B.2.3 64-bit guest-state", WIDTH_64, TYPE_GUEST, []fieldCase{
		{VMCS_LINK_POINTER, 0x2800, "VMCS_LINK_POINTER"},
		{GUEST_IA32_DEBUGCTL, 0x2802, "GUEST_IA32_DEBUGCTL"},
		{GUEST_IA32_PAT, 0x2804, "GUEST_IA32_PAT"},
		{GUEST_IA32_EFER, 0x2806, "GUEST_IA32_EFER"},
		{GUEST_IA32_PERF_GLOBAL_CTRL, 0x2808, "GUEST_IA32_PERF_GLOBAL_CTRL"},
		{GUEST_PDPTE0, 0x280A, "GUEST_PDPTE0"},
		{GUEST_PDPTE1, 0x280C, "GUEST_PDPTE1"},
		{GUEST_PDPTE2, 0x280E, "GUEST_PDPTE2"},
		{GUEST_PDPTE3, 0x2810, "GUEST_PDPTE3"},
		{GUEST_IA32_BNDCFGS, 0x2812, "GUEST_IA32_BNDCFGS"},
		{GUEST_IA32_RTIT_CTL, 0x2814, "GUEST_IA32_RTIT_CTL"},
		{GUEST_IA32_LBR_CTL, 0x2816, "GUEST_IA32_LBR_CTL"},
		{GUEST_IA32_PKRS, 0x2818, "GUEST_IA32_PKRS"},
	}},
	{"B.2.4 64-bit host-state", WIDTH_64, TYPE_HOST, []fieldCase{
		{HOST_IA32_PAT, 0x2C00, "HOST_IA32_PAT"},
		{HOST_IA32_EFER, 0x2C02, "HOST_IA32_EFER"},
		{HOST_IA32_PERF_GLOBAL_CTRL, 0x2C04, "HOST_IA32_PERF_GLOBAL_CTRL"},
		{HOST_IA32_PKRS, 0x2C06, "HOST_IA32_PKRS"},
	}},
	{"B.3.1 32-bit control", WIDTH_32, TYPE_CONTROL, []fieldCase{
		{PIN_BASED_VM_EXEC_CONTROL, 0x4000, "PIN_BASED_VM_EXEC_CONTROL"},
		{CPU_BASED_VM_EXEC_CONTROL, 0x4002, "CPU_BASED_VM_EXEC_CONTROL"},
		{EXCEPTION_BITMAP, 0x4004, "EXCEPTION_BITMAP"},
		{PAGE_FAULT_ERROR_CODE_MASK, 0x4006, "PAGE_FAULT_ERROR_CODE_MASK"},
		{PAGE_FAULT_ERROR_CODE_MATCH, 0x4008, "PAGE_FAULT_ERROR_CODE_MATCH"},
		{CR3_TARGET_COUNT, 0x400A, "CR3_TARGET_COUNT"},
		{VM_EXIT_CONTROLS, 0x400C, "VM_EXIT_CONTROLS"},
		{VM_EXIT_MSR_STORE_COUNT, 0x400E, "VM_EXIT_MSR_STORE_COUNT"},
		{VM_EXIT_MSR_LOAD_COUNT, 0x4010, "VM_EXIT_MSR_LOAD_COUNT"},
		{VM_ENTRY_CONTROLS, 0x4012, "VM_ENTRY_CONTROLS"},
		{VM_ENTRY_MSR_LOAD_COUNT, 0x4014, "VM_ENTRY_MSR_LOAD_COUNT"},
		{VM_ENTRY_INTR_INFO_FIELD, 0x4016, "VM_ENTRY_INTR_INFO_FIELD"},
		{VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018, "VM_ENTRY_EXCEPTION_ERROR_CODE"},
		{VM_ENTRY_INSTRUCTION_LEN, 0x401A, "VM_ENTRY_INSTRUCTION_LEN"},
		{TPR_THRESHOLD, 0x401C, "TPR_THRESHOLD"},
		{SECONDARY_VM_EXEC_CONTROL, 0x401E, "SECONDARY_VM_EXEC_CONTROL"},
		{PLE_GAP, 0x4020, "PLE_GAP"},
		{PLE_WINDOW, 0x4022, "PLE_WINDOW"},
	}},
	{"B.3.2 32-bit read-only data", WIDTH_32, TYPE_EXIT_INFO, []fieldCase{
		{VM_INSTRUCTION_ERROR, 0x4400, "VM_INSTRUCTION_ERROR"},
		{VM_EXIT_REASON, 0x4402, "VM_EXIT_REASON"},
		{VM_EXIT_INTR_INFO, 0x4404, "VM_EXIT_INTR_INFO"},
		{VM_EXIT_INTR_ERROR_CODE, 0x4406, "VM_EXIT_INTR_ERROR_CODE"},
		{IDT_VECTORING_INFO_FIELD, 0x4408, "IDT_VECTORING_INFO_FIELD"},
		{IDT_VECTORING_ERROR_CODE, 0x440A, "IDT_VECTORING_ERROR_CODE"},
		{VM_EXIT_INSTRUCTION_LEN, 0x440C, "VM_EXIT_INSTRUCTION_LEN"},
		{VMX_INSTRUCTION_INFO, 0x440E, "VMX_INSTRUCTION_INFO"},
	}},
	{"B.3.3 32-bit guest-state", WIDTH_32, TYPE_GUEST, []fieldCase{
		{GUEST_ES_LIMIT, 0x4800, "GUEST_ES_LIMIT"},
		{GUEST_CS_LIMIT, 0x4802, "GUEST_CS_LIMIT"},
		{GUEST_SS_LIMIT, 0x4804, "GUEST_SS_LIMIT"},
		{GUEST_DS_LIMIT, 0x4806, "GUEST_DS_LIMIT"},
		{GUEST_FS_LIMIT, 0x4808, "GUEST_FS_LIMIT"},
		{GUEST_GS_LIMIT, 0x480A, "GUEST_GS_LIMIT"},
		{GUEST_LDTR_LIMIT, 0x480C, "GUEST_LDTR_LIMIT"},
		{GUEST_TR_LIMIT, 0x480E, "GUEST_TR_LIMIT"},
		{GUEST_GDTR_LIMIT, 0x4810, "GUEST_GDTR_LIMIT"},
		{GUEST_IDTR_LIMIT, 0x4812, "GUEST_IDTR_LIMIT"},
		{GUEST_ES_AR_BYTES, 0x4814, "GUEST_ES_AR_BYTES"},
		{GUEST_CS_AR_BYTES, 0x4816, "GUEST_CS_AR_BYTES"},
		{GUEST_SS_AR_BYTES, 0x4818, "GUEST_SS_AR_BYTES"},
		{GUEST_DS_AR_BYTES, 0x481A, "GUEST_DS_AR_BYTES"},
		{GUEST_FS_AR_BYTES, 0x481C, "GUEST_FS_AR_BYTES"},
		{GUEST_GS_AR_BYTES, 0x481E, "GUEST_GS_AR_BYTES"},
		{GUEST_LDTR_AR_BYTES, 0x4820, "GUEST_LDTR_AR_BYTES"},
		{GUEST_TR_AR_BYTES, 0x4822, "GUEST_TR_AR_BYTES"},
		{GUEST_INTERRUPTIBILITY_INFO, 0x4824, "GUEST_INTERRUPTIBILITY_INFO"},
		{GUEST_ACTIVITY_STATE, 0x4826, "GUEST_ACTIVITY_STATE"},
		{GUEST_SMBASE, 0x4828, "GUEST_SMBASE"},
		{GUEST_SYSENTER_CS, 0x482A, "GUEST_SYSENTER_CS"},
		{VMX_PREEMPTION_TIMER_VALUE, 0x482E, "VMX_PREEMPTION_TIMER_VALUE"},
	}},
	{"B.3.4 32-bit host-state", WIDTH_32, TYPE_HOST, []fieldCase{
		{HOST_IA32_SYSENTER_CS, 0x4C00, "HOST_IA32_SYSENTER_CS"},
	}},
	{"B.4.1 natural-width control", WIDTH_NATURAL, TYPE_CONTROL, []fieldCase{
		{CR0_GUEST_HOST_MASK, 0x6000, "CR0_GUEST_HOST_MASK"},
		{CR4_GUEST_HOST_MASK, 0x6002, "CR4_GUEST_HOST_MASK"},
		{CR0_READ_SHADOW, 0x6004, "CR0_READ_SHADOW"},
		{CR4_READ_SHADOW, 0x6006, "CR4_READ_SHADOW"},
		{CR3_TARGET_VALUE0, 0x6008, "CR3_TARGET_VALUE0"},
		{CR3_TARGET_VALUE1, 0x600A, "CR3_TARGET_VALUE1"},
		{CR3_TARGET_VALUE2, 0x600C, "CR3_TARGET_VALUE2"},
		{CR3_TARGET_VALUE3, 0x600E, "CR3_TARGET_VALUE3"},
	}},
	{"B.4.2 natural-width read-only data", WIDTH_NATURAL, TYPE_EXIT_INFO, []fieldCase{
		{EXIT_QUALIFICATION, 0x6400, "EXIT_QUALIFICATION"},
		{IO_RCX, 0x6402, "IO_RCX"},
		{IO_RSI, 0x6404, "IO_RSI"},
		{IO_RDI, 0x6406, "IO_RDI"},
		{IO_RIP, 0x6408, "IO_RIP"},
		{GUEST_LINEAR_ADDRESS, 0x640A, "GUEST_LINEAR_ADDRESS"},
	}},
	{"B.4.3 natural-width guest-state", WIDTH_NATURAL, TYPE_GUEST, []fieldCase{
		{GUEST_CR0, 0x6800, "GUEST_CR0"},
		{GUEST_CR3, 0x6802, "GUEST_CR3"},
		{GUEST_CR4, 0x6804, "GUEST_CR4"},
		{GUEST_ES_BASE, 0x6806, "GUEST_ES_BASE"},
		{GUEST_CS_BASE, 0x6808, "GUEST_CS_BASE"},
		{GUEST_SS_BASE, 0x680A, "GUEST_SS_BASE"},
		{GUEST_DS_BASE, 0x680C, "GUEST_DS_BASE"},
		{GUEST_FS_BASE, 0x680E, "GUEST_FS_BASE"},
		{GUEST_GS_BASE, 0x6810, "GUEST_GS_BASE"},
		{GUEST_LDTR_BASE, 0x6812, "GUEST_LDTR_BASE"},
		{GUEST_TR_BASE, 0x6814, "GUEST_TR_BASE"},
		{GUEST_GDTR_BASE, 0x6816, "GUEST_GDTR_BASE"},
		{GUEST_IDTR_BASE, 0x6818, "GUEST_IDTR_BASE"},
		{GUEST_DR7, 0x681A, "GUEST_DR7"},
		{GUEST_RSP, 0x681C, "GUEST_RSP"},
		{GUEST_RIP, 0x681E, "GUEST_RIP"},
		{GUEST_RFLAGS, 0x6820, "GUEST_RFLAGS"},
		{GUEST_PENDING_DBG_EXCEPTIONS, 0x6822, "GUEST_PENDING_DBG_EXCEPTIONS"},
		{GUEST_SYSENTER_ESP, 0x6824, "GUEST_SYSENTER_ESP"},
		{GUEST_SYSENTER_EIP, 0x6826, "GUEST_SYSENTER_EIP"},
		{GUEST_S_CET, 0x6828, "GUEST_S_CET"},
		{GUEST_SSP, 0x682A, "GUEST_SSP"},
		{GUEST_INTR_SSP_TABLE_ADDR, 0x682C, "GUEST_INTR_SSP_TABLE_ADDR"},
	}},
	{"B.4.4 natural-width host-state", WIDTH_NATURAL, TYPE_HOST, []fieldCase{
		{HOST_CR0, 0x6C00, "HOST_CR0"},
		{HOST_CR3, 0x6C02, "HOST_CR3"},
		{HOST_CR4, 0x6C04, "HOST_CR4"},
		{HOST_FS_BASE, 0x6C06, "HOST_FS_BASE"},
		{HOST_GS_BASE, 0x6C08, "HOST_GS_BASE"},
		{HOST_TR_BASE, 0x6C0A, "HOST_TR_BASE"},
		{HOST_GDTR_BASE, 0x6C0C, "HOST_GDTR_BASE"},
		{HOST_IDTR_BASE, 0x6C0E, "HOST_IDTR_BASE"},
		{HOST_IA32_SYSENTER_ESP, 0x6C10, "HOST_IA32_SYSENTER_ESP"},
		{HOST_IA32_SYSENTER_EIP, 0x6C12, "HOST_IA32_SYSENTER_EIP"},
		{HOST_RSP, 0x6C14, "HOST_RSP"},
		{HOST_RIP, 0x6C16, "HOST_RIP"},
		{HOST_S_CET, 0x6C18, "HOST_S_CET"},
		{HOST_SSP, 0x6C1A, "HOST_SSP"},
		{HOST_INTR_SSP_TABLE_ADDR, 0x6C1C, "HOST_INTR_SSP_TABLE_ADDR"},
	}},
}

func TestFieldEncodings(t *testing.T) {
	byEnc := map[Field]string{}
	byName := map[string]bool{}
	for _, g := range sdmFields {
		prev := -1
		for _, c := range g.fields {
			if uint32(c.f) != c.enc {
				t.Errorf("%s = %#x, SDM %s says %#04x", c.name, uint32(c.f), g.section, c.enc)
			}
			if c.f.Width() != g.width || c.f.Type() != g.typ {
				t.Errorf("%s (%#x) decodes as %v %v, SDM puts it in %s", c.name, c.enc, c.f.Width(), c.f.Type(), g.section)
			}
			if !c.f.Valid() || c.f.High() {
				t.Errorf("%s (%#x): malformed encoding", c.name, c.enc)
			}
			if got := c.f.String(); got != c.name {
				t.Errorf("%#x String() = %q, want %q", c.enc, got, c.name)
			}
			// The index is bits 9:1, and the SDM lists each table in
			// increasing index order.
			if idx := int(c.f.Index()); idx != int(c.enc>>1&0x1ff) || idx <= prev {
				t.Errorf("%s: index %d after %d in %s", c.name, idx, prev, g.section)
			} else {
				prev = idx
			}
			if other, dup := byEnc[c.f]; dup {
				t.Errorf("%s and %s share encoding %#x", c.name, other, c.enc)
			}
			byEnc[c.f] = c.name
			if byName[c.name] {
				t.Errorf("%s listed twice", c.name)
			}
			byName[c.name] = true
		}
	}

	// fieldNames (used by String) is sorted and names exactly the fields
	// of the table.
	if len(fieldNames) != len(byEnc) {
		t.Errorf("fieldNames has %d entries, the SDM table %d", len(fieldNames), len(byEnc))
	}
	for i, n := range fieldNames {
		if i > 0 && fieldNames[i-1].f >= n.f {
			t.Errorf("fieldNames not sorted at %s", n.name)
		}
		if byEnc[n.f] != n.name {
			t.Errorf("fieldNames: %s = %#x, table says %q", n.name, uint32(n.f), byEnc[n.f])
		}
	}

	// Every Field constant declared in fields.go is in the table.
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "fields.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, d := range file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Field" {
				continue
			}
			for _, n := range vs.Names {
				declared++
				if !byName[n.Name] {
					t.Errorf("%s is declared in fields.go but missing from the SDM table test", n.Name)
				}
			}
		}
	}
	if declared != len(byName) {
		t.Errorf("fields.go declares %d Field constants, the test lists %d", declared, len(byName))
	}
}

// TestFieldIndexFamilies checks that the per-segment fields line up: the
// selector, limit, access rights and base of one segment register have
// indexes at a fixed distance in every group (Appendix B lists them in
// the order ES, CS, SS, DS, FS, GS, LDTR, TR).
func TestFieldIndexFamilies(t *testing.T) {
	type seg struct {
		name                    string
		sel, limit, ar, base    Field
		hostSel, hostBase       Field
		hasHostSel, hasHostBase bool
	}
	segs := []seg{
		{"ES", GUEST_ES_SELECTOR, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES, GUEST_ES_BASE, HOST_ES_SELECTOR, 0, true, false},
		{"CS", GUEST_CS_SELECTOR, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES, GUEST_CS_BASE, HOST_CS_SELECTOR, 0, true, false},
		{"SS", GUEST_SS_SELECTOR, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES, GUEST_SS_BASE, HOST_SS_SELECTOR, 0, true, false},
		{"DS", GUEST_DS_SELECTOR, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES, GUEST_DS_BASE, HOST_DS_SELECTOR, 0, true, false},
		{"FS", GUEST_FS_SELECTOR, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES, GUEST_FS_BASE, HOST_FS_SELECTOR, HOST_FS_BASE, true, true},
		{"GS", GUEST_GS_SELECTOR, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES, GUEST_GS_BASE, HOST_GS_SELECTOR, HOST_GS_BASE, true, true},
		{"LDTR", GUEST_LDTR_SELECTOR, GUEST_LDTR_LIMIT, GUEST_LDTR_AR_BYTES, GUEST_LDTR_BASE, 0, 0, false, false},
		{"TR", GUEST_TR_SELECTOR, GUEST_TR_LIMIT, GUEST_TR_AR_BYTES, GUEST_TR_BASE, HOST_TR_SELECTOR, HOST_TR_BASE, true, true},
	}
	for i, s := range segs {
		if int(s.sel.Index()) != i || int(s.limit.Index()) != i || int(s.ar.Index()) != 10+i || int(s.base.Index()) != 3+i {
			t.Errorf("%s: indexes sel %d limit %d ar %d base %d", s.name, s.sel.Index(), s.limit.Index(), s.ar.Index(), s.base.Index())
		}
		// The host has no LDTR: TR moves up one selector slot.
		if s.hasHostSel {
			want := i
			if s.name == "TR" {
				want = 6
			}
			if int(s.hostSel.Index()) != want {
				t.Errorf("HOST_%s_SELECTOR index %d, want %d", s.name, s.hostSel.Index(), want)
			}
		}
		if s.hasHostBase && s.hostBase.Type() != TYPE_HOST {
			t.Errorf("HOST_%s_BASE not host-state", s.name)
		}
	}
	if GUEST_GDTR_LIMIT.Index() != 8 || GUEST_IDTR_LIMIT.Index() != 9 || GUEST_GDTR_BASE.Index() != 11 || GUEST_IDTR_BASE.Index() != 12 {
		t.Error("descriptor-table register indexes")
	}
	// Guest and host CR0/CR3/CR4 share indexes 0, 1, 2.
	for i, p := range [][2]Field{{GUEST_CR0, HOST_CR0}, {GUEST_CR3, HOST_CR3}, {GUEST_CR4, HOST_CR4}} {
		if int(p[0].Index()) != i || int(p[1].Index()) != i {
			t.Errorf("CR pair %d: %v %v", i, p[0], p[1])
		}
	}
}

func TestFieldMethods(t *testing.T) {
	if h := IO_BITMAP_A.HighHalf(); h != 0x2001 || !h.High() || !h.Valid() || h.String() != "IO_BITMAP_A_HIGH" || h.Index() != IO_BITMAP_A.Index() {
		t.Errorf("IO_BITMAP_A high half %#x %q", uint32(h), h.String())
	}
	if GUEST_RIP.HighHalf() != GUEST_RIP || VM_EXIT_REASON.HighHalf() != VM_EXIT_REASON {
		t.Error("HighHalf of a non-64-bit field changed it")
	}
	for _, f := range []Field{0x6801, 0x4001, 0x0001, 0x1000, 0x8000, 0x1_0000, 0xffff_ffff} {
		if f.Valid() {
			t.Errorf("%#x accepted as well formed", uint32(f))
		}
		if s := f.String(); !strings.HasPrefix(s, "vmcs-field:") {
			t.Errorf("%#x String %q", uint32(f), s)
		}
	}
	// A well-formed encoding this package does not name.
	if s := Field(0x482C).String(); s != "vmcs-field:0x482c(32-bit guest-state index 22)" {
		t.Errorf("unnamed field: %q", s)
	}
	if s := Field(0x2401).String(); s != "GUEST_PHYSICAL_ADDRESS_HIGH" {
		t.Errorf("%q", s)
	}
	for w, want := range []string{"16-bit", "64-bit", "32-bit", "natural-width"} {
		if FieldWidth(w).String() != want {
			t.Errorf("width %d: %v", w, FieldWidth(w))
		}
	}
	for ty, want := range []string{"control", "read-only data", "guest-state", "host-state"} {
		if FieldType(ty).String() != want {
			t.Errorf("type %d: %v", ty, FieldType(ty))
		}
	}
}
