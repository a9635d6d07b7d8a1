// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

// NumLR is the number of GICv3 list registers tamavisor uses. QEMU's
// GICv3 CPU interface implements four (ICH_VTR_EL2.ListRegs = 3); the
// world switch saves and restores exactly these.
const NumLR = 4

// Context is the complete architectural state of one vCPU while it is
// not running, GoTEE-style: enter_guest (switch_arm64.s) loads it and
// ERETs to EL1; the lower-EL vectors store it back and return to the
// caller of enter_guest. Field offsets reach the assembly through
// go_asm.h, so fields may be added or moved freely.
type Context struct {
	// General purpose registers x0-x30, the stack pointers and the
	// return state (ELR_EL2, SPSR_EL2 while the guest runs).
	X      [31]uint64
	SP_EL0 uint64
	SP_EL1 uint64
	PC     uint64
	PSTATE uint64

	// EL1 system registers (D19.2, ARM DDI 0487K.a).
	SCTLR_EL1      uint64
	CPACR_EL1      uint64
	TTBR0_EL1      uint64
	TTBR1_EL1      uint64
	TCR_EL1        uint64
	ESR_EL1        uint64
	FAR_EL1        uint64
	AFSR0_EL1      uint64
	AFSR1_EL1      uint64
	MAIR_EL1       uint64
	AMAIR_EL1      uint64
	VBAR_EL1       uint64
	CONTEXTIDR_EL1 uint64
	TPIDR_EL1      uint64
	TPIDR_EL0      uint64
	TPIDRRO_EL0    uint64
	PAR_EL1        uint64
	ELR_EL1        uint64
	SPSR_EL1       uint64
	CNTKCTL_EL1    uint64
	CSSELR_EL1     uint64

	// Generic timer: the EL1 virtual timer and the VM's offset.
	CNTV_CTL  uint64
	CNTV_CVAL uint64
	CNTVOFF   uint64

	// GICv3 virtual CPU interface (IHI 0069H 12.4).
	ICH_HCR   uint64
	ICH_VMCR  uint64
	ICH_AP0R0 uint64
	ICH_AP1R0 uint64
	LR        [NumLR]uint64

	// Per-VM and per-vCPU EL2 controls.
	HCR    uint64
	VTTBR  uint64
	VMPIDR uint64

	// FP/SIMD: V0-V31 as pairs of 64-bit halves, FPCR, FPSR.
	V    [64]uint64
	FPCR uint64
	FPSR uint64

	// Exit record, written by the vectors.
	Vector uint64
	ESR    uint64
	FAR    uint64
	HPFAR  uint64
	// IRQ is the physical interrupt an IRQ exit took (INTID, 1020-1023
	// when none): guest_exit acknowledges and completes it on the CPU
	// the guest ran on, so the exit can be handled on another one.
	IRQ uint64

	// HPDeadline is the CNTHP_CVAL_EL2 value armed while the guest runs
	// (physical count at which the hypervisor takes the CPU back).
	HPDeadline uint64

	// Host state saved across the guest run.
	hostSP   uint64
	hostFP   uint64
	hostG    uint64
	hostLR   uint64
	hostFPCR uint64
	hostFPSR uint64
}

// PSTATE/SPSR values (C5.2.19 SPSR_EL2, M[3:0] and DAIF).
const (
	PSR_MODE_MASK = 0xf
	PSR_MODE_EL0t = 0b0000
	PSR_MODE_EL1t = 0b0100
	PSR_MODE_EL1h = 0b0101
	PSR_nRW       = 1 << 4 // AArch32
	PSR_F         = 1 << 6
	PSR_I         = 1 << 7
	PSR_A         = 1 << 8
	PSR_D         = 1 << 9

	// PSR_EL1h_MASKED is the state a vCPU starts in and an injected
	// exception enters: EL1h with D, A, I and F masked.
	PSR_EL1h_MASKED = PSR_MODE_EL1h | PSR_F | PSR_I | PSR_A | PSR_D
)

// SCTLR_EL1 reset value with the MMU and caches off (D19.2.118: RES1
// bits 29, 28, 23, 22, 20, 11).
const SCTLR_EL1_RESET = 0x30d00800

// Vector numbers recorded in Context.Vector (D1.10.2, Table D1-7: index of
// the 0x80-byte entry from VBAR_EL2).
const (
	VecLowerSync   = 8
	VecLowerIRQ    = 9
	VecLowerFIQ    = 10
	VecLowerSError = 11
)

// Reg returns general purpose register n as an A64 instruction names it
// in a load/store: 31 is the zero register.
func (c *Context) Reg(n int) uint64 {
	if n < 0 || n >= 31 {
		return 0
	}
	return c.X[n]
}

// SetReg writes general purpose register n; writes to 31 (XZR) are
// discarded.
func (c *Context) SetReg(n int, v uint64) {
	if n >= 0 && n < 31 {
		c.X[n] = v
	}
}

// Exception vector offsets from VBAR_EL1 (D1.10.2).
const (
	vecCurrentSP0   = 0x000
	vecCurrentSPx   = 0x200
	vecLower64      = 0x400
	vecLower32      = 0x600
	vecOffsetIRQ    = 0x080
	vecOffsetSError = 0x180
)

// InjectSync makes the vCPU take a synchronous exception at EL1 with the
// given ESR_EL1 (and FAR_EL1, when setFAR), as the architecture would
// have: ELR_EL1/SPSR_EL1 get the interrupted state and execution
// continues at the right VBAR_EL1 entry with DAIF masked
// (D1.10 Exception entry).
func (c *Context) InjectSync(esr, far uint64, setFAR bool) {
	c.ESR_EL1 = esr
	if setFAR {
		c.FAR_EL1 = far
	}
	c.ELR_EL1 = c.PC
	c.SPSR_EL1 = c.PSTATE
	c.PC = c.VBAR_EL1 + c.vectorBase()
	c.PSTATE = PSR_EL1h_MASKED
}

func (c *Context) vectorBase() uint64 {
	switch {
	case c.PSTATE&PSR_nRW != 0:
		return vecLower32
	case c.PSTATE&PSR_MODE_MASK == PSR_MODE_EL0t:
		return vecLower64
	case c.PSTATE&PSR_MODE_MASK == PSR_MODE_EL1t:
		return vecCurrentSP0
	default:
		return vecCurrentSPx
	}
}

// FromEL0 reports whether the vCPU was executing at EL0 when it exited.
func (c *Context) FromEL0() bool {
	return c.PSTATE&PSR_nRW != 0 || c.PSTATE&PSR_MODE_MASK == PSR_MODE_EL0t
}

// ESR_ELx values tamavisor injects (D19.2.37 ESR_EL1).
// The exception classes are those of exception.go.
const (
	ESR_IL = 1 << ESR_IL_SHIFT
	// FSC 0b010000: synchronous External abort, not on a table walk.
	FSC_SYNC_EXTERNAL = 0x10
)

// InjectUndef injects an Undefined Instruction exception (EC 0x00) at the
// current PC.
func (c *Context) InjectUndef() {
	c.InjectSync(EC_UNKNOWN<<ESR_EC_SHIFT|ESR_IL, 0, false)
}

// InjectDataAbort injects a synchronous external data abort at address
// far, as if the memory system had returned an error (the guest sees
// EC 0x24 or 0x25 with DFSC 0x10).
func (c *Context) InjectDataAbort(far uint64, write bool) {
	ec := uint64(EC_DABT_CUR)
	if c.FromEL0() {
		ec = EC_DABT_LOWER
	}
	iss := uint64(FSC_SYNC_EXTERNAL)
	if write {
		iss |= 1 << ESR_WNR_SHIFT
	}
	c.InjectSync(ec<<ESR_EC_SHIFT|ESR_IL|iss, far, true)
}

// InjectInstructionAbort injects a synchronous external instruction
// abort at the current PC.
func (c *Context) InjectInstructionAbort() {
	ec := uint64(EC_IABT_CUR)
	if c.FromEL0() {
		ec = EC_IABT_LOWER
	}
	c.InjectSync(ec<<ESR_EC_SHIFT|ESR_IL|FSC_SYNC_EXTERNAL, c.PC, true)
}

// ResetEL1 puts the context in the state a vCPU has when it is powered
// on at entry with x0 = arg (Linux boot protocol and PSCI CPU_ON): EL1h,
// DAIF masked, MMU and caches off, everything else zero. The per-VM
// controls (HCR, VTTBR, VMPIDR, CNTVOFF, ICH_HCR) are kept.
func (c *Context) ResetEL1(entry, arg uint64) {
	keep := *c
	*c = Context{}
	c.HCR, c.VTTBR, c.VMPIDR, c.CNTVOFF, c.ICH_HCR = keep.HCR, keep.VTTBR, keep.VMPIDR, keep.CNTVOFF, keep.ICH_HCR
	c.X[0] = arg
	c.PC = entry
	c.PSTATE = PSR_EL1h_MASKED
	c.SCTLR_EL1 = SCTLR_EL1_RESET
}
