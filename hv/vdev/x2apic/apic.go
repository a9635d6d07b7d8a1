// hv/vdev/x2apic: an emulated local APIC in x2APIC mode for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

// Package x2apic is a minimal virtual local APIC for one vCPU of an x86
// guest, reached only through the x2APIC MSRs (Intel SDM Vol. 3A,
// chapter 11 "Advanced Programmable Interrupt Controller (APIC)", 11.12
// "Extended XAPIC (x2APIC)"). It gives a guest what it needs for a timer
// interrupt, self-IPIs and a few external interrupts: the hypervisor
// calls ReadMSR and WriteMSR from its RDMSR/WRMSR exits, turns an error
// into #GP, and before entering the guest asks Pending for a vector to
// inject, then reports the injection with Accept.
//
// The package is pure logic: it has no clock. Every call that depends on
// time takes now, in nanoseconds of a monotonic clock the caller owns,
// so the model is deterministic and host-tested with a fake clock. It is
// pure Go with no build tags and runs on every target (GOOS=tamago amd64
// at the VM exit path) and on the host.
//
// # What is emulated
//
//   - IA32_APIC_BASE with the SDM 11.12.5 mode transitions. After New and
//     Reset the APIC is enabled in x2APIC mode (EN|EXTD), as firmware
//     that enabled x2APIC leaves it, because the xAPIC memory-mapped mode
//     is not emulated: a guest may move to xAPIC mode (from disabled) or
//     disable the APIC, but in xAPIC mode every x2APIC MSR raises #GP
//     (as the SDM specifies outside x2APIC mode) and nothing answers at
//     0xFEE00000. Disabling the APIC resets its registers (11.4.3).
//   - ID, VERSION, LDR (derived from the ID, 11.12.10.2), TPR, PPR, EOI,
//     SVR, ISR, TMR (always zero: only edge-triggered interrupts exist
//     here), IRR, ESR, the seven LVT entries, ICR, SELF IPI and the
//     timer (initial count, current count, divide configuration).
//   - The timer in one-shot and periodic mode. TSC-deadline mode is
//     accepted in the LVT but the timer then never fires (there is no
//     IA32_TSC_DEADLINE here); the hypervisor should not advertise it in
//     CPUID. A periodic timer runs at least MinPeriod apart.
//   - IPIs: only fixed-mode IPIs to this APIC itself (shorthand "self",
//     or no shorthand, physical destination equal to the APIC ID) are
//     delivered; every other IPI is counted in Stats.Dropped and ignored.
//   - External interrupts: Raise, or the rising edge of an IRQLine. There
//     is no I/O APIC; IRQLine(isa) maps ISA IRQ n straight to vector
//     0x20+n, a simplification of what an I/O APIC programmed by the
//     guest would do.
//
// The LVT entries other than timer and error are stored but never
// deliver anything. An interrupt is only decided when Pending is called,
// so the spurious vector of SVR is never used.
//
// # Guest input
//
// Every MSR index and value is guest-controlled. Accesses to reserved
// registers, writes to read-only ones, reads of write-only ones and
// writes with reserved bits set (SDM 11.12.1.3) return an error wrapping
// one of the sentinels below, and the hypervisor injects #GP. Nothing
// panics, loops or allocates in proportion to guest input; the periodic
// timer catches up any number of missed periods in constant time.
//
// # Concurrency
//
// An APIC is internally locked: IRQLine may be driven from a device on
// another goroutine (a UART taking host input) while the vCPU's exit
// path reads and writes MSRs. The APIC never calls out while holding its
// lock.
package x2apic

import (
	"fmt"
	"math"
	"math/bits"
	"sync"

	"github.com/tamavisor/tamavisor/hv"
)

// Errors. Each means "inject #GP(0)" (SDM 11.12.1.2, 11.12.1.3).
const (
	ErrReservedMSR  = hv.Error("x2apic: reserved or unknown APIC MSR")
	ErrNotX2APIC    = hv.Error("x2apic: x2APIC MSR access outside x2APIC mode")
	ErrReadOnly     = hv.Error("x2apic: write to a read-only register")
	ErrWriteOnly    = hv.Error("x2apic: read of a write-only register")
	ErrReservedBits = hv.Error("x2apic: reserved bits set")
	ErrTransition   = hv.Error("x2apic: invalid IA32_APIC_BASE mode transition")
)

// MinPeriod is the shortest period, in nanoseconds, at which a periodic
// timer re-arms (2 kHz). A guest programming a shorter period gets this
// one, so it cannot make Pending fire on every call and starve the vCPU
// of guest time, and a tick is serviced before the next one is due even
// under emulation: at 100 µs, QEMU TCG's round trip for one tick
// (exit, injection, the guest's handler, its EOI exit), with the boot
// CPU also serving an application processor's exits, took longer than
// the period and livelocked the test guest's storm phase. KVM clamps
// periodic APIC timers at 200 µs for the same reason.
const MinPeriod = 500_000

// DefaultTimerHz is the timer input frequency New uses when given 0.
const DefaultTimerHz = 1_000_000_000

// nsPerSecond converts between timer ticks and nanoseconds.
const nsPerSecond = 1_000_000_000

// Stats counts what the APIC has done, for `vm list --json`. All
// counters only grow; Reset keeps them.
type Stats struct {
	TimerFires     uint64 `json:"timer_fires"`     // timer expiries, delivered or not
	TimerMasked    uint64 `json:"timer_masked"`    // expiries with the LVT timer entry masked
	TimerCoalesced uint64 `json:"timer_coalesced"` // periodic expiries merged into a later one
	SelfIPIs       uint64 `json:"self_ipis"`       // IPIs delivered to this APIC
	Dropped        uint64 `json:"dropped"`         // IPIs not delivered: not fixed mode, or not to self
	Raised         uint64 `json:"raised"`          // external interrupts set in IRR
	Ignored        uint64 `json:"ignored"`         // interrupts refused: vector < 16, or APIC disabled
	Accepted       uint64 `json:"accepted"`        // Accept calls that moved IRR to ISR
	BadAccepts     uint64 `json:"bad_accepts"`     // Accept of a vector not in IRR
	EOIs           uint64 `json:"eois"`            // EOI writes that retired a vector
	SpuriousEOIs   uint64 `json:"spurious_eois"`   // EOI writes with nothing in service
	IllegalVectors uint64 `json:"illegal_vectors"` // illegal vectors logged in ESR
	GPs            uint64 `json:"gps"`             // MSR accesses refused (#GP)
}

// mode is the APIC state of SDM 11.12.5, Table 11-5.
type mode uint8

const (
	modeDisabled mode = iota // EN=0, EXTD=0
	modeInvalid              // EN=0, EXTD=1
	modeXAPIC                // EN=1, EXTD=0
	modeX2APIC               // EN=1, EXTD=1
)

func baseMode(v uint64) mode {
	return mode(v>>APIC_BASE_EN&1<<1 | v>>APIC_BASE_EXTD&1)
}

// APIC is the virtual local APIC of one vCPU.
type APIC struct {
	id uint32
	hz uint64

	mu       sync.Mutex
	base     uint64 // IA32_APIC_BASE
	tpr      uint32
	svr      uint32
	irr, isr [8]uint32 // 256 vector bits each, register i = vectors 32i..32i+31
	esr      uint32    // as last latched by an ESR write
	errAcc   uint32    // errors since that write
	icr      uint64
	lvt      [NumLVT]LVT
	initial  uint32 // timer initial count
	dcr      uint32 // divide configuration

	// The timer counts from start; it expires at deadline. dur is the
	// time of a full count at the current divisor. armed is false when
	// the count is zero, a one-shot has expired, or the mode is
	// TSC-deadline.
	armed           bool
	start, deadline int64
	dur             int64

	stats Stats
}

// New returns the local APIC of a vCPU with x2APIC ID id, in its reset
// state (see the package comment). timerHz is the frequency the APIC
// timer counts at before the divide configuration (the bus or core
// crystal clock the guest is told about, e.g. 1e9); 0 means
// DefaultTimerHz. The BSP flag of IA32_APIC_BASE is set for ID 0.
func New(id uint32, timerHz uint64) *APIC {
	if timerHz == 0 {
		timerHz = DefaultTimerHz
	}
	a := &APIC{id: id, hz: timerHz}
	a.base = DefaultBase | 1<<APIC_BASE_EN | 1<<APIC_BASE_EXTD
	if id == 0 {
		a.base |= 1 << APIC_BASE_BSP
	}
	a.resetRegs()
	return a
}

// ID returns the x2APIC ID given to New.
func (a *APIC) ID() uint32 { return a.id }

// Reset puts the APIC back into its state after New, as a guest reboot
// does: x2APIC mode, registers at their power-up values (SDM 11.4.7.1),
// IRR and ISR empty, timer stopped. The counters are kept.
func (a *APIC) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.base = a.base&(1<<APIC_BASE_BSP) | DefaultBase | 1<<APIC_BASE_EN | 1<<APIC_BASE_EXTD
	a.resetRegs()
}

// resetRegs sets the registers to their power-up values (SDM 11.4.7.1):
// everything zero except the LVT entries (masked) and SVR (0xFF).
func (a *APIC) resetRegs() {
	a.tpr, a.esr, a.errAcc, a.icr, a.initial, a.dcr = 0, 0, 0, 0, 0, 0
	a.svr = svrReset
	a.irr, a.isr = [8]uint32{}, [8]uint32{}
	for i := range a.lvt {
		a.lvt[i] = 1 << LVT_MASKED
	}
	a.armed, a.start, a.deadline, a.dur = false, 0, 0, 0
}

// Stats returns a snapshot of the counters.
func (a *APIC) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Owns reports whether msr is one the APIC answers for: IA32_APIC_BASE
// and the x2APIC range 0x800-0x8FF. The hypervisor routes those MSR
// exits here and handles (or refuses) the others itself.
func Owns(msr uint32) bool {
	return msr == IA32_APIC_BASE || msr >= X2APIC_MSR_FIRST && msr <= X2APIC_MSR_LAST
}

// enabled reports that the APIC accepts interrupts: globally enabled in
// IA32_APIC_BASE and software-enabled in SVR (SDM 11.4.7.2).
func (a *APIC) enabled() bool {
	return a.base&(1<<APIC_BASE_EN) != 0 && a.svr&(1<<SVR_APIC_ENABLE) != 0
}

// Vector bitmaps.

func setVec(r *[8]uint32, v uint8)       { r[v>>5] |= 1 << (v & 31) }
func clearVec(r *[8]uint32, v uint8)     { r[v>>5] &^= 1 << (v & 31) }
func testVec(r *[8]uint32, v uint8) bool { return r[v>>5]&(1<<(v&31)) != 0 }

// highest returns the highest vector set in r, or -1.
func highest(r *[8]uint32) int {
	for i := 7; i >= 0; i-- {
		if r[i] != 0 {
			return i*32 + bits.Len32(r[i]) - 1
		}
	}
	return -1
}

// ppr computes the processor priority (SDM 11.8.3.1): TPR if its class
// is at least that of the highest in-service vector, else that vector's
// class with a zero sub-class.
func (a *APIC) ppr() uint32 {
	isrv := uint32(max(highest(&a.isr), 0))
	if a.tpr>>PRIORITY_CLASS_SHIFT >= isrv>>PRIORITY_CLASS_SHIFT {
		return a.tpr
	}
	return isrv &^ (1<<PRIORITY_CLASS_SHIFT - 1)
}

// accept sets v in IRR if the APIC takes interrupts; v >= 16.
func (a *APIC) accept(v uint8) bool {
	if !a.enabled() {
		a.stats.Ignored++
		return false
	}
	setVec(&a.irr, v)
	return true
}

// signalError logs errors in the ESR accumulator and raises the LVT
// error interrupt when it is unmasked (SDM 11.5.3).
func (a *APIC) signalError(esrBits uint32) {
	a.errAcc |= esrBits
	a.stats.IllegalVectors++
	if e := a.lvt[lvtError]; !e.Masked() && e.Vector() >= FirstValidVector {
		a.accept(e.Vector())
	}
}

// deliverLocal delivers a locally generated interrupt (timer, self IPI):
// an illegal vector is logged instead (SDM 11.5.3 "Receive Illegal
// Vector").
func (a *APIC) deliverLocal(v uint8, esrBits uint32) bool {
	if v < FirstValidVector {
		a.signalError(esrBits)
		return false
	}
	return a.accept(v)
}

// Raise makes vector pending in IRR, as an interrupt message from outside
// the APIC does. Vectors below 16, and interrupts arriving while the
// APIC is disabled (globally or in SVR), are ignored and counted in
// Stats.Ignored.
func (a *APIC) Raise(vector uint8) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.raise(vector)
}

func (a *APIC) raise(vector uint8) {
	if vector < FirstValidVector {
		a.stats.Ignored++
		return
	}
	if a.accept(vector) {
		a.stats.Raised++
	}
}

// Pending first fires an expired timer into IRR, then returns the
// vector the hypervisor should inject now: the highest vector in IRR if
// its priority class is above that of PPR (SDM 11.8.3.1). ok is false
// when nothing is deliverable or the APIC is disabled. The vector stays
// in IRR until Accept.
func (a *APIC) Pending(now int64) (vector uint8, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tick(now)
	if !a.enabled() {
		return 0, false
	}
	v := highest(&a.irr)
	if v < 0 || uint32(v)>>PRIORITY_CLASS_SHIFT <= a.ppr()>>PRIORITY_CLASS_SHIFT {
		return 0, false
	}
	return uint8(v), true
}

// Accept records that the hypervisor injected vector: it moves from IRR
// to ISR (SDM 11.8.4), raising PPR until the guest's EOI. A vector not
// in IRR is counted in Stats.BadAccepts and ignored.
func (a *APIC) Accept(vector uint8) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !testVec(&a.irr, vector) {
		a.stats.BadAccepts++
		return
	}
	clearVec(&a.irr, vector)
	setVec(&a.isr, vector)
	a.stats.Accepted++
}

// NextEvent returns the time at which the timer next delivers an
// interrupt (the caller's clock, nanoseconds), so a halted vCPU can be
// woken then; 0 when the timer is stopped or its LVT entry is masked.
// The time may already have passed: Pending then fires it.
func (a *APIC) NextEvent() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.armed || a.lvt[lvtTimer].Masked() {
		return 0
	}
	return a.deadline
}

// isaLine is the hv.IRQLine of one ISA interrupt; high is guarded by the
// APIC's lock.
type isaLine struct {
	a      *APIC
	vector uint8
	high   bool
}

// SetLevel raises the vector on a rising edge.
func (l *isaLine) SetLevel(high bool) {
	l.a.mu.Lock()
	defer l.a.mu.Unlock()
	rising := high && !l.high
	l.high = high
	if rising {
		l.a.raise(l.vector)
	}
}

// ISAVectorBase is the vector of ISA IRQ 0 on an IRQLine.
const ISAVectorBase = 0x20

// IRQLine returns an interrupt input whose rising edge raises vector
// 0x20+isa: ISA interrupts delivered without an I/O APIC, with the
// vector fixed rather than programmed by the guest (a simplification).
// A level held high raises the vector once. isa must be 0 to 223; it
// comes from the board description, so an out-of-range value is a
// start-up misconfiguration and panics.
func (a *APIC) IRQLine(isa int) hv.IRQLine {
	if isa < 0 || isa > 0xff-ISAVectorBase {
		panic(fmt.Sprintf("x2apic: ISA IRQ %d has no vector", isa))
	}
	return &isaLine{a: a, vector: uint8(ISAVectorBase + isa)}
}

// The timer (SDM 11.5.4).

// ticksToNS converts timer input ticks to nanoseconds, saturating.
func (a *APIC) ticksToNS(ticks uint64) int64 {
	hi, lo := bits.Mul64(ticks, nsPerSecond)
	if hi >= a.hz {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, a.hz)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// nsToTicks converts nanoseconds to timer input ticks, saturating.
func (a *APIC) nsToTicks(ns uint64) uint64 {
	hi, lo := bits.Mul64(ns, a.hz)
	if hi >= nsPerSecond {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, nsPerSecond)
	return q
}

// addSat returns t+d (d >= 0) and whether it did not overflow.
func addSat(t, d int64) (int64, bool) {
	if t > math.MaxInt64-d {
		return math.MaxInt64, false
	}
	return t + d, true
}

func (a *APIC) timerMode() uint32 { return a.lvt[lvtTimer].TimerMode() }

// period is the time between two expiries: a full count, and at least
// MinPeriod in periodic mode.
func (a *APIC) period() int64 {
	if a.timerMode() == TIMER_PERIODIC {
		return max(a.dur, MinPeriod)
	}
	return a.dur
}

// subSat returns t-d (d >= 0), saturating at math.MinInt64.
func subSat(t, d int64) int64 {
	if t < math.MinInt64+d {
		return math.MinInt64
	}
	return t - d
}

// mulDivSat returns x*m/d (d > 0), saturating at math.MaxInt64.
func mulDivSat(x, m, d uint64) int64 {
	hi, lo := bits.Mul64(x, m)
	if hi >= d {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, d)
	return int64(min(q, math.MaxInt64))
}

// arm (re)starts the timer at now from the initial count, as a write of
// the initial-count register does (SDM 11.5.4). A zero count, or
// TSC-deadline mode, leaves it stopped.
func (a *APIC) arm(now int64) {
	a.dur = a.ticksToNS(uint64(a.initial) * divisor(a.dcr))
	a.armed = false
	if a.initial == 0 || a.timerMode() == TIMER_TSC_DEADLINE {
		return
	}
	p := a.period()
	d, ok := addSat(now, p)
	if !ok {
		return // it would fire after the end of time
	}
	a.deadline, a.armed = d, true
	a.start = subSat(d, p)
}

// setDivide changes the divide configuration. A running count goes on
// from where it is at the new rate: the time left is scaled by the ratio
// of the divisors.
func (a *APIC) setDivide(now int64, dcr uint32) {
	old, nw := divisor(a.dcr), divisor(dcr)
	a.dcr = dcr
	a.dur = a.ticksToNS(uint64(a.initial) * nw)
	if !a.armed || old == nw {
		return
	}
	left := uint64(a.deadline) - uint64(now) // tick(now) ran: now < deadline
	d, ok := addSat(now, mulDivSat(left, nw, old))
	if !ok {
		a.armed = false
		return
	}
	a.deadline = d
	a.start = subSat(d, a.period())
}

// currentCount is the timer's current count at now (SDM 11.5.4): the
// initial count minus the ticks elapsed, or 0 once a one-shot expired.
func (a *APIC) currentCount(now int64) uint32 {
	if !a.armed {
		return 0
	}
	if now <= a.start {
		return a.initial
	}
	elapsed := uint64(now) - uint64(a.start) // now > start: no wrap
	ticks := a.nsToTicks(elapsed) / divisor(a.dcr)
	if ticks >= uint64(a.initial) {
		return 0
	}
	return a.initial - uint32(ticks)
}

// tick fires the timer if it expired by now. A periodic timer re-arms
// from its deadline, skipping in one step every period that also
// passed (counted in Stats.TimerCoalesced: they would all set the same
// IRR bit).
func (a *APIC) tick(now int64) {
	if !a.armed || now < a.deadline {
		return
	}
	a.stats.TimerFires++
	if l := a.lvt[lvtTimer]; l.Masked() {
		a.stats.TimerMasked++
	} else {
		a.deliverLocal(l.Vector(), 1<<ESR_RECV_ILLEGAL_VECTOR)
	}
	if a.timerMode() != TIMER_PERIODIC {
		a.armed = false
		return
	}
	p := uint64(a.period()) // >= MinPeriod
	late := uint64(now) - uint64(a.deadline)
	n := late/p + 1
	a.stats.TimerCoalesced += n - 1
	hi, adv := bits.Mul64(n, p)
	if hi != 0 || adv > math.MaxInt64 {
		a.armed = false
		return
	}
	next, ok := addSat(a.deadline, int64(adv))
	if !ok {
		a.armed = false
		return
	}
	a.deadline = next
	a.start = subSat(next, int64(p))
}
