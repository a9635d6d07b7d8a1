// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"encoding/binary"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// CPUIDFunc executes CPUID on the boot processor.
type CPUIDFunc func(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// CPUID leaf 1 ECX bit 5 reports VMX (Intel SDM Vol. 3C, 24.6
// "Discovering Support for VMX").
const (
	CPUID_FEATURES  = 1
	CPUID_1_ECX_VMX = 1 << 5
)

// Control-register and EFER bits the backend sets, checks or emulates
// (Vol. 3A, 2.5 "Control Registers" and 2.2.1 "Extended Feature Enable
// Register").
const (
	CR0_PE    = 1 << 0
	CR0_MP    = 1 << 1
	CR0_EM    = 1 << 2
	CR0_TS    = 1 << 3
	CR0_ET    = 1 << 4
	CR0_NE    = 1 << 5
	CR0_WP    = 1 << 16
	CR0_AM    = 1 << 18
	CR0_NW    = 1 << 29
	CR0_CD    = 1 << 30
	CR0_PG    = 1 << 31
	CR4_PAE   = 1 << 5
	CR4_VMXE  = 1 << 13
	CR4_PCIDE = 1 << 17
	EFER_SCE  = 1 << 0
	EFER_LME  = 1 << 8
	EFER_LMA  = 1 << 10
	EFER_NXE  = 1 << 11

	cr0Defined = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG
)

// MSRs the backend reads for the host or keeps for the guest (Vol. 4,
// Table 2-2).
const (
	IA32_SYSENTER_CS    = 0x174
	IA32_SYSENTER_ESP   = 0x175
	IA32_SYSENTER_EIP   = 0x176
	IA32_PAT            = 0x277
	IA32_EFER           = 0xC000_0080
	IA32_STAR           = 0xC000_0081
	IA32_LSTAR          = 0xC000_0082
	IA32_CSTAR          = 0xC000_0083
	IA32_FMASK          = 0xC000_0084
	IA32_FS_BASE        = 0xC000_0100
	IA32_GS_BASE        = 0xC000_0101
	IA32_KERNEL_GS_BASE = 0xC000_0102
)

// Setup errors; the returned errors wrap them with register values.
const (
	ErrNoVMX    = hv.Error("vmx: no VMX (CPUID.1:ECX[5])")
	ErrVMXCaps  = hv.Error("vmx: processor lacks a VMX capability tamavisor needs")
	ErrVMXON    = hv.Error("vmx: VMXON failed")
	ErrHostSegs = hv.Error("vmx: host segment state unusable for VM exits")
)

// Status is the outcome of a VMX instruction (Vol. 3C, chapter "VMX
// Instruction Reference", section "Conventions"): VMsucceed; VMfailInvalid
// (CF = 1, no current VMCS); or VMfailValid (ZF = 1, the error number is
// in the current VMCS's VM_INSTRUCTION_ERROR field).
type Status uint8

const (
	VMSUCCEED      Status = 0
	VMFAIL_INVALID Status = 1
	VMFAIL_VALID   Status = 2
)

func (s Status) String() string {
	switch s {
	case VMSUCCEED:
		return "VMsucceed"
	case VMFAIL_INVALID:
		return "VMfailInvalid"
	case VMFAIL_VALID:
		return "VMfailValid"
	}
	return fmt.Sprintf("vmx-status(%d)", uint8(s))
}

// RunStatus is what the world switch reports besides a VM exit: 0 when
// the guest ran and exited (successfully or with a VM-entry failure,
// VM_EXIT_REASON bit 31); otherwise the instruction that failed and how.
// The layout is the one switch_amd64.s writes: bit 0 CF, bit 8 ZF, bits
// 23:16 the step (RUN_STEP_*).
type RunStatus uint32

const (
	RUN_CF            = 1 << 0
	RUN_ZF            = 1 << 8
	RUN_STEP_SHIFT    = 16
	RUN_STEP_MASK     = 0xff
	RUN_STEP_VMPTRLD  = 1 // making the VMCS current
	RUN_STEP_HOST_RSP = 2 // VMWRITE of HOST_RSP
	RUN_STEP_ENTRY    = 3 // VMLAUNCH or VMRESUME
)

// Step returns which RUN_STEP_* failed (0: none).
func (s RunStatus) Step() int { return int(s >> RUN_STEP_SHIFT & RUN_STEP_MASK) }

// Status returns the VMX status of the failed step.
func (s RunStatus) Status() Status {
	switch {
	case s&RUN_CF != 0:
		return VMFAIL_INVALID
	case s&RUN_ZF != 0:
		return VMFAIL_VALID
	case s != 0:
		// A step that fell through without CF or ZF: never done by a
		// VMX instruction, treated as a failure without a VMCS.
		return VMFAIL_INVALID
	}
	return VMSUCCEED
}

// GPRs are the guest registers the world switch (switch_amd64.s) loads
// before VMLAUNCH/VMRESUME and stores after the VM exit. RSP, RIP and
// RFLAGS are VMCS guest-state fields (Vol. 3C, 25.4.1) and travel there.
type GPRs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RBP uint64
	R8, R9, R10, R11, R12, R13        uint64
	R14, R15                          uint64
}

// RunFunc enters the guest of the VMCS at vmcs (physical) until its next
// VM exit: it makes that VMCS current if it is not (VMPTRLD), writes
// HOST_RSP, then executes VMLAUNCH (launched false) or VMRESUME, with the
// guest's other registers in gprs and its FXSAVE image at fpu (virtual;
// the host's is saved at fpu+512). It returns 0 after a VM exit, which
// includes a VM-entry failure reported through VM_EXIT_REASON.
type RunFunc func(vmcs hv.PA, launched bool, gprs *GPRs, fpu uintptr) RunStatus

// HostSegments are the boot processor's selectors and descriptor-table
// registers, as SGDT, SIDT, STR and MOV from segment registers read them.
type HostSegments struct {
	CS, SS, DS, ES, FS, GS, TR uint16
	GDTRBase, IDTRBase         uint64
	GDTRLimit, IDTRLimit       uint16
}

// Host is the boot processor as the backend uses it: instructions on the
// target (HardwareHost), fakes in host tests. Every function acts on the
// processor that runs every vCPU; all of them are required.
type Host struct {
	CPUID CPUIDFunc
	RDMSR func(msr uint32) uint64
	WRMSR func(msr uint32, val uint64)

	ReadCR0, ReadCR3, ReadCR4 func() uint64
	WriteCR0, WriteCR4        func(uint64)

	// Segments reads the host's selectors, GDTR and IDTR.
	Segments func() HostSegments
	// LoadGDT loads GDTR with base and limit, then TR with tr (LTR).
	LoadGDT func(base uint64, limit uint16, tr uint16)
	// Linear returns n bytes at hypervisor linear address va (the
	// current GDT).
	Linear func(va uint64, n int) []byte

	// VMX instructions (Vol. 3C, chapter "VMX Instruction Reference").
	VMXON   func(region hv.PA) Status
	VMCLEAR func(vmcs hv.PA) Status
	// VMCS returns the accessor of the VMCS at pa: each Read or Write
	// makes it current (VMPTRLD) if another VMCS is.
	VMCS func(pa hv.PA) VMCS
	// INVEPT invalidates the translations of eptp (type 1) or all of
	// them (type 2); INVVPID those tagged with vpid (type 1) or every
	// VPID's but 0 (type 2).
	INVEPT  func(typ, eptp uint64) Status
	INVVPID func(typ uint64, vpid uint16) Status
	Run     RunFunc
	// ExitRIP is the host RIP every VM exit lands at (HOST_RIP): the
	// world switch's exit entry.
	ExitRIP uint64
}

// Caps are the VMX capability MSRs (Vol. 3D, Appendix A): the control
// capabilities are the TRUE_* MSRs when Basic.TrueControls.
type Caps struct {
	Basic                         Basic
	Pin, Proc, Proc2, Exit, Entry uint64
	Misc                          Misc
	CR0Fixed0, CR0Fixed1          uint64
	CR4Fixed0, CR4Fixed1          uint64
	EPTVPID                       EPTVPIDCap
}

// ReadCaps reads the capability MSRs. IA32_VMX_PROCBASED_CTLS2 is read
// only when the secondary controls may be activated, and
// IA32_VMX_EPT_VPID_CAP only when EPT or VPIDs may be enabled (A.3.3,
// A.10): reading an MSR that does not exist faults.
func ReadCaps(rdmsr func(uint32) uint64) Caps {
	c := Caps{Basic: Basic(rdmsr(IA32_VMX_BASIC))}
	pin, proc, exit, entry := c.Basic.ControlMSRs()
	c.Pin, c.Proc, c.Exit, c.Entry = rdmsr(pin), rdmsr(proc), rdmsr(exit), rdmsr(entry)
	c.Misc = Misc(rdmsr(IA32_VMX_MISC))
	c.CR0Fixed0, c.CR0Fixed1 = rdmsr(IA32_VMX_CR0_FIXED0), rdmsr(IA32_VMX_CR0_FIXED1)
	c.CR4Fixed0, c.CR4Fixed1 = rdmsr(IA32_VMX_CR4_FIXED0), rdmsr(IA32_VMX_CR4_FIXED1)
	if c.Proc>>32&PROC_ACTIVATE_SECONDARY_CONTROLS != 0 {
		c.Proc2 = rdmsr(IA32_VMX_PROCBASED_CTLS2)
		if c.Proc2>>32&(PROC2_ENABLE_EPT|PROC2_ENABLE_VPID) != 0 {
			c.EPTVPID = EPTVPIDCap(rdmsr(IA32_VMX_EPT_VPID_CAP))
		}
	}
	return c
}

// Controls are the VM-execution, VM-exit and VM-entry control words a
// vCPU starts with.
type Controls struct {
	Pin, Proc, Proc2, Exit, Entry uint32
}

// The controls tamavisor sets (25.6, 25.7, 25.8):
//
//   - pin-based: external-interrupt exiting (the host's preemption timer
//     and devices interrupt the guest) and NMI exiting;
//   - primary: HLT, MWAIT and MONITOR exiting, I/O and MSR bitmaps, TSC
//     offsetting, secondary controls; interrupt-window exiting is turned
//     on and off at run time;
//   - secondary: EPT, VPID, unrestricted guest (the PVH entry is 32-bit
//     protected mode without paging). RDTSCP stays disabled, so RDTSCP
//     and RDPID raise #UD as CPUID (hiding them) promises;
//   - VM-exit: 64-bit host, save and load IA32_EFER and IA32_PAT, save
//     the debug controls. "Acknowledge interrupt on exit" stays 0: the
//     interrupt that forced the exit stays pending in the local APIC and
//     the host takes it through its IDT after the exit (switch_amd64.s);
//   - VM-entry: load IA32_EFER, IA32_PAT and the debug controls (DR7,
//     IA32_DEBUGCTL), so one guest's breakpoints never reach another.
//     "IA-32e mode guest" follows the guest's EFER.LMA at every entry.
const (
	pinRequired   = PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING
	procRequired  = PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_USE_TSC_OFFSETTING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING | PROC_ACTIVATE_SECONDARY_CONTROLS
	procRuntime   = PROC_INTERRUPT_WINDOW_EXITING
	proc2Required = PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST
	exitRequired  = EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER | EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT
	exitWanted    = EXIT_SAVE_DEBUG_CONTROLS
	entryRequired = ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_PAT
	entryWanted   = ENTRY_LOAD_DEBUG_CONTROLS
	entryRuntime  = ENTRY_IA32E_MODE_GUEST

	// The architecturally defined bits of each word: one the processor
	// forces to 1 beyond those above changes behaviour the backend does
	// not handle (CR3 exiting without the TRUE MSRs, say), so Controls
	// refuses it. Reserved default1 bits have no effect.
	pinDefined = PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS |
		PIN_ACTIVATE_PREEMPTION_TIMER | PIN_PROCESS_POSTED_INTERRUPTS
	procDefined = PROC_INTERRUPT_WINDOW_EXITING | PROC_USE_TSC_OFFSETTING | PROC_HLT_EXITING |
		PROC_INVLPG_EXITING | PROC_MWAIT_EXITING | PROC_RDPMC_EXITING | PROC_RDTSC_EXITING |
		PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_ACTIVATE_TERTIARY_CONTROLS |
		PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING | PROC_USE_TPR_SHADOW | PROC_NMI_WINDOW_EXITING |
		PROC_MOV_DR_EXITING | PROC_UNCONDITIONAL_IO_EXITING | PROC_USE_IO_BITMAPS | PROC_MONITOR_TRAP_FLAG |
		PROC_USE_MSR_BITMAPS | PROC_MONITOR_EXITING | PROC_PAUSE_EXITING | PROC_ACTIVATE_SECONDARY_CONTROLS
	proc2Defined = 0xffff_ffff
	exitDefined  = EXIT_SAVE_DEBUG_CONTROLS | EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_LOAD_IA32_PERF_GLOBAL_CTRL |
		EXIT_ACK_INTERRUPT_ON_EXIT | EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT | EXIT_SAVE_IA32_EFER |
		EXIT_LOAD_IA32_EFER | EXIT_SAVE_PREEMPTION_TIMER | EXIT_CLEAR_IA32_BNDCFGS | EXIT_CONCEAL_VMX_FROM_PT |
		EXIT_ACTIVATE_SECONDARY_CONTROLS
	entryDefined = ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_IA32E_MODE_GUEST | ENTRY_TO_SMM | ENTRY_DEACTIVATE_DUAL_MONITOR |
		ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL | ENTRY_LOAD_IA32_PAT | ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_BNDCFGS |
		ENTRY_CONCEAL_VMX_FROM_PT
)

// adjust is AdjustControls plus the refusal of defined bits forced to 1
// and a check that the bits toggled at run time may be 1.
func adjust(name string, want, required, runtime, defined uint32, capMSR uint64) (uint32, error) {
	v, err := AdjustControls(want, required|runtime, capMSR)
	if err != nil {
		return 0, fmt.Errorf("%s controls: %w", name, err)
	}
	v &^= runtime &^ uint32(capMSR) // toggled later; set only if forced
	if forced := v & defined &^ (want | required); forced != 0 {
		return 0, fmt.Errorf("%w: %s controls %#x forced to 1 (capability %#x)", ErrControls, name, forced, capMSR)
	}
	return v, nil
}

// Controls computes the control words from the capabilities, or says
// which required control is missing or which unwanted one is forced.
func (c Caps) Controls() (Controls, error) {
	var k Controls
	var err error
	if k.Pin, err = adjust("pin-based", 0, pinRequired, 0, pinDefined, c.Pin); err != nil {
		return k, err
	}
	if k.Proc, err = adjust("primary processor-based", 0, procRequired, procRuntime, procDefined, c.Proc); err != nil {
		return k, err
	}
	if k.Proc2, err = adjust("secondary processor-based", 0, proc2Required, 0, proc2Defined, c.Proc2); err != nil {
		return k, err
	}
	if k.Exit, err = adjust("VM-exit", exitWanted, exitRequired, 0, exitDefined, c.Exit); err != nil {
		return k, err
	}
	if k.Entry, err = adjust("VM-entry", entryWanted, entryRequired, entryRuntime, entryDefined, c.Entry); err != nil {
		return k, err
	}
	return k, nil
}

// Check verifies the capabilities beyond the control words: VMCS regions
// of at most a page in write-back memory, the EPT the EPT builder makes,
// INVVPID, and CR4.VMXE allowed.
func (c Caps) Check() error {
	if n := c.Basic.RegionSize(); n == 0 || n > hv.PageSize {
		return fmt.Errorf("%w: VMCS region size %d (IA32_VMX_BASIC=%#x)", ErrVMXCaps, n, uint64(c.Basic))
	}
	if c.Basic.MemoryType() != MEMTYPE_WB {
		return fmt.Errorf("%w: VMCS memory type %d, want write-back (IA32_VMX_BASIC=%#x)", ErrVMXCaps, c.Basic.MemoryType(), uint64(c.Basic))
	}
	if err := c.EPTVPID.CheckEPT(); err != nil {
		return err
	}
	if !c.EPTVPID.INVVPID() || !(c.EPTVPID.INVVPIDSingleContext() || c.EPTVPID.INVVPIDAllContext()) {
		return fmt.Errorf("%w: INVVPID single- or all-context (IA32_VMX_EPT_VPID_CAP=%#x)", ErrVMXCaps, uint64(c.EPTVPID))
	}
	if c.CR4Fixed1&CR4_VMXE == 0 {
		return fmt.Errorf("%w: CR4.VMXE not allowed (IA32_VMX_CR4_FIXED1=%#x)", ErrVMXCaps, c.CR4Fixed1)
	}
	return nil
}

// INVEPT and INVVPID types (Vol. 3C, 29.4.3.1 "Operations that
// Invalidate Cached Mappings"; chapter "VMX Instruction Reference").
const (
	INVEPT_SINGLE_CONTEXT  = 1
	INVEPT_ALL_CONTEXT     = 2
	INVVPID_ADDRESS        = 0
	INVVPID_SINGLE_CONTEXT = 1
	INVVPID_ALL_CONTEXT    = 2
)

// HostState is the host-state area every VMCS gets (Vol. 3C, 25.5 "Host-
// State Area"); HOST_RSP is written by the world switch.
type HostState struct {
	CR0, CR3, CR4              uint64
	CS, SS, DS, ES, FS, GS, TR uint16
	FSBase, GSBase, TRBase     uint64
	GDTRBase, IDTRBase         uint64
	EFER, PAT                  uint64
	RIP                        uint64
}

// Host TSS placement in the page Setup reserves for it: the new GDT at
// offset 0 (the old descriptors, then the 16-byte TSS descriptor), the
// TSS at hostTSSOff (Vol. 3A, 9.7 "Task Management in 64-bit Mode":
// 104 bytes; an I/O-map base at or beyond the limit means no I/O
// permission bitmap).
const (
	hostTSSOff     = 0x800
	hostTSSSize    = 104
	hostTSSLimit   = hostTSSSize - 1
	tssIOMapBase   = 102 // offset of the I/O map base address word
	gdtMaxOld      = hostTSSOff - 16
	descTypeTSS64  = 0x9 // available 64-bit TSS (Vol. 3A, 3.5 "System Descriptor Types")
	descP          = 1 << 7
	selectorRPLTI  = 0x7 // RPL (bits 1:0) and TI (bit 2) of a selector
	descriptorSize = 8
)

// tssDescriptor encodes a 64-bit available-TSS descriptor (Vol. 3A, 8.2.3
// "TSS Descriptor in 64-bit mode") for base and limit (byte granular).
func tssDescriptor(base uint64, limit uint32) (lo, hi uint64) {
	lo = uint64(limit&0xffff) | (base&0xff_ffff)<<16 | uint64(descTypeTSS64|descP)<<40 |
		uint64(limit>>16&0xf)<<48 | (base>>24&0xff)<<56
	hi = base >> 32
	return lo, hi
}

// systemDescriptorBase returns the base of a 16-byte system descriptor.
func systemDescriptorBase(d []byte) uint64 {
	lo, hi := binary.LittleEndian.Uint64(d), binary.LittleEndian.Uint64(d[8:])
	return lo>>16&0xff_ffff | (lo>>56&0xff)<<24 | hi<<32
}

// hostSegments returns the host's segment state after making sure it has
// the task register VM exits need (27.2.3 "Checks on Host Segment and
// Descriptor-Table Registers": HOST_TR_SELECTOR must not be 0). A
// TamaGo image runs without one, so hostSegments builds a GDT in page
// (the current descriptors, then a TSS descriptor), loads it and the TR.
// The TSS is never used for a stack switch: the host IDT has no IST
// entries and the host never leaves ring 0.
func hostSegments(h *Host, page []byte) (HostSegments, uint64, error) {
	s := h.Segments()
	for _, sel := range []uint16{s.CS, s.SS, s.DS, s.ES, s.FS, s.GS, s.TR} {
		if sel&selectorRPLTI != 0 {
			return s, 0, fmt.Errorf("%w: selector %#x has RPL or TI set", ErrHostSegs, sel)
		}
	}
	if s.CS == 0 {
		return s, 0, fmt.Errorf("%w: CS selector 0", ErrHostSegs)
	}
	if s.TR != 0 {
		if int(s.TR)+15 > int(s.GDTRLimit) {
			return s, 0, fmt.Errorf("%w: TR %#x beyond the GDT limit %#x", ErrHostSegs, s.TR, s.GDTRLimit)
		}
		d := h.Linear(s.GDTRBase+uint64(s.TR), 16)
		if len(d) < 16 {
			return s, 0, fmt.Errorf("%w: no view of the TSS descriptor at %#x", ErrHostSegs, s.GDTRBase+uint64(s.TR))
		}
		return s, systemDescriptorBase(d), nil
	}
	n := int(s.GDTRLimit) + 1
	if n%descriptorSize != 0 || n > gdtMaxOld || len(page) < hv.PageSize {
		return s, 0, fmt.Errorf("%w: GDT limit %#x", ErrHostSegs, s.GDTRLimit)
	}
	old := h.Linear(s.GDTRBase, n)
	if len(old) != n {
		return s, 0, fmt.Errorf("%w: no view of the GDT at %#x", ErrHostSegs, s.GDTRBase)
	}
	clear(page)
	copy(page, old)
	tss := page[hostTSSOff : hostTSSOff+hostTSSSize]
	binary.LittleEndian.PutUint16(tss[tssIOMapBase:], hostTSSSize)
	tssBase := addrOf(tss)
	lo, hi := tssDescriptor(tssBase, hostTSSLimit)
	binary.LittleEndian.PutUint64(page[n:], lo)
	binary.LittleEndian.PutUint64(page[n+8:], hi)
	s.TR = uint16(n)
	s.GDTRBase = addrOf(page)
	s.GDTRLimit = uint16(n + 16 - 1)
	h.LoadGDT(s.GDTRBase, s.GDTRLimit, s.TR)
	return s, tssBase, nil
}

// Setup detects VMX with EPT, VPIDs and unrestricted guests, turns it on
// and returns the backend. It acts on the boot CPU through cpuid, rdmsr
// and wrmsr and this package's instructions (HardwareHost): see
// SetupHost. Its pages come from pool.
func Setup(cpuid CPUIDFunc, rdmsr func(uint32) uint64, wrmsr func(uint32, uint64),
	pool *vmm.RAMPool, mem hv.PhysMemory, view func(hv.PA, uint64) []byte) (*Ops, error) {
	return SetupHost(HardwareHost(cpuid, rdmsr, wrmsr), pool, mem, view)
}

// SetupHost is Setup on h:
//
//  1. CPUID.1:ECX.VMX must be set;
//  2. IA32_FEATURE_CONTROL is enabled and locked if the firmware left it
//     unlocked (an error if it locked VMX off);
//  3. the capability MSRs must allow the controls (Caps.Controls) and
//     the features (Caps.Check) tamavisor needs;
//  4. CR0 and CR4 get the bits VMX operation fixes (24.8 "Restrictions
//     on VMX Operation"), CR4.VMXE among them;
//  5. the host gets a TSS and task register if it has none
//     (hostSegments);
//  6. VMXON, on a region from pool.
//
// Every error names what is missing with the register values.
func SetupHost(h *Host, pool *vmm.RAMPool, mem hv.PhysMemory, view func(hv.PA, uint64) []byte) (*Ops, error) {
	if _, _, ecx, _ := h.CPUID(CPUID_FEATURES, 0); ecx&CPUID_1_ECX_VMX == 0 {
		return nil, fmt.Errorf("%w: CPUID.1:ECX=%#x (Bochs: a cpu model with VMX, e.g. corei7_skylake_x)", ErrNoVMX, ecx)
	}
	fc := FeatureControl(h.RDMSR(IA32_FEATURE_CONTROL))
	want, err := fc.Enable()
	if err != nil {
		return nil, err
	}
	if want != fc {
		h.WRMSR(IA32_FEATURE_CONTROL, uint64(want))
	}
	caps := ReadCaps(h.RDMSR)
	if err := caps.Check(); err != nil {
		return nil, err
	}
	if _, err := caps.Controls(); err != nil {
		return nil, err
	}

	chunk, err := pool.Alloc(vmm.RAMAlign)
	if err != nil {
		return nil, fmt.Errorf("vmx: VMXON region: %w", err)
	}
	if caps.Basic.PhysAddr32() && uint64(chunk)+vmm.RAMAlign > 1<<32 {
		return nil, fmt.Errorf("%w: VMX structures must lie below 4 GiB, pool gave %v", ErrVMXCaps, chunk)
	}
	vmxon, gdtPage := chunk, chunk+hv.PageSize
	page := view(gdtPage, hv.PageSize)
	region := view(vmxon, hv.PageSize)
	if page == nil || region == nil {
		return nil, fmt.Errorf("vmx: no view of %v", chunk)
	}

	cr0 := h.ReadCR0()
	if n := FixedCR(cr0, caps.CR0Fixed0, caps.CR0Fixed1); n != cr0 {
		h.WriteCR0(n)
	}
	cr4 := h.ReadCR4()
	if n := FixedCR(cr4|CR4_VMXE, caps.CR4Fixed0, caps.CR4Fixed1); n != cr4 {
		h.WriteCR4(n)
	}

	segs, trBase, err := hostSegments(h, page)
	if err != nil {
		return nil, err
	}

	clear(region)
	binary.LittleEndian.PutUint32(region, caps.Basic.Revision())
	if st := h.VMXON(vmxon); st != VMSUCCEED {
		return nil, fmt.Errorf("%w (%v): region %v CR0=%#x CR4=%#x IA32_FEATURE_CONTROL=%#x", ErrVMXON, st, vmxon,
			h.ReadCR0(), h.ReadCR4(), h.RDMSR(IA32_FEATURE_CONTROL))
	}
	hs := HostState{
		CR0: h.ReadCR0(), CR3: h.ReadCR3(), CR4: h.ReadCR4(),
		CS: segs.CS, SS: segs.SS, DS: segs.DS, ES: segs.ES, FS: segs.FS, GS: segs.GS, TR: segs.TR,
		FSBase: h.RDMSR(IA32_FS_BASE), GSBase: h.RDMSR(IA32_GS_BASE), TRBase: trBase,
		GDTRBase: segs.GDTRBase, IDTRBase: segs.IDTRBase,
		EFER: h.RDMSR(IA32_EFER), PAT: h.RDMSR(IA32_PAT), RIP: h.ExitRIP,
	}
	return NewOps(h, caps, hs)
}
