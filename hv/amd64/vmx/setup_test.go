// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

const setupPoolBase = hv.PA(0x80_0000)

func setupPool() (*vmm.RAMPool, *testMem) {
	mem := newTestMem(setupPoolBase, vmm.RAMAlign)
	return vmm.NewRAMPool([]hv.Region{{Base: setupPoolBase, Size: vmm.RAMAlign}}), mem
}

func TestSetup(t *testing.T) {
	f := newFakeHost(t)
	pool, mem := setupPool()
	ops, err := SetupHost(f.host(), pool, mem, mem.view)
	if err != nil {
		t.Fatal(err)
	}
	// IA32_FEATURE_CONTROL was unlocked: enabled and locked.
	if f.msrs[IA32_FEATURE_CONTROL] != FEATURE_CONTROL_LOCKED|FEATURE_CONTROL_VMXON_OUTSIDE_SMX {
		t.Errorf("IA32_FEATURE_CONTROL %#x", f.msrs[IA32_FEATURE_CONTROL])
	}
	// CR0.NE (FIXED0) and CR4.VMXE.
	if f.cr0&CR0_NE == 0 || f.cr4&CR4_VMXE == 0 || f.cr4&CR4_PAE == 0 {
		t.Errorf("CR0 %#x CR4 %#x", f.cr0, f.cr4)
	}
	// VMXON on a region holding the revision identifier.
	if len(f.vmxonAt) != 1 || f.vmxonAt[0] != setupPoolBase || mem.Read64(setupPoolBase) != testBasic&0x7fff_ffff {
		t.Errorf("VMXON %v region %#x", f.vmxonAt, mem.Read64(setupPoolBase))
	}
	// A TSS was installed: new GDT with the old descriptors and a TSS
	// descriptor at selector 0x18.
	gdt := mem.view(setupPoolBase+hv.PageSize, hv.PageSize)
	if f.loadedGDT != [3]uint64{addrOf(gdt), 5*8 - 1, 0x18} {
		t.Errorf("LoadGDT %#x", f.loadedGDT)
	}
	if !slices.Equal(gdt[:24], f.oldGDT) {
		t.Error("old descriptors not kept")
	}
	tss := addrOf(gdt[hostTSSOff:])
	lo := binary.LittleEndian.Uint64(gdt[24:])
	if systemDescriptorBase(gdt[24:40]) != tss || lo>>40&0xff != 0x89 || lo&0xffff != hostTSSLimit {
		t.Errorf("TSS descriptor %#x %#x", lo, binary.LittleEndian.Uint64(gdt[32:]))
	}
	if binary.LittleEndian.Uint16(gdt[hostTSSOff+tssIOMapBase:]) != hostTSSSize {
		t.Error("TSS I/O map base")
	}
	hs := ops.Host
	want := HostState{CR0: f.cr0, CR3: f.cr3, CR4: f.cr4, CS: 8, SS: 0x10, DS: 0x10, ES: 0x10, TR: 0x18,
		FSBase: 0x4000_1000, TRBase: tss, GDTRBase: addrOf(gdt), IDTRBase: 0x12_4000,
		EFER: f.msrs[IA32_EFER], PAT: defaultPAT, RIP: f.exitRIP}
	if hs != want {
		t.Errorf("host state\n got %+v\nwant %+v", hs, want)
	}
	// The host state passes the host checks.
	s := NewMapVMCS()
	writeHost(s, &hs)
	for f, v := range map[Field]uint64{VM_EXIT_CONTROLS: uint64(ops.Controls.Exit)} {
		s.Write(f, v)
	}
	c := &entryChecker{s: s, caps: ops.Caps}
	c.checkHost()
	if len(c.errs) != 0 {
		t.Error(c.errs)
	}
	if ops.inveptType != INVEPT_SINGLE_CONTEXT || ops.invvpidType != INVVPID_SINGLE_CONTEXT {
		t.Error("invalidation types")
	}
}

func TestSetupKeepsExistingTR(t *testing.T) {
	f := newFakeHost(t)
	lo, hi := tssDescriptor(0xffff_8000_1234_5678, hostTSSLimit)
	f.oldGDT = binary.LittleEndian.AppendUint64(f.oldGDT, lo)
	f.oldGDT = binary.LittleEndian.AppendUint64(f.oldGDT, hi)
	f.segs.GDTRLimit, f.segs.TR = 5*8-1, 0x18
	f.msrs[IA32_FEATURE_CONTROL] = FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_OUTSIDE_SMX
	pool, mem := setupPool()
	ops, err := SetupHost(f.host(), pool, mem, mem.view)
	if err != nil {
		t.Fatal(err)
	}
	if f.loadedGDT != [3]uint64{} || ops.Host.TR != 0x18 || ops.Host.TRBase != 0xffff_8000_1234_5678 {
		t.Errorf("TR %#x base %#x, LoadGDT %#x", ops.Host.TR, ops.Host.TRBase, f.loadedGDT)
	}
	if slices.Contains(f.msrWrites, IA32_FEATURE_CONTROL) {
		t.Error("locked IA32_FEATURE_CONTROL written")
	}
}

func TestSetupErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*fakeHost)
		want error
		msg  string
	}{
		{"no VMX", func(f *fakeHost) { f.cpuidECX = 0x80 }, ErrNoVMX, "CPUID.1:ECX=0x80"},
		{"locked off", func(f *fakeHost) { f.msrs[IA32_FEATURE_CONTROL] = FEATURE_CONTROL_LOCKED }, ErrVMXDisabled, "IA32_FEATURE_CONTROL=0x1"},
		{"no unrestricted guest", func(f *fakeHost) { f.msrs[IA32_VMX_PROCBASED_CTLS2] &^= PROC2_UNRESTRICTED_GUEST << 32 }, ErrControls, "missing 0x80"},
		{"no EPT WB", func(f *fakeHost) { f.msrs[IA32_VMX_EPT_VPID_CAP] &^= EPT_CAP_MEMTYPE_WB }, ErrEPTCaps, "IA32_VMX_EPT_VPID_CAP=0xf0106330141"},
		{"VMXON fails", func(f *fakeHost) { f.vmxonSt = VMFAIL_INVALID }, ErrVMXON, "VMfailInvalid"},
		{"host selector RPL", func(f *fakeHost) { f.segs.DS = 0x13 }, ErrHostSegs, "0x13"},
		{"GDT too large", func(f *fakeHost) { f.segs.GDTRLimit = 0x7ff }, ErrHostSegs, "GDT limit 0x7ff"},
	} {
		f := newFakeHost(t)
		c.mod(f)
		pool, mem := setupPool()
		_, err := SetupHost(f.host(), pool, mem, mem.view)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// An empty pool.
	f := newFakeHost(t)
	mem := newTestMem(setupPoolBase, vmm.RAMAlign)
	if _, err := SetupHost(f.host(), vmm.NewRAMPool(nil), mem, mem.view); err == nil {
		t.Error("setup without memory")
	}
}

func TestTSSDescriptor(t *testing.T) {
	// Base 0x0000_0012_3456_789a, limit 0x67: type 9, P, byte granular
	// (Vol. 3A, 8.2.3, "Format of TSS and LDT Descriptors in 64-bit
	// Mode").
	lo, hi := tssDescriptor(0x0000_0012_3456_789a, 0x67)
	if lo != 0x3400_8956_789a_0067 || hi != 0x12 {
		t.Errorf("descriptor %#x %#x", lo, hi)
	}
	var d [16]byte
	binary.LittleEndian.PutUint64(d[:], lo)
	binary.LittleEndian.PutUint64(d[8:], hi)
	if systemDescriptorBase(d[:]) != 0x0000_0012_3456_789a {
		t.Error("round trip")
	}
}

func TestRunStatus(t *testing.T) {
	for _, c := range []struct {
		s    RunStatus
		st   Status
		step int
	}{
		{0, VMSUCCEED, 0},
		{RUN_CF | RUN_STEP_VMPTRLD<<RUN_STEP_SHIFT, VMFAIL_INVALID, RUN_STEP_VMPTRLD},
		{RUN_ZF | RUN_STEP_ENTRY<<RUN_STEP_SHIFT, VMFAIL_VALID, RUN_STEP_ENTRY},
		{RUN_STEP_HOST_RSP << RUN_STEP_SHIFT, VMFAIL_INVALID, RUN_STEP_HOST_RSP},
	} {
		if c.s.Status() != c.st || c.s.Step() != c.step {
			t.Errorf("%#x: %v step %d", uint32(c.s), c.s.Status(), c.s.Step())
		}
	}
	if VMFAIL_VALID.String() != "VMfailValid" || Status(9).String() != "vmx-status(9)" {
		t.Error("Status.String")
	}
}

func TestAccessRights(t *testing.T) {
	a := NewAccessRights(SEG_TYPE_CODE_RX_ACCESSED, true, 3, true, false, true)
	if a != 0xa0fb || a.Type() != 11 || !a.S() || a.DPL() != 3 || !a.Present() || !a.Long() || a.DB() || !a.Granular() || a.Unusable() || a.Reserved() != 0 {
		t.Errorf("access rights %#x", uint32(a))
	}
	if AccessRights(AR_UNUSABLE|0xf00).Reserved() != 0xf00 || !AccessRights(AR_UNUSABLE).Unusable() {
		t.Error("unusable/reserved")
	}
}
