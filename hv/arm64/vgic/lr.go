// vgic: software GICv3 distributor and redistributors for one VM.
// SPDX-License-Identifier: BSD-3-Clause

package vgic

import "fmt"

// ICH_LR<n>_EL2 fields (IHI 0069D, "ICH_LR<n>_EL2, Interrupt Controller
// List Registers, n = 0 - 15", in "AArch64 virtualization control System
// registers").
const (
	ICH_LR_VINTID_MASK     = 0xffffffff // vINTID [31:0]
	ICH_LR_PINTID_SHIFT    = 32         // pINTID [44:32] when HW = 1
	ICH_LR_PINTID_MASK     = 0x1fff
	ICH_LR_EOI             = 41 // when HW = 0: maintenance interrupt on deactivation
	ICH_LR_PRIORITY_SHIFT  = 48 // Priority [55:48]
	ICH_LR_PRIORITY_MASK   = 0xff
	ICH_LR_GROUP           = 60 // 0 Group 0, 1 Group 1
	ICH_LR_HW              = 61 // 1: vINTID is backed by physical pINTID
	ICH_LR_STATE_SHIFT     = 62 // State [63:62]
	ICH_LR_STATE_MASK      = 0x3
	ICH_VTR_LISTREGS_MASK  = 0x1f // ICH_VTR_EL2.ListRegs [4:0]: LRs - 1
	ICH_VTR_LISTREGS_SHIFT = 0
)

// LRState is ICH_LR<n>_EL2.State.
type LRState uint8

// ICH_LR<n>_EL2.State encodings.
const (
	StateInvalid       LRState = 0b00
	StatePending       LRState = 0b01
	StateActive        LRState = 0b10
	StatePendingActive LRState = 0b11
)

func (s LRState) String() string {
	switch s {
	case StateInvalid:
		return "invalid"
	case StatePending:
		return "pending"
	case StateActive:
		return "active"
	}
	return "pending+active"
}

// LR is an ICH_LR<n>_EL2 value.
type LR uint64

// NewLR returns a list register for virtual INTID vintid with HW = 0.
func NewLR(vintid uint32, prio uint8, group1 bool, s LRState) LR {
	l := LR(vintid) | LR(prio)<<ICH_LR_PRIORITY_SHIFT | LR(s&ICH_LR_STATE_MASK)<<ICH_LR_STATE_SHIFT
	if group1 {
		l |= 1 << ICH_LR_GROUP
	}
	return l
}

// VINTID returns vINTID.
func (l LR) VINTID() uint32 { return uint32(l & ICH_LR_VINTID_MASK) }

// PINTID returns pINTID (meaningful when HW is set).
func (l LR) PINTID() uint32 { return uint32(l>>ICH_LR_PINTID_SHIFT) & ICH_LR_PINTID_MASK }

// Priority returns Priority.
func (l LR) Priority() uint8 { return uint8(l >> ICH_LR_PRIORITY_SHIFT & ICH_LR_PRIORITY_MASK) }

// Group1 reports whether Group is 1.
func (l LR) Group1() bool { return l>>ICH_LR_GROUP&1 != 0 }

// HW reports whether the virtual interrupt is backed by a physical one.
func (l LR) HW() bool { return l>>ICH_LR_HW&1 != 0 }

// EOI reports whether deactivating the interrupt raises an EOI
// maintenance interrupt (only when HW is 0).
func (l LR) EOI() bool { return !l.HW() && l>>ICH_LR_EOI&1 != 0 }

// State returns State.
func (l LR) State() LRState { return LRState(l >> ICH_LR_STATE_SHIFT & ICH_LR_STATE_MASK) }

// Valid reports whether State is not invalid (the LR holds an interrupt).
func (l LR) Valid() bool { return l.State() != StateInvalid }

// Pending reports whether State includes pending.
func (l LR) Pending() bool { return l.State()&StatePending != 0 }

// Active reports whether State includes active.
func (l LR) Active() bool { return l.State()&StateActive != 0 }

// WithState returns l with State s.
func (l LR) WithState(s LRState) LR {
	return l&^(ICH_LR_STATE_MASK<<ICH_LR_STATE_SHIFT) | LR(s&ICH_LR_STATE_MASK)<<ICH_LR_STATE_SHIFT
}

// WithEOI returns l with the EOI bit set or cleared.
func (l LR) WithEOI(on bool) LR {
	if on {
		return l | 1<<ICH_LR_EOI
	}
	return l &^ (1 << ICH_LR_EOI)
}

func (l LR) String() string {
	if !l.Valid() {
		return "LR{invalid}"
	}
	g := 0
	if l.Group1() {
		g = 1
	}
	return fmt.Sprintf("LR{vINTID %d %s prio %#x G%d eoi %t}", l.VINTID(), l.State(), l.Priority(), g, l.EOI())
}

// NumLRs returns the number of implemented list registers from an
// ICH_VTR_EL2 value: ListRegs + 1 (QEMU's GICv3 has 4).
func NumLRs(ichVTR uint64) int {
	return min(int(ichVTR>>ICH_VTR_LISTREGS_SHIFT&ICH_VTR_LISTREGS_MASK)+1, MaxLRs)
}

// cand is one interrupt Flush considers.
type cand struct {
	p    *irq
	id   int
	st   LRState
	prio uint8
}

// before orders candidates: active ones first (they must sit in an LR
// for the guest's deactivation to reach them), then by priority (lower
// value is more urgent), then by lower INTID.
func (a *cand) before(b *cand) bool {
	aa, ba := a.st&StateActive != 0, b.st&StateActive != 0
	if aa != ba {
		return aa
	}
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	return a.id < b.id
}

// Flush fills the list registers of vCPU vcpu just before it enters the
// guest, and returns whether deliverable pending interrupts were left out
// for lack of list registers.
//
// lrs holds one element per implemented list register (NumLRs of
// ICH_VTR_EL2; elements beyond MaxLRs are set to 0 and not used) and, on
// entry, the values last read from the hardware (or zeros). Flush
// overwrites every element; the caller writes all of them to
// ICH_LR<n>_EL2, unused ones as 0 (which also clears any EOI maintenance
// status of a completed list register, ICH_EISR_EL2).
//
// It chooses, among the vCPU's SGIs and PPIs and the SPIs routed to it:
// first every active interrupt, then the pending, enabled interrupts of
// an enabled group by priority (lowest value first, ties by lower INTID),
// up to len(lrs). An interrupt keeps the list register it already had;
// no INTID appears twice. An active interrupt that is pending again is
// written as pending and active. Writing an interrupt as pending moves
// its pending latch into the list register. A level-sensitive interrupt
// is pending while its input is high and it is not active, and its list
// register has EOI set, so that the guest's deactivation raises a
// maintenance interrupt (ICH_MISR_EL2.EOI) and the next Sync/Flush
// samples the input again. A pending-only list register whose interrupt
// is no longer pending, enabled or routed here (an ICPENDR, ICENABLER or
// IROUTER write since) is dropped.
//
// When more is true the caller should set ICH_HCR_EL2.UIE (or NPIE) so
// that a maintenance interrupt brings the vCPU back to refill the list
// registers once the guest has taken some; GICv3 priorities apply only
// within the list registers.
//
// If Flush is called again with no Sync in between, it first folds lrs
// as Sync would (the guest may have run). Priority masking
// (ICH_VMCR_EL2.VPMR) and the guest's own group enables are left to the
// hardware.
func (g *GIC) Flush(vcpu int, lrs []LR) (more bool) {
	if vcpu < 0 || vcpu >= g.ncpu {
		return false
	}
	c := &g.cpus[vcpu]
	if c.loaded {
		g.fold(vcpu, lrs)
	}
	g.stats.Flushes++
	if len(lrs) > MaxLRs {
		clear(lrs[MaxLRs:])
		lrs = lrs[:MaxLRs]
	}
	n := len(lrs)

	// Keep the best n candidates in top, sorted, by insertion: n <= 16
	// and there are at most 1020 candidates, so this stays cheap and
	// allocates nothing.
	var top [MaxLRs]cand
	k := 0
	var leftPend, leftAct int
	left := func(x *cand) {
		if x.st&StateActive != 0 {
			leftAct++
		} else {
			leftPend++
		}
	}
	consider := func(p *irq, id int) {
		var st LRState
		if g.offer(p) {
			st |= StatePending
		}
		if p.active {
			st |= StateActive
		}
		if st == StateInvalid {
			return
		}
		x := cand{p: p, id: id, st: st, prio: p.prio}
		if k == n {
			if n == 0 || !x.before(&top[n-1]) {
				left(&x)
				return
			}
			k--
			left(&top[k])
		}
		i := k
		for ; i > 0 && x.before(&top[i-1]); i-- {
			top[i] = top[i-1]
		}
		top[i] = x
		k++
	}
	for id := range c.priv {
		consider(&c.priv[id], id)
	}
	for i := range g.spis {
		p := &g.spis[i]
		if p.owner < 0 && g.routeTarget(p.route) == vcpu {
			consider(p, FirstSPI+i)
		}
	}

	// Slot assignment: an interrupt already in a list register keeps it.
	var slot [MaxLRs]int // index into top, -1 for free
	var placed [MaxLRs]bool
	for i := 0; i < n; i++ {
		slot[i] = -1
		if !lrs[i].Valid() {
			continue
		}
		want := lrs[i].VINTID()
		for j := 0; j < k; j++ {
			if !placed[j] && uint32(top[j].id) == want {
				slot[i], placed[j] = j, true
				break
			}
		}
	}
	j := 0
	for i := 0; i < n; i++ {
		if slot[i] >= 0 {
			continue
		}
		for j < k && placed[j] {
			j++
		}
		if j < k {
			slot[i], placed[j] = j, true
		}
	}

	for i := 0; i < n; i++ {
		if slot[i] < 0 {
			lrs[i] = 0
			continue
		}
		x := &top[slot[i]]
		p := x.p
		l := NewLR(uint32(x.id), p.prio, p.group1, x.st).WithEOI(!p.edge)
		if x.st&StatePending != 0 {
			g.stats.LRLoads++
			if p.latch {
				p.lrLatch, p.latch = true, false
			}
		}
		p.owner = int8(vcpu)
		lrs[i] = l
	}
	c.nlr = n
	copy(c.shadow[:], lrs)
	c.loaded = true

	if leftAct > 0 {
		g.stats.ActiveOverflows += uint64(leftAct)
	}
	if leftPend > 0 {
		g.stats.Overflows++
	}
	return leftPend > 0
}

// Sync folds the list registers of vCPU vcpu back into the model right
// after the guest exits. lrs holds the ICH_LR<n>_EL2 values read from
// the hardware, in the same order Flush wrote them. For each list
// register Flush filled:
//   - still pending: the pending latch goes back to the model (unless the
//     guest wrote ICPENDR for it since);
//   - active (the guest acknowledged it): the interrupt is active; a
//     level-sensitive interrupt's latch stays consumed;
//   - invalid (the guest deactivated it): neither pending from the latch
//     nor active; a level-sensitive input still high makes it pending
//     again at the next Flush.
//
// A list register that holds a different INTID than Flush wrote there is
// counted in Stats.BadLRs and taken as invalid. After Sync the model
// alone holds the vCPU's interrupt state, so MMIO emulation and
// HasPending see it exactly; calling Sync again without a Flush does
// nothing.
func (g *GIC) Sync(vcpu int, lrs []LR) {
	if vcpu < 0 || vcpu >= g.ncpu {
		return
	}
	g.stats.Syncs++
	if g.cpus[vcpu].loaded {
		g.fold(vcpu, lrs)
	}
}

// fold takes the interrupts of vCPU vcpu back from its list registers,
// lrs (missing elements count as unchanged since Flush).
func (g *GIC) fold(vcpu int, lrs []LR) {
	c := &g.cpus[vcpu]
	for i := 0; i < c.nlr; i++ {
		sh := c.shadow[i]
		if !sh.Valid() {
			continue
		}
		id := int(sh.VINTID())
		p := g.lookup(vcpu, id)
		if p == nil || int(p.owner) != vcpu {
			continue // cannot happen: Flush wrote it
		}
		hw := sh
		if i < len(lrs) {
			hw = lrs[i]
		}
		st := hw.State()
		if st != StateInvalid && hw.VINTID() != uint32(id) {
			g.stats.BadLRs++
			st = StateInvalid
		}
		act := st&StateActive != 0
		switch {
		case p.actSet > 0:
			act = true
		case p.actSet < 0:
			act = false
		}
		p.active = act
		if st&StatePending != 0 && p.lrLatch && !p.dropPend {
			p.latch = true
		}
		p.owner, p.lrLatch, p.dropPend, p.actSet = -1, false, false, 0
	}
	c.loaded = false
	c.nlr = 0
}

// HasPending reports whether vCPU vcpu has an interrupt to take: one that
// is pending, enabled and of an enabled group, in the model or (since the
// last Flush) in its list registers. The hypervisor uses it to end a
// trapped WFI. It ignores the guest's priority mask (ICH_VMCR_EL2.VPMR)
// and running priority, which live in hardware: a WFI may end for an
// interrupt the guest then does not take, which the architecture allows
// (WFI wake-up events are a superset of taken interrupts).
func (g *GIC) HasPending(vcpu int) bool {
	if vcpu < 0 || vcpu >= g.ncpu {
		return false
	}
	c := &g.cpus[vcpu]
	for id := range c.priv {
		if g.offer(&c.priv[id]) {
			return true
		}
	}
	for i := range g.spis {
		p := &g.spis[i]
		if g.dest(0, FirstSPI+i, p) == vcpu && g.offer(p) {
			return true
		}
	}
	return false
}
