// vgic: software GICv3 distributor and redistributors for one VM.
// SPDX-License-Identifier: BSD-3-Clause

package vgic

import (
	"errors"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

func newGIC(t testing.TB, vcpus, spis int) *GIC {
	t.Helper()
	g, err := New(vcpus, spis)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func rd(t testing.TB, d hv.MMIODevice, off uint64, size int) uint64 {
	t.Helper()
	v, err := d.MMIORead(0, off, size)
	if err != nil {
		t.Fatalf("read %d@%#x: %v", size, off, err)
	}
	return v
}

func wr(t testing.TB, d hv.MMIODevice, off uint64, size int, val uint64) {
	t.Helper()
	if err := d.MMIOWrite(0, off, size, val); err != nil {
		t.Fatalf("write %d@%#x=%#x: %v", size, off, val, err)
	}
}

// sgi returns the offset of an SGI_base register of vCPU v's
// Redistributor.
func sgi(v int, o uint64) uint64 { return uint64(v)*RedistStride + SGIBase + o }

// rdb returns the offset of an RD_base register of vCPU v.
func rdb(v int, o uint64) uint64 { return uint64(v)*RedistStride + o }

// enableSPI enables SPI id with priority prio through the Distributor.
func enableSPI(t testing.TB, g *GIC, id int, prio uint8) {
	t.Helper()
	d := g.Dist()
	wr(t, d, GICD_IPRIORITYR+uint64(id), 1, uint64(prio))
	wr(t, d, GICD_ISENABLER+uint64(id/32*4), 4, 1<<(id%32))
}

// enablePrivate enables SGI/PPI id of vCPU v with priority prio.
func enablePrivate(t testing.TB, g *GIC, v, id int, prio uint8) {
	t.Helper()
	r := g.Redist()
	wr(t, r, sgi(v, GICR_IPRIORITYR+uint64(id)), 1, uint64(prio))
	wr(t, r, sgi(v, GICR_ISENABLER0), 4, 1<<id)
}

func enableGroups(t testing.TB, g *GIC) {
	t.Helper()
	wr(t, g.Dist(), GICD_CTLR, 4, 1<<GICD_CTLR_ENABLE_GRP0|1<<GICD_CTLR_ENABLE_GRP1)
}

// ids lists the vINTIDs of the valid LRs, by slot (-1 for invalid).
func ids(lrs []LR) []int {
	out := make([]int, len(lrs))
	for i, l := range lrs {
		out[i] = -1
		if l.Valid() {
			out[i] = int(l.VINTID())
		}
	}
	return out
}

func findLR(lrs []LR, id int) (LR, bool) {
	for _, l := range lrs {
		if l.Valid() && int(l.VINTID()) == id {
			return l, true
		}
	}
	return 0, false
}

// guest models the virtual CPU interface acting on one LR: ack moves
// pending to active, eoi deactivates.
func ack(lrs []LR, id int) {
	for i, l := range lrs {
		if l.Valid() && int(l.VINTID()) == id && l.Pending() {
			lrs[i] = l.WithState(StateActive)
		}
	}
}

func eoi(lrs []LR, id int) {
	for i, l := range lrs {
		if l.Valid() && int(l.VINTID()) == id {
			lrs[i] = l.WithState(StateInvalid)
		}
	}
}

func TestNew(t *testing.T) {
	for _, c := range []struct{ vcpus, spis int }{
		{0, 32}, {9, 32}, {-1, 0}, {1, 33}, {1, 992}, {1, -32}, {1, 1000},
	} {
		if _, err := New(c.vcpus, c.spis); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%d, %d) err = %v, want ErrInvalid", c.vcpus, c.spis, err)
		}
	}
	for _, c := range []struct{ vcpus, spis int }{{1, 0}, {1, 32}, {8, 960}, {4, MaxSPIs}} {
		g, err := New(c.vcpus, c.spis)
		if err != nil || g.VCPUs() != c.vcpus || g.SPIs() != c.spis {
			t.Errorf("New(%d, %d) = %v, %v", c.vcpus, c.spis, g, err)
		}
	}
}

func TestDistIdentification(t *testing.T) {
	for _, c := range []struct {
		vcpus, spis int
		typer       uint64
	}{
		{1, 0, 0x9 << 19},
		{4, 64, 0x9<<19 | 3<<5 | 2},
		{8, 960, 0x9<<19 | 7<<5 | 30},
		{2, MaxSPIs, 0x9<<19 | 1<<5 | 31},
	} {
		g := newGIC(t, c.vcpus, c.spis)
		if got := rd(t, g.Dist(), GICD_TYPER, 4); got != c.typer {
			t.Errorf("%d vCPUs %d SPIs: GICD_TYPER = %#x, want %#x", c.vcpus, c.spis, got, c.typer)
		}
	}
	g := newGIC(t, 2, 64)
	d := g.Dist()
	if got := rd(t, d, GICD_PIDR2, 4); got>>PIDR2_ARCHREV_SHIFT&PIDR2_ARCHREV_MASK != 3 {
		t.Errorf("GICD_PIDR2 = %#x, want ArchRev 3", got)
	}
	if got := rd(t, d, GICD_IIDR, 4); got != IIDR || got&0xfff != 0x43b {
		t.Errorf("GICD_IIDR = %#x", got)
	}
	// Read-only registers ignore writes.
	wr(t, d, GICD_TYPER, 4, 0xffffffff)
	wr(t, d, GICD_PIDR2, 4, 0)
	if got := rd(t, d, GICD_TYPER, 4); got != 0x9<<19|1<<5|2 {
		t.Errorf("GICD_TYPER after write = %#x", got)
	}
}

func TestDistCTLR(t *testing.T) {
	g := newGIC(t, 1, 32)
	d := g.Dist()
	if got := rd(t, d, GICD_CTLR, 4); got != 1<<6|1<<4 {
		t.Fatalf("GICD_CTLR at reset = %#x, want DS|ARE", got)
	}
	wr(t, d, GICD_CTLR, 4, 0)
	if got := rd(t, d, GICD_CTLR, 4); got != 1<<6|1<<4 {
		t.Errorf("DS and ARE not RAO/WI: %#x", got)
	}
	wr(t, d, GICD_CTLR, 4, 0xffffffff)
	if got := rd(t, d, GICD_CTLR, 4); got != 1<<6|1<<4|3 {
		t.Errorf("GICD_CTLR = %#x, want DS|ARE|EnableGrp1|EnableGrp0 and RWP 0", got)
	}
	wr(t, d, GICD_CTLR, 4, 1<<GICD_CTLR_ENABLE_GRP1)
	if got := rd(t, d, GICD_CTLR, 4); got != 1<<6|1<<4|2 {
		t.Errorf("GICD_CTLR = %#x", got)
	}
}

func TestDistPrivateRangeRAZWI(t *testing.T) {
	g := newGIC(t, 1, 32)
	d := g.Dist()
	for _, off := range []uint64{GICD_IGROUPR, GICD_ISENABLER, GICD_ISPENDR, GICD_ISACTIVER,
		GICD_IPRIORITYR, GICD_IPRIORITYR + 28, GICD_ICFGR, GICD_ICFGR + 4, GICD_IROUTER, GICD_IROUTER + 8*31,
		GICD_SGIR, GICD_IGRPMODR + 4, GICD_NSACR + 8, GICD_ITARGETSR + 32, GICD_STATUSR, GICD_SETSPI_NSR, 0x1000, 0xfffc} {
		wr(t, d, off, 4, 0xffffffff)
		if got := rd(t, d, off, 4); got != 0 {
			t.Errorf("GICD+%#x = %#x, want RAZ/WI", off, got)
		}
	}
	// The writes did not reach the banked SGIs/PPIs.
	if st, _ := g.State(0, 5); st.Enabled || st.Pending || st.Active || st.Priority != 0 {
		t.Errorf("SGI 5 changed through the Distributor: %+v", st)
	}
	if g.Stats().RAZWI == 0 {
		t.Error("RAZ/WI accesses not counted")
	}
}

func TestPriorityBytes(t *testing.T) {
	g := newGIC(t, 2, 64)
	d, r := g.Dist(), g.Redist()
	wr(t, d, GICD_IPRIORITYR+33, 1, 0xa0)
	wr(t, d, GICD_IPRIORITYR+35, 1, 0x10)
	if got := rd(t, d, GICD_IPRIORITYR+32, 4); got != 0x1000a000 {
		t.Errorf("IPRIORITYR8 = %#x", got)
	}
	wr(t, d, GICD_IPRIORITYR+60, 4, 0x44332211)
	if got := rd(t, d, GICD_IPRIORITYR+62, 1); got != 0x33 {
		t.Errorf("IPRIORITYR byte 62 = %#x", got)
	}
	// Beyond the implemented SPIs: RAZ/WI.
	wr(t, d, GICD_IPRIORITYR+96, 4, 0xffffffff)
	if got := rd(t, d, GICD_IPRIORITYR+96, 4); got != 0 {
		t.Errorf("IPRIORITYR of unimplemented INTIDs = %#x", got)
	}
	// Banked per vCPU in the Redistributor.
	wr(t, r, sgi(1, GICR_IPRIORITYR+27), 1, 0x80)
	wr(t, r, sgi(0, GICR_IPRIORITYR+24), 4, 0x01020304)
	if got := rd(t, r, sgi(1, GICR_IPRIORITYR+24), 4); got != 0x80000000 {
		t.Errorf("vCPU 1 GICR_IPRIORITYR6 = %#x", got)
	}
	if got := rd(t, r, sgi(0, GICR_IPRIORITYR+27), 1); got != 0x01 {
		t.Errorf("vCPU 0 priority of PPI 27 = %#x", got)
	}
	if st, _ := g.State(1, 27); st.Priority != 0x80 {
		t.Errorf("State(1, 27).Priority = %#x", st.Priority)
	}
}

func TestEnablePairs(t *testing.T) {
	g := newGIC(t, 2, 64)
	d, r := g.Dist(), g.Redist()
	wr(t, d, GICD_ISENABLER+4, 4, 0x8000_0101)
	wr(t, d, GICD_ISENABLER+4, 4, 0x10)
	for _, off := range []uint64{GICD_ISENABLER + 4, GICD_ICENABLER + 4} {
		if got := rd(t, d, off, 4); got != 0x8000_0111 {
			t.Errorf("GICD+%#x = %#x", off, got)
		}
	}
	wr(t, d, GICD_ICENABLER+4, 4, 0x8000_0001)
	if got := rd(t, d, GICD_ISENABLER+4, 4); got != 0x110 {
		t.Errorf("after ICENABLER: %#x", got)
	}
	// INTIDs 96..127 are not implemented.
	wr(t, d, GICD_ISENABLER+12, 4, 0xffffffff)
	if got := rd(t, d, GICD_ISENABLER+12, 4); got != 0 {
		t.Errorf("unimplemented ISENABLER2 = %#x", got)
	}
	wr(t, r, sgi(1, GICR_ISENABLER0), 4, 1<<27|1<<3)
	wr(t, r, sgi(1, GICR_ICENABLER0), 4, 1<<3)
	if got := rd(t, r, sgi(1, GICR_ICENABLER0), 4); got != 1<<27 {
		t.Errorf("vCPU 1 GICR_ICENABLER0 = %#x", got)
	}
	if got := rd(t, r, sgi(0, GICR_ISENABLER0), 4); got != 0 {
		t.Errorf("vCPU 0 GICR_ISENABLER0 = %#x, want 0 (banked)", got)
	}
}

func TestGroupAndConfig(t *testing.T) {
	g := newGIC(t, 1, 32)
	d, r := g.Dist(), g.Redist()
	if got := rd(t, d, GICD_IGROUPR+4, 4); got != 0xffffffff {
		t.Errorf("IGROUPR1 at reset = %#x, want all Group 1", got)
	}
	wr(t, d, GICD_IGROUPR+4, 4, 0xfffffffe)
	if got := rd(t, d, GICD_IGROUPR+4, 4); got != 0xfffffffe {
		t.Errorf("IGROUPR1 = %#x", got)
	}
	wr(t, r, sgi(0, GICR_IGROUPR0), 4, 0x0000ffff)
	if got := rd(t, r, sgi(0, GICR_IGROUPR0), 4); got != 0xffff {
		t.Errorf("GICR_IGROUPR0 = %#x", got)
	}

	// SGIs are edge, read-only; PPIs and SPIs start level.
	if got := rd(t, r, sgi(0, GICR_ICFGR0), 4); got != 0xaaaaaaaa {
		t.Errorf("GICR_ICFGR0 = %#x", got)
	}
	wr(t, r, sgi(0, GICR_ICFGR0), 4, 0)
	if got := rd(t, r, sgi(0, GICR_ICFGR0), 4); got != 0xaaaaaaaa {
		t.Errorf("GICR_ICFGR0 after write = %#x, want read-only", got)
	}
	if got := rd(t, r, sgi(0, GICR_ICFGR1), 4); got != 0 {
		t.Errorf("GICR_ICFGR1 = %#x", got)
	}
	wr(t, r, sgi(0, GICR_ICFGR1), 4, 0xffffffff) // Int_config[0] is RES0
	if got := rd(t, r, sgi(0, GICR_ICFGR1), 4); got != 0xaaaaaaaa {
		t.Errorf("GICR_ICFGR1 = %#x", got)
	}
	wr(t, d, GICD_ICFGR+8, 4, 0x2<<(2*3))
	if got := rd(t, d, GICD_ICFGR+8, 4); got != 0x2<<(2*3) {
		t.Errorf("GICD_ICFGR2 = %#x", got)
	}
	if st, _ := g.State(0, 35); !st.Edge {
		t.Error("SPI 35 not edge-triggered")
	}
	// IGRPMODR and NSACR are RAZ/WI.
	for _, o := range []uint64{GICR_IGRPMODR0, GICR_NSACR} {
		wr(t, r, sgi(0, o), 4, 0xffffffff)
		if got := rd(t, r, sgi(0, o), 4); got != 0 {
			t.Errorf("GICR SGI_base+%#x = %#x", o, got)
		}
	}
}

func TestRedistTyper(t *testing.T) {
	g := newGIC(t, 3, 32)
	r := g.Redist()
	if g.RedistSize() != 3*RedistStride {
		t.Fatalf("RedistSize = %#x", g.RedistSize())
	}
	for v := 0; v < 3; v++ {
		typer := rd(t, r, rdb(v, GICR_TYPER), 8)
		last := v == 2
		if got := typer>>GICR_TYPER_LAST&1 != 0; got != last {
			t.Errorf("vCPU %d Last = %v", v, got)
		}
		if aff := typer >> 32; aff != uint64(v) {
			t.Errorf("vCPU %d Affinity_Value = %#x", v, aff)
		}
		if pn := typer >> 8 & 0xffff; pn != uint64(v) {
			t.Errorf("vCPU %d Processor_Number = %d", v, pn)
		}
		if typer&(1<<GICR_TYPER_PLPIS|1<<GICR_TYPER_VLPIS) != 0 {
			t.Errorf("vCPU %d GICR_TYPER = %#x claims LPIs", v, typer)
		}
		lo, hi := rd(t, r, rdb(v, GICR_TYPER), 4), rd(t, r, rdb(v, GICR_TYPER+4), 4)
		if lo|hi<<32 != typer {
			t.Errorf("vCPU %d GICR_TYPER halves %#x %#x, whole %#x", v, lo, hi, typer)
		}
		// MPIDR agrees with Affinity_Value (Aff0 in bits [7:0]).
		if MPIDR(v)&0xff00ffffff != uint64(v) || MPIDR(v)>>31&1 != 1 {
			t.Errorf("MPIDR(%d) = %#x", v, MPIDR(v))
		}
		if got := rd(t, r, rdb(v, GICR_PIDR2), 4); got>>4&0xf != 3 {
			t.Errorf("GICR_PIDR2 = %#x", got)
		}
		if got := rd(t, r, rdb(v, GICR_IIDR), 4); got != IIDR {
			t.Errorf("GICR_IIDR = %#x", got)
		}
	}
}

func TestRedistCTLRAndWaker(t *testing.T) {
	g := newGIC(t, 2, 0)
	r := g.Redist()
	wr(t, r, rdb(1, GICR_CTLR), 4, 1<<GICR_CTLR_ENABLE_LPIS)
	if got := rd(t, r, rdb(1, GICR_CTLR), 4); got != 0 {
		t.Errorf("GICR_CTLR = %#x, EnableLPIs must stay 0", got)
	}
	waker := func(v int) uint64 { return rd(t, r, rdb(v, GICR_WAKER), 4) }
	if got := waker(1); got != 6 {
		t.Fatalf("GICR_WAKER at reset = %#x, want ProcessorSleep|ChildrenAsleep", got)
	}
	wr(t, r, rdb(1, GICR_WAKER), 4, 0)
	if got := waker(1); got != 0 {
		t.Errorf("GICR_WAKER after wake = %#x", got)
	}
	if got := waker(0); got != 6 {
		t.Errorf("vCPU 0 GICR_WAKER = %#x, want still asleep", got)
	}
	wr(t, r, rdb(1, GICR_WAKER), 4, 1<<GICR_WAKER_PROCESSOR_SLEEP)
	if got := waker(1); got != 6 {
		t.Errorf("GICR_WAKER after sleep = %#x", got)
	}
	wr(t, r, rdb(1, GICR_WAKER), 4, 1<<GICR_WAKER_CHILDREN_ASLEEP) // read-only bit
	if got := waker(1); got != 0 {
		t.Errorf("GICR_WAKER = %#x, ChildrenAsleep must follow ProcessorSleep", got)
	}
}

func TestBadAccesses(t *testing.T) {
	g := newGIC(t, 2, 32)
	d, r := g.Dist(), g.Redist()
	for _, c := range []struct {
		name string
		dev  hv.MMIODevice
		off  uint64
		size int
	}{
		{"halfword", d, GICD_CTLR, 2},
		{"size 3", d, GICD_CTLR, 3},
		{"size 0", d, GICD_CTLR, 0},
		{"size 16", d, GICD_CTLR, 16},
		{"negative size", d, GICD_CTLR, -4},
		{"unaligned word", d, GICD_ISENABLER + 2, 4},
		{"unaligned dword", d, GICD_IROUTER32 + 4, 8},
		{"dword CTLR", d, GICD_CTLR, 8},
		{"byte CTLR", d, GICD_CTLR, 1},
		{"byte ISENABLER", d, GICD_ISENABLER + 4, 1},
		{"dword IPRIORITYR", d, GICD_IPRIORITYR + 32, 8},
		{"byte IROUTER", d, GICD_IROUTER32, 1},
		{"beyond GICD", d, DistSize, 4},
		{"far beyond GICD", d, 1 << 63, 4},
		{"beyond GICR", r, 2 * RedistStride, 4},
		{"wrapping GICR", r, ^uint64(3), 4},
		{"byte GICR_TYPER", r, GICR_TYPER, 1},
		{"dword GICR_TYPER high", r, GICR_TYPER + 8, 8},
		{"dword GICR_WAKER", r, rdb(1, GICR_WAKER-4), 8},
		{"halfword GICR", r, rdb(1, GICR_WAKER), 2},
		{"byte ISENABLER0", r, sgi(1, GICR_ISENABLER0), 1},
		{"dword ICFGR0", r, sgi(0, GICR_ICFGR0), 8},
		{"dword IPRIORITYR0", r, sgi(0, GICR_IPRIORITYR), 8},
	} {
		before := g.Stats().Errors
		if _, err := c.dev.MMIORead(0, c.off, c.size); !errors.Is(err, ErrAccess) {
			t.Errorf("%s: read err = %v, want ErrAccess", c.name, err)
		}
		if err := c.dev.MMIOWrite(1, c.off, c.size, ^uint64(0)); !errors.Is(err, ErrAccess) {
			t.Errorf("%s: write err = %v, want ErrAccess", c.name, err)
		}
		if got := g.Stats().Errors - before; got != 2 {
			t.Errorf("%s: %d errors counted, want 2", c.name, got)
		}
	}
	_, err := d.MMIORead(0, GICD_CTLR+2, 2)
	if err == nil || !strings.Contains(err.Error(), "GICD+0x2") {
		t.Errorf("error %v does not name the offset", err)
	}
	// The refused writes changed nothing.
	if got := rd(t, d, GICD_CTLR, 4); got != 0x50 {
		t.Errorf("GICD_CTLR = %#x", got)
	}
	if got := rd(t, r, sgi(1, GICR_ISENABLER0), 4); got != 0 {
		t.Errorf("GICR_ISENABLER0 = %#x", got)
	}
}

func TestLREncoding(t *testing.T) {
	l := NewLR(1019, 0xa8, true, StatePendingActive).WithEOI(true)
	want := LR(1019) | 1<<41 | 0xa8<<48 | 1<<60 | 3<<62
	if l != want {
		t.Fatalf("NewLR = %#x, want %#x", uint64(l), uint64(want))
	}
	if l.VINTID() != 1019 || l.Priority() != 0xa8 || !l.Group1() || l.HW() || !l.EOI() ||
		l.State() != StatePendingActive || !l.Pending() || !l.Active() || !l.Valid() {
		t.Errorf("decoded %v", l)
	}
	if l.WithState(StateActive).State() != StateActive || l.WithState(StateInvalid).Valid() {
		t.Error("WithState")
	}
	if l.WithEOI(false).EOI() {
		t.Error("WithEOI(false)")
	}
	hw := LR(1)<<ICH_LR_HW | LR(0x1abc)<<ICH_LR_PINTID_SHIFT
	if !hw.HW() || hw.PINTID() != 0x1abc || hw.EOI() {
		t.Errorf("HW LR decode: %v pINTID %#x", hw, hw.PINTID())
	}
	if s := l.String(); !strings.Contains(s, "vINTID 1019 pending+active") {
		t.Errorf("String = %q", s)
	}
	if LR(0).String() != "LR{invalid}" {
		t.Errorf("String of 0 = %q", LR(0).String())
	}
	for vtr, n := range map[uint64]int{0x3: 4, 0x90000003: 4, 0: 1, 0xf: 16, 0x1f: 16} {
		if got := NumLRs(vtr); got != n {
			t.Errorf("NumLRs(%#x) = %d, want %d", vtr, got, n)
		}
	}
}

// TestLevelSPI follows a level-sensitive SPI from a device line through
// the list registers: pending while the line is high, re-pended after
// the guest's EOI while still high, gone once the line drops.
func TestLevelSPI(t *testing.T) {
	g := newGIC(t, 1, 32)
	enableGroups(t, g)
	enableSPI(t, g, 40, 0x80)
	line, err := g.SPI(40)
	if err != nil {
		t.Fatal(err)
	}
	lrs := make([]LR, 4)
	if g.Flush(0, lrs) || lrs[0].Valid() {
		t.Fatalf("Flush with nothing pending: %v", lrs)
	}
	line.SetLevel(true)
	if !g.HasPending(0) {
		t.Fatal("HasPending = false with the line high")
	}
	if g.Flush(0, lrs) {
		t.Error("more = true with one interrupt")
	}
	want := NewLR(40, 0x80, true, StatePending).WithEOI(true)
	if lrs[0] != want || lrs[1] != 0 {
		t.Fatalf("LRs = %v, want [%v ...]", lrs, want)
	}
	// The guest acknowledges it; the device line is still high.
	ack(lrs, 40)
	g.Sync(0, lrs)
	if st, _ := g.State(0, 40); !st.Active || !st.Pending {
		t.Errorf("after ack: %+v", st)
	}
	g.Flush(0, lrs)
	if lrs[0] != want.WithState(StateActive) {
		t.Errorf("active level interrupt: LR %v, want active only", lrs[0])
	}
	// EOI with the line still high: pending again at the next Flush.
	eoi(lrs, 40)
	g.Sync(0, lrs)
	if st, _ := g.State(0, 40); st.Active || !st.Pending {
		t.Errorf("after EOI, line high: %+v", st)
	}
	g.Flush(0, lrs)
	if lrs[0] != want {
		t.Errorf("re-pend: LR %v, want %v", lrs[0], want)
	}
	// The guest handles the device, which lowers the line, then EOIs.
	ack(lrs, 40)
	g.Sync(0, lrs)
	line.SetLevel(false)
	g.Flush(0, lrs)
	eoi(lrs, 40)
	g.Sync(0, lrs)
	g.Flush(0, lrs)
	if lrs[0].Valid() || g.HasPending(0) {
		t.Errorf("line low after EOI: LRs %v, HasPending %v", lrs, g.HasPending(0))
	}
	// A pending-only LR whose line drops before the guest takes it is
	// withdrawn.
	line.SetLevel(true)
	g.Flush(0, lrs)
	g.Sync(0, lrs)
	line.SetLevel(false)
	g.Flush(0, lrs)
	if lrs[0].Valid() {
		t.Errorf("withdrawn level interrupt still in LR: %v", lrs[0])
	}
}

// TestEdgePPI checks that the edge latch moves into the LR and comes
// back only while the LR is still pending.
func TestEdgePPI(t *testing.T) {
	g := newGIC(t, 2, 0)
	enableGroups(t, g)
	enablePrivate(t, g, 1, 27, 0x40)
	wr(t, g.Redist(), sgi(1, GICR_ICFGR1), 4, 2<<(2*(27-16))) // PPI 27 edge
	if err := g.SetPPILevel(1, 27, true); err != nil {
		t.Fatal(err)
	}
	if g.HasPending(0) || !g.HasPending(1) {
		t.Fatal("PPI pending on the wrong vCPU")
	}
	lrs := make([]LR, 4)
	g.Flush(1, lrs)
	want := NewLR(27, 0x40, true, StatePending)
	if lrs[0] != want {
		t.Fatalf("LR = %v, want %v", lrs[0], want)
	}
	if g.cpus[1].priv[27].latch {
		t.Error("edge latch not consumed by Flush")
	}
	// The guest does not take it before the next exit: latch comes back.
	g.Sync(1, lrs)
	if st, _ := g.State(1, 27); !st.Pending {
		t.Error("pending LR did not give the latch back")
	}
	g.Flush(1, lrs)
	if lrs[0] != want {
		t.Fatalf("LR = %v after re-Flush", lrs[0])
	}
	// Taken: active, latch consumed. The line staying high is no new edge.
	ack(lrs, 27)
	g.Sync(1, lrs)
	if st, _ := g.State(1, 27); st.Pending || !st.Active {
		t.Errorf("after ack: %+v", st)
	}
	g.Flush(1, lrs)
	if lrs[0] != want.WithState(StateActive) {
		t.Errorf("LR = %v, want active", lrs[0])
	}
	// A new edge while active: pending and active, same LR.
	g.SetPPILevel(1, 27, false)
	g.SetPPILevel(1, 27, true)
	g.Flush(1, lrs)
	if lrs[0] != want.WithState(StatePendingActive) || lrs[1].Valid() {
		t.Errorf("LRs = %v, want one pending+active", lrs)
	}
	eoi(lrs, 27)
	g.Sync(1, lrs)
	g.Flush(1, lrs)
	if lrs[0].Valid() || g.HasPending(1) {
		t.Errorf("after EOI: %v", lrs)
	}
	if err := g.SetPPILevel(2, 27, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetPPILevel(vCPU 2) err = %v", err)
	}
	if err := g.SetPPILevel(0, 32, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetPPILevel(INTID 32) err = %v", err)
	}
}

func TestPriorityOrder(t *testing.T) {
	g := newGIC(t, 1, 64)
	enableGroups(t, g)
	prio := map[int]uint8{33: 0x80, 34: 0x20, 35: 0x80, 40: 0x10, 50: 0xf0, 3: 0x20, 20: 0x00}
	for id, p := range prio {
		if id < 32 {
			enablePrivate(t, g, 0, id, p)
		} else {
			enableSPI(t, g, id, p)
		}
		if err := g.RaiseEdge(0, id); err != nil {
			t.Fatal(err)
		}
	}
	lrs := make([]LR, 4)
	if !g.Flush(0, lrs) {
		t.Error("more = false with 7 pending and 4 LRs")
	}
	if got, want := ids(lrs), []int{20, 40, 3, 34}; !equal(got, want) {
		t.Errorf("LRs hold %v, want %v", got, want)
	}
	if g.Stats().Overflows != 1 {
		t.Errorf("Overflows = %d", g.Stats().Overflows)
	}
	// The guest takes and completes 20 and 40.
	eoi(lrs, 20)
	eoi(lrs, 40)
	g.Sync(0, lrs)
	if !g.Flush(0, lrs) {
		t.Error("more = false with 5 pending")
	}
	if got, want := ids(lrs), []int{33, 35, 3, 34}; !equal(got, want) {
		t.Errorf("LRs hold %v, want %v (3 and 34 keep their slots)", got, want)
	}
	for _, id := range []int{3, 34, 33, 35} {
		eoi(lrs, id)
	}
	g.Sync(0, lrs)
	if g.Flush(0, lrs) {
		t.Error("more = true with 1 pending")
	}
	if got, want := ids(lrs), []int{50, -1, -1, -1}; !equal(got, want) {
		t.Errorf("LRs hold %v, want %v", got, want)
	}
}

// TestPreemptPending checks that a more urgent interrupt displaces a
// pending-only LR (whose latch goes back to the model), never an active
// one.
func TestPreemptPending(t *testing.T) {
	g := newGIC(t, 1, 32)
	enableGroups(t, g)
	for _, id := range []int{33, 34, 35} {
		enableSPI(t, g, id, 0xa0)
		g.RaiseEdge(0, id)
	}
	lrs := make([]LR, 2)
	g.Flush(0, lrs)
	ack(lrs, 33)
	g.Sync(0, lrs)
	enableSPI(t, g, 36, 0x10)
	g.RaiseEdge(0, 36)
	if !g.Flush(0, lrs) {
		t.Error("more = false")
	}
	if got, want := ids(lrs), []int{33, 36}; !equal(got, want) {
		t.Errorf("LRs hold %v, want %v", got, want)
	}
	if !lrs[0].Active() {
		t.Errorf("LR0 %v, want 33 active", lrs[0])
	}
	if st, _ := g.State(0, 34); !st.Pending || st.InLR != -1 {
		t.Errorf("displaced SPI 34: %+v", st)
	}
	// An active interrupt stays even when less urgent than all pending.
	for _, id := range []int{37, 38} {
		enableSPI(t, g, id, 0x00)
		g.RaiseEdge(0, id)
	}
	g.Sync(0, lrs)
	g.Flush(0, lrs)
	if got := ids(lrs); got[0] != 33 || got[1] != 37 {
		t.Errorf("LRs hold %v, want [33 37]", got)
	}
}

func TestDisabledNotDelivered(t *testing.T) {
	g := newGIC(t, 1, 32)
	var kicks []int
	g.OnPending = func(v int) { kicks = append(kicks, v) }
	lrs := make([]LR, 4)
	line, _ := g.SPI(33)
	line.SetLevel(true)
	g.RaiseEdge(0, 5)
	if g.Flush(0, lrs) || lrs[0].Valid() || g.HasPending(0) || len(kicks) != 0 {
		t.Fatalf("disabled interrupts delivered: %v more, kicks %v", lrs, kicks)
	}
	enableSPI(t, g, 33, 0)
	enablePrivate(t, g, 0, 5, 0)
	if g.HasPending(0) || len(kicks) != 0 {
		t.Fatal("delivered with the Distributor groups disabled")
	}
	wr(t, g.Dist(), GICD_CTLR, 4, 1<<GICD_CTLR_ENABLE_GRP0) // Group 0 only
	if g.HasPending(0) {
		t.Fatal("Group 1 interrupts delivered with only EnableGrp0")
	}
	wr(t, g.Dist(), GICD_IGROUPR+4, 4, 0) // SPIs 32..63 to Group 0
	if !g.HasPending(0) || len(kicks) == 0 {
		t.Fatalf("Group 0 SPI not pending: kicks %v", kicks)
	}
	g.Flush(0, lrs)
	if l, ok := findLR(lrs, 33); !ok || l.Group1() {
		t.Errorf("SPI 33 LR %v, want Group 0", l)
	}
	if _, ok := findLR(lrs, 5); ok {
		t.Error("Group 1 SGI 5 delivered with EnableGrp1 off")
	}
	// Disabling withdraws a pending-only LR at the next Flush.
	g.Sync(0, lrs)
	wr(t, g.Dist(), GICD_ICENABLER+4, 4, 1<<1)
	g.Flush(0, lrs)
	if lrs[0].Valid() {
		t.Errorf("disabled SPI still in LR: %v", lrs)
	}
	if st, _ := g.State(0, 33); !st.Pending {
		t.Error("disabling cleared the pending state")
	}
}

func TestSGIDecode(t *testing.T) {
	g := newGIC(t, 4, 0)
	enableGroups(t, g)
	for v := 0; v < 4; v++ {
		wr(t, g.Redist(), sgi(v, GICR_ISENABLER0), 4, 0xffff)
	}
	var kicks []int
	g.OnPending = func(v int) { kicks = append(kicks, v) }
	pendingOn := func(id int) (out []int) {
		for v := 0; v < 4; v++ {
			if st, _ := g.State(v, id); st.Pending {
				out = append(out, v)
			}
		}
		return out
	}
	const intid = 24
	// TargetList 0b1010 (vCPUs 1, 3), INTID 3.
	g.SGI(0, 3<<intid|0b1010)
	if got := pendingOn(3); !equal(got, []int{1, 3}) {
		t.Errorf("SGI 3 pending on %v", got)
	}
	if !equal(kicks, []int{1, 3}) {
		t.Errorf("kicks = %v", kicks)
	}
	// IRM: all but self.
	g.SGI(2, 1<<40|7<<intid|0b1)
	if got := pendingOn(7); !equal(got, []int{0, 1, 3}) {
		t.Errorf("IRM SGI 7 pending on %v", got)
	}
	// Targets that are not vCPUs: Aff1 != 0, RS != 0, Aff0 beyond.
	g.SGI(0, 1<<16|9<<intid|1)
	g.SGI(0, 1<<32|9<<intid|1)
	g.SGI(0, 1<<48|9<<intid|1)
	g.SGI(0, 1<<44|9<<intid|1)
	g.SGI(0, 9<<intid|0xfff0)
	if got := pendingOn(9); len(got) != 0 {
		t.Errorf("SGI 9 pending on %v", got)
	}
	if s := g.Stats(); s.SGIs != 7 || s.SGIsDropped != 5 {
		t.Errorf("SGIs %d dropped %d", s.SGIs, s.SGIsDropped)
	}
	// Self-targeted SGI reaches the LRs.
	g.SGI(2, 15<<intid|1<<2)
	lrs := make([]LR, 4)
	g.Flush(2, lrs)
	if _, ok := findLR(lrs, 15); !ok {
		t.Errorf("SGI 15 not in vCPU 2's LRs: %v", lrs)
	}
	if err := g.SGI(4, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("SGI from vCPU 4: %v", err)
	}
}

func TestIROUTER(t *testing.T) {
	g := newGIC(t, 3, 32)
	enableGroups(t, g)
	d := g.Dist()
	enableSPI(t, g, 40, 0)
	const r40 = GICD_IROUTER + 8*40
	if got := rd(t, d, r40, 8); got != 0 {
		t.Fatalf("IROUTER40 at reset = %#x", got)
	}
	wr(t, d, r40, 8, 2)
	var kicks []int
	g.OnPending = func(v int) { kicks = append(kicks, v) }
	g.RaiseEdge(0, 40)
	if !equal(kicks, []int{2}) || g.HasPending(0) || !g.HasPending(2) {
		t.Fatalf("routed to vCPU 2: kicks %v", kicks)
	}
	lrs := make([]LR, 4)
	g.Flush(0, lrs)
	if lrs[0].Valid() {
		t.Error("SPI routed to vCPU 2 in vCPU 0's LRs")
	}
	// Re-route while it sits in vCPU 2's LRs: it stays there until
	// vCPU 2's Sync, never in two vCPUs' LRs.
	lrs2 := make([]LR, 4)
	g.Flush(2, lrs2)
	if _, ok := findLR(lrs2, 40); !ok {
		t.Fatal("SPI 40 not in vCPU 2's LRs")
	}
	wr(t, d, r40, 4, 1)
	g.Flush(1, lrs)
	if lrs[0].Valid() {
		t.Error("SPI in two vCPUs' LRs")
	}
	if !g.HasPending(2) || g.HasPending(1) {
		t.Error("HasPending must follow the LR holder")
	}
	g.Sync(2, lrs2)
	g.Flush(1, lrs)
	if _, ok := findLR(lrs, 40); !ok {
		t.Error("re-routed SPI not delivered to vCPU 1")
	}
	g.Sync(1, lrs)
	// 1 of N goes to vCPU 0.
	wr(t, d, r40, 4, 1<<31|2)
	if st, _ := g.State(0, 40); st.Target != 0 {
		t.Errorf("IRM=1 target %d", st.Target)
	}
	// No such vCPU: not delivered anywhere.
	for _, route := range []uint64{3, 1 << 8, 1 << 16} {
		wr(t, d, r40, 8, route)
		for v := 0; v < 3; v++ {
			if g.HasPending(v) {
				t.Errorf("route %#x: pending on vCPU %d", route, v)
			}
		}
	}
	// 32-bit halves; Aff3 and RES0 bits do not stick.
	wr(t, d, r40, 8, 0)
	wr(t, d, r40+4, 4, 0xff)
	wr(t, d, r40, 4, 0x7f000001)
	if got := rd(t, d, r40, 8); got != 1 {
		t.Errorf("IROUTER40 = %#x, want 1", got)
	}
	if got := rd(t, d, r40+4, 4); got != 0 {
		t.Errorf("IROUTER40 high = %#x", got)
	}
	// INTIDs < 32 and unimplemented SPIs: RAZ/WI.
	for _, off := range []uint64{GICD_IROUTER + 8*31, GICD_IROUTER + 8*64, GICD_IROUTER + 8*1019} {
		wr(t, d, off, 8, 1)
		if got := rd(t, d, off, 8); got != 0 {
			t.Errorf("GICD+%#x = %#x", off, got)
		}
	}
}

// TestPendActiveWritesWhileLoaded checks ISPENDR/ICPENDR/ISACTIVER/
// ICACTIVER writes (by another vCPU) for an interrupt in a running
// vCPU's LRs: they take effect at its next Sync/Flush.
func TestPendActiveWritesWhileLoaded(t *testing.T) {
	g := newGIC(t, 2, 32)
	enableGroups(t, g)
	d := g.Dist()
	enableSPI(t, g, 33, 0x10)
	wr(t, d, GICD_ISPENDR+4, 4, 1<<1)
	if got := rd(t, d, GICD_ICPENDR+4, 4); got != 1<<1 {
		t.Fatalf("ICPENDR1 = %#x", got)
	}
	lrs := make([]LR, 2)
	g.Flush(0, lrs)
	if rd(t, d, GICD_ISPENDR+4, 4) != 1<<1 {
		t.Error("pending bit lost while in the LR")
	}
	// Cleared while the guest has not taken it yet.
	wr(t, d, GICD_ICPENDR+4, 4, 1<<1)
	if rd(t, d, GICD_ISPENDR+4, 4) != 0 {
		t.Error("ICPENDR did not clear the pending bit")
	}
	g.Sync(0, lrs) // LR still pending in hardware
	g.Flush(0, lrs)
	if lrs[0].Valid() {
		t.Errorf("cleared interrupt still in LR: %v", lrs[0])
	}

	// Set active by MMIO while pending in the LR: pending+active.
	wr(t, d, GICD_ISPENDR+4, 4, 1<<1)
	g.Flush(0, lrs)
	wr(t, d, GICD_ISACTIVER+4, 4, 1<<1)
	if rd(t, d, GICD_ICACTIVER+4, 4) != 1<<1 {
		t.Error("ISACTIVER did not read back")
	}
	g.Sync(0, lrs)
	g.Flush(0, lrs)
	if lrs[0].State() != StatePendingActive {
		t.Errorf("LR %v, want pending+active", lrs[0])
	}
	// Guest acks (LR active); ICACTIVER meanwhile: inactive after Sync.
	ack(lrs, 33)
	wr(t, d, GICD_ICACTIVER+4, 4, 1<<1)
	g.Sync(0, lrs)
	if st, _ := g.State(0, 33); st.Active || st.Pending {
		t.Errorf("after ICACTIVER: %+v", st)
	}
	// ISPENDR while the edge latch sits in a pending LR merges.
	wr(t, d, GICD_ISPENDR+4, 4, 1<<1)
	g.Flush(0, lrs)
	wr(t, d, GICD_ISPENDR+4, 4, 1<<1)
	g.Sync(0, lrs)
	g.Flush(0, lrs)
	n := 0
	for _, l := range lrs {
		if l.Valid() {
			n++
		}
	}
	if n != 1 || lrs[0] != NewLR(33, 0x10, true, StatePending).WithEOI(true) {
		t.Errorf("LRs %v", lrs)
	}
}

// TestFlushWithoutSync checks that a second Flush folds the LRs first.
func TestFlushWithoutSync(t *testing.T) {
	g := newGIC(t, 1, 32)
	enableGroups(t, g)
	enableSPI(t, g, 33, 0)
	enableSPI(t, g, 34, 0)
	g.RaiseEdge(0, 33)
	lrs := make([]LR, 4)
	g.Flush(0, lrs)
	g.RaiseEdge(0, 34)
	g.Flush(0, lrs)
	if got, want := ids(lrs), []int{33, 34, -1, -1}; !equal(got, want) {
		t.Errorf("LRs %v, want %v", got, want)
	}
	ack(lrs, 33)
	g.Flush(0, lrs) // hardware values, no Sync
	if lrs[0].State() != StateActive || lrs[1].State() != StatePending {
		t.Errorf("LRs %v", lrs)
	}
	g.Sync(0, lrs)
	g.Sync(0, lrs) // second Sync is a no-op
	if st, _ := g.State(0, 33); !st.Active {
		t.Error("SPI 33 not active")
	}
}

// TestBadSync feeds Sync list registers that do not match what Flush
// wrote.
func TestBadSync(t *testing.T) {
	g := newGIC(t, 1, 32)
	enableGroups(t, g)
	enableSPI(t, g, 33, 0)
	g.RaiseEdge(0, 33)
	lrs := make([]LR, 4)
	g.Flush(0, lrs)
	lrs[0] = NewLR(40, 0, true, StatePending)
	lrs[1] = NewLR(33, 0, true, StateActive)
	g.Sync(0, lrs)
	if g.Stats().BadLRs != 1 {
		t.Errorf("BadLRs = %d", g.Stats().BadLRs)
	}
	if st, _ := g.State(0, 33); st.Active || st.Pending || st.InLR != -1 {
		t.Errorf("SPI 33 %+v, want completed", st)
	}
	// Short slices on both sides do not panic.
	g.RaiseEdge(0, 33)
	g.Flush(0, lrs)
	g.Sync(0, lrs[:0])
	if st, _ := g.State(0, 33); !st.Pending {
		t.Error("missing LR not taken as unchanged")
	}
	if g.Flush(0, nil) != true {
		t.Error("Flush with no LRs: more must be true")
	}
	big := make([]LR, 20)
	for i := range big {
		big[i] = ^LR(0)
	}
	g.Flush(0, big)
	for i := MaxLRs; i < len(big); i++ {
		if big[i] != 0 {
			t.Errorf("LR %d beyond MaxLRs = %v", i, big[i])
		}
	}
	g.Flush(-1, lrs)
	g.Sync(5, lrs)
	if g.HasPending(-1) || g.HasPending(1) {
		t.Error("HasPending of a bad vCPU")
	}
}

func TestInjectionErrors(t *testing.T) {
	g := newGIC(t, 2, 32)
	for _, id := range []int{31, 64, -1, 1020} {
		if _, err := g.SPI(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("SPI(%d) err = %v", id, err)
		}
	}
	for _, c := range [][2]int{{2, 5}, {-1, 5}, {0, 64}, {0, -3}} {
		if err := g.RaiseEdge(c[0], c[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("RaiseEdge(%d, %d) err = %v", c[0], c[1], err)
		}
	}
	if err := g.RaiseEdge(7, 40); err != nil {
		t.Errorf("RaiseEdge of an SPI ignores the vCPU: %v", err)
	}
	if _, err := g.State(0, 64); !errors.Is(err, ErrInvalid) {
		t.Errorf("State(0, 64) err = %v", err)
	}
	if _, err := g.State(3, 4); !errors.Is(err, ErrInvalid) {
		t.Errorf("State(3, 4) err = %v", err)
	}
}

// TestEdgeSPILine checks an SPI line configured edge-triggered by the
// guest: each rising edge latches once.
func TestEdgeSPILine(t *testing.T) {
	g := newGIC(t, 1, 32)
	enableGroups(t, g)
	enableSPI(t, g, 32, 0)
	wr(t, g.Dist(), GICD_ICFGR+8, 4, 2)
	line, _ := g.SPI(32)
	line.SetLevel(true)
	lrs := make([]LR, 1)
	g.Flush(0, lrs)
	if lrs[0] != NewLR(32, 0, true, StatePending) {
		t.Fatalf("LR %v, want edge pending without EOI", lrs[0])
	}
	eoi(lrs, 32)
	g.Sync(0, lrs)
	line.SetLevel(true) // no new edge
	g.Flush(0, lrs)
	if lrs[0].Valid() {
		t.Errorf("level high re-pended an edge interrupt: %v", lrs[0])
	}
	if g.Stats().Injections != 1 {
		t.Errorf("Injections = %d", g.Stats().Injections)
	}
}

// TestNoAllocs checks that the guest-exit path allocates nothing.
func TestNoAllocs(t *testing.T) {
	g := newGIC(t, 2, MaxSPIs)
	enableGroups(t, g)
	for id := 32; id < 32+MaxSPIs; id += 7 {
		enableSPI(t, g, id, uint8(id))
	}
	lrs := make([]LR, 4)
	line, _ := g.SPI(100)
	d := g.Dist()
	allocs := testing.AllocsPerRun(100, func() {
		for id := 32; id < 32+MaxSPIs; id += 7 {
			g.RaiseEdge(0, id)
		}
		line.SetLevel(true)
		g.Flush(0, lrs)
		ack(lrs, int(lrs[0].VINTID()))
		g.Sync(0, lrs)
		g.HasPending(1)
		d.MMIOWrite(0, GICD_ISENABLER+8, 4, 1)
		d.MMIORead(0, GICD_IPRIORITYR+40, 1)
		eoi(lrs, int(lrs[0].VINTID()))
		g.Flush(0, lrs)
		g.Sync(0, lrs)
		line.SetLevel(false)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per guest entry/exit", allocs)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResetInPlace: a reset GIC keeps serving the MMIO devices handed out
// before it (a VM reboot must not leave the bus talking to a stale copy).
func TestResetInPlace(t *testing.T) {
	g, err := New(1, 32)
	if err != nil {
		t.Fatal(err)
	}
	d := g.Dist()
	if err := d.MMIOWrite(0, GICD_CTLR, 4, 1<<1); err != nil {
		t.Fatal(err)
	}
	g.Reset()
	if v, _ := d.MMIORead(0, GICD_CTLR, 4); v&(1<<1) != 0 {
		t.Fatalf("GICD_CTLR after reset = %#x, want EnableGrp1 clear", v)
	}
	if err := d.MMIOWrite(0, GICD_CTLR, 4, 1<<1); err != nil {
		t.Fatal(err)
	}
	if g.Stats().DistWrites != 1 {
		t.Fatalf("writes through the old device did not reach the reset GIC: %+v", g.Stats())
	}
}

// TestQuiet follows a passthrough SPI through mask-on-fire: raised, in a
// list register, active in the guest, deactivated.
func TestQuiet(t *testing.T) {
	g, err := New(1, 32)
	if err != nil {
		t.Fatal(err)
	}
	const id = 34
	enableGroups(t, g)
	enableSPI(t, g, id, 0xa0)
	if !g.Quiet(id) {
		t.Fatal("fresh SPI not quiet")
	}
	if g.Quiet(27) || g.Quiet(FirstSPI+32) {
		t.Fatal("Quiet true for a PPI or an SPI beyond the GIC")
	}
	if err := g.RaiseEdge(0, id); err != nil {
		t.Fatal(err)
	}
	if g.Quiet(id) {
		t.Fatal("pending SPI quiet")
	}
	lrs := make([]LR, 4)
	g.Flush(0, lrs)
	if g.Quiet(id) {
		t.Fatal("SPI in a list register quiet")
	}
	// The guest acknowledges: the LR goes active.
	for i := range lrs {
		if lrs[i].Valid() && lrs[i].VINTID() == id {
			lrs[i] = lrs[i].WithState(StateActive)
		}
	}
	g.Sync(0, lrs)
	if g.Quiet(id) {
		t.Fatal("active SPI quiet")
	}
	g.Flush(0, lrs)
	// The guest deactivates: the LR becomes invalid.
	for i := range lrs {
		if lrs[i].Valid() && lrs[i].VINTID() == id {
			lrs[i] = lrs[i].WithState(StateInvalid)
		}
	}
	g.Sync(0, lrs)
	if !g.Quiet(id) {
		t.Fatal("deactivated SPI not quiet")
	}
}
