// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/amd64"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// GPRs are the guest registers the world switch (switch_amd64.s) loads
// before VMRUN and stores after #VMEXIT; RAX and RSP travel in the VMCB
// (APM Vol. 2 15.5.1 "Basic Operation").
type GPRs struct {
	RBX, RCX, RDX, RSI, RDI, RBP uint64
	R8, R9, R10, R11, R12, R13   uint64
	R14, R15                     uint64
}

// RunFunc enters the guest of the VMCB at vmcb (physical) on physical
// CPU pcpu until its next #VMEXIT, saving that CPU's VMSAVE state at
// hostVMCB (physical), with the guest's other registers in gprs and its
// FXSAVE image at fpu (virtual; the host's is saved at fpu+512).
type RunFunc func(pcpu int, vmcb, hostVMCB hv.PA, gprs *GPRs, fpu uintptr)

// Guest state tamavisor gives every SVM vCPU (AMD APM Vol. 2 15.5,
// 15.20, 15.21; SDM Vol. 3A 10.1 for the FPU reset values).
const (
	defaultPAT   = 0x0007_0406_0007_0406 // the power-on PAT
	fpuAreaSize  = 512                   // one FXSAVE image
	fxsaveFCW    = 0                     // x87 control word
	fxsaveMXCSR  = 24                    // SSE control/status
	resetFCW     = 0x037f
	resetMXCSR   = 0x1f80
	resetDR6     = 0xffff_0ff0
	resetDR7     = 0x400
	cr0PE        = 1 << 0
	cr0ET        = 1 << 4
	cr0PG        = 1 << 31
	pvhCodeSel   = 0x10
	pvhDataSel   = 0x18
	msrPAT       = 0x277
	msrSysenterC = 0x174
	msrSysenterS = 0x175
	msrSysenterI = 0x176

	// Exceptions intercepted to be reflected (hv/amd64 exits.go): #DB
	// and #AC, against the benign-exception delivery loops of
	// CVE-2015-5307 and CVE-2015-8104.
	interceptedExceptions = 1<<1 | 1<<17

	interceptMisc1 = 1<<INTERCEPT_INTR | 1<<INTERCEPT_NMI | 1<<INTERCEPT_SMI | 1<<INTERCEPT_INIT |
		1<<INTERCEPT_CPUID | 1<<INTERCEPT_HLT | 1<<INTERCEPT_INVLPGA | 1<<INTERCEPT_IOIO_PROT |
		1<<INTERCEPT_MSR_PROT | 1<<INTERCEPT_SHUTDOWN
	interceptMisc2 = INTERCEPT_SVM_INSTRS | 1<<INTERCEPT_VMMCALL | 1<<INTERCEPT_RDTSCP | 1<<INTERCEPT_MONITOR |
		1<<INTERCEPT_MWAIT | 1<<INTERCEPT_MWAIT_COND | 1<<INTERCEPT_XSETBV
)

// passMSRs are the MSRs the guest reads and writes without an exit: state
// VMLOAD/VMSAVE switch with the VMCB (APM Vol. 2 15.5.2).
var passMSRs = []uint32{MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR,
	MSR_CSTAR, MSR_SFMASK, msrSysenterC, msrSysenterS, msrSysenterI}

// Ops is the SVM backend (amd64.VendorOps).
type Ops struct {
	Features Features
	asids    *ASIDs
	// hostVMCB is each physical CPU's page for the host's VMSAVE
	// state (0: SVM is not on for that CPU).
	hostVMCB [amd64.MaxCPUs]hv.PA
	run      RunFunc
}

// NewOps makes the backend over an SVM boot CPU whose host save area is
// already set up (Setup on the target). hostVMCB is a zeroed page for
// the boot CPU's VMSAVE state; EnableCPU adds the other CPUs.
func NewOps(f Features, hostVMCB hv.PA, run RunFunc) *Ops {
	o := &Ops{Features: f, asids: NewASIDs(f.ASIDs), run: run}
	o.hostVMCB[0] = hostVMCB
	return o
}

// EnableCPU turns SVM on for physical CPU cpu (an application processor
// whose EFER already has SVME, copied from the boot CPU): a host save
// area and a host VMCB from pool, VM_HSAVE_PA written on that CPU by
// wrmsr. APs share the boot CPU's features (one CPU model).
func (o *Ops) EnableCPU(cpu int, pool *vmm.RAMPool, view func(hv.PA, uint64) []byte,
	wrmsr func(cpu int, msr uint32, val uint64) error) error {
	if cpu <= 0 || cpu >= len(o.hostVMCB) {
		return fmt.Errorf("svm: cpu %d out of range 1..%d", cpu, len(o.hostVMCB)-1)
	}
	if o.hostVMCB[cpu] != 0 {
		return nil
	}
	pa, err := pool.Alloc(vmm.RAMAlign)
	if err != nil {
		return fmt.Errorf("svm: cpu %d host save area: %w", cpu, err)
	}
	clear(view(pa, 2*hv.PageSize))
	if err := wrmsr(cpu, MSR_VM_HSAVE_PA, uint64(pa)); err != nil {
		pool.Release(pa, vmm.RAMAlign)
		return fmt.Errorf("svm: cpu %d: %w", cpu, err)
	}
	o.hostVMCB[cpu] = pa + hv.PageSize
	return nil
}

// Name implements amd64.VendorOps.
func (o *Ops) Name() hv.Vendor { return hv.VendorSVM }

// Setup detects SVM with nested paging, turns it on (EFER.SVME, NXE for
// the nested tables' NX bit, VM_HSAVE_PA) and returns the backend. The
// host save area and the host VMCB come from pool. cpuid, rdmsr and
// wrmsr act on the boot CPU.
func Setup(cpuid CPUIDFunc, rdmsr func(uint32) uint64, wrmsr func(uint32, uint64),
	pool *vmm.RAMPool, mem hv.PhysMemory, view func(hv.PA, uint64) []byte) (*Ops, error) {
	if !HasSVM(cpuid) {
		return nil, fmt.Errorf("%w (QEMU: -cpu max or +svm)", ErrNoSVM)
	}
	f, err := Detect(cpuid, rdmsr(MSR_VM_CR))
	if err != nil {
		return nil, err
	}
	if _, _, _, edx := cpuid(CPUID_EXT_FEATURES, 0); edx&(1<<20) == 0 {
		return nil, fmt.Errorf("svm: no NX (CPUID 0x80000001 EDX[20]): nested tables need it")
	}
	pa, err := pool.Alloc(vmm.RAMAlign)
	if err != nil {
		return nil, fmt.Errorf("svm: host save area: %w", err)
	}
	clear(view(pa, 2*hv.PageSize))
	hsave, hostVMCB := pa, pa+hv.PageSize
	wrmsr(MSR_EFER, rdmsr(MSR_EFER)|EFER_SVME|EFER_NXE)
	wrmsr(MSR_VM_HSAVE_PA, uint64(hsave))
	return NewOps(f, hostVMCB, svmRun), nil
}

// guest is one VM: its nested tables, permission maps and ASID.
type guest struct {
	ops             *Ops
	npt             *NPT
	iopm            *IOPM
	msrpm           *MSRPM
	iopmPA, msrpmPA hv.PA
	asid            uint32
	alloc           hv.PageAllocator
	view            func(hv.PA, uint64) []byte
}

// allocContig takes n pages from alloc and checks they are physically
// contiguous (the permission maps are one block each).
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
			return 0, fmt.Errorf("svm: permission map pages not contiguous (%v after %v)", p, first)
		}
	}
	return first, nil
}

// NewGuest implements amd64.VendorOps.
func (o *Ops) NewGuest(alloc hv.PageAllocator, mem hv.PhysMemory, view func(hv.PA, uint64) []byte) (amd64.Guest, error) {
	g := &guest{ops: o, alloc: alloc, view: view}
	var err error
	if g.iopmPA, err = allocContig(alloc, IOPMSize/hv.PageSize); err != nil {
		return nil, fmt.Errorf("IOPM: %w", err)
	}
	if g.msrpmPA, err = allocContig(alloc, MSRPMSize/hv.PageSize); err != nil {
		return nil, fmt.Errorf("MSRPM: %w", err)
	}
	if g.npt, err = NewNPT(alloc, mem); err != nil {
		return nil, fmt.Errorf("nested tables: %w", err)
	}
	if g.iopm = asIOPM(view(g.iopmPA, IOPMSize)); g.iopm == nil {
		return nil, fmt.Errorf("svm: no view of the IOPM at %v", g.iopmPA)
	}
	if g.msrpm = asMSRPM(view(g.msrpmPA, MSRPMSize)); g.msrpm == nil {
		return nil, fmt.Errorf("svm: no view of the MSRPM at %v", g.msrpmPA)
	}
	g.iopm.InterceptAll()
	g.msrpm.InterceptAll()
	for _, msr := range passMSRs {
		if err := g.msrpm.Allow(msr, true, true); err != nil {
			return nil, err
		}
	}
	if g.asid, err = o.asids.Alloc(); err != nil {
		return nil, err
	}
	return g, nil
}

// Map implements amd64.Guest.
func (g *guest) Map(gpa hv.IPA, pa hv.PA, size uint64, a amd64.MapAttr) error {
	return g.npt.Map(gpa, pa, size, Attr{Write: a.Write, Exec: a.Exec, Uncached: a.Uncached})
}

// AllowPorts implements amd64.Guest.
func (g *guest) AllowPorts(base uint16, n int) { g.iopm.Allow(base, n) }

// Close implements amd64.Guest.
func (g *guest) Close() { g.ops.asids.Free(g.asid) }

// NewVCPU implements amd64.Guest: a VMCB and an FPU save page.
func (g *guest) NewVCPU(index, pcpu int) (amd64.Backend, error) {
	if pcpu < 0 || pcpu >= len(g.ops.hostVMCB) || g.ops.hostVMCB[pcpu] == 0 {
		return nil, fmt.Errorf("svm: SVM is not on for CPU %d", pcpu)
	}
	pa, err := g.alloc.AllocPage()
	if err != nil {
		return nil, fmt.Errorf("VMCB: %w", err)
	}
	fpuPA, err := g.alloc.AllocPage()
	if err != nil {
		return nil, fmt.Errorf("FPU area: %w", err)
	}
	v := &vcpu{g: g, pcpu: pcpu, vmcbPA: pa, vmcb: asVMCB(g.view(pa, VMCBSize)), fpu: g.view(fpuPA, hv.PageSize)}
	if v.vmcb == nil || v.fpu == nil {
		return nil, fmt.Errorf("svm: no view of the VMCB at %v", pa)
	}
	v.fpuAddr = addrOf(v.fpu)
	v.ResetPVH(0, 0)
	return v, nil
}

// vcpu is one SVM vCPU (amd64.Backend).
type vcpu struct {
	g         *guest
	pcpu      int
	vmcb      *VMCB
	vmcbPA    hv.PA
	fpu       []byte
	fpuAddr   uintptr
	regs      amd64.Regs
	gprs      GPRs
	tscOffset uint64
}

func (v *vcpu) Vendor() hv.Vendor { return hv.VendorSVM }
func (v *vcpu) CPL() uint8        { return v.vmcb.Save.CPL }
func (v *vcpu) Regs() *amd64.Regs { return &v.regs }

// ResetPVH implements amd64.Backend (Xen PVH boot ABI: 32-bit protected
// mode, paging off, flat 4 GiB CS and data segments, EBX = start info).
func (v *vcpu) ResetPVH(entry, startInfo uint64) {
	*v.vmcb = VMCB{}
	c, s := &v.vmcb.Control, &v.vmcb.Save
	c.InterceptExceptions = interceptedExceptions
	c.InterceptMisc1 = interceptMisc1
	c.InterceptMisc2 = interceptMisc2
	c.IOPMBasePA = uint64(v.g.iopmPA)
	c.MSRPMBasePA = uint64(v.g.msrpmPA)
	c.TSCOffset = v.tscOffset
	c.GuestASID = v.g.asid
	c.TLBControl = TLB_CONTROL_FLUSH_ALL
	if v.g.ops.Features.FlushByASID {
		c.TLBControl = TLB_CONTROL_FLUSH_GUEST
	}
	// Physical interrupts stay the host's (they exit the guest); the
	// guest's RFLAGS.IF masks only virtual ones (15.21.1).
	c.VIntr = V_INTR_MASKING
	c.NPEnable = NP_ENABLE
	c.NCR3 = uint64(v.g.npt.Root())

	code := Segment{Selector: pvhCodeSel, Limit: 0xffff_ffff,
		Attrib: SegmentAttrib(SEG_TYPE_CODE_RX, true, true, false, true, true, 0)}
	data := Segment{Selector: pvhDataSel, Limit: 0xffff_ffff,
		Attrib: SegmentAttrib(SEG_TYPE_DATA_RW, true, true, false, true, true, 0)}
	s.CS = code
	s.DS, s.ES, s.SS, s.FS, s.GS = data, data, data, data, data
	s.GDTR.Limit, s.IDTR.Limit = 0xffff, 0xffff
	s.LDTR = Segment{Attrib: SegmentAttrib(SEG_TYPE_LDT, false, true, false, false, false, 0)}
	s.TR = Segment{Limit: 0x67, Attrib: SegmentAttrib(SEG_TYPE_TSS64_BUSY, false, true, false, false, false, 0)}
	s.CR0 = cr0PE | cr0ET
	s.EFER = EFER_SVME
	s.DR6, s.DR7 = resetDR6, resetDR7
	s.GPAT = defaultPAT
	v.regs = amd64.Regs{RBX: startInfo, RIP: entry, RFLAGS: amd64.RFLAGS_RESERVED}
	clear(v.fpu[:2*fpuAreaSize])
	v.fpu[fxsaveFCW], v.fpu[fxsaveFCW+1] = resetFCW&0xff, resetFCW>>8
	v.fpu[fxsaveMXCSR], v.fpu[fxsaveMXCSR+1] = resetMXCSR&0xff, resetMXCSR>>8
}

// Enter implements amd64.Backend.
func (v *vcpu) Enter(e *hv.Exit) {
	c, s := &v.vmcb.Control, &v.vmcb.Save
	r := &v.regs
	s.RAX, s.RSP, s.RIP, s.RFLAGS = r.RAX, r.RSP, r.RIP, r.RFLAGS
	v.gprs = GPRs{RBX: r.RBX, RCX: r.RCX, RDX: r.RDX, RSI: r.RSI, RDI: r.RDI, RBP: r.RBP,
		R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15}
	v.g.ops.run(v.pcpu, v.vmcbPA, v.g.ops.hostVMCB[v.pcpu], &v.gprs, v.fpuAddr)
	g := &v.gprs
	*r = amd64.Regs{RAX: s.RAX, RCX: g.RCX, RDX: g.RDX, RBX: g.RBX, RSP: s.RSP, RBP: g.RBP,
		RSI: g.RSI, RDI: g.RDI, R8: g.R8, R9: g.R9, R10: g.R10, R11: g.R11, R12: g.R12,
		R13: g.R13, R14: g.R14, R15: g.R15, RIP: s.RIP, RFLAGS: s.RFLAGS}
	c.TLBControl = TLB_CONTROL_DO_NOTHING
	// An event the CPU was delivering when the guest exited is injected
	// again (15.7.2 "EXITINTINFO").
	c.EventInj = 0
	if c.ExitIntInfo.Valid() {
		c.EventInj = c.ExitIntInfo
	}
	Decode(c, s, r.RCX, v.g.ops.Features.NRIPS, e)
	if e.Reason == hv.ExitUnknown && c.ExitCode == VMEXIT_XSETBV {
		// CPUID offers no XSAVE: XSETBV is undefined for the guest.
		e.Reason = hv.ExitOther
	}
}

// InjectException implements amd64.Backend.
func (v *vcpu) InjectException(vector uint8, code uint32, hasCode bool) {
	v.vmcb.Control.EventInj = InjectException(vector, code, hasCode)
}

// Interruptible implements amd64.Backend.
func (v *vcpu) Interruptible() bool {
	c := &v.vmcb.Control
	return v.regs.RFLAGS&amd64.RFLAGS_IF != 0 && c.InterruptShadow&INTERRUPT_SHADOW == 0 && !c.EventInj.Valid()
}

// InjectInterrupt implements amd64.Backend.
func (v *vcpu) InjectInterrupt(vector uint8) { v.vmcb.Control.EventInj = InjectInterrupt(vector) }

// RequestInterruptWindow implements amd64.Backend: a virtual interrupt
// (V_IRQ, ignoring V_TPR) with the VINTR intercept set exits as soon as
// the guest could take it (15.21.4).
func (v *vcpu) RequestInterruptWindow(on bool) {
	c := &v.vmcb.Control
	if on {
		c.VIntr |= V_IRQ | V_IGN_TPR
		c.InterceptMisc1 |= 1 << INTERCEPT_VINTR
		return
	}
	c.VIntr &^= V_IRQ | V_IGN_TPR
	c.InterceptMisc1 &^= 1 << INTERCEPT_VINTR
}

// SetTSCOffset implements amd64.Backend.
func (v *vcpu) SetTSCOffset(off uint64) {
	v.tscOffset = off
	v.vmcb.Control.TSCOffset = off
}

// msrField returns the save-area word an MSR lives in.
func (v *vcpu) msrField(msr uint32) *uint64 {
	s := &v.vmcb.Save
	switch msr {
	case MSR_FS_BASE:
		return &s.FS.Base
	case MSR_GS_BASE:
		return &s.GS.Base
	case MSR_KERNEL_GS_BASE:
		return &s.KernelGSBase
	case MSR_STAR:
		return &s.STAR
	case MSR_LSTAR:
		return &s.LSTAR
	case MSR_CSTAR:
		return &s.CSTAR
	case MSR_SFMASK:
		return &s.SFMASK
	case msrSysenterC:
		return &s.SysenterCS
	case msrSysenterS:
		return &s.SysenterESP
	case msrSysenterI:
		return &s.SysenterEIP
	}
	return nil
}

// GuestMSR implements amd64.Backend.
func (v *vcpu) GuestMSR(msr uint32) (uint64, bool) {
	switch msr {
	case MSR_EFER:
		return v.vmcb.Save.EFER &^ EFER_SVME, true
	case msrPAT:
		return v.vmcb.Save.GPAT, true
	}
	if p := v.msrField(msr); p != nil {
		return *p, true
	}
	return 0, false
}

// errMSRValue is a value the guest may not write (#GP).
var errMSRValue = fmt.Errorf("svm: reserved MSR value")

// canonical reports whether a is a canonical 48-bit address.
func canonical(a uint64) bool { return uint64(int64(a<<16)>>16) == a }

// SetGuestMSR implements amd64.Backend.
func (v *vcpu) SetGuestMSR(msr uint32, val uint64) (bool, error) {
	s := &v.vmcb.Save
	switch msr {
	case MSR_EFER:
		// SCE, LME, NXE writable; LMA is the CPU's; SVME hidden.
		if val&^(EFER_SCE|EFER_LME|EFER_LMA|EFER_NXE) != 0 {
			return true, errMSRValue
		}
		if s.CR0&cr0PG != 0 && (val^s.EFER)&EFER_LME != 0 {
			return true, errMSRValue // SDM/APM: LME may not change with paging on
		}
		s.EFER = val&^EFER_LMA | s.EFER&EFER_LMA | EFER_SVME
		return true, nil
	case msrPAT:
		for i := 0; i < 8; i++ {
			switch val >> (8 * i) & 0xff {
			case 0, 1, 4, 5, 6, 7:
			default:
				return true, errMSRValue
			}
		}
		s.GPAT = val
		return true, nil
	}
	p := v.msrField(msr)
	if p == nil {
		return false, nil
	}
	if msr != MSR_STAR && msr != MSR_SFMASK && msr != msrSysenterC && !canonical(val) {
		return true, errMSRValue
	}
	*p = val
	return true, nil
}
