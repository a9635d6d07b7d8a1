// vgic: software GICv3 distributor and redistributors for one VM.
// SPDX-License-Identifier: BSD-3-Clause

// Package vgic is a software model of an ARM GICv3 Distributor and
// Redistributors for one VM, and the logic that decides what goes into
// the hardware list registers (ICH_LR<n>_EL2) of the GICv3 virtual CPU
// interface.
//
// The guest's CPU interface registers (ICC_* at EL1) are served by the
// hardware as ICV_* registers; only the memory-mapped Distributor (GICD)
// and Redistributor (GICR) frames trap to EL2 as stage-2 faults and are
// emulated here (Dist, Redist, both hv.MMIODevice). The guest sees a GIC
// with a single Security state (GICD_CTLR.DS = 1) and affinity routing
// always on (GICD_CTLR.ARE = 1), no LPIs, no ITS and no message-based
// SPIs.
//
// The package is pure Go (no unsafe, no cgo, no assembly), host-tested
// with go test and a fuzz target, and runs on the target (GOOS=tamago
// GOARCH=arm64) at EL2 in the guest-exit path.
//
// References are to the ARM Generic Interrupt Controller Architecture
// Specification, GIC architecture version 3 and version 4, ARM IHI 0069D:
// the chapter "Programmers' Model" for the registers (section numbers as
// in soc/arm/gicv3) and the chapter "Virtual Interrupt Handling and
// Prioritization" for the list registers.
//
// # Life of an interrupt
//
// Every interrupt has, per the spec's state machine (IHI 0069D
// "Interrupt lifecycle"): an enable, a group, a priority, a trigger mode
// (edge or level), an active bit, and a pending state that is made of
//   - the latch: set by a rising edge on an edge-triggered input, by
//     RaiseEdge, by an SGI or by a GICD_ISPENDR/GICR_ISPENDR0 write, and
//     cleared by GICx_ICPENDR or by handing the interrupt to the guest;
//   - for level-sensitive interrupts, the input level (hv.IRQLine,
//     SetPPILevel), which keeps the interrupt pending while it is high.
//
// Flush, called just before the vCPU enters the guest, picks the
// interrupts to present, writes them into the list registers and moves
// the latch into the list register (it "lives in the LR" now). Sync,
// called right after the guest exits with the list registers read back,
// folds their state back: an LR still pending gives its latch back, an
// LR now active marks the interrupt active, an LR that became invalid
// means the guest deactivated it. Between Sync and the next Flush the
// model is authoritative, so MMIO emulation and injections simply change
// the model; see Flush and Sync for the exact contract.
//
// # Concurrency
//
// A GIC is not internally locked. The caller serialises every call
// (MMIO handlers, injections, Flush, Sync, HasPending) for one VM, for
// example with the VM's lock. vCPUs running in the guest do not touch
// the model; their list registers are theirs until their next Sync.
package vgic

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Frame sizes (IHI 0069D §8.8 "The GIC Distributor register map", §8.10
// "The GIC Redistributor register map").
const (
	// DistSize is the size of the GICD frame.
	DistSize = 0x10000
	// RedistStride is the size of one vCPU's Redistributor: the RD_base
	// frame followed by the SGI_base frame (GICv3, no VLPI frames).
	RedistStride = 0x20000
	// SGIBase is the offset of the SGI_base frame inside a Redistributor.
	SGIBase = 0x10000
)

// Limits of the model.
const (
	// MaxVCPUs is the largest number of vCPUs a GIC models. GICD_TYPER
	// CPUNumber has three bits and SGI target lists address Aff0 0..15;
	// tamavisor VMs have at most 8 vCPUs.
	MaxVCPUs = 8
	// MaxSPIs is the largest number of SPIs: INTIDs 32..1019 (IHI 0069D
	// "INTIDs"; 1020-1023 are special).
	MaxSPIs = 988
	// MaxLRs is the architectural maximum of list registers
	// (ICH_VTR_EL2.ListRegs is 4 bits wide: 1..16 registers).
	MaxLRs = 16
)

// INTID ranges (IHI 0069D "INTIDs").
const (
	FirstPPI = 16 // SGIs are 0-15
	FirstSPI = 32 // PPIs are 16-31
	nPrivate = 32
	maxINTID = 1019
)

// Errors. Each is wrapped with %w together with the offending values.
const (
	// ErrAccess is returned for an MMIO access the model does not
	// accept: a size the register does not support, a misaligned
	// access, or an offset outside the frame. The hypervisor injects an
	// external abort into the guest.
	ErrAccess = hv.Error("vgic: unsupported register access")
	// ErrInvalid is returned for an out-of-range argument from the
	// hypervisor (vCPU index, INTID, configuration).
	ErrInvalid = hv.Error("vgic: invalid argument")
)

// Stats counts what the model did, for "vm list --json". Counters only
// grow.
type Stats struct {
	DistReads    uint64 `json:"dist_reads"`
	DistWrites   uint64 `json:"dist_writes"`
	RedistReads  uint64 `json:"redist_reads"`
	RedistWrites uint64 `json:"redist_writes"`
	// Errors counts MMIO accesses refused with ErrAccess.
	Errors uint64 `json:"errors"`
	// RAZWI counts accepted accesses to reserved or unimplemented
	// registers, read as zero and writes ignored.
	RAZWI uint64 `json:"razwi"`
	// Injections counts interrupts made pending by the hypervisor:
	// rising inputs, RaiseEdge, and each SGI target.
	Injections uint64 `json:"injections"`
	// SGIs counts ICC_SGI1R_EL1 writes handled; SGIsDropped those
	// whose target list named no vCPU of this VM.
	SGIs        uint64 `json:"sgis"`
	SGIsDropped uint64 `json:"sgis_dropped"`
	Flushes     uint64 `json:"flushes"`
	Syncs       uint64 `json:"syncs"`
	// LRLoads counts interrupts written to a list register as pending.
	LRLoads uint64 `json:"lr_loads"`
	// Overflows counts Flushes that left pending interrupts out for
	// lack of list registers (Flush returned more == true).
	Overflows uint64 `json:"overflows"`
	// ActiveOverflows counts active interrupts that did not fit in the
	// list registers (more nested active interrupts than LRs).
	ActiveOverflows uint64 `json:"active_overflows"`
	// BadLRs counts list registers handed to Sync that were valid but
	// held an INTID other than the one Flush wrote there.
	BadLRs uint64 `json:"bad_lrs"`
}

// irq is the state of one interrupt: an SGI or PPI of one vCPU, or an SPI.
type irq struct {
	route   uint64 // GICD_IROUTER<n> (SPIs only)
	prio    uint8  // GICx_IPRIORITYR byte
	enabled bool   // GICx_ISENABLER
	group1  bool   // GICx_IGROUPR bit: 1 = Group 1
	edge    bool   // GICx_ICFGR Int_config[1]: 1 = edge-triggered
	latch   bool   // pending latch (edge, SGI, ISPENDR)
	level   bool   // input level (level-sensitive sources)
	active  bool   // active state (mirror of the LR while loaded)

	// While the interrupt sits in a list register of vCPU owner
	// (owner >= 0, between Flush and Sync/the next Flush of that vCPU):
	owner    int8 // vCPU whose LRs hold it, -1 for none
	lrLatch  bool // the LR's pending state came from the latch
	dropPend bool // ICPENDR since Flush: do not give the latch back
	actSet   int8 // ISACTIVER (+1) / ICACTIVER (-1) since Flush
}

// vcpu is the per-vCPU part: banked SGIs and PPIs, the Redistributor's
// wake state, and the list registers the last Flush wrote.
type vcpu struct {
	priv   [nPrivate]irq
	sleep  bool // GICR_WAKER.ProcessorSleep
	loaded bool // Flush ran and no Sync/fold since
	nlr    int
	shadow [MaxLRs]LR // what the last Flush wrote
}

// GIC is the virtual GICv3 of one VM. Create it with New. It is not safe
// for concurrent use (see the package documentation).
type GIC struct {
	ncpu  int
	nspi  int
	ctlr  uint32 // GICD_CTLR EnableGrp0/EnableGrp1 bits
	cpus  []vcpu
	spis  []irq
	stats Stats

	dist   distFrame
	redist redistFrame

	// OnPending, if set, is called with a vCPU index when an interrupt
	// becomes deliverable for that vCPU outside Flush: an injection,
	// an SGI, or a guest MMIO write that pends, enables or re-routes
	// an interrupt. The hypervisor uses it to wake a vCPU blocked in
	// WFI or to kick a running one out of the guest so that its next
	// Flush presents the interrupt. It runs under the caller's
	// serialisation and must not call back into the GIC.
	OnPending func(vcpu int)
}

// New returns the GIC of a VM with vcpus vCPUs (1..MaxVCPUs) and spis
// SPIs, INTIDs 32..32+spis-1. spis is a multiple of 32 up to 960, or
// MaxSPIs (988, INTIDs up to 1019). Every interrupt starts disabled,
// inactive, not pending, in Group 1, at priority 0, SGIs edge-triggered
// and PPIs and SPIs level-sensitive, SPIs routed to vCPU 0 (affinity
// 0.0.0.0). Redistributors start asleep (GICR_WAKER.ProcessorSleep = 1).
func New(vcpus, spis int) (*GIC, error) {
	if vcpus < 1 || vcpus > MaxVCPUs {
		return nil, fmt.Errorf("%w: %d vCPUs (1..%d)", ErrInvalid, vcpus, MaxVCPUs)
	}
	if spis < 0 || spis > MaxSPIs || (spis%32 != 0 && spis != MaxSPIs) {
		return nil, fmt.Errorf("%w: %d SPIs (a multiple of 32 up to 960, or %d)", ErrInvalid, spis, MaxSPIs)
	}
	g := &GIC{ncpu: vcpus, nspi: spis, cpus: make([]vcpu, vcpus), spis: make([]irq, spis)}
	g.dist.g = g
	g.redist.g = g
	for c := range g.cpus {
		v := &g.cpus[c]
		v.sleep = true
		for id := range v.priv {
			v.priv[id] = irq{group1: true, edge: id < FirstPPI, owner: -1}
		}
	}
	for i := range g.spis {
		g.spis[i] = irq{group1: true, owner: -1}
	}
	return g, nil
}

// VCPUs returns the number of vCPUs.
func (g *GIC) VCPUs() int { return g.ncpu }

// SPIs returns the number of SPIs.
func (g *GIC) SPIs() int { return g.nspi }

// Stats returns a copy of the counters.
func (g *GIC) Stats() Stats { return g.stats }

// MPIDR returns the MPIDR_EL1 value vCPU i must see (through
// VMPIDR_EL2) for the affinities this GIC reports in GICR_TYPER and
// decodes in SGIs and GICD_IROUTER: Aff0 = i, Aff1..Aff3 = 0, bit 31
// RES1, U (bit 30) = 0 for a multiprocessor system (ARM DDI 0487,
// MPIDR_EL1).
func MPIDR(i int) uint64 { return 1<<31 | uint64(i&0xff) }

// lookup returns the interrupt INTID id as seen by vCPU v (SGIs and PPIs
// are banked per vCPU), or nil when it is not implemented.
func (g *GIC) lookup(v, id int) *irq {
	switch {
	case id < 0:
		return nil
	case id < nPrivate:
		if v < 0 || v >= g.ncpu {
			return nil
		}
		return &g.cpus[v].priv[id]
	case id < FirstSPI+g.nspi:
		return &g.spis[id-FirstSPI]
	}
	return nil
}

// routeTarget returns the vCPU an SPI is routed to by its GICD_IROUTER
// value, or -1 when the affinity names no vCPU of this VM (the interrupt
// then stays pending and is not delivered, IHI 0069D §8.9.13).
// Interrupt_Routing_Mode = 1 ("any participating PE", 1 of N) always
// picks vCPU 0: the choice is IMPLEMENTATION DEFINED and vCPU 0 is the
// one that is always up.
func (g *GIC) routeTarget(route uint64) int {
	if route&(1<<GICD_IROUTER_IRM) != 0 {
		return 0
	}
	if route&^uint64(0xff) != 0 { // Aff1..Aff3 must be 0
		return -1
	}
	if a := int(route & 0xff); a < g.ncpu {
		return a
	}
	return -1
}

// dest returns the vCPU that will see interrupt id (banked for vCPU v):
// the vCPU whose list registers hold it, else its owner or route.
func (g *GIC) dest(v, id int, p *irq) int {
	switch {
	case p.owner >= 0:
		return int(p.owner)
	case id < nPrivate:
		return v
	}
	return g.routeTarget(p.route)
}

// groupOn reports whether the Distributor forwards p's group. The model
// gates every interrupt, SGIs and PPIs included, on GICD_CTLR.EnableGrp0
// or EnableGrp1.
func (g *GIC) groupOn(p *irq) bool {
	if p.group1 {
		return g.ctlr&(1<<GICD_CTLR_ENABLE_GRP1) != 0
	}
	return g.ctlr&(1<<GICD_CTLR_ENABLE_GRP0) != 0
}

// pending reports the architectural pending state, as GICx_ISPENDR reads
// it: the latch (also while it lives in a list register) or, for a
// level-sensitive interrupt, a high input.
func (p *irq) pending() bool {
	return p.latch || (!p.edge && p.level) || (p.owner >= 0 && p.lrLatch && !p.dropPend)
}

// offer reports whether p should be presented to the guest as pending:
// enabled, its group enabled, and pending. A level-sensitive input that
// is high does not make an active interrupt pending again: the line is
// sampled again once the guest has deactivated it, so a device the guest
// quietens in its handler (a timer it reprograms without trapping) does
// not cause a spurious second interrupt.
func (g *GIC) offer(p *irq) bool {
	if !p.enabled || !g.groupOn(p) {
		return false
	}
	return p.latch || (!p.edge && p.level && !p.active) || (p.owner >= 0 && p.lrLatch && !p.dropPend)
}

// kick calls OnPending when p (INTID id, banked for vCPU v) is
// deliverable.
func (g *GIC) kick(v, id int, p *irq) {
	if g.OnPending == nil || !g.offer(p) {
		return
	}
	if d := g.dest(v, id, p); d >= 0 {
		g.OnPending(d)
	}
}

// kickAll calls OnPending for every vCPU with a deliverable interrupt.
func (g *GIC) kickAll() {
	if g.OnPending == nil {
		return
	}
	for v := 0; v < g.ncpu; v++ {
		if g.HasPending(v) {
			g.OnPending(v)
		}
	}
}

// setLevel drives the input of interrupt id (banked for vCPU v). A rising
// edge sets the latch of an edge-triggered interrupt; a level-sensitive
// one is pending while the input is high.
func (g *GIC) setLevel(v, id int, high bool) {
	p := g.lookup(v, id)
	if p == nil {
		return
	}
	rising := high && !p.level
	p.level = high
	if !rising {
		return
	}
	g.stats.Injections++
	if p.edge {
		p.latch = true
	}
	g.kick(v, id, p)
}

// spiLine is the hv.IRQLine of one SPI.
type spiLine struct {
	g  *GIC
	id int
}

// SetLevel drives the SPI's input.
func (l spiLine) SetLevel(high bool) { l.g.setLevel(0, l.id, high) }

// SPI returns the input line of SPI intid (FirstSPI..FirstSPI+SPIs()-1)
// for a virtual device. The line is level-sensitive unless the guest
// configures the SPI as edge-triggered in GICD_ICFGR, in which case a
// rising edge latches it.
func (g *GIC) SPI(intid int) (hv.IRQLine, error) {
	if intid < FirstSPI || intid >= FirstSPI+g.nspi {
		return nil, fmt.Errorf("%w: SPI INTID %d (SPIs are %d..%d)", ErrInvalid, intid, FirstSPI, FirstSPI+g.nspi-1)
	}
	return spiLine{g: g, id: intid}, nil
}

// SetPPILevel drives the input of PPI intid (16..31) of vCPU vcpu, e.g.
// the virtual timer's PPI 27 from CNTV_CTL_EL0.ISTATUS sampled at each
// exit.
func (g *GIC) SetPPILevel(vcpu, intid int, high bool) error {
	if vcpu < 0 || vcpu >= g.ncpu || intid < FirstPPI || intid >= FirstSPI {
		return fmt.Errorf("%w: PPI %d of vCPU %d", ErrInvalid, intid, vcpu)
	}
	g.setLevel(vcpu, intid, high)
	return nil
}

// RaiseEdge sets the pending latch of interrupt intid: an SGI or PPI of
// vCPU vcpu, or an SPI (vcpu is then ignored), whatever its configured
// trigger mode.
func (g *GIC) RaiseEdge(vcpu, intid int) error {
	if intid < FirstSPI && (vcpu < 0 || vcpu >= g.ncpu) {
		return fmt.Errorf("%w: INTID %d of vCPU %d", ErrInvalid, intid, vcpu)
	}
	p := g.lookup(vcpu, intid)
	if p == nil {
		return fmt.Errorf("%w: INTID %d not implemented", ErrInvalid, intid)
	}
	g.stats.Injections++
	p.latch = true
	g.kick(vcpu, intid, p)
	return nil
}

// ICC_SGI1R_EL1 fields (IHI 0069D "ICC_SGI1R_EL1, Interrupt
// Controller Software Generated Interrupt Group 1 Register"; ICC_SGI0R_EL1
// and ICC_ASGI1R_EL1 have the same layout).
const (
	ICC_SGIR_TARGETLIST_MASK = 0xffff
	ICC_SGIR_AFF1_SHIFT      = 16
	ICC_SGIR_INTID_SHIFT     = 24
	ICC_SGIR_INTID_MASK      = 0xf
	ICC_SGIR_AFF2_SHIFT      = 32
	ICC_SGIR_IRM             = 40
	ICC_SGIR_RS_SHIFT        = 44
	ICC_SGIR_RS_MASK         = 0xf
	ICC_SGIR_AFF3_SHIFT      = 48
	ICC_SGIR_AFF_MASK        = 0xff
)

// SGI handles a trapped guest write of val to ICC_SGI1R_EL1 on vCPU from
// (ESR_EL2 EC 0x18 with HCR_EL2.IMO set). It sets the pending latch of
// SGI INTID val[27:24] on every target: with IRM (bit 40) all vCPUs but
// from, otherwise vCPU RS*16+n for each bit n of TargetList[15:0] when
// Aff3.Aff2.Aff1 is 0.0.0 (the affinities MPIDR gives). Targets that are
// not vCPUs of this VM are ignored, as the architecture does for PEs that
// do not exist. The SGI's group is its configuration on the target
// (GICR_IGROUPR0); with one Security state the same decoding serves
// ICC_SGI0R_EL1 and ICC_ASGI1R_EL1.
func (g *GIC) SGI(from int, val uint64) error {
	if from < 0 || from >= g.ncpu {
		return fmt.Errorf("%w: SGI from vCPU %d", ErrInvalid, from)
	}
	g.stats.SGIs++
	id := int(val >> ICC_SGIR_INTID_SHIFT & ICC_SGIR_INTID_MASK)
	hit := 0
	pend := func(v int) {
		hit++
		g.stats.Injections++
		p := &g.cpus[v].priv[id]
		p.latch = true
		g.kick(v, id, p)
	}
	if val&(1<<ICC_SGIR_IRM) != 0 {
		for v := 0; v < g.ncpu; v++ {
			if v != from {
				pend(v)
			}
		}
	} else if val>>ICC_SGIR_AFF1_SHIFT&ICC_SGIR_AFF_MASK == 0 &&
		val>>ICC_SGIR_AFF2_SHIFT&ICC_SGIR_AFF_MASK == 0 &&
		val>>ICC_SGIR_AFF3_SHIFT&ICC_SGIR_AFF_MASK == 0 {
		base := 16 * int(val>>ICC_SGIR_RS_SHIFT&ICC_SGIR_RS_MASK)
		list := val & ICC_SGIR_TARGETLIST_MASK
		for n := 0; n < 16; n++ {
			if list&(1<<n) != 0 && base+n < g.ncpu {
				pend(base + n)
			}
		}
	}
	if hit == 0 {
		g.stats.SGIsDropped++
	}
	return nil
}

// IRQState is a snapshot of one interrupt, for diagnostics and tests.
type IRQState struct {
	Enabled  bool  `json:"enabled"`
	Pending  bool  `json:"pending"`
	Active   bool  `json:"active"`
	Level    bool  `json:"level"`
	Edge     bool  `json:"edge"`
	Group1   bool  `json:"group1"`
	Priority uint8 `json:"priority"`
	// Target is the vCPU the interrupt is delivered to (-1: none).
	Target int `json:"target"`
	// InLR is the vCPU whose list registers hold it (-1: none).
	InLR int `json:"in_lr"`
}

// State returns the state of interrupt intid as seen by vCPU vcpu (vcpu
// is ignored for SPIs). Pending and Active reflect the model, which for
// an interrupt in a list register is the state at the last Flush plus
// later MMIO writes.
func (g *GIC) State(vcpu, intid int) (IRQState, error) {
	if intid < FirstSPI && (vcpu < 0 || vcpu >= g.ncpu) {
		return IRQState{}, fmt.Errorf("%w: INTID %d of vCPU %d", ErrInvalid, intid, vcpu)
	}
	p := g.lookup(vcpu, intid)
	if p == nil {
		return IRQState{}, fmt.Errorf("%w: INTID %d not implemented", ErrInvalid, intid)
	}
	t := vcpu
	if intid >= FirstSPI {
		t = g.routeTarget(p.route)
	}
	return IRQState{
		Enabled: p.enabled, Pending: p.pending(), Active: p.active,
		Level: p.level, Edge: p.edge, Group1: p.group1, Priority: p.prio,
		Target: t, InLR: int(p.owner),
	}, nil
}

// Reset puts the GIC back in its power-on state, as New left it, in
// place: the devices from Dist and Redist and the lines from SPI stay
// valid, and OnPending is kept. The hypervisor calls it when it reboots
// the VM.
func (g *GIC) Reset() {
	fresh, err := New(g.ncpu, g.nspi)
	if err != nil {
		return // g was made by New with the same arguments
	}
	on := g.OnPending
	*g = *fresh
	g.dist.g = g
	g.redist.g = g
	g.OnPending = on
}

// Quiet reports whether SPI intid is neither pending, nor active, nor in
// a list register: the guest has taken and deactivated it. The
// hypervisor re-enables a passthrough interrupt's physical line then
// (mask on fire, unmask on completion), so a level-sensitive device that
// still asserts it interrupts again. It is false for a non-SPI.
func (g *GIC) Quiet(intid int) bool {
	if intid < FirstSPI || intid >= FirstSPI+g.nspi {
		return false
	}
	p := g.lookup(0, intid)
	return p != nil && !p.pending() && !p.active && p.owner < 0
}
