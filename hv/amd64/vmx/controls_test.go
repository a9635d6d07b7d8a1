// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"errors"
	"strings"
	"testing"
)

// Control bit positions as the tables of Intel SDM Vol. 3C 25.6-25.8
// number them.
func TestControlBits(t *testing.T) {
	for _, c := range []struct {
		name string
		mask uint32
		bit  uint
	}{
		{"PIN_EXTERNAL_INTERRUPT_EXITING", PIN_EXTERNAL_INTERRUPT_EXITING, 0},
		{"PIN_NMI_EXITING", PIN_NMI_EXITING, 3},
		{"PIN_VIRTUAL_NMIS", PIN_VIRTUAL_NMIS, 5},
		{"PIN_ACTIVATE_PREEMPTION_TIMER", PIN_ACTIVATE_PREEMPTION_TIMER, 6},
		{"PROC_INTERRUPT_WINDOW_EXITING", PROC_INTERRUPT_WINDOW_EXITING, 2},
		{"PROC_USE_TSC_OFFSETTING", PROC_USE_TSC_OFFSETTING, 3},
		{"PROC_HLT_EXITING", PROC_HLT_EXITING, 7},
		{"PROC_INVLPG_EXITING", PROC_INVLPG_EXITING, 9},
		{"PROC_MWAIT_EXITING", PROC_MWAIT_EXITING, 10},
		{"PROC_RDPMC_EXITING", PROC_RDPMC_EXITING, 11},
		{"PROC_RDTSC_EXITING", PROC_RDTSC_EXITING, 12},
		{"PROC_CR3_LOAD_EXITING", PROC_CR3_LOAD_EXITING, 15},
		{"PROC_CR3_STORE_EXITING", PROC_CR3_STORE_EXITING, 16},
		{"PROC_CR8_LOAD_EXITING", PROC_CR8_LOAD_EXITING, 19},
		{"PROC_CR8_STORE_EXITING", PROC_CR8_STORE_EXITING, 20},
		{"PROC_USE_TPR_SHADOW", PROC_USE_TPR_SHADOW, 21},
		{"PROC_NMI_WINDOW_EXITING", PROC_NMI_WINDOW_EXITING, 22},
		{"PROC_MOV_DR_EXITING", PROC_MOV_DR_EXITING, 23},
		{"PROC_UNCONDITIONAL_IO_EXITING", PROC_UNCONDITIONAL_IO_EXITING, 24},
		{"PROC_USE_IO_BITMAPS", PROC_USE_IO_BITMAPS, 25},
		{"PROC_MONITOR_TRAP_FLAG", PROC_MONITOR_TRAP_FLAG, 27},
		{"PROC_USE_MSR_BITMAPS", PROC_USE_MSR_BITMAPS, 28},
		{"PROC_MONITOR_EXITING", PROC_MONITOR_EXITING, 29},
		{"PROC_PAUSE_EXITING", PROC_PAUSE_EXITING, 30},
		{"PROC_ACTIVATE_SECONDARY_CONTROLS", PROC_ACTIVATE_SECONDARY_CONTROLS, 31},
		{"PROC2_ENABLE_EPT", PROC2_ENABLE_EPT, 1},
		{"PROC2_DESCRIPTOR_TABLE_EXITING", PROC2_DESCRIPTOR_TABLE_EXITING, 2},
		{"PROC2_ENABLE_RDTSCP", PROC2_ENABLE_RDTSCP, 3},
		{"PROC2_ENABLE_VPID", PROC2_ENABLE_VPID, 5},
		{"PROC2_UNRESTRICTED_GUEST", PROC2_UNRESTRICTED_GUEST, 7},
		{"PROC2_ENABLE_INVPCID", PROC2_ENABLE_INVPCID, 12},
		{"PROC2_ENABLE_XSAVES_XRSTORS", PROC2_ENABLE_XSAVES_XRSTORS, 20},
		{"EXIT_SAVE_DEBUG_CONTROLS", EXIT_SAVE_DEBUG_CONTROLS, 2},
		{"EXIT_HOST_ADDRESS_SPACE_SIZE", EXIT_HOST_ADDRESS_SPACE_SIZE, 9},
		{"EXIT_ACK_INTERRUPT_ON_EXIT", EXIT_ACK_INTERRUPT_ON_EXIT, 15},
		{"EXIT_SAVE_IA32_PAT", EXIT_SAVE_IA32_PAT, 18},
		{"EXIT_LOAD_IA32_PAT", EXIT_LOAD_IA32_PAT, 19},
		{"EXIT_SAVE_IA32_EFER", EXIT_SAVE_IA32_EFER, 20},
		{"EXIT_LOAD_IA32_EFER", EXIT_LOAD_IA32_EFER, 21},
		{"ENTRY_LOAD_DEBUG_CONTROLS", ENTRY_LOAD_DEBUG_CONTROLS, 2},
		{"ENTRY_IA32E_MODE_GUEST", ENTRY_IA32E_MODE_GUEST, 9},
		{"ENTRY_LOAD_IA32_PAT", ENTRY_LOAD_IA32_PAT, 14},
		{"ENTRY_LOAD_IA32_EFER", ENTRY_LOAD_IA32_EFER, 15},
	} {
		if c.mask != 1<<c.bit {
			t.Errorf("%s = %#x, want bit %d", c.name, c.mask, c.bit)
		}
	}
	// The default1 classes (Vol. 3D, A.3-A.5) as bit lists.
	bits := func(ns ...int) (v uint32) {
		for _, n := range ns {
			v |= 1 << n
		}
		return v
	}
	if PIN_BASED_DEFAULT1 != bits(1, 2, 4) ||
		CPU_BASED_DEFAULT1 != bits(1, 4, 5, 6, 8, 13, 14, 15, 16, 26) ||
		VM_EXIT_DEFAULT1 != bits(0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 14, 16, 17) ||
		VM_ENTRY_DEFAULT1 != bits(0, 1, 2, 3, 4, 5, 6, 7, 8, 12) {
		t.Error("default1 masks")
	}
}

func TestAdjustControls(t *testing.T) {
	// IA32_VMX_ENTRY_CTLS of a Skylake-era processor: default1 bits must
	// be 1, bits 0-17 may be.
	const entryCap = 0x0003_ffff_0000_11ff
	got, err := AdjustControls(ENTRY_LOAD_IA32_PAT|ENTRY_LOAD_IA32_EFER|1<<20, ENTRY_IA32E_MODE_GUEST, entryCap)
	if err != nil || got != 0x11ff|ENTRY_IA32E_MODE_GUEST|ENTRY_LOAD_IA32_PAT|ENTRY_LOAD_IA32_EFER {
		t.Errorf("entry controls %#x, %v", got, err)
	}
	// A required bit the processor does not allow: the error names it.
	_, err = AdjustControls(0, ENTRY_IA32E_MODE_GUEST|1<<18|1<<20, entryCap)
	if !errors.Is(err, ErrControls) || !strings.Contains(err.Error(), "missing 0x140000") {
		t.Errorf("missing bits: %v", err)
	}
	// A bit of want the processor forbids is dropped.
	const procCap = 0xfff9_fffe_0401_e172
	got, err = AdjustControls(PROC_HLT_EXITING|PROC_USE_IO_BITMAPS|PROC_CR3_LOAD_EXITING|1<<0, PROC_ACTIVATE_SECONDARY_CONTROLS, procCap)
	if err != nil || got != CPU_BASED_DEFAULT1|PROC_HLT_EXITING|PROC_USE_IO_BITMAPS|PROC_ACTIVATE_SECONDARY_CONTROLS {
		t.Errorf("proc controls %#x, %v", got, err)
	}
	// The TRUE MSR lets CR3 exiting be cleared.
	const trueProcCap = 0xfff9_fffe_0400_6172
	got, err = AdjustControls(PROC_HLT_EXITING, 0, trueProcCap)
	if err != nil || got&(PROC_CR3_LOAD_EXITING|PROC_CR3_STORE_EXITING) != 0 || got&PROC_HLT_EXITING == 0 {
		t.Errorf("true proc controls %#x, %v", got, err)
	}
	// Must-be-1 but may-not-be-1 is nonsense.
	if _, err := AdjustControls(0, 0, 0x0000_0000_0000_0001); !errors.Is(err, ErrControls) {
		t.Errorf("inconsistent capability: %v", err)
	}
	if got, err := AdjustControls(0xffff_ffff, 0, 0); got != 0 || err != nil {
		t.Errorf("nothing allowed: %#x %v", got, err)
	}
}

func TestFixedCR(t *testing.T) {
	// Typical CR0 fixed MSRs: PE, NE, PG fixed to 1, everything allowed.
	const cr0Fixed0, cr0Fixed1 = 0x8000_0021, 0xffff_ffff
	if got := FixedCR(0x11, cr0Fixed0, cr0Fixed1); got != 0x8000_0031 {
		t.Errorf("CR0 %#x", got)
	}
	// CR4: VMXE fixed to 1; bits above 23 not allowed.
	const cr4Fixed0, cr4Fixed1 = 0x2000, 0x00ff_ffff
	if got := FixedCR(0xf000_0020, cr4Fixed0, cr4Fixed1); got != 0x2020 {
		t.Errorf("CR4 %#x", got)
	}
}

func TestBasic(t *testing.T) {
	b := Basic(0x00da_0400_0000_0012)
	if b.Revision() != 0x12 || b.RegionSize() != 1024 || b.MemoryType() != MEMTYPE_WB || !b.TrueControls() || !b.InsOutsInfo() || b.PhysAddr32() || b.NoErrorCodeCheck() {
		t.Errorf("basic %#x: rev %#x size %d type %d", uint64(b), b.Revision(), b.RegionSize(), b.MemoryType())
	}
	if pin, proc, exit, entry := b.ControlMSRs(); pin != 0x48d || proc != 0x48e || exit != 0x48f || entry != 0x490 {
		t.Errorf("true MSRs %#x %#x %#x %#x", pin, proc, exit, entry)
	}
	b = Basic(1<<31 | 0x1000<<32 | 1<<48 | 1<<56 | 0x7fff_ffff)
	if b.Revision() != 0x7fff_ffff || b.RegionSize() != 4096 || b.MemoryType() != MEMTYPE_UC || b.TrueControls() || !b.PhysAddr32() || !b.NoErrorCodeCheck() {
		t.Errorf("basic %#x", uint64(b))
	}
	if pin, proc, exit, entry := b.ControlMSRs(); pin != 0x481 || proc != 0x482 || exit != 0x483 || entry != 0x484 {
		t.Errorf("plain MSRs %#x %#x %#x %#x", pin, proc, exit, entry)
	}
	// MSR numbers (Vol. 4, Table 2-2).
	msrs := []uint32{IA32_VMX_BASIC, IA32_VMX_PINBASED_CTLS, IA32_VMX_PROCBASED_CTLS, IA32_VMX_EXIT_CTLS,
		IA32_VMX_ENTRY_CTLS, IA32_VMX_MISC, IA32_VMX_CR0_FIXED0, IA32_VMX_CR0_FIXED1, IA32_VMX_CR4_FIXED0,
		IA32_VMX_CR4_FIXED1, IA32_VMX_VMCS_ENUM, IA32_VMX_PROCBASED_CTLS2, IA32_VMX_EPT_VPID_CAP,
		IA32_VMX_TRUE_PINBASED_CTLS, IA32_VMX_TRUE_PROCBASED_CTLS, IA32_VMX_TRUE_EXIT_CTLS,
		IA32_VMX_TRUE_ENTRY_CTLS, IA32_VMX_VMFUNC}
	for i, m := range msrs {
		if m != 0x480+uint32(i) {
			t.Errorf("MSR %d = %#x", i, m)
		}
	}
	if IA32_FEATURE_CONTROL != 0x3a {
		t.Error("IA32_FEATURE_CONTROL")
	}
}

func TestFeatureControl(t *testing.T) {
	for _, c := range []struct {
		in, want uint64
		err      error
	}{
		{0, 0x5, nil},         // unlocked: enable and lock
		{0x2, 0x7, nil},       // unlocked, SMX only: add outside-SMX
		{0x5, 0x5, nil},       // firmware enabled and locked
		{0xff07, 0xff07, nil}, // other bits kept
		{0x1, 0x1, ErrVMXDisabled},
		{0x3, 0x3, ErrVMXDisabled},
	} {
		got, err := FeatureControl(c.in).Enable()
		if uint64(got) != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("Enable(%#x) = %#x, %v", c.in, uint64(got), err)
		}
	}
	if f := FeatureControl(0x5); !f.Locked() || !f.VMXOutsideSMX() {
		t.Error("0x5")
	}
}

func TestMisc(t *testing.T) {
	// Bits: rate 5, store LMA, HLT, shutdown, wait-for-SIPI, 4 CR3
	// targets, MSR list N=0, VMWRITE any field, zero-length injection.
	m := Misc(0x0000_0000_6004_01e5)
	if m.PreemptionTimerRate() != 5 || !m.StoresLMA() || !m.ActivityHLT() || !m.ActivityShutdown() || !m.ActivityWaitForSIPI() ||
		m.CR3Targets() != 4 || m.MaxMSRListEntries() != 512 || !m.VMWriteAnyField() || !m.InjectZeroLength() || m.MSEGRevision() != 0 {
		t.Errorf("misc %#x", uint64(m))
	}
	m = Misc(0x1234_5678_0e00_0000)
	if m.MaxMSRListEntries() != 4096 || m.MSEGRevision() != 0x1234_5678 || m.ActivityHLT() || m.VMWriteAnyField() {
		t.Errorf("misc %#x", uint64(m))
	}
}

func TestEPTVPIDCap(t *testing.T) {
	// A typical value: execute-only, 4-level, UC, WB, 2M, 1G, INVEPT,
	// A/D, single- and all-context INVEPT, INVVPID with all four types.
	c := EPTVPIDCap(0x0000_0f01_0633_4141)
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"ExecuteOnly", c.ExecuteOnly(), true},
		{"PageWalk4", c.PageWalk4(), true},
		{"PageWalk5", c.PageWalk5(), false},
		{"MemTypeUC", c.MemTypeUC(), true},
		{"MemTypeWB", c.MemTypeWB(), true},
		{"Pages2M", c.Pages2M(), true},
		{"Pages1G", c.Pages1G(), true},
		{"INVEPT", c.INVEPT(), true},
		{"AccessedDirty", c.AccessedDirty(), true},
		{"AdvancedExitInfo", c.AdvancedExitInfo(), false},
		{"INVEPTSingleContext", c.INVEPTSingleContext(), true},
		{"INVEPTAllContext", c.INVEPTAllContext(), true},
		{"INVVPID", c.INVVPID(), true},
		{"INVVPIDIndividualAddress", c.INVVPIDIndividualAddress(), true},
		{"INVVPIDSingleContext", c.INVVPIDSingleContext(), true},
		{"INVVPIDAllContext", c.INVVPIDAllContext(), true},
		{"INVVPIDSingleContextRetainGlobals", c.INVVPIDSingleContextRetainGlobals(), true},
	}
	for _, k := range checks {
		if k.got != k.want {
			t.Errorf("%s = %v for %#x", k.name, k.got, uint64(c))
		}
	}
	if err := c.CheckEPT(); err != nil {
		t.Error(err)
	}
	for _, bad := range []EPTVPIDCap{0, c &^ EPT_CAP_PAGE_WALK_4, c &^ EPT_CAP_MEMTYPE_WB, c &^ EPT_CAP_INVEPT,
		c &^ (EPT_CAP_INVEPT_SINGLE_CONTEXT | EPT_CAP_INVEPT_ALL_CONTEXT)} {
		if err := bad.CheckEPT(); !errors.Is(err, ErrEPTCaps) {
			t.Errorf("CheckEPT(%#x) = %v", uint64(bad), err)
		}
	}
	if err := (c &^ EPT_CAP_INVEPT_SINGLE_CONTEXT).CheckEPT(); err != nil {
		t.Errorf("all-context only: %v", err)
	}
}
