// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Pin-based VM-execution controls (Intel SDM Vol. 3C, 25.6.1 "Pin-Based
// VM-Execution Controls", table "Definitions of Pin-Based VM-Execution
// Controls"), written to PIN_BASED_VM_EXEC_CONTROL.
const (
	PIN_EXTERNAL_INTERRUPT_EXITING = 1 << 0
	PIN_NMI_EXITING                = 1 << 3
	PIN_VIRTUAL_NMIS               = 1 << 5
	PIN_ACTIVATE_PREEMPTION_TIMER  = 1 << 6
	PIN_PROCESS_POSTED_INTERRUPTS  = 1 << 7

	// Bits 1, 2 and 4 are default1 (Vol. 3D, A.3.1).
	PIN_BASED_DEFAULT1 = 0x0000_0016
)

// Primary processor-based VM-execution controls (25.6.2 "Processor-Based
// VM-Execution Controls", table "Definitions of Primary Processor-Based
// VM-Execution Controls"), written to CPU_BASED_VM_EXEC_CONTROL.
const (
	PROC_INTERRUPT_WINDOW_EXITING    = 1 << 2
	PROC_USE_TSC_OFFSETTING          = 1 << 3
	PROC_HLT_EXITING                 = 1 << 7
	PROC_INVLPG_EXITING              = 1 << 9
	PROC_MWAIT_EXITING               = 1 << 10
	PROC_RDPMC_EXITING               = 1 << 11
	PROC_RDTSC_EXITING               = 1 << 12
	PROC_CR3_LOAD_EXITING            = 1 << 15
	PROC_CR3_STORE_EXITING           = 1 << 16
	PROC_ACTIVATE_TERTIARY_CONTROLS  = 1 << 17
	PROC_CR8_LOAD_EXITING            = 1 << 19
	PROC_CR8_STORE_EXITING           = 1 << 20
	PROC_USE_TPR_SHADOW              = 1 << 21
	PROC_NMI_WINDOW_EXITING          = 1 << 22
	PROC_MOV_DR_EXITING              = 1 << 23
	PROC_UNCONDITIONAL_IO_EXITING    = 1 << 24
	PROC_USE_IO_BITMAPS              = 1 << 25
	PROC_MONITOR_TRAP_FLAG           = 1 << 27
	PROC_USE_MSR_BITMAPS             = 1 << 28
	PROC_MONITOR_EXITING             = 1 << 29
	PROC_PAUSE_EXITING               = 1 << 30
	PROC_ACTIVATE_SECONDARY_CONTROLS = 1 << 31

	// Bits 1, 4-6, 8, 13-16 and 26 are default1 (Vol. 3D, A.3.2): CR3
	// load and store exiting can be cleared only where the TRUE
	// capability MSR allows it.
	CPU_BASED_DEFAULT1 = 0x0401_E172
)

// Secondary processor-based VM-execution controls (25.6.2, table
// "Definitions of Secondary Processor-Based VM-Execution Controls"),
// written to SECONDARY_VM_EXEC_CONTROL. They apply only while
// PROC_ACTIVATE_SECONDARY_CONTROLS is set; none is default1.
const (
	PROC2_VIRTUALIZE_APIC_ACCESSES     = 1 << 0
	PROC2_ENABLE_EPT                   = 1 << 1
	PROC2_DESCRIPTOR_TABLE_EXITING     = 1 << 2
	PROC2_ENABLE_RDTSCP                = 1 << 3
	PROC2_VIRTUALIZE_X2APIC_MODE       = 1 << 4
	PROC2_ENABLE_VPID                  = 1 << 5
	PROC2_WBINVD_EXITING               = 1 << 6
	PROC2_UNRESTRICTED_GUEST           = 1 << 7
	PROC2_APIC_REGISTER_VIRTUALIZATION = 1 << 8
	PROC2_VIRTUAL_INTERRUPT_DELIVERY   = 1 << 9
	PROC2_PAUSE_LOOP_EXITING           = 1 << 10
	PROC2_RDRAND_EXITING               = 1 << 11
	PROC2_ENABLE_INVPCID               = 1 << 12
	PROC2_ENABLE_VM_FUNCTIONS          = 1 << 13
	PROC2_VMCS_SHADOWING               = 1 << 14
	PROC2_ENABLE_ENCLS_EXITING         = 1 << 15
	PROC2_RDSEED_EXITING               = 1 << 16
	PROC2_ENABLE_PML                   = 1 << 17
	PROC2_EPT_VIOLATION_VE             = 1 << 18
	PROC2_CONCEAL_VMX_FROM_PT          = 1 << 19
	PROC2_ENABLE_XSAVES_XRSTORS        = 1 << 20
	PROC2_MODE_BASED_EXECUTE_CONTROL   = 1 << 22
	PROC2_SUB_PAGE_WRITE_PERMISSIONS   = 1 << 23
	PROC2_PT_USES_GUEST_PHYSICAL       = 1 << 24
	PROC2_USE_TSC_SCALING              = 1 << 25
	PROC2_ENABLE_USER_WAIT_PAUSE       = 1 << 26
)

// Primary VM-exit controls (25.7.1 "VM-Exit Controls", table "Definitions
// of Primary VM-Exit Controls"), written to VM_EXIT_CONTROLS.
const (
	EXIT_SAVE_DEBUG_CONTROLS         = 1 << 2
	EXIT_HOST_ADDRESS_SPACE_SIZE     = 1 << 9 // return to a 64-bit host
	EXIT_LOAD_IA32_PERF_GLOBAL_CTRL  = 1 << 12
	EXIT_ACK_INTERRUPT_ON_EXIT       = 1 << 15
	EXIT_SAVE_IA32_PAT               = 1 << 18
	EXIT_LOAD_IA32_PAT               = 1 << 19
	EXIT_SAVE_IA32_EFER              = 1 << 20
	EXIT_LOAD_IA32_EFER              = 1 << 21
	EXIT_SAVE_PREEMPTION_TIMER       = 1 << 22
	EXIT_CLEAR_IA32_BNDCFGS          = 1 << 23
	EXIT_CONCEAL_VMX_FROM_PT         = 1 << 24
	EXIT_ACTIVATE_SECONDARY_CONTROLS = 1 << 31

	// Bits 0-8, 10, 11, 13, 14, 16 and 17 are default1 (Vol. 3D, A.4).
	VM_EXIT_DEFAULT1 = 0x0003_6DFF
)

// VM-entry controls (25.8.1 "VM-Entry Controls", table "Definitions of
// VM-Entry Controls"), written to VM_ENTRY_CONTROLS.
const (
	ENTRY_LOAD_DEBUG_CONTROLS        = 1 << 2
	ENTRY_IA32E_MODE_GUEST           = 1 << 9
	ENTRY_TO_SMM                     = 1 << 10
	ENTRY_DEACTIVATE_DUAL_MONITOR    = 1 << 11
	ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL = 1 << 13
	ENTRY_LOAD_IA32_PAT              = 1 << 14
	ENTRY_LOAD_IA32_EFER             = 1 << 15
	ENTRY_LOAD_IA32_BNDCFGS          = 1 << 16
	ENTRY_CONCEAL_VMX_FROM_PT        = 1 << 17

	// Bits 0-8 and 12 are default1 (Vol. 3D, A.5).
	VM_ENTRY_DEFAULT1 = 0x0000_11FF
)

// VMX capability MSRs (Intel SDM Vol. 3D, Appendix A "VMX Capability
// Reporting Facility"; Vol. 4, Table 2-2) and IA32_FEATURE_CONTROL (Vol.
// 3C, 24.7 "Enabling and Entering VMX Operation").
const (
	IA32_FEATURE_CONTROL         = 0x03A
	IA32_VMX_BASIC               = 0x480
	IA32_VMX_PINBASED_CTLS       = 0x481
	IA32_VMX_PROCBASED_CTLS      = 0x482
	IA32_VMX_EXIT_CTLS           = 0x483
	IA32_VMX_ENTRY_CTLS          = 0x484
	IA32_VMX_MISC                = 0x485
	IA32_VMX_CR0_FIXED0          = 0x486
	IA32_VMX_CR0_FIXED1          = 0x487
	IA32_VMX_CR4_FIXED0          = 0x488
	IA32_VMX_CR4_FIXED1          = 0x489
	IA32_VMX_VMCS_ENUM           = 0x48A
	IA32_VMX_PROCBASED_CTLS2     = 0x48B
	IA32_VMX_EPT_VPID_CAP        = 0x48C
	IA32_VMX_TRUE_PINBASED_CTLS  = 0x48D
	IA32_VMX_TRUE_PROCBASED_CTLS = 0x48E
	IA32_VMX_TRUE_EXIT_CTLS      = 0x48F
	IA32_VMX_TRUE_ENTRY_CTLS     = 0x490
	IA32_VMX_VMFUNC              = 0x491
)

// IA32_FEATURE_CONTROL bits (Vol. 3C, 24.7).
const (
	FEATURE_CONTROL_LOCKED            = 1 << 0
	FEATURE_CONTROL_VMXON_INSIDE_SMX  = 1 << 1
	FEATURE_CONTROL_VMXON_OUTSIDE_SMX = 1 << 2
)

// Errors of the capability checks.
const (
	// ErrControls: a control tamavisor requires is not allowed by the
	// capability MSR (wrapped with the bits and the MSR value).
	ErrControls = hv.Error("vmx: required VM-execution, VM-exit or VM-entry control not supported")
	// ErrVMXDisabled: the firmware locked IA32_FEATURE_CONTROL with VMXON
	// outside SMX disabled; only a firmware setting can change that.
	ErrVMXDisabled = hv.Error("vmx: VMX disabled and locked by firmware (IA32_FEATURE_CONTROL)")
	// ErrEPTCaps: the processor's EPT lacks a feature the EPT builder
	// relies on.
	ErrEPTCaps = hv.Error("vmx: EPT capabilities insufficient")
)

// FeatureControl is the value of IA32_FEATURE_CONTROL.
type FeatureControl uint64

// Locked reports the lock bit: once set, writes to the MSR fault until
// reset.
func (f FeatureControl) Locked() bool { return f&FEATURE_CONTROL_LOCKED != 0 }

// VMXOutsideSMX reports whether VMXON is allowed outside SMX operation.
func (f FeatureControl) VMXOutsideSMX() bool { return f&FEATURE_CONTROL_VMXON_OUTSIDE_SMX != 0 }

// Enable returns the value IA32_FEATURE_CONTROL must hold for VMXON
// outside SMX to succeed: f itself if the firmware already locked it with
// VMX enabled (the caller writes nothing), f with the enable and lock
// bits set if it is unlocked (the caller writes it), or ErrVMXDisabled
// if it is locked with VMX disabled.
func (f FeatureControl) Enable() (FeatureControl, error) {
	if f.Locked() {
		if !f.VMXOutsideSMX() {
			return f, fmt.Errorf("%w: IA32_FEATURE_CONTROL=%#x", ErrVMXDisabled, uint64(f))
		}
		return f, nil
	}
	return f | FEATURE_CONTROL_VMXON_OUTSIDE_SMX | FEATURE_CONTROL_LOCKED, nil
}

// IA32_VMX_BASIC fields (Vol. 3D, A.1 "Basic VMX Information").
const (
	BASIC_REVISION_MASK     = 0x7fff_ffff // bits 30:0; bit 31 is 0
	BASIC_REGION_SIZE_SHIFT = 32
	BASIC_REGION_SIZE_MASK  = 0x1fff // bits 44:32, at most 4096
	BASIC_PHYS_ADDR_32      = 1 << 48
	BASIC_DUAL_MONITOR      = 1 << 49
	BASIC_MEMTYPE_SHIFT     = 50
	BASIC_MEMTYPE_MASK      = 0xf // bits 53:50
	BASIC_INS_OUTS_INFO     = 1 << 54
	BASIC_TRUE_CONTROLS     = 1 << 55
	BASIC_NO_ERRCODE_CHECK  = 1 << 56
)

// Memory types, as used by IA32_VMX_BASIC, the EPT pointer and EPT leaf
// entries (Vol. 3A, "Methods of Caching Available" in the chapter on
// memory cache control; Vol. 3C, "EPT and Memory Typing" in 29.3).
const (
	MEMTYPE_UC = 0
	MEMTYPE_WC = 1
	MEMTYPE_WT = 4
	MEMTYPE_WP = 5
	MEMTYPE_WB = 6
)

// Basic is the value of IA32_VMX_BASIC.
type Basic uint64

// Revision returns the VMCS revision identifier, written to the first
// word of the VMXON region and of every VMCS.
func (b Basic) Revision() uint32 { return uint32(b) & BASIC_REVISION_MASK }

// RegionSize returns the number of bytes to allocate for the VMXON
// region and each VMCS (at most 4096).
func (b Basic) RegionSize() int {
	return int(b >> BASIC_REGION_SIZE_SHIFT & BASIC_REGION_SIZE_MASK)
}

// PhysAddr32 reports whether the VMXON region, VMCS and the structures
// they point to must lie below 4 GiB (always false with Intel 64).
func (b Basic) PhysAddr32() bool { return b&BASIC_PHYS_ADDR_32 != 0 }

// MemoryType returns the memory type the processor uses to access the
// VMCS and the structures it references (MEMTYPE_WB on current
// processors, MEMTYPE_UC otherwise).
func (b Basic) MemoryType() uint8 { return uint8(b >> BASIC_MEMTYPE_SHIFT & BASIC_MEMTYPE_MASK) }

// InsOutsInfo reports whether VM exits due to INS and OUTS report the
// VM-exit instruction information.
func (b Basic) InsOutsInfo() bool { return b&BASIC_INS_OUTS_INFO != 0 }

// TrueControls reports whether the IA32_VMX_TRUE_*_CTLS MSRs exist and
// should be used in place of the plain ones (they allow clearing some
// default1 controls).
func (b Basic) TrueControls() bool { return b&BASIC_TRUE_CONTROLS != 0 }

// NoErrorCodeCheck reports whether VM entry may inject a hardware
// exception without checking that the error-code flag matches the vector.
func (b Basic) NoErrorCodeCheck() bool { return b&BASIC_NO_ERRCODE_CHECK != 0 }

// ControlMSRs returns the capability MSRs to consult for the pin-based,
// primary processor-based, VM-exit and VM-entry controls: the TRUE ones
// when b says they exist (Vol. 3D, A.2).
func (b Basic) ControlMSRs() (pin, proc, exit, entry uint32) {
	if b.TrueControls() {
		return IA32_VMX_TRUE_PINBASED_CTLS, IA32_VMX_TRUE_PROCBASED_CTLS, IA32_VMX_TRUE_EXIT_CTLS, IA32_VMX_TRUE_ENTRY_CTLS
	}
	return IA32_VMX_PINBASED_CTLS, IA32_VMX_PROCBASED_CTLS, IA32_VMX_EXIT_CTLS, IA32_VMX_ENTRY_CTLS
}

// AdjustControls computes a VM-execution, VM-exit or VM-entry control
// word from a capability MSR (Vol. 3D, A.3 to A.5): bits 31:0 of capMSR
// are the allowed-0 settings (a 1 there means the control must be 1) and
// bits 63:32 the allowed-1 settings (a 0 there means the control must be
// 0).
//
// The result has every bit of required, every bit of want the processor
// allows, and every bit the processor insists on. Bits of want that are
// not allowed are dropped silently; if a bit of required is not allowed,
// AdjustControls returns an error wrapping ErrControls that names the
// missing bits. A capability value whose allowed-0 bits are not all
// allowed-1 is inconsistent and is refused the same way.
func AdjustControls(want, required uint32, capMSR uint64) (uint32, error) {
	must := uint32(capMSR)
	may := uint32(capMSR >> 32)
	if missing := required &^ may; missing != 0 {
		return 0, fmt.Errorf("%w: missing %#x (required %#x, capability %#x)", ErrControls, missing, required, capMSR)
	}
	if bad := must &^ may; bad != 0 {
		return 0, fmt.Errorf("%w: inconsistent capability %#x (bits %#x both required and forbidden)", ErrControls, capMSR, bad)
	}
	return (want|required)&may | must, nil
}

// FixedCR returns v adjusted to the CR0 or CR4 bits VMX operation fixes
// (Vol. 3D, A.7 and A.8): bits set in fixed0 (IA32_VMX_CR0_FIXED0 or
// IA32_VMX_CR4_FIXED0) are forced to 1, bits clear in fixed1 (the FIXED1
// MSR) are forced to 0. With the unrestricted-guest control, a guest's
// CR0.PE and CR0.PG are exempt; the caller clears them from fixed0.
func FixedCR(v, fixed0, fixed1 uint64) uint64 { return (v | fixed0) & fixed1 }

// IA32_VMX_MISC fields (Vol. 3D, A.6 "Miscellaneous Data").
const (
	MISC_PREEMPTION_TIMER_RATE_MASK = 0x1f // bits 4:0
	MISC_STORE_LMA                  = 1 << 5
	MISC_ACTIVITY_HLT               = 1 << 6
	MISC_ACTIVITY_SHUTDOWN          = 1 << 7
	MISC_ACTIVITY_WAIT_SIPI         = 1 << 8
	MISC_CR3_TARGETS_SHIFT          = 16
	MISC_CR3_TARGETS_MASK           = 0x1ff // bits 24:16
	MISC_MSR_LIST_SHIFT             = 25
	MISC_MSR_LIST_MASK              = 0x7 // bits 27:25
	MISC_VMWRITE_ANY_FIELD          = 1 << 29
	MISC_INJECT_ZERO_LENGTH         = 1 << 30
	MISC_MSEG_REVISION_SHIFT        = 32
)

// Misc is the value of IA32_VMX_MISC.
type Misc uint64

// PreemptionTimerRate returns X: the VMX-preemption timer counts down by
// one every time bit X of the TSC changes.
func (m Misc) PreemptionTimerRate() uint { return uint(m & MISC_PREEMPTION_TIMER_RATE_MASK) }

// StoresLMA reports whether VM exits store EFER.LMA into the IA-32e mode
// guest VM-entry control.
func (m Misc) StoresLMA() bool { return m&MISC_STORE_LMA != 0 }

// ActivityHLT reports whether the HLT activity state is supported.
func (m Misc) ActivityHLT() bool { return m&MISC_ACTIVITY_HLT != 0 }

// ActivityShutdown reports whether the shutdown activity state is
// supported.
func (m Misc) ActivityShutdown() bool { return m&MISC_ACTIVITY_SHUTDOWN != 0 }

// ActivityWaitForSIPI reports whether the wait-for-SIPI activity state is
// supported.
func (m Misc) ActivityWaitForSIPI() bool { return m&MISC_ACTIVITY_WAIT_SIPI != 0 }

// CR3Targets returns the number of CR3-target values supported.
func (m Misc) CR3Targets() int { return int(m >> MISC_CR3_TARGETS_SHIFT & MISC_CR3_TARGETS_MASK) }

// MaxMSRListEntries returns the recommended maximum number of entries in
// each VM-exit or VM-entry MSR list: 512 * (N + 1).
func (m Misc) MaxMSRListEntries() int {
	return 512 * (int(m>>MISC_MSR_LIST_SHIFT&MISC_MSR_LIST_MASK) + 1)
}

// VMWriteAnyField reports whether VMWRITE may write the VM-exit
// information fields.
func (m Misc) VMWriteAnyField() bool { return m&MISC_VMWRITE_ANY_FIELD != 0 }

// InjectZeroLength reports whether VM entry may inject a software
// interrupt or exception with an instruction length of 0.
func (m Misc) InjectZeroLength() bool { return m&MISC_INJECT_ZERO_LENGTH != 0 }

// MSEGRevision returns the MSEG revision identifier.
func (m Misc) MSEGRevision() uint32 { return uint32(m >> MISC_MSEG_REVISION_SHIFT) }

// IA32_VMX_EPT_VPID_CAP bits (Vol. 3D, A.10 "VPID and EPT
// Capabilities").
const (
	EPT_CAP_EXECUTE_ONLY           = 1 << 0
	EPT_CAP_PAGE_WALK_4            = 1 << 6
	EPT_CAP_PAGE_WALK_5            = 1 << 7
	EPT_CAP_MEMTYPE_UC             = 1 << 8
	EPT_CAP_MEMTYPE_WB             = 1 << 14
	EPT_CAP_2MB_PAGE               = 1 << 16
	EPT_CAP_1GB_PAGE               = 1 << 17
	EPT_CAP_INVEPT                 = 1 << 20
	EPT_CAP_ACCESSED_DIRTY         = 1 << 21
	EPT_CAP_ADVANCED_EXIT_INFO     = 1 << 22
	EPT_CAP_SUPERVISOR_SHSTK       = 1 << 23
	EPT_CAP_INVEPT_SINGLE_CONTEXT  = 1 << 25
	EPT_CAP_INVEPT_ALL_CONTEXT     = 1 << 26
	VPID_CAP_INVVPID               = 1 << 32
	VPID_CAP_INDIVIDUAL_ADDRESS    = 1 << 40
	VPID_CAP_SINGLE_CONTEXT        = 1 << 41
	VPID_CAP_ALL_CONTEXT           = 1 << 42
	VPID_CAP_SINGLE_CONTEXT_GLOBAL = 1 << 43
)

// EPTVPIDCap is the value of IA32_VMX_EPT_VPID_CAP.
type EPTVPIDCap uint64

// ExecuteOnly reports whether EPT entries may allow execution without
// read access.
func (c EPTVPIDCap) ExecuteOnly() bool { return c&EPT_CAP_EXECUTE_ONLY != 0 }

// PageWalk4 reports support for a page-walk length of 4 (the one EPT
// uses).
func (c EPTVPIDCap) PageWalk4() bool { return c&EPT_CAP_PAGE_WALK_4 != 0 }

// PageWalk5 reports support for a page-walk length of 5.
func (c EPTVPIDCap) PageWalk5() bool { return c&EPT_CAP_PAGE_WALK_5 != 0 }

// MemTypeUC reports whether the EPT paging structures may be uncacheable.
func (c EPTVPIDCap) MemTypeUC() bool { return c&EPT_CAP_MEMTYPE_UC != 0 }

// MemTypeWB reports whether the EPT paging structures may be write-back.
func (c EPTVPIDCap) MemTypeWB() bool { return c&EPT_CAP_MEMTYPE_WB != 0 }

// Pages2M reports whether EPT PDEs may map 2 MiB pages.
func (c EPTVPIDCap) Pages2M() bool { return c&EPT_CAP_2MB_PAGE != 0 }

// Pages1G reports whether EPT PDPTEs may map 1 GiB pages.
func (c EPTVPIDCap) Pages1G() bool { return c&EPT_CAP_1GB_PAGE != 0 }

// INVEPT reports whether the INVEPT instruction is supported.
func (c EPTVPIDCap) INVEPT() bool { return c&EPT_CAP_INVEPT != 0 }

// AccessedDirty reports support for EPT accessed and dirty flags.
func (c EPTVPIDCap) AccessedDirty() bool { return c&EPT_CAP_ACCESSED_DIRTY != 0 }

// AdvancedExitInfo reports whether EPT violations report advanced
// VM-exit information.
func (c EPTVPIDCap) AdvancedExitInfo() bool { return c&EPT_CAP_ADVANCED_EXIT_INFO != 0 }

// INVEPTSingleContext reports support for the single-context INVEPT type.
func (c EPTVPIDCap) INVEPTSingleContext() bool { return c&EPT_CAP_INVEPT_SINGLE_CONTEXT != 0 }

// INVEPTAllContext reports support for the all-context INVEPT type.
func (c EPTVPIDCap) INVEPTAllContext() bool { return c&EPT_CAP_INVEPT_ALL_CONTEXT != 0 }

// INVVPID reports whether the INVVPID instruction is supported.
func (c EPTVPIDCap) INVVPID() bool { return c&VPID_CAP_INVVPID != 0 }

// INVVPIDIndividualAddress reports support for the individual-address
// INVVPID type.
func (c EPTVPIDCap) INVVPIDIndividualAddress() bool { return c&VPID_CAP_INDIVIDUAL_ADDRESS != 0 }

// INVVPIDSingleContext reports support for the single-context INVVPID
// type.
func (c EPTVPIDCap) INVVPIDSingleContext() bool { return c&VPID_CAP_SINGLE_CONTEXT != 0 }

// INVVPIDAllContext reports support for the all-context INVVPID type.
func (c EPTVPIDCap) INVVPIDAllContext() bool { return c&VPID_CAP_ALL_CONTEXT != 0 }

// INVVPIDSingleContextRetainGlobals reports support for the
// single-context-retaining-globals INVVPID type.
func (c EPTVPIDCap) INVVPIDSingleContextRetainGlobals() bool {
	return c&VPID_CAP_SINGLE_CONTEXT_GLOBAL != 0
}

// CheckEPT reports whether the EPT the EPT type builds works on this
// processor: a 4-level walk, write-back paging structures (EPTP), and
// INVEPT with the single- or all-context type. 2 MiB pages are optional:
// without them, set EPT.NoLargePages. The error wraps ErrEPTCaps and
// gives the MSR value.
func (c EPTVPIDCap) CheckEPT() error {
	if !c.PageWalk4() || !c.MemTypeWB() || !c.INVEPT() || !(c.INVEPTSingleContext() || c.INVEPTAllContext()) {
		return fmt.Errorf("%w: IA32_VMX_EPT_VPID_CAP=%#x (want 4-level walk, WB, INVEPT single- or all-context)", ErrEPTCaps, uint64(c))
	}
	return nil
}
