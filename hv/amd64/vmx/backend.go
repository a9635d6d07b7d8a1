// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"fmt"
	"sync"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/amd64"
)

// Access-rights format of the guest segment registers (Intel SDM Vol.
// 3C, 25.4.1 "Guest Register State", table "Format of Access Rights"):
// the descriptor's type, S, DPL, P, AVL, L, D/B and G bits, plus an
// "unusable" bit for a register loaded with a null selector.
const (
	AR_TYPE_MASK = 0xf
	AR_S         = 1 << 4
	AR_DPL_SHIFT = 5
	AR_DPL_MASK  = 0x3
	AR_P         = 1 << 7
	AR_AVL       = 1 << 12
	AR_L         = 1 << 13
	AR_DB        = 1 << 14
	AR_G         = 1 << 15
	AR_UNUSABLE  = 1 << 16
	AR_RESERVED  = 0xfffe_0f00 // bits 31:17 and 11:8
)

// Segment types the backend loads (Vol. 3A, 3.4.5.1 "Code- and
// Data-Segment Descriptor Types", 3.5 "System Descriptor Types").
const (
	SEG_TYPE_DATA_RW_ACCESSED = 0x3
	SEG_TYPE_CODE_RX_ACCESSED = 0xb
	SEG_TYPE_LDT              = 0x2
	SEG_TYPE_TSS16_BUSY       = 0x3
	SEG_TYPE_TSS_BUSY         = 0xb // busy 32-bit TSS, or 64-bit in IA-32e mode
)

// AccessRights is a segment access-rights field.
type AccessRights uint32

// NewAccessRights encodes a usable segment's access rights.
func NewAccessRights(typ uint8, s bool, dpl uint8, l, db, g bool) AccessRights {
	a := AccessRights(typ&AR_TYPE_MASK) | AccessRights(dpl&AR_DPL_MASK)<<AR_DPL_SHIFT | AR_P
	if s {
		a |= AR_S
	}
	if l {
		a |= AR_L
	}
	if db {
		a |= AR_DB
	}
	if g {
		a |= AR_G
	}
	return a
}

func (a AccessRights) Type() uint8      { return uint8(a & AR_TYPE_MASK) }
func (a AccessRights) S() bool          { return a&AR_S != 0 }
func (a AccessRights) DPL() uint8       { return uint8(a >> AR_DPL_SHIFT & AR_DPL_MASK) }
func (a AccessRights) Present() bool    { return a&AR_P != 0 }
func (a AccessRights) Long() bool       { return a&AR_L != 0 }
func (a AccessRights) DB() bool         { return a&AR_DB != 0 }
func (a AccessRights) Granular() bool   { return a&AR_G != 0 }
func (a AccessRights) Unusable() bool   { return a&AR_UNUSABLE != 0 }
func (a AccessRights) Reserved() uint32 { return uint32(a) & AR_RESERVED }

// Interruptibility state and activity state (25.4.2 "Guest Non-Register
// State").
const (
	INTERRUPTIBILITY_STI    = 1 << 0 // blocking by STI
	INTERRUPTIBILITY_MOV_SS = 1 << 1 // blocking by MOV SS or POP SS
	INTERRUPTIBILITY_SMI    = 1 << 2
	INTERRUPTIBILITY_NMI    = 1 << 3
	INTERRUPTIBILITY_SHADOW = INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS
	ACTIVITY_ACTIVE         = 0
)

// Exit qualification for control-register accesses (28.2.1, table "Exit
// Qualification for Control-Register Accesses").
const (
	CR_QUAL_NUMBER_MASK = 0xf
	CR_QUAL_TYPE_SHIFT  = 4
	CR_QUAL_TYPE_MASK   = 0x3
	CR_QUAL_REG_SHIFT   = 8
	CR_QUAL_REG_MASK    = 0xf
	CR_QUAL_LMSW_SHIFT  = 16
	CR_QUAL_LMSW_MASK   = 0xffff
	CR_ACCESS_MOV_TO    = 0
	CR_ACCESS_MOV_FROM  = 1
	CR_ACCESS_CLTS      = 2
	CR_ACCESS_LMSW      = 3
)

// Guest state tamavisor gives every vCPU (SDM Vol. 3A, 10.1.1 "Processor
// State After Reset" for the FPU, DR7 and PAT values).
const (
	defaultPAT  = 0x0007_0406_0007_0406 // the power-on PAT
	fpuAreaSize = 512                   // one FXSAVE image
	fxsaveFCW   = 0                     // x87 control word
	fxsaveMXCSR = 24                    // SSE control/status
	resetFCW    = 0x037f
	resetMXCSR  = 0x1f80
	resetDR7    = 0x400
	pvhCodeSel  = 0x10
	pvhDataSel  = 0x18
	pvhCR0      = CR0_PE | CR0_ET // what the guest reads at the PVH entry
	flatLimit   = 0xffff_ffff
	dtLimit     = 0xffff
	vectorDB    = 1

	// Exceptions intercepted to be reflected (hv/amd64 exits.go): #DB
	// and #AC, against the benign-exception delivery loops of
	// CVE-2015-5307 and CVE-2015-8104.
	interceptedExceptions = 1<<vectorDB | 1<<VECTOR_AC

	// PAE page-directory-pointer-table entries (Vol. 3A, 5.4.1 "PDPTE
	// Registers"): present bit and the bits that must be 0 (2:1, 8:5,
	// 63:52; bits MAXPHYADDR-1:52 are left to the processor).
	pdptePresent  = 1 << 0
	pdpteReserved = 0xfff0_0000_0000_01e6
	pdpteCount    = 4
)

// passMSRs are the MSRs the guest reads and writes without an exit, as
// on SVM. FS and GS base and the SYSENTER MSRs are guest-state fields of
// the VMCS, switched by every VM entry and exit (25.4.1). lazyMSRs are
// not in the VMCS (IA32_KERNEL_GS_BASE also changes under SWAPGS without
// an exit): see Ops.claimMSRs.
var (
	passMSRs = [...]uint32{IA32_FS_BASE, IA32_GS_BASE, IA32_SYSENTER_CS, IA32_SYSENTER_ESP, IA32_SYSENTER_EIP,
		IA32_KERNEL_GS_BASE, IA32_STAR, IA32_LSTAR, IA32_CSTAR, IA32_FMASK}
	lazyMSRs = [...]uint32{IA32_KERNEL_GS_BASE, IA32_STAR, IA32_LSTAR, IA32_CSTAR, IA32_FMASK}
)

// Ops is the VMX backend (amd64.VendorOps).
//
// Every vCPU of every VM runs on the boot processor in turn. The MSRs
// the VMCS does not switch (lazyMSRs) stay in the processor for the vCPU
// that ran last: claimMSRs saves them (RDMSR) into that vCPU and loads
// the next one's (WRMSR) only when another vCPU enters. This relies on
// the hypervisor itself never using SYSCALL, SWAPGS or
// IA32_KERNEL_GS_BASE, which holds for TamaGo (ring 0 only, TLS in FS).
type Ops struct {
	Caps     Caps
	Controls Controls
	Host     HostState

	h     *Host
	vpids *VPIDs
	// Guest CR0 and CR4 bits the host owns (CR0/CR4 guest/host masks).
	cr0Mask, cr4Mask uint64
	inveptType       uint64
	invvpidType      uint64

	mu       sync.Mutex
	msrOwner *vcpu
}

// NewOps makes the backend over a processor in VMX root operation
// (after SetupHost's VMXON). Host tests give it fake hooks.
//
// The CR0 guest/host mask is IA32_VMX_CR0_FIXED0 without PE and PG: with
// unrestricted guests those two are the guest's (27.3.1.1), the other
// fixed-1 bits (NE on every processor so far) are kept set in the real
// CR0 and the guest reads its own value from the read shadow. A guest
// MOV to CR0 that changes a masked bit exits and is emulated by Enter.
// The CR4 mask is FIXED0 (VMXE) plus VMXE: the guest reads CR4.VMXE as
// 0 and setting it raises #GP, as without VMX (CPUID hides VMX).
func NewOps(h *Host, caps Caps, hs HostState) (*Ops, error) {
	ctl, err := caps.Controls()
	if err != nil {
		return nil, err
	}
	if err := caps.Check(); err != nil {
		return nil, err
	}
	o := &Ops{Caps: caps, Controls: ctl, Host: hs, h: h, vpids: NewVPIDs(0xffff),
		cr0Mask:     caps.CR0Fixed0 &^ (CR0_PE | CR0_PG),
		cr4Mask:     caps.CR4Fixed0 | CR4_VMXE,
		inveptType:  INVEPT_ALL_CONTEXT,
		invvpidType: INVVPID_ALL_CONTEXT,
	}
	if caps.EPTVPID.INVEPTSingleContext() {
		o.inveptType = INVEPT_SINGLE_CONTEXT
	}
	if caps.EPTVPID.INVVPIDSingleContext() {
		o.invvpidType = INVVPID_SINGLE_CONTEXT
	}
	return o, nil
}

// Name implements amd64.VendorOps.
func (o *Ops) Name() hv.Vendor { return hv.VendorVMX }

// guestCR0 is the real CR0 for a guest-visible value: the masked bits
// forced as VMX operation requires (PE and PG excepted).
func (o *Ops) guestCR0(v uint64) uint64 {
	return FixedCR(v, o.Caps.CR0Fixed0&^(CR0_PE|CR0_PG), o.Caps.CR0Fixed1|CR0_PE|CR0_PG)
}

// guestCR4 is the real CR4 for a guest-visible value.
func (o *Ops) guestCR4(v uint64) uint64 { return FixedCR(v, o.Caps.CR4Fixed0, o.Caps.CR4Fixed1) }

// claimMSRs puts v's lazyMSRs in the processor before v enters.
func (o *Ops) claimMSRs(v *vcpu) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.msrOwner == v {
		return
	}
	if old := o.msrOwner; old != nil {
		for i, m := range lazyMSRs {
			old.msrs[i] = o.h.RDMSR(m)
		}
	}
	for i, m := range lazyMSRs {
		o.h.WRMSR(m, v.msrs[i])
	}
	o.msrOwner = v
}

// releaseMSRs forgets v as the owner of the processor's lazyMSRs (its
// values are being reset or the vCPU is going away).
func (o *Ops) releaseMSRs(v *vcpu) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.msrOwner == v {
		o.msrOwner = nil
	}
}

// guest is one VM: its EPT and I/O and MSR bitmaps, shared by its vCPUs.
type guest struct {
	ops         *Ops
	ept         *EPT
	io          *IOBitmaps
	msr         *MSRBitmap
	ioPA, msrPA hv.PA
	alloc       hv.PageAllocator
	mem         hv.PhysMemory
	view        func(hv.PA, uint64) []byte
	vcpus       []*vcpu
	flushEPT    bool // INVEPT before the next entry
	closed      bool
}

// allocContig takes n pages from alloc and checks they are physically
// contiguous (the I/O bitmaps are laid over one view).
func allocContig(alloc hv.PageAllocator, n int) (hv.PA, error) {
	first, err := alloc.AllocPage()
	if err != nil {
		return 0, err
	}
	for i := 1; i < n; i++ {
		p, err := alloc.AllocPage()
		if err != nil {
			return 0, err
		}
		if p != first+hv.PA(i*hv.PageSize) {
			return 0, fmt.Errorf("vmx: bitmap pages not contiguous (%v after %v)", p, first)
		}
	}
	return first, nil
}

// NewGuest implements amd64.VendorOps: EPT (4 KiB pages only when the
// processor lacks 2 MiB EPT pages), I/O bitmaps A and B and the MSR
// bitmap, every port and MSR intercepted but passMSRs.
func (o *Ops) NewGuest(alloc hv.PageAllocator, mem hv.PhysMemory, view func(hv.PA, uint64) []byte) (amd64.Guest, error) {
	g := &guest{ops: o, alloc: alloc, mem: mem, view: view, flushEPT: true}
	var err error
	if g.ioPA, err = allocContig(alloc, 2); err != nil {
		return nil, fmt.Errorf("I/O bitmaps: %w", err)
	}
	if g.msrPA, err = alloc.AllocPage(); err != nil {
		return nil, fmt.Errorf("MSR bitmap: %w", err)
	}
	g.ept = &EPT{NoLargePages: !o.Caps.EPTVPID.Pages2M()}
	if err := g.ept.Init(alloc, mem); err != nil {
		return nil, fmt.Errorf("EPT: %w", err)
	}
	if g.io = asIOBitmaps(view(g.ioPA, 2*IO_BITMAP_SIZE)); g.io == nil {
		return nil, fmt.Errorf("vmx: no view of the I/O bitmaps at %v", g.ioPA)
	}
	if g.msr = asMSRBitmap(view(g.msrPA, MSR_BITMAP_SIZE)); g.msr == nil {
		return nil, fmt.Errorf("vmx: no view of the MSR bitmap at %v", g.msrPA)
	}
	g.io.InterceptAll()
	g.msr.InterceptAll()
	for _, m := range passMSRs {
		if err := g.msr.Allow(m, true, true); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Map implements amd64.Guest. The next entry of any of the VM's vCPUs
// invalidates the EPT's cached translations first (a previous VM's
// tables may have used the same root page).
func (g *guest) Map(gpa hv.IPA, pa hv.PA, size uint64, a amd64.MapAttr) error {
	g.flushEPT = true
	return g.ept.Map(gpa, pa, size, Attr{Write: a.Write, Exec: a.Exec, Uncached: a.Uncached})
}

// AllowPorts implements amd64.Guest; the part of the range beyond port
// FFFF is ignored.
func (g *guest) AllowPorts(base uint16, n int) {
	if rest := IO_BITMAP_B_FIRST*2 - int(base); n > rest {
		n = rest
	}
	if n > 0 {
		_ = g.io.Allow(base, n) // cannot fail: 1 <= n, base+n <= 0x10000
	}
}

// Close implements amd64.Guest: the vCPUs' VPIDs go back to the
// allocator (each is invalidated before it is used again).
func (g *guest) Close() {
	if g.closed {
		return
	}
	g.closed = true
	for _, v := range g.vcpus {
		g.ops.releaseMSRs(v)
		g.ops.vpids.Free(v.vpid)
	}
}

// NewVCPU implements amd64.Guest: a VMCS region, an FPU save page and a
// VPID. Each vCPU has its own VPID although a VM has one EPT: its vCPUs
// share the boot processor, and linear translations tagged with one VPID
// would leak from one vCPU's address space into another's.
func (g *guest) NewVCPU(index, pcpu int) (amd64.Backend, error) {
	if pcpu != 0 {
		return nil, fmt.Errorf("vmx: vCPUs run on the boot CPU only (no VMX on application processors yet), not CPU %d", pcpu)
	}
	o := g.ops
	pa, err := g.alloc.AllocPage()
	if err != nil {
		return nil, fmt.Errorf("VMCS: %w", err)
	}
	fpuPA, err := g.alloc.AllocPage()
	if err != nil {
		return nil, fmt.Errorf("FPU area: %w", err)
	}
	v := &vcpu{g: g, vmcsPA: pa, vmcs: o.h.VMCS(pa), fpu: g.view(fpuPA, hv.PageSize)}
	if v.fpu == nil {
		return nil, fmt.Errorf("vmx: no view of the FPU area at %v", fpuPA)
	}
	if v.vpid, err = o.vpids.Alloc(); err != nil {
		return nil, err
	}
	// 25.2 "Format of the VMCS Region": revision identifier, shadow
	// indicator 0, VMX-abort indicator 0; VMCLEAR (in ResetPVH)
	// initialises the rest.
	g.mem.Write64(pa, uint64(o.Caps.Basic.Revision()))
	v.fpuAddr = uintptr(addrOf(v.fpu))
	g.vcpus = append(g.vcpus, v)
	v.ResetPVH(0, 0)
	return v, nil
}

// vcpu is one VMX vCPU (amd64.Backend).
type vcpu struct {
	g        *guest
	vmcs     VMCS
	vmcsPA   hv.PA
	vpid     uint16
	launched bool // VMRESUME, not VMLAUNCH
	fpu      []byte
	fpuAddr  uintptr
	regs     amd64.Regs
	gprs     GPRs

	// Control words as last written.
	proc, entry uint32
	tscOffset   uint64
	flushVPID   bool // INVVPID before the next entry

	// The event to inject at the next entry (VM_ENTRY_INTR_INFO_FIELD).
	event    IntrInfo
	eventErr uint32
	eventLen uint32
	// The exception the last exit reported, for reflecting a software
	// exception with its own type and length.
	lastExc    IntrInfo
	lastExcLen uint32
	// Interruptibility state at the last exit and the RIP it applies to:
	// once RIP moves past the exiting instruction the STI/MOV SS shadow
	// is over.
	intrState uint32
	exitRIP   uint64

	msrs [len(lazyMSRs)]uint64

	// VMFails counts VMLAUNCH/VMRESUME that failed as instructions;
	// CRExits the control-register writes Enter emulated.
	VMFails, CRExits uint64
}

func (v *vcpu) Vendor() hv.Vendor { return hv.VendorVMX }
func (v *vcpu) Regs() *amd64.Regs { return &v.regs }

// CPL implements amd64.Backend: the DPL of SS (25.4.1: "the value of
// the DPL field for SS is always equal to the logical processor's
// current privilege level").
func (v *vcpu) CPL() uint8 { return AccessRights(v.vmcs.Read(GUEST_SS_AR_BYTES)).DPL() }

// segment is one guest segment register's four fields.
type segment struct {
	sel, base, limit, ar Field
}

var (
	segES   = segment{GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES}
	segCS   = segment{GUEST_CS_SELECTOR, GUEST_CS_BASE, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES}
	segSS   = segment{GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES}
	segDS   = segment{GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES}
	segFS   = segment{GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES}
	segGS   = segment{GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES}
	segLDTR = segment{GUEST_LDTR_SELECTOR, GUEST_LDTR_BASE, GUEST_LDTR_LIMIT, GUEST_LDTR_AR_BYTES}
	segTR   = segment{GUEST_TR_SELECTOR, GUEST_TR_BASE, GUEST_TR_LIMIT, GUEST_TR_AR_BYTES}
)

func (v *vcpu) setSegment(s segment, sel uint16, base uint64, limit uint32, ar AccessRights) {
	v.vmcs.Write(s.sel, uint64(sel))
	v.vmcs.Write(s.base, base)
	v.vmcs.Write(s.limit, uint64(limit))
	v.vmcs.Write(s.ar, uint64(ar))
}

// writeHost fills the host-state area (25.5). HOST_RSP is the world
// switch's; the SYSENTER fields are 0 (the host never uses SYSENTER).
func writeHost(s VMCS, h *HostState) {
	s.Write(HOST_CR0, h.CR0)
	s.Write(HOST_CR3, h.CR3)
	s.Write(HOST_CR4, h.CR4)
	s.Write(HOST_ES_SELECTOR, uint64(h.ES))
	s.Write(HOST_CS_SELECTOR, uint64(h.CS))
	s.Write(HOST_SS_SELECTOR, uint64(h.SS))
	s.Write(HOST_DS_SELECTOR, uint64(h.DS))
	s.Write(HOST_FS_SELECTOR, uint64(h.FS))
	s.Write(HOST_GS_SELECTOR, uint64(h.GS))
	s.Write(HOST_TR_SELECTOR, uint64(h.TR))
	s.Write(HOST_FS_BASE, h.FSBase)
	s.Write(HOST_GS_BASE, h.GSBase)
	s.Write(HOST_TR_BASE, h.TRBase)
	s.Write(HOST_GDTR_BASE, h.GDTRBase)
	s.Write(HOST_IDTR_BASE, h.IDTRBase)
	s.Write(HOST_IA32_SYSENTER_CS, 0)
	s.Write(HOST_IA32_SYSENTER_ESP, 0)
	s.Write(HOST_IA32_SYSENTER_EIP, 0)
	s.Write(HOST_IA32_EFER, h.EFER)
	s.Write(HOST_IA32_PAT, h.PAT)
	s.Write(HOST_RIP, h.RIP)
}

// ResetPVH implements amd64.Backend (Xen PVH boot ABI: 32-bit protected
// mode, paging off, flat 4 GiB CS and data segments, EBX = start info).
// It clears the VMCS (VMCLEAR: the next entry is a VMLAUNCH) and writes
// every control, host and guest field:
//
//   - CS: selector 0x10, execute/read accessed code, 32-bit (D/B), 4 GiB
//     (G); DS, ES, SS, FS, GS: 0x18, read/write accessed data, 32-bit,
//     4 GiB. DPL 0, so CPL 0.
//   - LDTR unusable; TR usable as VM entry demands (27.3.1.2): selector
//     0, base 0, limit 0x67, busy 32-bit TSS (also valid as a busy 64-bit
//     TSS once the guest enters IA-32e mode).
//   - GDTR and IDTR: base 0, limit 0xffff (the guest loads its own).
//   - CR0 reads as PE|ET; CR4, CR3 and EFER are 0; DR7 0x400; the
//     power-on PAT; no interrupt shadow, activity state active, no VMCS
//     link.
func (v *vcpu) ResetPVH(entry, startInfo uint64) {
	g, o, s := v.g, v.g.ops, v.vmcs
	o.releaseMSRs(v)
	if st := o.h.VMCLEAR(v.vmcsPA); st != VMSUCCEED {
		v.VMFails++
	}
	v.launched = false
	v.flushVPID = true
	v.proc, v.entry = o.Controls.Proc, o.Controls.Entry

	// VM-execution, VM-exit and VM-entry controls (25.6-25.8).
	s.Write(PIN_BASED_VM_EXEC_CONTROL, uint64(o.Controls.Pin))
	s.Write(CPU_BASED_VM_EXEC_CONTROL, uint64(v.proc))
	s.Write(SECONDARY_VM_EXEC_CONTROL, uint64(o.Controls.Proc2))
	s.Write(VM_EXIT_CONTROLS, uint64(o.Controls.Exit))
	s.Write(VM_ENTRY_CONTROLS, uint64(v.entry))
	s.Write(EXCEPTION_BITMAP, interceptedExceptions)
	s.Write(PAGE_FAULT_ERROR_CODE_MASK, 0)
	s.Write(PAGE_FAULT_ERROR_CODE_MATCH, 0)
	s.Write(CR3_TARGET_COUNT, 0)
	s.Write(IO_BITMAP_A, uint64(g.ioPA))
	s.Write(IO_BITMAP_B, uint64(g.ioPA)+IO_BITMAP_SIZE)
	s.Write(MSR_BITMAP, uint64(g.msrPA))
	s.Write(TSC_OFFSET, v.tscOffset)
	s.Write(EPT_POINTER, g.ept.EPTP())
	s.Write(VIRTUAL_PROCESSOR_ID, uint64(v.vpid))
	s.Write(VM_EXIT_MSR_STORE_COUNT, 0)
	s.Write(VM_EXIT_MSR_LOAD_COUNT, 0)
	s.Write(VM_ENTRY_MSR_LOAD_COUNT, 0)
	s.Write(VM_ENTRY_INTR_INFO_FIELD, 0)
	s.Write(VM_ENTRY_EXCEPTION_ERROR_CODE, 0)
	s.Write(VM_ENTRY_INSTRUCTION_LEN, 0)
	s.Write(CR0_GUEST_HOST_MASK, o.cr0Mask)
	s.Write(CR4_GUEST_HOST_MASK, o.cr4Mask)
	s.Write(CR0_READ_SHADOW, pvhCR0)
	s.Write(CR4_READ_SHADOW, 0)

	writeHost(s, &o.Host)

	// Guest state (25.4).
	code := NewAccessRights(SEG_TYPE_CODE_RX_ACCESSED, true, 0, false, true, true)
	data := NewAccessRights(SEG_TYPE_DATA_RW_ACCESSED, true, 0, false, true, true)
	v.setSegment(segCS, pvhCodeSel, 0, flatLimit, code)
	for _, d := range []segment{segDS, segES, segSS, segFS, segGS} {
		v.setSegment(d, pvhDataSel, 0, flatLimit, data)
	}
	v.setSegment(segLDTR, 0, 0, 0, AR_UNUSABLE)
	v.setSegment(segTR, 0, 0, hostTSSLimit, NewAccessRights(SEG_TYPE_TSS_BUSY, false, 0, false, false, false))
	s.Write(GUEST_GDTR_BASE, 0)
	s.Write(GUEST_GDTR_LIMIT, dtLimit)
	s.Write(GUEST_IDTR_BASE, 0)
	s.Write(GUEST_IDTR_LIMIT, dtLimit)
	s.Write(GUEST_CR0, o.guestCR0(pvhCR0))
	s.Write(GUEST_CR3, 0)
	s.Write(GUEST_CR4, o.guestCR4(0))
	s.Write(GUEST_DR7, resetDR7)
	s.Write(GUEST_IA32_DEBUGCTL, 0)
	s.Write(GUEST_IA32_EFER, 0)
	s.Write(GUEST_IA32_PAT, defaultPAT)
	s.Write(GUEST_SYSENTER_CS, 0)
	s.Write(GUEST_SYSENTER_ESP, 0)
	s.Write(GUEST_SYSENTER_EIP, 0)
	s.Write(GUEST_PENDING_DBG_EXCEPTIONS, 0)
	s.Write(GUEST_INTERRUPTIBILITY_INFO, 0)
	s.Write(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE)
	s.Write(VMCS_LINK_POINTER, VMCS_LINK_POINTER_0)
	for _, f := range guestPDPTEs {
		s.Write(f, 0)
	}

	v.regs = amd64.Regs{RBX: startInfo, RIP: entry, RFLAGS: amd64.RFLAGS_RESERVED}
	s.Write(GUEST_RIP, entry)
	s.Write(GUEST_RSP, 0)
	s.Write(GUEST_RFLAGS, amd64.RFLAGS_RESERVED)
	v.event, v.lastExc, v.intrState, v.exitRIP = 0, 0, 0, entry
	v.msrs = [len(lazyMSRs)]uint64{}
	clear(v.fpu[:2*fpuAreaSize])
	v.fpu[fxsaveFCW], v.fpu[fxsaveFCW+1] = resetFCW&0xff, resetFCW>>8
	v.fpu[fxsaveMXCSR], v.fpu[fxsaveMXCSR+1] = resetMXCSR&0xff, resetMXCSR>>8
}

var guestPDPTEs = [pdpteCount]Field{GUEST_PDPTE0, GUEST_PDPTE1, GUEST_PDPTE2, GUEST_PDPTE3}

// prepare writes what the handlers changed since the last exit and
// flushes stale translations, just before an entry.
func (v *vcpu) prepare() {
	g, o, s := v.g, v.g.ops, v.vmcs
	if g.flushEPT {
		if o.h.INVEPT(o.inveptType, g.ept.EPTP()) == VMSUCCEED {
			g.flushEPT = false
		}
	}
	if v.flushVPID {
		if o.h.INVVPID(o.invvpidType, v.vpid) == VMSUCCEED {
			v.flushVPID = false
		}
	}
	o.claimMSRs(v)
	r := &v.regs
	s.Write(GUEST_RIP, r.RIP)
	s.Write(GUEST_RSP, r.RSP)
	s.Write(GUEST_RFLAGS, r.RFLAGS)
	if v.intrState&INTERRUPTIBILITY_SHADOW != 0 && r.RIP != v.exitRIP {
		// The handler completed the instruction: its shadow is over.
		v.intrState &^= INTERRUPTIBILITY_SHADOW
		s.Write(GUEST_INTERRUPTIBILITY_INFO, uint64(v.intrState))
	}
	s.Write(VM_ENTRY_INTR_INFO_FIELD, uint64(v.event))
	if v.event.Valid() {
		if v.event.ErrorValid() {
			s.Write(VM_ENTRY_EXCEPTION_ERROR_CODE, uint64(v.eventErr))
		}
		switch v.event.Type() {
		case INTR_TYPE_SOFTWARE_INTERRUPT, INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION, INTR_TYPE_SOFTWARE_EXCEPTION:
			s.Write(VM_ENTRY_INSTRUCTION_LEN, uint64(v.eventLen))
		}
	}
	v.gprs = GPRs{RAX: r.RAX, RBX: r.RBX, RCX: r.RCX, RDX: r.RDX, RSI: r.RSI, RDI: r.RDI, RBP: r.RBP,
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15}
}

// Enter implements amd64.Backend. After a VM exit it reads the exit
// information and the guest's RIP, RSP and RFLAGS, decodes the exit
// (Decode), queues again an event whose delivery the exit interrupted
// (IDT-vectoring information, 28.2.4), and sets "IA-32e mode guest" to
// the guest's EFER.LMA. Control-register writes that exit because they
// change a bit the host owns are emulated here and the guest re-entered
// (emulateCR).
//
// A VMLAUNCH or VMRESUME that fails as an instruction (VMfailInvalid,
// VMfailValid) does not stop the hypervisor: it is reported as
// ExitInvalidState with VM_EXIT_REASON = EXIT_REASON_ENTRY_FAILURE |
// VMFAIL_BASIC_REASON and the VM-instruction error number (0 for
// VMfailInvalid) in the raw record's Qualification.
func (v *vcpu) Enter(e *hv.Exit) {
	o := v.g.ops
	for {
		v.prepare()
		st := o.h.Run(v.vmcsPA, v.launched, &v.gprs, v.fpuAddr)
		gp, r := &v.gprs, &v.regs
		r.RAX, r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP = gp.RAX, gp.RBX, gp.RCX, gp.RDX, gp.RSI, gp.RDI, gp.RBP
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15 = gp.R8, gp.R9, gp.R10, gp.R11, gp.R12, gp.R13, gp.R14, gp.R15
		v.event, v.lastExc = 0, 0
		if st != 0 {
			v.vmfail(st, e)
			return
		}
		raw := v.exitInfo()
		if raw.Reason&EXIT_REASON_ENTRY_FAILURE == 0 {
			// A VM entry that fails on the guest state leaves the
			// VMCS as it was (27.7 "VM-Entry Failures During or After
			// Loading Guest State"): only a real VM exit launches it.
			v.launched = true
		}
		if !v.handleExit(&raw) {
			Decode(raw, r.RIP, r.RAX, r.RCX, e)
			if e.Reason == hv.ExitException {
				v.lastExc, v.lastExcLen = IntrInfo(raw.IntrInfo), raw.InstrLen
			}
			return
		}
	}
}

// VMFAIL_BASIC_REASON marks, in bits 15:0 of a reported VM_EXIT_REASON,
// a VMLAUNCH/VMRESUME that failed as an instruction: no VM exit took
// place and Appendix C assigns no basic reason to it.
const VMFAIL_BASIC_REASON = 0xffff

// vmfail reports a failed VMPTRLD, HOST_RSP write, VMLAUNCH or VMRESUME.
func (v *vcpu) vmfail(st RunStatus, e *hv.Exit) {
	v.VMFails++
	raw := hv.VMXExit{Reason: EXIT_REASON_ENTRY_FAILURE | VMFAIL_BASIC_REASON}
	if st.Status() == VMFAIL_VALID {
		raw.Qualification = v.vmcs.Read(VM_INSTRUCTION_ERROR)
	}
	raw.InstrInfo = uint32(st)
	Decode(raw, v.regs.RIP, v.regs.RAX, v.regs.RCX, e)
}

// exitInfo reads the exit-information fields (25.9) and the guest state
// the handlers use.
func (v *vcpu) exitInfo() hv.VMXExit {
	s := v.vmcs
	raw := hv.VMXExit{
		Reason:        uint32(s.Read(VM_EXIT_REASON)),
		Qualification: s.Read(EXIT_QUALIFICATION),
		InstrLen:      uint32(s.Read(VM_EXIT_INSTRUCTION_LEN)),
		InstrInfo:     uint32(s.Read(VMX_INSTRUCTION_INFO)),
		IntrInfo:      uint32(s.Read(VM_EXIT_INTR_INFO)),
		IntrError:     uint32(s.Read(VM_EXIT_INTR_ERROR_CODE)),
	}
	switch raw.Reason & EXIT_REASON_BASIC_MASK {
	case EXIT_REASON_EPT_VIOLATION, EXIT_REASON_EPT_MISCONFIG:
		raw.GuestPhysical = s.Read(GUEST_PHYSICAL_ADDRESS)
		raw.GuestLinear = s.Read(GUEST_LINEAR_ADDRESS)
	}
	if raw.Reason&EXIT_REASON_ENTRY_FAILURE == 0 {
		// Valid only for a VM exit, not for a VM-entry failure.
		raw.IDTVectoring = uint32(s.Read(IDT_VECTORING_INFO_FIELD))
	}
	r := &v.regs
	r.RIP = s.Read(GUEST_RIP)
	r.RSP = s.Read(GUEST_RSP)
	r.RFLAGS = s.Read(GUEST_RFLAGS)
	v.exitRIP = r.RIP
	v.intrState = uint32(s.Read(GUEST_INTERRUPTIBILITY_INFO))
	return raw
}

// handleExit does the backend's part of an exit: the IA-32e mode guest
// control, re-injection, and emulation of control-register writes. It
// reports whether the exit was consumed (the guest is re-entered).
func (v *vcpu) handleExit(raw *hv.VMXExit) bool {
	s := v.vmcs
	if raw.Reason&EXIT_REASON_ENTRY_FAILURE != 0 {
		return false
	}
	// 27.3.1.1: with "load IA32_EFER", "IA-32e mode guest" must equal
	// EFER.LMA, which an unrestricted guest sets itself when it turns
	// paging on with EFER.LME.
	entry := v.entry &^ ENTRY_IA32E_MODE_GUEST
	if s.Read(GUEST_IA32_EFER)&EFER_LMA != 0 {
		entry |= ENTRY_IA32E_MODE_GUEST
	}
	if entry != v.entry {
		v.entry = entry
		s.Write(VM_ENTRY_CONTROLS, uint64(entry))
	}
	// 28.2.4 "Information for VM Exits During Event Delivery": an event
	// the exit interrupted is delivered again at the next entry, with
	// its error code and, for software events, instruction length.
	if idt := IntrInfo(raw.IDTVectoring); idt.Valid() {
		v.event = idt &^ INTR_INFO_NMI_UNBLOCKING // bits 30:12 are reserved in the entry field
		if idt.ErrorValid() {
			v.eventErr = uint32(s.Read(IDT_VECTORING_ERROR_CODE))
		}
		v.eventLen = raw.InstrLen
	}
	if raw.Reason&EXIT_REASON_BASIC_MASK == EXIT_REASON_CR_ACCESS && v.emulateCR(raw.Qualification, raw.InstrLen) {
		v.CRExits++
		return true
	}
	return false
}

// gpr returns the register numbered n in exit qualifications (28.2.1:
// 0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI, 8-15 R8-R15).
func (v *vcpu) gpr(n uint64) *uint64 {
	r := &v.regs
	return [...]*uint64{&r.RAX, &r.RCX, &r.RDX, &r.RBX, &r.RSP, &r.RBP, &r.RSI, &r.RDI,
		&r.R8, &r.R9, &r.R10, &r.R11, &r.R12, &r.R13, &r.R14, &r.R15}[n&CR_QUAL_REG_MASK]
}

// longMode64 reports whether the guest runs 64-bit code (IA-32e mode and
// CS.L), where MOV to CR takes 64-bit operands.
func (v *vcpu) longMode64() bool {
	return v.entry&ENTRY_IA32E_MODE_GUEST != 0 && AccessRights(v.vmcs.Read(GUEST_CS_AR_BYTES)).Long()
}

// visibleCR0 is CR0 as the guest sees it: its own bits, and the read
// shadow for those the host owns.
func (v *vcpu) visibleCR0() uint64 {
	m := v.g.ops.cr0Mask
	return v.vmcs.Read(GUEST_CR0)&^m | v.vmcs.Read(CR0_READ_SHADOW)&m
}

// emulateCR performs a MOV to CR0 or CR4, CLTS or LMSW that exited
// (26.1.3: the instruction would change a bit of the guest/host mask
// from its read-shadow value), as the processor would have without VMX
// (Vol. 3A, 2.5; Vol. 2 "MOV—Move to/from Control Registers"), raising
// #GP(0) where it would. It returns false for an access it does not
// emulate (MOV from CR; CR3 and CR8 do not exit under tamavisor's
// controls).
func (v *vcpu) emulateCR(q uint64, instrLen uint32) bool {
	cr := q & CR_QUAL_NUMBER_MASK
	typ := q >> CR_QUAL_TYPE_SHIFT & CR_QUAL_TYPE_MASK
	var ok bool
	switch {
	case typ == CR_ACCESS_MOV_TO && (cr == 0 || cr == 4):
		val := *v.gpr(q >> CR_QUAL_REG_SHIFT)
		if !v.longMode64() {
			val &= 0xffff_ffff
		}
		if cr == 0 {
			ok = v.setCR0(val)
		} else {
			ok = v.setCR4(val)
		}
	case typ == CR_ACCESS_CLTS && cr == 0:
		ok = v.setCR0(v.visibleCR0() &^ CR0_TS)
	case typ == CR_ACCESS_LMSW && cr == 0:
		// LMSW loads PE, MP, EM and TS; it can set PE but not clear it.
		src := q >> CR_QUAL_LMSW_SHIFT & CR_QUAL_LMSW_MASK
		cur := v.visibleCR0()
		ok = v.setCR0(cur&^(CR0_MP|CR0_EM|CR0_TS) | src&(CR0_PE|CR0_MP|CR0_EM|CR0_TS))
	default:
		return false
	}
	if ok {
		v.regs.RIP += uint64(instrLen)
	} else {
		v.InjectException(VECTOR_GP, 0, true)
	}
	return true
}

// setCR0 loads a guest CR0 value: the read shadow gets it, the real CR0
// the value with the host-owned bits forced, and the long-mode state
// follows a change of PG (Vol. 3A, 10.8.5 "Initializing IA-32e Mode").
// It returns false where the processor raises #GP.
func (v *vcpu) setCR0(val uint64) bool {
	o, s := v.g.ops, v.vmcs
	if val>>32 != 0 || val&^(o.Caps.CR0Fixed1|CR0_PE|CR0_PG) != 0 {
		return false
	}
	val &= cr0Defined // writes to the reserved bits 31:0 are ignored
	if val&CR0_PG != 0 && val&CR0_PE == 0 || val&CR0_NW != 0 && val&CR0_CD == 0 {
		return false
	}
	old := v.visibleCR0()
	cr4 := s.Read(GUEST_CR4)
	if val&CR0_PG == 0 && cr4&CR4_PCIDE != 0 {
		return false // paging cannot be turned off with PCIDs enabled
	}
	efer := s.Read(GUEST_IA32_EFER)
	entry := v.entry
	switch {
	case val&CR0_PG != 0 && old&CR0_PG == 0 && efer&EFER_LME != 0:
		if cr4&CR4_PAE == 0 {
			return false
		}
		efer |= EFER_LMA
		entry |= ENTRY_IA32E_MODE_GUEST
	case val&CR0_PG == 0 && old&CR0_PG != 0 && efer&EFER_LMA != 0:
		if v.longMode64() {
			return false // paging cannot be turned off in 64-bit mode
		}
		efer &^= EFER_LMA
		entry &^= ENTRY_IA32E_MODE_GUEST
	}
	if val&CR0_PG != 0 && cr4&CR4_PAE != 0 && efer&EFER_LMA == 0 && !v.loadPDPTEs() {
		return false
	}
	s.Write(GUEST_CR0, o.guestCR0(val))
	s.Write(CR0_READ_SHADOW, val)
	s.Write(GUEST_IA32_EFER, efer)
	if entry != v.entry {
		v.entry = entry
		s.Write(VM_ENTRY_CONTROLS, uint64(entry))
	}
	return true
}

// setCR4 loads a guest CR4 value. CR4.VMXE raises #GP: the guest's CPUID
// has no VMX.
func (v *vcpu) setCR4(val uint64) bool {
	o, s := v.g.ops, v.vmcs
	if val&CR4_VMXE != 0 || val&^o.Caps.CR4Fixed1 != 0 {
		return false
	}
	lma := s.Read(GUEST_IA32_EFER)&EFER_LMA != 0
	if lma && val&CR4_PAE == 0 || !lma && val&CR4_PCIDE != 0 {
		return false
	}
	if val&CR4_PCIDE != 0 && s.Read(GUEST_CR4)&CR4_PCIDE == 0 && s.Read(GUEST_CR3)&0xfff != 0 {
		return false // PCIDE may be set only with PCID 0 current
	}
	if v.visibleCR0()&CR0_PG != 0 && val&CR4_PAE != 0 && !lma && !v.loadPDPTEs() {
		return false
	}
	s.Write(GUEST_CR4, o.guestCR4(val))
	s.Write(CR4_READ_SHADOW, val)
	return true
}

// loadPDPTEs loads the four PAE PDPTEs from the guest's CR3 into the
// VMCS, which VM entry uses with EPT in PAE paging mode (27.3.2.4); the
// processor does it itself for the MOV to CR it executes. It reports
// false (#GP) for a table outside guest RAM or a present entry with
// reserved bits set.
func (v *vcpu) loadPDPTEs() bool {
	g := v.g
	base := v.vmcs.Read(GUEST_CR3) &^ 0x1f
	var e [pdpteCount]uint64
	for i := range e {
		pa, _, ok := g.ept.Translate(hv.IPA(base + uint64(8*i)))
		if !ok {
			return false
		}
		e[i] = g.mem.Read64(pa)
		if e[i]&pdptePresent != 0 && e[i]&pdpteReserved != 0 {
			return false
		}
	}
	for i, f := range guestPDPTEs {
		v.vmcs.Write(f, e[i])
	}
	return true
}

// protectedMode reports the guest's CR0.PE.
func (v *vcpu) protectedMode() bool { return v.vmcs.Read(GUEST_CR0)&CR0_PE != 0 }

// InjectException implements amd64.Backend. The error code is delivered
// exactly when the hardware would push one: for the vectors that have
// one, in protected mode (27.2.1.3: VM entry fails otherwise), whatever
// hasCode says. An exception the last exit reported as a software
// exception (INT3, INTO) or privileged software exception (INT1) is
// reflected with that type and the instruction length, so the guest
// resumes after the instruction.
func (v *vcpu) InjectException(vector uint8, code uint32, hasCode bool) {
	typ, length := uint8(INTR_TYPE_HARDWARE_EXCEPTION), uint32(0)
	if x := v.lastExc; x.Valid() && x.Vector() == vector {
		if t := x.Type(); t == INTR_TYPE_SOFTWARE_EXCEPTION || t == INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION {
			typ, length = t, v.lastExcLen
		}
	}
	errValid := typ == INTR_TYPE_HARDWARE_EXCEPTION && ExceptionHasErrorCode(vector) && v.protectedMode()
	v.event, v.eventErr, v.eventLen = NewIntrInfo(vector, typ, errValid), code, length
}

// shadow reports the STI/MOV SS interrupt shadow as it stands now.
func (v *vcpu) shadow() bool {
	return v.intrState&INTERRUPTIBILITY_SHADOW != 0 && v.regs.RIP == v.exitRIP
}

// Interruptible implements amd64.Backend: RFLAGS.IF, no interrupt
// shadow (GUEST_INTERRUPTIBILITY_INFO bits 1:0) and no event queued;
// VM entry refuses to inject an external interrupt otherwise (27.3.1.5).
func (v *vcpu) Interruptible() bool {
	return v.regs.RFLAGS&amd64.RFLAGS_IF != 0 && !v.shadow() && !v.event.Valid()
}

// InjectInterrupt implements amd64.Backend.
func (v *vcpu) InjectInterrupt(vector uint8) {
	v.event, v.eventErr, v.eventLen = InjectInterrupt(vector), 0, 0
}

// RequestInterruptWindow implements amd64.Backend with interrupt-window
// exiting (26.2 "Other Causes of VM Exits"): the guest exits as soon as
// RFLAGS.IF is set and no shadow blocks interrupts.
func (v *vcpu) RequestInterruptWindow(on bool) {
	p := v.proc &^ PROC_INTERRUPT_WINDOW_EXITING
	if on {
		p |= PROC_INTERRUPT_WINDOW_EXITING
	}
	if p != v.proc {
		v.proc = p
		v.vmcs.Write(CPU_BASED_VM_EXEC_CONTROL, uint64(p))
	}
}

// SetTSCOffset implements amd64.Backend.
func (v *vcpu) SetTSCOffset(off uint64) {
	v.tscOffset = off
	v.vmcs.Write(TSC_OFFSET, off)
}

// msrField returns the guest-state field an MSR lives in.
func msrField(msr uint32) (Field, bool) {
	switch msr {
	case IA32_EFER:
		return GUEST_IA32_EFER, true
	case IA32_PAT:
		return GUEST_IA32_PAT, true
	case IA32_FS_BASE:
		return GUEST_FS_BASE, true
	case IA32_GS_BASE:
		return GUEST_GS_BASE, true
	case IA32_SYSENTER_CS:
		return GUEST_SYSENTER_CS, true
	case IA32_SYSENTER_ESP:
		return GUEST_SYSENTER_ESP, true
	case IA32_SYSENTER_EIP:
		return GUEST_SYSENTER_EIP, true
	}
	return 0, false
}

func lazyIndex(msr uint32) int {
	for i, m := range lazyMSRs {
		if m == msr {
			return i
		}
	}
	return -1
}

// GuestMSR implements amd64.Backend.
func (v *vcpu) GuestMSR(msr uint32) (uint64, bool) {
	if f, ok := msrField(msr); ok {
		return v.vmcs.Read(f), true
	}
	if i := lazyIndex(msr); i >= 0 {
		o := v.g.ops
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.msrOwner == v {
			return o.h.RDMSR(msr), true
		}
		return v.msrs[i], true
	}
	return 0, false
}

// errMSRValue is a value the guest may not write (#GP).
var errMSRValue = fmt.Errorf("vmx: reserved MSR value")

// canonical reports whether a is a canonical 48-bit address.
func canonical(a uint64) bool { return uint64(int64(a<<16)>>16) == a }

// SetGuestMSR implements amd64.Backend. Values the processor would
// refuse with #GP are refused: they would fail VM entry (27.3.1.1) or
// fault in the hypervisor's own WRMSR.
func (v *vcpu) SetGuestMSR(msr uint32, val uint64) (bool, error) {
	s := v.vmcs
	switch msr {
	case IA32_EFER:
		// SCE, LME, NXE writable; LMA is the processor's.
		if val&^(EFER_SCE|EFER_LME|EFER_LMA|EFER_NXE) != 0 {
			return true, errMSRValue
		}
		cur := s.Read(GUEST_IA32_EFER)
		if s.Read(GUEST_CR0)&CR0_PG != 0 && (val^cur)&EFER_LME != 0 {
			return true, errMSRValue // LME may not change with paging on
		}
		s.Write(GUEST_IA32_EFER, val&^EFER_LMA|cur&EFER_LMA)
		return true, nil
	case IA32_PAT:
		for i := 0; i < 8; i++ {
			switch val >> (8 * i) & 0xff {
			case MEMTYPE_UC, MEMTYPE_WC, MEMTYPE_WT, MEMTYPE_WP, MEMTYPE_WB, 7: // 7: UC-
			default:
				return true, errMSRValue
			}
		}
		s.Write(GUEST_IA32_PAT, val)
		return true, nil
	case IA32_SYSENTER_CS:
		s.Write(GUEST_SYSENTER_CS, val)
		return true, nil
	case IA32_FMASK:
		if val>>32 != 0 {
			return true, errMSRValue
		}
	case IA32_STAR:
	default:
		if _, ok := msrField(msr); !ok && lazyIndex(msr) < 0 {
			return false, nil
		}
		if !canonical(val) {
			return true, errMSRValue
		}
	}
	if f, ok := msrField(msr); ok {
		s.Write(f, val)
		return true, nil
	}
	i := lazyIndex(msr)
	o := v.g.ops
	o.mu.Lock()
	defer o.mu.Unlock()
	v.msrs[i] = val
	if o.msrOwner == v {
		o.h.WRMSR(msr, val)
	}
	return true, nil
}
