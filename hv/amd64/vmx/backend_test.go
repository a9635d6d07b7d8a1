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
	"github.com/tamavisor/tamavisor/hv/amd64"
)

var amd64MapRWX = amd64.MapAttr{Write: true, Exec: true}

func TestControls(t *testing.T) {
	k, err := testCaps().Controls()
	if err != nil {
		t.Fatal(err)
	}
	want := Controls{
		Pin: PIN_BASED_DEFAULT1 | PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING,
		// Default1 (TRUE): bits 1, 4-6, 8, 13, 14, 26.
		Proc: 0x0400_6172 | PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS |
			PROC_USE_TSC_OFFSETTING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING | PROC_ACTIVATE_SECONDARY_CONTROLS,
		Proc2: PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST,
		Exit: 0x0003_6dfb | EXIT_SAVE_DEBUG_CONTROLS | EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_SAVE_IA32_EFER |
			EXIT_LOAD_IA32_EFER | EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT,
		Entry: 0x11fb | ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_PAT,
	}
	if k != want {
		t.Errorf("controls\n got %#x\nwant %#x", k, want)
	}
	for name, bad := range map[string]bool{
		"CR3 exiting":              k.Proc&(PROC_CR3_LOAD_EXITING|PROC_CR3_STORE_EXITING) != 0,
		"interrupt window at rest": k.Proc&PROC_INTERRUPT_WINDOW_EXITING != 0,
		"RDTSC exiting":            k.Proc&PROC_RDTSC_EXITING != 0,
		"RDTSCP enabled":           k.Proc2&PROC2_ENABLE_RDTSCP != 0,
		"acknowledge interrupt":    k.Exit&EXIT_ACK_INTERRUPT_ON_EXIT != 0,
		"IA-32e at rest":           k.Entry&ENTRY_IA32E_MODE_GUEST != 0,
	} {
		if bad {
			t.Errorf("%s set", name)
		}
	}
}

func TestControlsRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Caps)
		want string
	}{
		{"no unrestricted guest", func(c *Caps) { c.Proc2 &^= PROC2_UNRESTRICTED_GUEST << 32 }, "secondary processor-based controls: vmx: required VM-execution, VM-exit or VM-entry control not supported: missing 0x80"},
		{"no EPT", func(c *Caps) { c.Proc2 &^= PROC2_ENABLE_EPT << 32 }, "missing 0x2"},
		{"no secondary controls", func(c *Caps) { c.Proc &^= PROC_ACTIVATE_SECONDARY_CONTROLS << 32 }, "missing 0x80000000"},
		{"plain controls force CR3 exiting", func(c *Caps) { c.Proc = testProc }, "primary processor-based controls 0x18000 forced to 1"},
		{"no interrupt-window exiting", func(c *Caps) { c.Proc &^= PROC_INTERRUPT_WINDOW_EXITING << 32 }, "missing 0x4"},
		{"acknowledge interrupt forced", func(c *Caps) { c.Exit |= EXIT_ACK_INTERRUPT_ON_EXIT }, "VM-exit controls 0x8000 forced to 1"},
		{"no EFER loading", func(c *Caps) { c.Entry &^= ENTRY_LOAD_IA32_EFER << 32 }, "VM-entry controls"},
		{"IA-32e forced", func(c *Caps) { c.Entry |= ENTRY_IA32E_MODE_GUEST }, "VM-entry controls 0x200 forced to 1"},
		{"no NMI exiting", func(c *Caps) { c.Pin &^= PIN_NMI_EXITING << 32 }, "pin-based controls"},
	} {
		caps := testCaps()
		c.mod(&caps)
		_, err := caps.Controls()
		if !errors.Is(err, ErrControls) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestCapsCheck(t *testing.T) {
	if err := testCaps().Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mod  func(*Caps)
		want error
	}{
		{"uncached VMCS", func(c *Caps) { c.Basic &^= BASIC_MEMTYPE_MASK << BASIC_MEMTYPE_SHIFT }, ErrVMXCaps},
		{"8 KiB region", func(c *Caps) {
			c.Basic = c.Basic&^(BASIC_REGION_SIZE_MASK<<BASIC_REGION_SIZE_SHIFT) | 0x1fff<<BASIC_REGION_SIZE_SHIFT
		}, ErrVMXCaps},
		{"no 4-level EPT", func(c *Caps) { c.EPTVPID &^= EPT_CAP_PAGE_WALK_4 }, ErrEPTCaps},
		{"no INVVPID", func(c *Caps) { c.EPTVPID &^= VPID_CAP_INVVPID }, ErrVMXCaps},
		{"no context INVVPID", func(c *Caps) { c.EPTVPID &^= VPID_CAP_SINGLE_CONTEXT | VPID_CAP_ALL_CONTEXT }, ErrVMXCaps},
		{"no CR4.VMXE", func(c *Caps) { c.CR4Fixed1 &^= CR4_VMXE }, ErrVMXCaps},
	} {
		caps := testCaps()
		c.mod(&caps)
		if err := caps.Check(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestReadCaps(t *testing.T) {
	f := newFakeHost(t)
	if got := ReadCaps(f.host().RDMSR); got != testCaps() {
		t.Errorf("caps %#v", got)
	}
	// Without secondary controls neither PROCBASED_CTLS2 nor
	// EPT_VPID_CAP may be read: they do not exist (RDMSR faults; the
	// fake host fails the test).
	delete(f.msrs, IA32_VMX_PROCBASED_CTLS2)
	delete(f.msrs, IA32_VMX_EPT_VPID_CAP)
	f.msrs[IA32_VMX_TRUE_PROCBASED_CTLS] &^= PROC_ACTIVATE_SECONDARY_CONTROLS << 32
	if c := ReadCaps(f.host().RDMSR); c.Proc2 != 0 || c.EPTVPID != 0 {
		t.Errorf("caps %#v", c)
	}
	// Plain control MSRs without TRUE controls.
	f = newFakeHost(t)
	f.msrs[IA32_VMX_BASIC] &^= BASIC_TRUE_CONTROLS
	c := ReadCaps(f.host().RDMSR)
	if c.Proc != testProc || c.Pin != testPin|0x16 {
		t.Errorf("plain caps %#x %#x", c.Proc, c.Pin)
	}
}

func TestResetPVHPassesEntryChecks(t *testing.T) {
	r := newRig(t)
	s := r.vmcs()
	if errs := entryErrors(s, r.ops.Caps); len(errs) != 0 {
		t.Fatalf("VM entry would fail:\n%s", strings.Join(errs, "\n"))
	}
	// The PVH state itself (Xen PVH ABI; 25.4.1 access-rights format).
	for f, want := range map[Field]uint64{
		GUEST_CS_SELECTOR: 0x10, GUEST_CS_BASE: 0, GUEST_CS_LIMIT: 0xffff_ffff, GUEST_CS_AR_BYTES: 0xc09b,
		GUEST_DS_SELECTOR: 0x18, GUEST_DS_AR_BYTES: 0xc093, GUEST_SS_AR_BYTES: 0xc093, GUEST_ES_AR_BYTES: 0xc093,
		GUEST_FS_AR_BYTES: 0xc093, GUEST_GS_AR_BYTES: 0xc093,
		GUEST_TR_AR_BYTES: 0x8b, GUEST_TR_LIMIT: 0x67, GUEST_LDTR_AR_BYTES: AR_UNUSABLE,
		GUEST_CR0: CR0_PE | CR0_ET | CR0_NE, CR0_READ_SHADOW: CR0_PE | CR0_ET, CR0_GUEST_HOST_MASK: CR0_NE,
		GUEST_CR4: CR4_VMXE, CR4_READ_SHADOW: 0, CR4_GUEST_HOST_MASK: CR4_VMXE,
		GUEST_RIP: rigEntry, GUEST_RFLAGS: 2, GUEST_RSP: 0, GUEST_IA32_EFER: 0, GUEST_IA32_PAT: defaultPAT,
		GUEST_DR7: 0x400, VMCS_LINK_POINTER: ^uint64(0), EXCEPTION_BITMAP: 1<<1 | 1<<17,
		IO_BITMAP_A: uint64(r.g.ioPA), IO_BITMAP_B: uint64(r.g.ioPA) + 4096, MSR_BITMAP: uint64(r.g.msrPA),
		EPT_POINTER: r.g.ept.EPTP(), VIRTUAL_PROCESSOR_ID: 1, HOST_RIP: r.f.exitRIP, HOST_TR_SELECTOR: 0x18,
	} {
		if got := s.Read(f); got != want {
			t.Errorf("%v = %#x, want %#x", f, got, want)
		}
	}
	if rg := r.v.Regs(); rg.RBX != rigInfo || rg.RIP != rigEntry || rg.RFLAGS != 2 || rg.RAX != 0 {
		t.Errorf("regs %+v", *rg)
	}
	if !slices.Contains(r.f.vmclears, r.v.vmcsPA) || r.v.launched {
		t.Error("ResetPVH must VMCLEAR: the next entry is a VMLAUNCH")
	}
	if rev := r.mem.Read64(r.v.vmcsPA); rev != testBasic&0x7fff_ffff {
		t.Errorf("VMCS region header %#x", rev)
	}
	fpu := r.v.fpu
	if binary.LittleEndian.Uint16(fpu[fxsaveFCW:]) != resetFCW || binary.LittleEndian.Uint32(fpu[fxsaveMXCSR:]) != resetMXCSR {
		t.Error("FXSAVE image not at its reset values")
	}
	if r.v.Vendor() != hv.VendorVMX || r.ops.Name() != hv.VendorVMX || r.v.CPL() != 0 {
		t.Error("vendor or CPL")
	}
}

// The checker itself must catch what it claims to.
func TestEntryCheckerCatches(t *testing.T) {
	for _, c := range []struct {
		name string
		f    Field
		v    uint64
		want string
	}{
		{"TR available TSS", GUEST_TR_AR_BYTES, 0x89, "TR type 9"},
		{"TR unusable", GUEST_TR_AR_BYTES, 0x1008b, "TR access rights"},
		{"CS unaccessed", GUEST_CS_AR_BYTES, 0xc09a, "CS type 10"},
		{"SS DPL 3", GUEST_SS_AR_BYTES, 0xc0f3, "CS DPL 0 != SS DPL 3"},
		{"limit with G clear", GUEST_DS_AR_BYTES, 0x4093, "DS limit 0xffffffff with G clear"},
		{"NE clear", GUEST_CR0, CR0_PE, "guest CR0 0x1 violates"},
		{"PG without PE", GUEST_CR0, CR0_PG | CR0_NE, "PG without PE"},
		{"LMA without IA-32e", GUEST_IA32_EFER, EFER_LME | EFER_LMA, "EFER.LMA true but IA-32e mode guest false"},
		{"link pointer", VMCS_LINK_POINTER, 0, "link pointer"},
		{"host TR 0", HOST_TR_SELECTOR, 0, "host CS or TR selector 0"},
		{"LDTR usable, wrong type", GUEST_LDTR_AR_BYTES, 0x83, "LDTR access rights"},
		{"RFLAGS bit 1", GUEST_RFLAGS, 0, "RFLAGS 0x0"},
		{"VPID 0", VIRTUAL_PROCESSOR_ID, 0, "VPID 0"},
		{"ack on exit", VM_EXIT_CONTROLS, uint64(testCaps().mustControls().Exit) | EXIT_ACK_INTERRUPT_ON_EXIT, "acknowledge"},
		{"error code in real mode", VM_ENTRY_INTR_INFO_FIELD, uint64(NewIntrInfo(13, INTR_TYPE_HARDWARE_EXCEPTION, true)), ""},
	} {
		r := newRig(t)
		s := r.vmcs()
		s.Write(c.f, c.v)
		if c.name == "error code in real mode" {
			s.Write(GUEST_CR0, CR0_NE|CR0_ET)
			c.want = "deliver-error-code true"
		}
		errs := strings.Join(entryErrors(s, r.ops.Caps), "\n")
		if !strings.Contains(errs, c.want) {
			t.Errorf("%s: checker said %q, want %q", c.name, errs, c.want)
		}
	}
}

// mustControls is Controls for test tables.
func (c Caps) mustControls() Controls {
	k, err := c.Controls()
	if err != nil {
		panic(err)
	}
	return k
}

func TestEnterDecodesIO(t *testing.T) {
	r := newRig(t)
	r.v.Regs().RAX = 0x1234_5678_9abc_de41
	r.v.Regs().R15 = 0xf15
	r.f.script = []exitStep{{
		reason: EXIT_REASON_IO_INSTRUCTION, qual: 0x3f8<<IO_QUAL_PORT_SHIFT | IO_QUAL_SIZE_1, instrLen: 1,
		guest: func(s *MapVMCS, g *GPRs) {
			s.Write(GUEST_RIP, rigEntry+0x20)
			s.Write(GUEST_RSP, 0x7000)
			s.Write(GUEST_RFLAGS, 0x202)
			g.RCX, g.R14 = 0xc, 0xe14
		},
	}}
	var e hv.Exit
	r.v.Enter(&e)
	if e.Reason != hv.ExitIO || e.Vendor != hv.VendorVMX || e.IO.Port != 0x3f8 || e.IO.Size != 1 || !e.IO.Write ||
		e.IO.Value != 0x41 || e.RIP != rigEntry+0x20 || e.InstrLen != 1 {
		t.Fatalf("exit %+v", e)
	}
	en := r.lastEntry()
	if en.launched || en.gprs.RAX != 0x1234_5678_9abc_de41 || en.gprs.RBX != rigInfo || en.gprs.R15 != 0xf15 ||
		en.rip != rigEntry || en.rflags != 2 {
		t.Errorf("entry %+v", en)
	}
	rg := r.v.Regs()
	if rg.RIP != rigEntry+0x20 || rg.RSP != 0x7000 || rg.RFLAGS != 0x202 || rg.RCX != 0xc || rg.R14 != 0xe14 || rg.R15 != 0xf15 {
		t.Errorf("regs after exit %+v", *rg)
	}
	if len(r.f.inveps) != 1 || r.f.inveps[0] != [2]uint64{INVEPT_SINGLE_CONTEXT, r.g.ept.EPTP()} ||
		!slices.Equal(r.f.invvpids, []uint16{1}) {
		t.Errorf("first entry must flush the EPT and the VPID: %v %v", r.f.inveps, r.f.invvpids)
	}

	// The handler advances RIP; the next entry is a VMRESUME and flushes
	// nothing.
	rg.RIP++
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	r.v.Enter(&e)
	if en := r.lastEntry(); !en.launched || en.rip != rigEntry+0x21 || e.Reason != hv.ExitHLT {
		t.Errorf("second entry %+v, exit %v", en, e.Reason)
	}
	if len(r.f.inveps) != 1 || len(r.f.invvpids) != 1 {
		t.Error("flushed again")
	}
}

func TestEnterVMFail(t *testing.T) {
	r := newRig(t)
	r.v.Regs().RDX = 0xd
	// VMLAUNCH fails with VMfailValid, error 7 ("VM entry with invalid
	// control field(s)").
	r.f.script = []exitStep{{status: RUN_ZF | RUN_STEP_ENTRY<<RUN_STEP_SHIFT, insnErr: 7}}
	var e hv.Exit
	r.v.Enter(&e)
	if e.Reason != hv.ExitInvalidState || e.VMX.Reason != EXIT_REASON_ENTRY_FAILURE|VMFAIL_BASIC_REASON ||
		e.VMX.Qualification != 7 || RunStatus(e.VMX.InstrInfo).Step() != RUN_STEP_ENTRY {
		t.Errorf("exit %+v", e)
	}
	if r.v.launched || r.v.VMFails != 1 || r.v.Regs().RDX != 0xd || r.v.Regs().RIP != rigEntry {
		t.Errorf("after VMfail: launched %v fails %d regs %+v", r.v.launched, r.v.VMFails, *r.v.Regs())
	}
	// VMfailInvalid (no current VMCS): no error number to read.
	r.f.script = []exitStep{{status: RUN_CF | RUN_STEP_VMPTRLD<<RUN_STEP_SHIFT}}
	r.v.Enter(&e)
	if e.Reason != hv.ExitInvalidState || e.VMX.Qualification != 0 || RunStatus(e.VMX.InstrInfo).Status() != VMFAIL_INVALID {
		t.Errorf("VMfailInvalid exit %+v", e)
	}
	// A VM-entry failure on the guest state (reason 33 with bit 31)
	// leaves the VMCS unlaunched.
	r.f.script = []exitStep{{reason: EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_INVALID_GUEST_STATE, idt: uint32(InjectException(14))}}
	r.v.Enter(&e)
	if e.Reason != hv.ExitInvalidState || r.v.launched || r.v.event.Valid() {
		t.Errorf("entry failure: %v launched %v event %v", e.Reason, r.v.launched, r.v.event)
	}
	r.f.script = []exitStep{{reason: EXIT_REASON_CPUID, instrLen: 2}}
	r.v.Enter(&e)
	if en := r.lastEntry(); en.launched || e.Reason != hv.ExitCPUID || !r.v.launched {
		t.Errorf("retry: entry %+v exit %v", en, e.Reason)
	}
}

func TestIDTVectoringReinjected(t *testing.T) {
	r := newRig(t)
	var e hv.Exit
	// A #PF with error code 2 was being delivered when its handler's
	// page faulted in EPT.
	pf := NewIntrInfo(VECTOR_PF, INTR_TYPE_HARDWARE_EXCEPTION, true)
	r.f.script = []exitStep{{reason: EXIT_REASON_EPT_VIOLATION, qual: EPT_QUAL_WRITE, gpa: 0x30_0000,
		idt: uint32(pf) | INTR_INFO_NMI_UNBLOCKING, idtErr: 2, instrLen: 3}}
	r.v.Enter(&e)
	if e.Reason != hv.ExitNPF || e.GPA != 0x30_0000 || e.Access != hv.AccessWrite {
		t.Fatalf("exit %+v", e)
	}
	if r.v.Interruptible() {
		t.Error("interruptible with an event queued")
	}
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	r.v.Enter(&e)
	if en := r.lastEntry(); en.intr != pf || en.intrErr != 2 {
		t.Errorf("re-injected %v err %d, want %v err 2", en.intr, en.intrErr, pf)
	}
	if errs := entryErrors(r.vmcs(), r.ops.Caps); len(errs) != 0 {
		t.Error(errs)
	}

	// INT 0x80 (2 bytes) interrupted: software interrupt with its length.
	sw := NewIntrInfo(0x80, INTR_TYPE_SOFTWARE_INTERRUPT, false)
	r.f.script = []exitStep{{reason: EXIT_REASON_EPT_VIOLATION, qual: EPT_QUAL_READ, idt: uint32(sw), instrLen: 2}}
	r.v.Enter(&e)
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	r.v.Enter(&e)
	if en := r.lastEntry(); en.intr != sw || en.intrLen != 2 {
		t.Errorf("software interrupt re-injected as %v len %d", en.intr, en.intrLen)
	}
	// Nothing queued afterwards.
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	r.v.Enter(&e)
	if en := r.lastEntry(); en.intr.Valid() {
		t.Errorf("stale injection %v", en.intr)
	}
}

func TestInterruptWindowAndShadow(t *testing.T) {
	r := newRig(t)
	s := r.vmcs()
	v := r.v
	if v.Interruptible() {
		t.Error("interruptible with RFLAGS.IF clear")
	}
	v.Regs().RFLAGS |= amd64.RFLAGS_IF
	if !v.Interruptible() {
		t.Error("not interruptible with IF set")
	}
	v.RequestInterruptWindow(true)
	if s.Read(CPU_BASED_VM_EXEC_CONTROL)&PROC_INTERRUPT_WINDOW_EXITING == 0 {
		t.Error("window not requested")
	}
	var e hv.Exit
	// STI; HLT: the HLT exits under the STI shadow.
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1, guest: func(s *MapVMCS, g *GPRs) {
		s.Write(GUEST_RIP, 0x2000)
		s.Write(GUEST_RFLAGS, 0x202)
		s.Write(GUEST_INTERRUPTIBILITY_INFO, INTERRUPTIBILITY_STI)
	}}}
	v.Enter(&e)
	if en := r.lastEntry(); en.proc&PROC_INTERRUPT_WINDOW_EXITING == 0 {
		t.Error("window not in the entry's controls")
	}
	if v.Interruptible() {
		t.Error("interruptible under the STI shadow")
	}
	v.RequestInterruptWindow(false)
	if s.Read(CPU_BASED_VM_EXEC_CONTROL)&PROC_INTERRUPT_WINDOW_EXITING != 0 {
		t.Error("window still requested")
	}
	// The handler completes the HLT: the shadow is over.
	v.Regs().RIP++
	if !v.Interruptible() {
		t.Fatal("shadow outlived its instruction")
	}
	v.InjectInterrupt(0x30)
	if v.Interruptible() {
		t.Error("interruptible with an interrupt queued")
	}
	r.f.script = []exitStep{{reason: EXIT_REASON_INTERRUPT_WINDOW}}
	v.Enter(&e)
	en := r.lastEntry()
	if en.intr != InjectInterrupt(0x30) || s.Read(GUEST_INTERRUPTIBILITY_INFO) != 0 {
		t.Errorf("entry injected %v with interruptibility %#x", en.intr, s.Read(GUEST_INTERRUPTIBILITY_INFO))
	}
	if e.Reason != hv.ExitInterruptWindow {
		t.Errorf("exit %v", e.Reason)
	}
}

func TestInjectException(t *testing.T) {
	r := newRig(t)
	v := r.v
	var e hv.Exit
	// Protected mode: #GP carries its error code, #UD none whatever the
	// caller says.
	v.InjectException(VECTOR_GP, 0, true)
	if v.event != NewIntrInfo(VECTOR_GP, INTR_TYPE_HARDWARE_EXCEPTION, true) {
		t.Errorf("#GP %v", v.event)
	}
	v.InjectException(6, 0, true)
	if v.event != NewIntrInfo(6, INTR_TYPE_HARDWARE_EXCEPTION, false) {
		t.Errorf("#UD %v", v.event)
	}
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	v.Enter(&e)
	if errs := entryErrors(r.vmcs(), r.ops.Caps); len(errs) != 0 {
		t.Error(errs)
	}
	// Real mode (an unrestricted guest with PE clear): no error code.
	r.vmcs().Write(GUEST_CR0, CR0_NE|CR0_ET)
	v.InjectException(VECTOR_GP, 0, true)
	if v.event.ErrorValid() {
		t.Error("error code in real mode")
	}
	// INT3 exited as #BP (software exception, 1 byte): reflected with
	// its type and length so the guest resumes after it.
	r.vmcs().Write(GUEST_CR0, CR0_PE|CR0_NE|CR0_ET)
	r.f.script = []exitStep{{reason: EXIT_REASON_EXCEPTION_NMI, instrLen: 1,
		intr: uint32(NewIntrInfo(3, INTR_TYPE_SOFTWARE_EXCEPTION, false))}}
	v.Enter(&e)
	if e.Reason != hv.ExitException || e.Vector != 3 {
		t.Fatalf("exit %+v", e)
	}
	v.InjectException(e.Vector, e.ErrorCode, e.HasError)
	if v.event != NewIntrInfo(3, INTR_TYPE_SOFTWARE_EXCEPTION, false) || v.eventLen != 1 {
		t.Errorf("#BP reflected as %v len %d", v.event, v.eventLen)
	}
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	v.Enter(&e)
	if en := r.lastEntry(); en.intrLen != 1 {
		t.Errorf("entry length %d", en.intrLen)
	}
	// #AC (intercepted hardware exception with error code 0).
	r.f.script = []exitStep{{reason: EXIT_REASON_EXCEPTION_NMI,
		intr: uint32(NewIntrInfo(VECTOR_AC, INTR_TYPE_HARDWARE_EXCEPTION, true))}}
	v.Enter(&e)
	v.InjectException(e.Vector, e.ErrorCode, e.HasError)
	if v.event != NewIntrInfo(VECTOR_AC, INTR_TYPE_HARDWARE_EXCEPTION, true) {
		t.Errorf("#AC reflected as %v", v.event)
	}
}

func TestLongModeFollowsLMA(t *testing.T) {
	r := newRig(t)
	var e hv.Exit
	// The guest turns on paging with EFER.LME (no exit: CR0.PG is its
	// own); the processor sets LMA, the next exit saves it.
	r.f.script = []exitStep{{reason: EXIT_REASON_CPUID, instrLen: 2, guest: func(s *MapVMCS, g *GPRs) {
		s.Write(GUEST_IA32_EFER, EFER_LME|EFER_LMA)
		s.Write(GUEST_CR0, s.Read(GUEST_CR0)|CR0_PG)
		s.Write(GUEST_CR4, s.Read(GUEST_CR4)|CR4_PAE)
		s.Write(GUEST_CS_AR_BYTES, uint64(NewAccessRights(SEG_TYPE_CODE_RX_ACCESSED, true, 0, true, false, true)))
	}}}
	r.v.Enter(&e)
	if r.vmcs().Read(VM_ENTRY_CONTROLS)&ENTRY_IA32E_MODE_GUEST == 0 {
		t.Fatal("IA-32e mode guest not set after LMA")
	}
	if errs := entryErrors(r.vmcs(), r.ops.Caps); len(errs) != 0 {
		t.Error(errs)
	}
}

func TestCR0Emulated(t *testing.T) {
	r := newRig(t)
	s := r.vmcs()
	v := r.v
	var e hv.Exit
	// 32-bit protected mode, EFER.LME set: MOV CR0, EAX with PG|PE|NE
	// exits (NE differs from the shadow) and is emulated, entering IA-32e
	// mode; the guest then runs to a HLT.
	if _, err := v.SetGuestMSR(IA32_EFER, EFER_LME); err != nil {
		t.Fatal(err)
	}
	s.Write(GUEST_CR4, s.Read(GUEST_CR4)|CR4_PAE)
	s.Write(CR4_READ_SHADOW, CR4_PAE)
	const val = CR0_PG | CR0_PE | CR0_NE | CR0_ET
	r.f.script = []exitStep{
		{reason: EXIT_REASON_CR_ACCESS, instrLen: 3, qual: 0 | CR_ACCESS_MOV_TO<<CR_QUAL_TYPE_SHIFT | 1<<CR_QUAL_REG_SHIFT,
			guest: func(s *MapVMCS, g *GPRs) { g.RCX = 0xdead_0000_0000_0000 | val; s.Write(GUEST_RIP, 0x1000) }},
		{reason: EXIT_REASON_HLT, instrLen: 1},
	}
	v.Enter(&e)
	if e.Reason != hv.ExitHLT || v.CRExits != 1 {
		t.Fatalf("exit %v after %d CR exits", e.Reason, v.CRExits)
	}
	if en := r.f.entries[1]; en.rip != 0x1003 || en.entry&ENTRY_IA32E_MODE_GUEST == 0 {
		t.Errorf("re-entry %+v", en)
	}
	if got := s.Read(GUEST_CR0); got != val {
		t.Errorf("CR0 %#x", got)
	}
	if s.Read(CR0_READ_SHADOW) != val || s.Read(GUEST_IA32_EFER) != EFER_LME|EFER_LMA {
		t.Errorf("shadow %#x EFER %#x", s.Read(CR0_READ_SHADOW), s.Read(GUEST_IA32_EFER))
	}
	s.Write(GUEST_CS_AR_BYTES, uint64(NewAccessRights(SEG_TYPE_CODE_RX_ACCESSED, true, 0, true, false, true)))
	if errs := entryErrors(s, r.ops.Caps); len(errs) != 0 {
		t.Error(errs)
	}

	// MOV CR4 setting VMXE: #GP, RIP unchanged.
	r.f.script = []exitStep{
		{reason: EXIT_REASON_CR_ACCESS, instrLen: 3, qual: 4 | CR_ACCESS_MOV_TO<<CR_QUAL_TYPE_SHIFT | 0<<CR_QUAL_REG_SHIFT,
			guest: func(s *MapVMCS, g *GPRs) { g.RAX = CR4_PAE | CR4_VMXE; s.Write(GUEST_RIP, 0x2000) }},
		{reason: EXIT_REASON_HLT, instrLen: 1},
	}
	v.Enter(&e)
	if en := r.lastEntry(); en.rip != 0x2000 || en.intr != NewIntrInfo(VECTOR_GP, INTR_TYPE_HARDWARE_EXCEPTION, true) {
		t.Errorf("CR4.VMXE: entry %+v", en)
	}
	// MOV CR0 clearing PG in 64-bit mode: #GP.
	r.f.script = []exitStep{
		{reason: EXIT_REASON_CR_ACCESS, instrLen: 3, qual: 0 | CR_ACCESS_MOV_TO<<CR_QUAL_TYPE_SHIFT | 3<<CR_QUAL_REG_SHIFT,
			guest: func(s *MapVMCS, g *GPRs) { g.RBX = CR0_PE; s.Write(GUEST_RIP, 0x3000) }},
		{reason: EXIT_REASON_HLT, instrLen: 1},
	}
	v.Enter(&e)
	if en := r.lastEntry(); en.rip != 0x3000 || !en.intr.Valid() || s.Read(GUEST_CR0)&CR0_PG == 0 {
		t.Errorf("clearing PG in 64-bit mode: entry %+v", en)
	}
	// MOV from CR3 is not emulated: the handlers see an unknown exit.
	r.f.script = []exitStep{{reason: EXIT_REASON_CR_ACCESS, qual: 3 | CR_ACCESS_MOV_FROM<<CR_QUAL_TYPE_SHIFT}}
	v.Enter(&e)
	if e.Reason != hv.ExitUnknown {
		t.Errorf("MOV from CR3: %v", e.Reason)
	}
}

func TestCR0PAEPaging(t *testing.T) {
	r := newRig(t)
	s := r.vmcs()
	v := r.v
	var e hv.Exit
	// 32-bit PAE paging: the emulated MOV to CR0 loads the PDPTEs from
	// guest-physical CR3 (guest RAM is at rigRAM).
	const cr3 = 0x5000
	for i, p := range []uint64{0x6001, 0, 0x8001, 0x9001} {
		r.mem.Write64(rigRAM+cr3+hv.PA(8*i), p)
	}
	s.Write(GUEST_CR3, cr3)
	s.Write(GUEST_CR4, s.Read(GUEST_CR4)|CR4_PAE)
	s.Write(CR4_READ_SHADOW, CR4_PAE)
	r.f.script = []exitStep{
		{reason: EXIT_REASON_CR_ACCESS, instrLen: 3, qual: CR_ACCESS_MOV_TO << CR_QUAL_TYPE_SHIFT,
			guest: func(s *MapVMCS, g *GPRs) { g.RAX = CR0_PG | CR0_PE | CR0_NE }},
		{reason: EXIT_REASON_HLT, instrLen: 1},
	}
	v.Enter(&e)
	for i, want := range []uint64{0x6001, 0, 0x8001, 0x9001} {
		if got := s.Read(guestPDPTEs[i]); got != want {
			t.Errorf("PDPTE%d %#x", i, got)
		}
	}
	if s.Read(VM_ENTRY_CONTROLS)&ENTRY_IA32E_MODE_GUEST != 0 || s.Read(GUEST_CR0)&CR0_PG == 0 {
		t.Error("PAE paging is not IA-32e mode")
	}
	// A reserved bit in a present PDPTE: #GP, CR0 unchanged.
	r.mem.Write64(rigRAM+cr3, 0x6001|1<<5)
	s.Write(GUEST_CR0, CR0_PE|CR0_NE|CR0_ET)
	s.Write(CR0_READ_SHADOW, CR0_PE|CR0_ET)
	r.f.script = []exitStep{
		{reason: EXIT_REASON_CR_ACCESS, instrLen: 3, qual: CR_ACCESS_MOV_TO << CR_QUAL_TYPE_SHIFT,
			guest: func(s *MapVMCS, g *GPRs) { g.RAX = CR0_PG | CR0_PE }},
		{reason: EXIT_REASON_HLT, instrLen: 1},
	}
	v.Enter(&e)
	if s.Read(GUEST_CR0)&CR0_PG != 0 || !r.lastEntry().intr.Valid() {
		t.Error("bad PDPTE accepted")
	}
}

func TestGuestMSRs(t *testing.T) {
	r := newRig(t)
	v := r.v
	s := r.vmcs()
	set := func(msr uint32, val uint64) error {
		t.Helper()
		handled, err := v.SetGuestMSR(msr, val)
		if !handled {
			t.Fatalf("MSR %#x not handled", msr)
		}
		return err
	}
	// EFER: SCE/LME/NXE writable, LMA the processor's, the rest #GP.
	if err := set(IA32_EFER, EFER_SCE|EFER_LME|EFER_NXE|EFER_LMA); err != nil || s.Read(GUEST_IA32_EFER) != EFER_SCE|EFER_LME|EFER_NXE {
		t.Errorf("EFER: %v %#x", err, s.Read(GUEST_IA32_EFER))
	}
	if err := set(IA32_EFER, 1<<12); err == nil {
		t.Error("EFER.SVME accepted")
	}
	s.Write(GUEST_CR0, s.Read(GUEST_CR0)|CR0_PG)
	if err := set(IA32_EFER, EFER_SCE); err == nil {
		t.Error("EFER.LME changed with paging on")
	}
	if v, ok := v.GuestMSR(IA32_EFER); !ok || v != EFER_SCE|EFER_LME|EFER_NXE {
		t.Errorf("EFER read %#x", v)
	}
	// PAT: memory types 0, 1, 4-7 only.
	if err := set(IA32_PAT, 0x0007_0406_0007_0401); err != nil || s.Read(GUEST_IA32_PAT) != 0x0007_0406_0007_0401 {
		t.Error("PAT")
	}
	if err := set(IA32_PAT, 0x02); err == nil {
		t.Error("PAT type 2 accepted")
	}
	// VMCS-held MSRs.
	if err := set(IA32_FS_BASE, 0xffff_8000_0000_0000); err != nil || s.Read(GUEST_FS_BASE) != 0xffff_8000_0000_0000 {
		t.Error("FS base")
	}
	if err := set(IA32_GS_BASE, 0x8000_0000_0000); err == nil {
		t.Error("non-canonical GS base accepted")
	}
	if err := set(IA32_SYSENTER_EIP, 0x1234); err != nil || s.Read(GUEST_SYSENTER_EIP) != 0x1234 {
		t.Error("SYSENTER_EIP")
	}
	if handled, _ := v.SetGuestMSR(0x1b, 0); handled {
		t.Error("APIC base handled by the backend")
	}
	if _, ok := v.GuestMSR(0x10); ok {
		t.Error("TSC read by the backend")
	}
	// Lazily switched MSRs: before the first entry only the vCPU holds
	// them; FMASK bits 63:32 are reserved.
	if err := set(IA32_LSTAR, 0xffff_ffff_8100_0000); err != nil {
		t.Error(err)
	}
	if err := set(IA32_FMASK, 1<<32); err == nil {
		t.Error("FMASK high bits accepted")
	}
	if err := set(IA32_STAR, 0x0023_0010_0000_0000); err != nil {
		t.Error(err)
	}
	if len(r.f.msrWrites) != 0 {
		t.Errorf("WRMSR %x before the vCPU ran", r.f.msrWrites)
	}
	if val, ok := v.GuestMSR(IA32_LSTAR); !ok || val != 0xffff_ffff_8100_0000 {
		t.Errorf("LSTAR %#x", val)
	}
}

func TestLazyMSRSwitch(t *testing.T) {
	r := newRig(t)
	f := r.f
	v0 := r.v
	be, err := r.g.NewVCPU(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	v1 := be.(*vcpu)
	if v1.vpid == v0.vpid {
		t.Error("vCPUs share a VPID")
	}
	if _, err := v0.SetGuestMSR(IA32_LSTAR, 0xffff_ffff_8000_1000); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.SetGuestMSR(IA32_LSTAR, 0xffff_ffff_8000_2000); err != nil {
		t.Fatal(err)
	}
	var e hv.Exit
	f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	v0.Enter(&e)
	if f.msrs[IA32_LSTAR] != 0xffff_ffff_8000_1000 {
		t.Fatalf("v0's LSTAR not loaded: %#x", f.msrs[IA32_LSTAR])
	}
	// The guest rewrites KERNEL_GS_BASE without an exit (SWAPGS, or
	// WRMSR passed through).
	f.msrs[IA32_KERNEL_GS_BASE] = 0xffff_8880_0000_0000
	if val, _ := v0.GuestMSR(IA32_KERNEL_GS_BASE); val != 0xffff_8880_0000_0000 {
		t.Errorf("owner's KERNEL_GS_BASE read %#x", val)
	}
	n := len(f.msrWrites)
	f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	v0.Enter(&e)
	if len(f.msrWrites) != n {
		t.Error("MSRs reloaded for the same vCPU")
	}
	f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	v1.Enter(&e)
	if f.msrs[IA32_LSTAR] != 0xffff_ffff_8000_2000 || f.msrs[IA32_KERNEL_GS_BASE] != 0 {
		t.Errorf("v1's MSRs not loaded: LSTAR %#x KGS %#x", f.msrs[IA32_LSTAR], f.msrs[IA32_KERNEL_GS_BASE])
	}
	if val, _ := v0.GuestMSR(IA32_KERNEL_GS_BASE); val != 0xffff_8880_0000_0000 {
		t.Errorf("v0's KERNEL_GS_BASE not saved: %#x", val)
	}
	f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	v0.Enter(&e)
	if f.msrs[IA32_KERNEL_GS_BASE] != 0xffff_8880_0000_0000 || f.msrs[IA32_LSTAR] != 0xffff_ffff_8000_1000 {
		t.Error("v0's MSRs not restored")
	}
	// Passthrough, as on SVM.
	for _, m := range passMSRs {
		if r.g.msr.Intercepted(m, false) || r.g.msr.Intercepted(m, true) {
			t.Errorf("MSR %#x intercepted", m)
		}
	}
	for _, m := range []uint32{IA32_EFER, IA32_PAT, 0x10, 0x1b, 0x3a, 0x480, 0xc000_0103} {
		if !r.g.msr.Intercepted(m, false) || !r.g.msr.Intercepted(m, true) {
			t.Errorf("MSR %#x not intercepted", m)
		}
	}
}

func TestGuestPortsAndClose(t *testing.T) {
	r := newRig(t)
	g := r.g
	if !g.io.Intercepted(0x3f8, 1) || !g.io.Intercepted(0xcf8, 4) {
		t.Error("ports not intercepted by default")
	}
	g.AllowPorts(0x3f8, 8)
	g.AllowPorts(0xfffe, 8) // clipped at FFFF
	if g.io.Intercepted(0x3f8, 1) || g.io.Intercepted(0x3ff, 1) || !g.io.Intercepted(0x400, 1) ||
		g.io.Intercepted(0xffff, 1) || !g.io.Intercepted(0xfffd, 1) {
		t.Error("AllowPorts")
	}
	// The bitmaps the VMCS names are the ones edited.
	if b := r.mem.view(hv.PA(r.vmcs().Read(IO_BITMAP_A)), 4096); b[0x3f8/8] != 0 {
		t.Error("I/O bitmap A is not the allowed one")
	}
	if b := r.mem.view(hv.PA(r.vmcs().Read(IO_BITMAP_B)), 4096); b[0xfff8/8-0x1000]&0xc0 != 0 {
		t.Error("I/O bitmap B is not the allowed one")
	}
	vpid := r.v.vpid
	if !r.ops.vpids.InUse(vpid) {
		t.Fatal("VPID not allocated")
	}
	g.Close()
	g.Close()
	if r.ops.vpids.InUse(vpid) {
		t.Error("VPID not freed")
	}
	// A new VM reusing the VPID flushes it before its first entry.
	r2 := newRigOn(t, r.f, r.ops)
	var e hv.Exit
	r.f.script = []exitStep{{reason: EXIT_REASON_HLT, instrLen: 1}}
	r2.v.Enter(&e)
	if r2.v.vpid != vpid || !slices.Contains(r.f.invvpids, vpid) {
		t.Errorf("VPID %d reused without INVVPID (%v)", r2.v.vpid, r.f.invvpids)
	}
}

// newRigOn builds another VM on an existing Ops.
func newRigOn(t *testing.T, f *fakeHost, ops *Ops) *testRig {
	t.Helper()
	mem := newTestMem(rigMemBase, rigMemSize)
	alloc := &hv.BumpAllocator{Next: rigTables, Limit: rigTables + 0x10_0000, Mem: mem}
	g, err := ops.NewGuest(alloc, mem, mem.view)
	if err != nil {
		t.Fatal(err)
	}
	be, err := g.NewVCPU(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &testRig{f: f, mem: mem, ops: ops, g: g.(*guest), v: be.(*vcpu)}
}

func TestNoLargeEPTPages(t *testing.T) {
	f := newFakeHost(t)
	caps := testCaps()
	caps.EPTVPID &^= EPT_CAP_2MB_PAGE
	ops, err := NewOps(f.host(), caps, HostState{})
	if err != nil {
		t.Fatal(err)
	}
	mem := newTestMem(rigMemBase, rigMemSize)
	alloc := &hv.BumpAllocator{Next: rigTables, Limit: rigTables + 0x10_0000, Mem: mem}
	g, err := ops.NewGuest(alloc, mem, mem.view)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Map(0, rigRAM, 0x20_0000, amd64MapRWX); err != nil {
		t.Fatal(err)
	}
	if _, _, level, ok := g.(*guest).ept.Walk(0x1000); !ok || level != 1 {
		t.Errorf("level %d without 2 MiB EPT pages", level)
	}
}

func TestSetTSCOffset(t *testing.T) {
	r := newRig(t)
	r.v.SetTSCOffset(0xffff_ffff_0000_0000)
	if r.vmcs().Read(TSC_OFFSET) != 0xffff_ffff_0000_0000 {
		t.Error("TSC offset")
	}
	r.v.ResetPVH(0, 0)
	if r.vmcs().Read(TSC_OFFSET) != 0xffff_ffff_0000_0000 {
		t.Error("TSC offset lost by ResetPVH")
	}
}

func TestMapVMCSWidths(t *testing.T) {
	m := NewMapVMCS()
	var log []FieldWrite
	m.Log = &log
	m.Write(GUEST_CS_SELECTOR, 0x12345)
	m.Write(GUEST_CS_LIMIT, 0x1_2345_6789)
	m.Write(GUEST_RIP, ^uint64(0))
	if m.Read(GUEST_CS_SELECTOR) != 0x2345 || m.Read(GUEST_CS_LIMIT) != 0x2345_6789 || m.Read(GUEST_RIP) != ^uint64(0) {
		t.Error("widths")
	}
	if m.Read(GUEST_CR0) != 0 || m.Has(GUEST_CR0) || !m.Has(GUEST_RIP) || len(log) != 3 {
		t.Error("absent fields or log")
	}
}

// The backend satisfies the vendor-neutral interfaces.
var (
	_ amd64.VendorOps = (*Ops)(nil)
	_ amd64.Guest     = (*guest)(nil)
	_ amd64.Backend   = (*vcpu)(nil)
)

// The exit path allocates nothing (the run loop enters the guest
// thousands of times a second).
func TestEnterAllocs(t *testing.T) {
	r := newRig(t)
	s := r.vmcs()
	r.ops.h.Run = func(vmcs hv.PA, launched bool, g *GPRs, fpu uintptr) RunStatus {
		s.Write(VM_EXIT_REASON, EXIT_REASON_IO_INSTRUCTION)
		s.Write(EXIT_QUALIFICATION, 0x3f8<<IO_QUAL_PORT_SHIFT)
		s.Write(IDT_VECTORING_INFO_FIELD, uint64(InjectInterrupt(0x40)))
		return 0
	}
	var e hv.Exit
	r.v.Enter(&e) // the first entry flushes and claims the MSRs
	if n := testing.AllocsPerRun(100, func() {
		r.v.Regs().RIP++
		r.v.Enter(&e)
		r.v.InjectException(VECTOR_GP, 0, true)
		_ = r.v.Interruptible()
	}); n != 0 {
		t.Errorf("%v allocations per exit", n)
	}
}
