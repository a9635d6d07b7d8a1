// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"encoding/binary"
	"reflect"
	"testing"
)

type fieldOff struct {
	name string
	off  uintptr // VMCB offset (APM Vol. 2, Appendix B)
	size int
}

// APM Vol. 2, Table B-1 "VMCB Layout, Control Area".
var controlOffsets = []fieldOff{
	{"InterceptCR", 0x000, 4},
	{"InterceptDR", 0x004, 4},
	{"InterceptExceptions", 0x008, 4},
	{"InterceptMisc1", 0x00c, 4},
	{"InterceptMisc2", 0x010, 4},
	{"InterceptMisc3", 0x014, 4},
	{"PauseFilterThreshold", 0x03c, 2},
	{"PauseFilterCount", 0x03e, 2},
	{"IOPMBasePA", 0x040, 8},
	{"MSRPMBasePA", 0x048, 8},
	{"TSCOffset", 0x050, 8},
	{"GuestASID", 0x058, 4},
	{"TLBControl", 0x05c, 1},
	{"VIntr", 0x060, 8},
	{"InterruptShadow", 0x068, 8},
	{"ExitCode", 0x070, 8},
	{"ExitInfo1", 0x078, 8},
	{"ExitInfo2", 0x080, 8},
	{"ExitIntInfo", 0x088, 8},
	{"NPEnable", 0x090, 8},
	{"AVICAPICBar", 0x098, 8},
	{"GHCBGPA", 0x0a0, 8},
	{"EventInj", 0x0a8, 8},
	{"NCR3", 0x0b0, 8},
	{"LBRVirt", 0x0b8, 8},
	{"VMCBClean", 0x0c0, 4},
	{"NextRIP", 0x0c8, 8},
	{"GuestInstrLen", 0x0d0, 1},
	{"GuestInstrBytes", 0x0d1, 15},
	{"AVICBackingPage", 0x0e0, 8},
	{"AVICLogicalTable", 0x0f0, 8},
	{"AVICPhysicalTable", 0x0f8, 8},
	{"VMSAPointer", 0x108, 8},
}

// APM Vol. 2, Table B-2 "VMCB Layout, State Save Area" (VMCB offsets).
var saveOffsets = []fieldOff{
	{"ES", 0x400, 16},
	{"CS", 0x410, 16},
	{"SS", 0x420, 16},
	{"DS", 0x430, 16},
	{"FS", 0x440, 16},
	{"GS", 0x450, 16},
	{"GDTR", 0x460, 16},
	{"LDTR", 0x470, 16},
	{"IDTR", 0x480, 16},
	{"TR", 0x490, 16},
	{"CPL", 0x4cb, 1},
	{"EFER", 0x4d0, 8},
	{"CR4", 0x548, 8},
	{"CR3", 0x550, 8},
	{"CR0", 0x558, 8},
	{"DR7", 0x560, 8},
	{"DR6", 0x568, 8},
	{"RFLAGS", 0x570, 8},
	{"RIP", 0x578, 8},
	{"RSP", 0x5d8, 8},
	{"SCET", 0x5e0, 8},
	{"SSP", 0x5e8, 8},
	{"ISSTAddr", 0x5f0, 8},
	{"RAX", 0x5f8, 8},
	{"STAR", 0x600, 8},
	{"LSTAR", 0x608, 8},
	{"CSTAR", 0x610, 8},
	{"SFMASK", 0x618, 8},
	{"KernelGSBase", 0x620, 8},
	{"SysenterCS", 0x628, 8},
	{"SysenterESP", 0x630, 8},
	{"SysenterEIP", 0x638, 8},
	{"CR2", 0x640, 8},
	{"GPAT", 0x668, 8},
	{"DBGCTL", 0x670, 8},
	{"BRFrom", 0x678, 8},
	{"BRTo", 0x680, 8},
	{"LastExcpFrom", 0x688, 8},
	{"LastExcpTo", 0x690, 8},
}

func checkOffsets(t *testing.T, typ reflect.Type, base uintptr, want []fieldOff) {
	t.Helper()
	named := 0
	for i := 0; i < typ.NumField(); i++ {
		if typ.Field(i).Name != "_" {
			named++
		}
	}
	if named != len(want) {
		t.Errorf("%v has %d named fields, the offset table %d", typ, named, len(want))
	}
	for _, w := range want {
		f, ok := typ.FieldByName(w.name)
		if !ok {
			t.Errorf("%v.%s missing", typ, w.name)
			continue
		}
		if got := base + f.Offset; got != w.off {
			t.Errorf("%v.%s at VMCB offset %#x, APM says %#x", typ, w.name, got, w.off)
		}
		if got := int(f.Type.Size()); got != w.size {
			t.Errorf("%v.%s is %d bytes, want %d", typ, w.name, got, w.size)
		}
	}
}

func TestVMCBLayout(t *testing.T) {
	vt := reflect.TypeOf(VMCB{})
	ctl, _ := vt.FieldByName("Control")
	save, _ := vt.FieldByName("Save")
	if ctl.Offset != 0 || save.Offset != VMCBSaveOffset {
		t.Fatalf("Control at %#x, Save at %#x", ctl.Offset, save.Offset)
	}
	checkOffsets(t, reflect.TypeOf(ControlArea{}), 0, controlOffsets)
	checkOffsets(t, reflect.TypeOf(SaveArea{}), VMCBSaveOffset, saveOffsets)
	checkOffsets(t, reflect.TypeOf(Segment{}), 0, []fieldOff{
		{"Selector", 0, 2}, {"Attrib", 2, 2}, {"Limit", 4, 4}, {"Base", 8, 8},
	})

	for _, c := range []struct {
		name string
		v    any
		size int
	}{
		{"VMCB", VMCB{}, VMCBSize},
		{"ControlArea", ControlArea{}, VMCBControlSize},
		{"SaveArea", SaveArea{}, saveAreaSize},
		{"Segment", Segment{}, 16},
	} {
		if got := binary.Size(c.v); got != c.size {
			t.Errorf("binary.Size(%s) = %#x, want %#x", c.name, got, c.size)
		}
		if got := int(reflect.TypeOf(c.v).Size()); got != c.size {
			t.Errorf("in-memory size of %s = %#x, want %#x", c.name, got, c.size)
		}
	}
}

func TestVMCBEncoding(t *testing.T) {
	// Encoding with encoding/binary must put each field where the
	// hardware reads it.
	var v VMCB
	v.Control.InterceptMisc1 = 1<<INTERCEPT_CPUID | 1<<INTERCEPT_HLT | 1<<INTERCEPT_SHUTDOWN
	v.Control.InterceptMisc2 = 1<<INTERCEPT_VMRUN | 1<<INTERCEPT_VMMCALL
	v.Control.GuestASID = 1
	v.Control.TLBControl = TLB_CONTROL_FLUSH_GUEST
	v.Control.NPEnable = NP_ENABLE
	v.Control.NCR3 = 0x1234_5000
	v.Control.EventInj = InjectException(VECTOR_GP, 0, true)
	v.Save.CS = Segment{Selector: 0x8, Attrib: SegmentAttrib(SEG_TYPE_CODE_RX, true, true, true, false, true, 0), Limit: 0xffff_ffff}
	v.Save.CPL = 3
	v.Save.EFER = EFER_SVME | EFER_LME | EFER_LMA
	v.Save.RIP = 0x1000
	v.Save.RAX = 0xdead_beef
	v.Save.LastExcpTo = 0x5555

	b, err := binary.Append(nil, binary.LittleEndian, &v)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != VMCBSize {
		t.Fatalf("encoded %d bytes", len(b))
	}
	le := binary.LittleEndian
	for _, c := range []struct {
		off  int
		size int
		want uint64
	}{
		{0x00c, 4, 1<<18 | 1<<24 | 1<<31},
		{0x010, 4, 0b11},
		{0x058, 4, 1},
		{0x05c, 1, 3},
		{0x090, 8, 1},
		{0x0a8, 8, 0x8000_0b0d},
		{0x0b0, 8, 0x1234_5000},
		{0x410, 2, 0x8},
		{0x412, 2, 0xa9b},
		{0x414, 4, 0xffff_ffff},
		{0x4cb, 1, 3},
		{0x4d0, 8, 0x1500},
		{0x578, 8, 0x1000},
		{0x5f8, 8, 0xdead_beef},
		{0x690, 8, 0x5555},
	} {
		var got uint64
		switch c.size {
		case 1:
			got = uint64(b[c.off])
		case 2:
			got = uint64(le.Uint16(b[c.off:]))
		case 4:
			got = uint64(le.Uint32(b[c.off:]))
		case 8:
			got = le.Uint64(b[c.off:])
		}
		if got != c.want {
			t.Errorf("byte offset %#x = %#x, want %#x", c.off, got, c.want)
		}
	}
	var back VMCB
	if _, err := binary.Decode(b, binary.LittleEndian, &back); err != nil {
		t.Fatal(err)
	}
	if back != v {
		t.Error("decode(encode(vmcb)) differs")
	}
}

func TestSegmentAttrib(t *testing.T) {
	for _, c := range []struct {
		name           string
		typ            uint8
		s, p, l, db, g bool
		dpl            uint8
		want           SegAttrib
	}{
		// 64-bit ring 0 code: type B, S, P, L, G -> 0xA9B.
		{"code64", SEG_TYPE_CODE_RX, true, true, true, false, true, 0, 0xa9b},
		// flat 32-bit ring 0 data: type 3, S, P, D/B, G -> 0xC93.
		{"data32", SEG_TYPE_DATA_RW, true, true, false, true, true, 0, 0xc93},
		// 32-bit ring 3 code -> 0xCFB.
		{"code32 ring3", SEG_TYPE_CODE_RX, true, true, false, true, true, 3, 0xcfb},
		// real-mode code at reset: type B (accessed), S, P -> 0x9B.
		{"real mode code", SEG_TYPE_CODE_RX, true, true, false, false, false, 0, 0x9b},
		// busy 64-bit TSS: system segment type B, P -> 0x8B.
		{"tss", SEG_TYPE_TSS64_BUSY, false, true, false, false, false, 0, 0x8b},
		// LDT: type 2, P -> 0x82.
		{"ldt", SEG_TYPE_LDT, false, true, false, false, false, 0, 0x82},
		// out-of-range type and dpl are truncated.
		{"truncated", 0xff, false, false, false, false, false, 0xff, 0x6f},
	} {
		a := SegmentAttrib(c.typ, c.s, c.p, c.l, c.db, c.g, c.dpl)
		if a != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, uint16(a), uint16(c.want))
			continue
		}
		if a.Type() != c.typ&0xf || a.S() != c.s || a.P() != c.p || a.L() != c.l ||
			a.DB() != c.db || a.G() != c.g || a.DPL() != c.dpl&3 {
			t.Errorf("%s: decodes as %v", c.name, a)
		}
	}
	if s := SegAttrib(0xa9b).String(); s != "attr:0xa9b type=0xb s=true dpl=0 p=true l=true db=false g=true" {
		t.Errorf("String %q", s)
	}
}
