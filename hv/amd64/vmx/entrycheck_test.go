// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import "fmt"

// A Go rendering of the VM-entry checks tamavisor's VMCS must pass (Intel
// SDM Vol. 3C, 27.2 "Checks on VMX Controls and Host-State Area" and
// 27.3.1 "Checks on the Guest State Area"), restricted to what the
// backend can get wrong: the processors that run it report its
// mistakes only as VMfailValid or an exit with reason 33.

// entryChecker collects the violated checks.
type entryChecker struct {
	s    VMCS
	caps Caps
	errs []string
}

func (c *entryChecker) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *entryChecker) r(f Field) uint64 { return c.s.Read(f) }

func (c *entryChecker) ctl(name string, v uint32, capMSR uint64) {
	if must := uint32(capMSR); v&must != must {
		c.fail("%s controls %#x lack bits %#x that must be 1", name, v, must&^v)
	}
	if may := uint32(capMSR >> 32); v&^may != 0 {
		c.fail("%s controls %#x set bits %#x that must be 0", name, v, v&^may)
	}
}

func hostCanonical(a uint64) bool { return canonical(a) }

// checkControls: 27.2.1.1 "VM-Execution Control Fields", 27.2.1.2
// "VM-Exit Control Fields", 27.2.1.3 "VM-Entry Control Fields".
func (c *entryChecker) checkControls() {
	pin := uint32(c.r(PIN_BASED_VM_EXEC_CONTROL))
	proc := uint32(c.r(CPU_BASED_VM_EXEC_CONTROL))
	proc2 := uint32(c.r(SECONDARY_VM_EXEC_CONTROL))
	exit := uint32(c.r(VM_EXIT_CONTROLS))
	entry := uint32(c.r(VM_ENTRY_CONTROLS))
	c.ctl("pin-based", pin, c.caps.Pin)
	c.ctl("primary", proc, c.caps.Proc)
	if proc&PROC_ACTIVATE_SECONDARY_CONTROLS != 0 {
		c.ctl("secondary", proc2, c.caps.Proc2)
	} else {
		proc2 = 0
	}
	c.ctl("exit", exit, c.caps.Exit)
	c.ctl("entry", entry, c.caps.Entry)
	if c.r(CR3_TARGET_COUNT) > uint64(c.caps.Misc.CR3Targets()) {
		c.fail("CR3-target count %d", c.r(CR3_TARGET_COUNT))
	}
	if proc&PROC_USE_IO_BITMAPS != 0 && (c.r(IO_BITMAP_A)|c.r(IO_BITMAP_B))&0xfff != 0 {
		c.fail("I/O bitmap addresses not page aligned")
	}
	if proc&PROC_USE_MSR_BITMAPS != 0 && c.r(MSR_BITMAP)&0xfff != 0 {
		c.fail("MSR bitmap address not page aligned")
	}
	if pin&PIN_NMI_EXITING == 0 && pin&PIN_VIRTUAL_NMIS != 0 {
		c.fail("virtual NMIs without NMI exiting")
	}
	if proc2&PROC2_ENABLE_VPID != 0 && c.r(VIRTUAL_PROCESSOR_ID) == 0 {
		c.fail("VPID 0 with VPIDs enabled")
	}
	if proc2&PROC2_ENABLE_EPT != 0 {
		eptp := c.r(EPT_POINTER)
		if eptp&EPTP_MEMTYPE_MASK != MEMTYPE_WB || eptp>>EPTP_WALK_LENGTH_SHIFT&EPTP_WALK_LENGTH_MASK != 3 ||
			eptp&0xf80 != 0 || eptp>>52 != 0 {
			c.fail("EPTP %#x", eptp)
		}
	}
	if proc2&PROC2_UNRESTRICTED_GUEST != 0 && proc2&PROC2_ENABLE_EPT == 0 {
		c.fail("unrestricted guest without EPT")
	}
	if exit&EXIT_ACK_INTERRUPT_ON_EXIT != 0 {
		c.fail("acknowledge interrupt on exit set (tamavisor leaves it to the host IDT)")
	}
	if c.r(VM_EXIT_MSR_STORE_COUNT)|c.r(VM_EXIT_MSR_LOAD_COUNT)|c.r(VM_ENTRY_MSR_LOAD_COUNT) != 0 {
		c.fail("MSR lists in use without areas")
	}
	if entry&(ENTRY_TO_SMM|ENTRY_DEACTIVATE_DUAL_MONITOR) != 0 {
		c.fail("SMM entry controls set")
	}
	ii := IntrInfo(c.r(VM_ENTRY_INTR_INFO_FIELD))
	if ii.Valid() {
		pe := c.r(GUEST_CR0)&CR0_PE != 0
		switch t := ii.Type(); {
		case t == 1:
			c.fail("injection of reserved type 1")
		case t == INTR_TYPE_NMI && ii.Vector() != VECTOR_NMI:
			c.fail("NMI injection with vector %d", ii.Vector())
		case t == INTR_TYPE_HARDWARE_EXCEPTION && ii.Vector() > 31:
			c.fail("hardware exception vector %d", ii.Vector())
		}
		wantErr := ii.Type() == INTR_TYPE_HARDWARE_EXCEPTION && ExceptionHasErrorCode(ii.Vector()) && pe
		if ii.ErrorValid() != wantErr {
			c.fail("deliver-error-code %v for %v (CR0.PE=%v)", ii.ErrorValid(), ii, pe)
		}
		if uint32(ii)&0x7fff_f000 != 0 {
			c.fail("reserved interruption-information bits in %v", ii)
		}
		switch ii.Type() {
		case INTR_TYPE_SOFTWARE_INTERRUPT, INTR_TYPE_PRIVILEGED_SOFTWARE_EXCEPTION, INTR_TYPE_SOFTWARE_EXCEPTION:
			if l := c.r(VM_ENTRY_INSTRUCTION_LEN); l < 1 || l > 15 {
				c.fail("software event with instruction length %d", l)
			}
		}
	}
}

// checkHost: 27.2.2 "Checks on Host Control Registers, MSRs, and SSP",
// 27.2.3 "Checks on Host Segment and Descriptor-Table Registers", 27.2.4
// "Checks Related to Address-Space Size".
func (c *entryChecker) checkHost() {
	exit := uint32(c.r(VM_EXIT_CONTROLS))
	cr0, cr4 := c.r(HOST_CR0), c.r(HOST_CR4)
	if FixedCR(cr0, c.caps.CR0Fixed0, c.caps.CR0Fixed1) != cr0 {
		c.fail("host CR0 %#x violates the fixed bits", cr0)
	}
	if FixedCR(cr4, c.caps.CR4Fixed0, c.caps.CR4Fixed1) != cr4 {
		c.fail("host CR4 %#x violates the fixed bits", cr4)
	}
	if c.r(HOST_CR3)>>52 != 0 {
		c.fail("host CR3 %#x", c.r(HOST_CR3))
	}
	for _, f := range []Field{HOST_IA32_SYSENTER_ESP, HOST_IA32_SYSENTER_EIP, HOST_FS_BASE, HOST_GS_BASE,
		HOST_GDTR_BASE, HOST_IDTR_BASE, HOST_TR_BASE, HOST_RIP} {
		if !hostCanonical(c.r(f)) {
			c.fail("%v %#x not canonical", f, c.r(f))
		}
	}
	if exit&EXIT_LOAD_IA32_PAT != 0 && !validPAT(c.r(HOST_IA32_PAT)) {
		c.fail("host PAT %#x", c.r(HOST_IA32_PAT))
	}
	hostLong := exit&EXIT_HOST_ADDRESS_SPACE_SIZE != 0
	if exit&EXIT_LOAD_IA32_EFER != 0 {
		efer := c.r(HOST_IA32_EFER)
		if efer&^(EFER_SCE|EFER_LME|EFER_LMA|EFER_NXE) != 0 ||
			(efer&EFER_LMA != 0) != hostLong || (efer&EFER_LME != 0) != hostLong {
			c.fail("host EFER %#x", efer)
		}
	}
	for _, f := range []Field{HOST_ES_SELECTOR, HOST_CS_SELECTOR, HOST_SS_SELECTOR, HOST_DS_SELECTOR,
		HOST_FS_SELECTOR, HOST_GS_SELECTOR, HOST_TR_SELECTOR} {
		if c.r(f)&7 != 0 {
			c.fail("%v %#x has RPL or TI set", f, c.r(f))
		}
	}
	if c.r(HOST_CS_SELECTOR) == 0 || c.r(HOST_TR_SELECTOR) == 0 {
		c.fail("host CS or TR selector 0")
	}
	if !hostLong && c.r(HOST_SS_SELECTOR) == 0 {
		c.fail("host SS selector 0 with a 32-bit host")
	}
	if !hostLong {
		c.fail("tamavisor is a 64-bit host")
	}
	if cr4&CR4_PAE == 0 {
		c.fail("host CR4.PAE clear with a 64-bit host")
	}
}

func validPAT(v uint64) bool {
	for i := 0; i < 8; i++ {
		switch v >> (8 * i) & 0xff {
		case 0, 1, 4, 5, 6, 7:
		default:
			return false
		}
	}
	return true
}

type segCheck struct {
	name string
	seg  segment
}

// checkGuest: 27.3.1.1 to 27.3.1.5 (PDPTEs, 27.3.1.6, are checked only
// when the guest uses PAE paging, which the test states do not).
func (c *entryChecker) checkGuest() {
	proc2 := uint32(c.r(SECONDARY_VM_EXEC_CONTROL))
	entry := uint32(c.r(VM_ENTRY_CONTROLS))
	ug := proc2&PROC2_UNRESTRICTED_GUEST != 0
	ia32e := entry&ENTRY_IA32E_MODE_GUEST != 0

	// 27.3.1.1 control registers, debug registers and MSRs.
	cr0, cr4 := c.r(GUEST_CR0), c.r(GUEST_CR4)
	fixed0 := c.caps.CR0Fixed0
	if ug {
		fixed0 &^= CR0_PE | CR0_PG
	}
	bad1 := cr0 &^ c.caps.CR0Fixed1
	if ug {
		bad1 &^= CR0_PE | CR0_PG
	}
	if cr0&fixed0 != fixed0 || bad1 != 0 || cr0>>32 != 0 {
		c.fail("guest CR0 %#x violates the fixed bits", cr0)
	}
	if cr0&CR0_PG != 0 && cr0&CR0_PE == 0 {
		c.fail("guest CR0.PG without PE")
	}
	if FixedCR(cr4, c.caps.CR4Fixed0, c.caps.CR4Fixed1) != cr4 {
		c.fail("guest CR4 %#x violates the fixed bits", cr4)
	}
	if ia32e && (cr0&CR0_PG == 0 || cr4&CR4_PAE == 0) {
		c.fail("IA-32e mode guest without CR0.PG and CR4.PAE")
	}
	if !ia32e && cr4&CR4_PCIDE != 0 {
		c.fail("CR4.PCIDE outside IA-32e mode")
	}
	if c.r(GUEST_CR3)>>52 != 0 {
		c.fail("guest CR3 %#x", c.r(GUEST_CR3))
	}
	if entry&ENTRY_LOAD_DEBUG_CONTROLS != 0 && c.r(GUEST_DR7)>>32 != 0 {
		c.fail("guest DR7 %#x", c.r(GUEST_DR7))
	}
	for _, f := range []Field{GUEST_SYSENTER_ESP, GUEST_SYSENTER_EIP} {
		if !canonical(c.r(f)) {
			c.fail("%v not canonical", f)
		}
	}
	if entry&ENTRY_LOAD_IA32_PAT != 0 && !validPAT(c.r(GUEST_IA32_PAT)) {
		c.fail("guest PAT %#x", c.r(GUEST_IA32_PAT))
	}
	if entry&ENTRY_LOAD_IA32_EFER != 0 {
		efer := c.r(GUEST_IA32_EFER)
		if efer&^(EFER_SCE|EFER_LME|EFER_LMA|EFER_NXE) != 0 {
			c.fail("guest EFER %#x reserved bits", efer)
		}
		if (efer&EFER_LMA != 0) != ia32e {
			c.fail("guest EFER.LMA %v but IA-32e mode guest %v", efer&EFER_LMA != 0, ia32e)
		}
		if cr0&CR0_PG != 0 && (efer&EFER_LME != 0) != ia32e {
			c.fail("guest EFER.LME %v with paging, IA-32e mode guest %v", efer&EFER_LME != 0, ia32e)
		}
	}

	// 27.3.1.2 segment registers (the guest is never virtual-8086 here:
	// checked with RFLAGS below).
	cs := AccessRights(c.r(GUEST_CS_AR_BYTES))
	ss := AccessRights(c.r(GUEST_SS_AR_BYTES))
	csSel, ssSel := c.r(GUEST_CS_SELECTOR), c.r(GUEST_SS_SELECTOR)
	if c.r(GUEST_TR_SELECTOR)&4 != 0 {
		c.fail("TR selector TI set")
	}
	if !ug && ssSel&3 != csSel&3 {
		c.fail("SS.RPL != CS.RPL")
	}
	for _, f := range []Field{GUEST_TR_BASE, GUEST_FS_BASE, GUEST_GS_BASE} {
		if !canonical(c.r(f)) {
			c.fail("%v not canonical", f)
		}
	}
	if c.r(GUEST_CS_BASE)>>32 != 0 {
		c.fail("CS base above 4 GiB")
	}
	segs := []segCheck{{"CS", segCS}, {"SS", segSS}, {"DS", segDS}, {"ES", segES}, {"FS", segFS}, {"GS", segGS}}
	for _, sc := range segs {
		a := AccessRights(c.r(sc.seg.ar))
		isCS := sc.name == "CS"
		if !isCS && a.Unusable() {
			continue
		}
		if (sc.name == "SS" || sc.name == "DS" || sc.name == "ES") && c.r(sc.seg.base)>>32 != 0 {
			c.fail("%s base above 4 GiB", sc.name)
		}
		t := a.Type()
		switch sc.name {
		case "CS":
			if !(t == 9 || t == 11 || t == 13 || t == 15 || ug && t == SEG_TYPE_DATA_RW_ACCESSED) {
				c.fail("CS type %d", t)
			}
			switch {
			case t == SEG_TYPE_DATA_RW_ACCESSED && a.DPL() != 0:
				c.fail("CS type 3 with DPL %d", a.DPL())
			case (t == 9 || t == 11) && a.DPL() != ss.DPL():
				c.fail("CS DPL %d != SS DPL %d", a.DPL(), ss.DPL())
			case (t == 13 || t == 15) && a.DPL() > ss.DPL():
				c.fail("conforming CS DPL %d > SS DPL %d", a.DPL(), ss.DPL())
			}
			if ia32e && a.Long() && a.DB() {
				c.fail("CS with L and D/B in IA-32e mode")
			}
		case "SS":
			if t != 3 && t != 7 {
				c.fail("SS type %d", t)
			}
			if !ug && uint64(a.DPL()) != ssSel&3 {
				c.fail("SS DPL != RPL")
			}
			if (cs.Type() == SEG_TYPE_DATA_RW_ACCESSED || cr0&CR0_PE == 0) && a.DPL() != 0 {
				c.fail("SS DPL %d must be 0", a.DPL())
			}
		default:
			if t&1 == 0 || t&8 != 0 && t&2 == 0 {
				c.fail("%s type %d", sc.name, t)
			}
			if !ug && t <= 11 && uint64(a.DPL()) < c.r(sc.seg.sel)&3 {
				c.fail("%s DPL < RPL", sc.name)
			}
		}
		if !a.S() || !a.Present() {
			c.fail("%s S or P clear: %#x", sc.name, uint32(a))
		}
		if a.Reserved() != 0 {
			c.fail("%s reserved access-rights bits %#x", sc.name, a.Reserved())
		}
		c.granularity(sc.name, uint32(c.r(sc.seg.limit)), a)
	}
	tr := AccessRights(c.r(GUEST_TR_AR_BYTES))
	switch {
	case ia32e && tr.Type() != SEG_TYPE_TSS_BUSY,
		!ia32e && tr.Type() != SEG_TYPE_TSS_BUSY && tr.Type() != SEG_TYPE_TSS16_BUSY:
		c.fail("TR type %d", tr.Type())
	}
	if tr.S() || !tr.Present() || tr.Unusable() || tr.Reserved() != 0 {
		c.fail("TR access rights %#x", uint32(tr))
	}
	c.granularity("TR", uint32(c.r(GUEST_TR_LIMIT)), tr)
	if ldtr := AccessRights(c.r(GUEST_LDTR_AR_BYTES)); !ldtr.Unusable() {
		if c.r(GUEST_LDTR_SELECTOR)&4 != 0 || !canonical(c.r(GUEST_LDTR_BASE)) {
			c.fail("LDTR selector or base")
		}
		if ldtr.Type() != SEG_TYPE_LDT || ldtr.S() || !ldtr.Present() || ldtr.Reserved() != 0 {
			c.fail("LDTR access rights %#x", uint32(ldtr))
		}
		c.granularity("LDTR", uint32(c.r(GUEST_LDTR_LIMIT)), ldtr)
	}

	// 27.3.1.3 descriptor-table registers.
	for _, f := range []Field{GUEST_GDTR_BASE, GUEST_IDTR_BASE} {
		if !canonical(c.r(f)) {
			c.fail("%v not canonical", f)
		}
	}
	for _, f := range []Field{GUEST_GDTR_LIMIT, GUEST_IDTR_LIMIT} {
		if c.r(f)>>16 != 0 {
			c.fail("%v %#x", f, c.r(f))
		}
	}

	// 27.3.1.4 RIP and RFLAGS.
	rip, rflags := c.r(GUEST_RIP), c.r(GUEST_RFLAGS)
	if (!ia32e || !cs.Long()) && rip>>32 != 0 {
		c.fail("RIP %#x above 4 GiB outside 64-bit mode", rip)
	}
	const rflagsReserved = 0xffff_ffff_ffc0_8028 // 63:22, 15, 5, 3
	if rflags&rflagsReserved != 0 || rflags&2 == 0 {
		c.fail("RFLAGS %#x reserved bits", rflags)
	}
	if rflags&(1<<17) != 0 {
		c.fail("RFLAGS.VM set")
	}
	ii := IntrInfo(c.r(VM_ENTRY_INTR_INFO_FIELD))
	if ii.Valid() && ii.Type() == INTR_TYPE_EXTERNAL_INTERRUPT && rflags&(1<<9) == 0 {
		c.fail("external interrupt injected with RFLAGS.IF clear")
	}

	// 27.3.1.5 non-register state.
	if c.r(GUEST_ACTIVITY_STATE) != ACTIVITY_ACTIVE {
		c.fail("activity state %d", c.r(GUEST_ACTIVITY_STATE))
	}
	is := c.r(GUEST_INTERRUPTIBILITY_INFO)
	if is>>5 != 0 || is&INTERRUPTIBILITY_SHADOW == INTERRUPTIBILITY_SHADOW {
		c.fail("interruptibility %#x", is)
	}
	if rflags&(1<<9) == 0 && is&INTERRUPTIBILITY_STI != 0 {
		c.fail("blocking by STI with RFLAGS.IF clear")
	}
	if ii.Valid() && (ii.Type() == INTR_TYPE_EXTERNAL_INTERRUPT || ii.Type() == INTR_TYPE_NMI) && is&INTERRUPTIBILITY_SHADOW != 0 {
		c.fail("interrupt injected under an interrupt shadow")
	}
	if c.r(GUEST_PENDING_DBG_EXCEPTIONS)&^0x1_500f != 0 {
		c.fail("pending debug exceptions %#x", c.r(GUEST_PENDING_DBG_EXCEPTIONS))
	}
	if c.r(VMCS_LINK_POINTER) != VMCS_LINK_POINTER_0 {
		c.fail("VMCS link pointer %#x", c.r(VMCS_LINK_POINTER))
	}
}

// granularity: "if any bit in the limit field in the range 11:0 is 0, G
// must be 0; if any bit in the range 31:20 is 1, G must be 1".
func (c *entryChecker) granularity(name string, limit uint32, a AccessRights) {
	if limit&0xfff != 0xfff && a.Granular() {
		c.fail("%s limit %#x with G set", name, limit)
	}
	if limit>>20 != 0 && !a.Granular() {
		c.fail("%s limit %#x with G clear", name, limit)
	}
}

// entryErrors runs every check on s.
func entryErrors(s VMCS, caps Caps) []string {
	c := &entryChecker{s: s, caps: caps}
	c.checkControls()
	c.checkHost()
	c.checkGuest()
	return c.errs
}
