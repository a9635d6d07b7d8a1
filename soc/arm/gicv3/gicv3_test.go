// soc/arm/gicv3: ARM GICv3 distributor and redistributor driver.
// SPDX-License-Identifier: BSD-3-Clause

package gicv3

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/soc/reg"
)

func checkLog(t *testing.T, what string, got, want []reg.Access) {
	t.Helper()
	if d := reg.DiffLog(got, want); d != "" {
		t.Errorf("%s:%s", what, d)
	}
}

// lowerSpin makes timeout tests cheap; the production bound is 1<<20.
func lowerSpin(t *testing.T, n int) {
	old := spinLimit
	spinLimit = n
	t.Cleanup(func() { spinLimit = old })
}

func TestLines(t *testing.T) {
	for _, tc := range []struct{ itlines, want int }{
		{0, 32}, {1, 64}, {8, 288}, {30, 992}, {31, 1020},
	} {
		f := reg.NewFake()
		f.Poke(GICD_TYPER, uint64(tc.itlines)|0x3<<19) // IDbits set too
		d := &Distributor{Regs: f}
		if got := d.Lines(); got != tc.want {
			t.Errorf("ITLinesNumber %d: Lines = %d, want %d", tc.itlines, got, tc.want)
		}
	}
}

func TestArchRev(t *testing.T) {
	for pidr2, want := range map[uint64]uint32{0x3b: 3, 0x4b: 4} {
		f := reg.NewFake()
		f.Poke(GICD_PIDR2, pidr2)
		if got := (&Distributor{Regs: f}).ArchRev(); got != want {
			t.Errorf("PIDR2 %#x: ArchRev = %d, want %d", pidr2, got, want)
		}
	}
}

func TestDistributorInitSequence(t *testing.T) {
	f := reg.NewFake()
	f.Poke(GICD_TYPER, 1) // 64 INTIDs: SPIs 32..63
	d := &Distributor{Regs: f}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}

	want := []reg.Access{
		reg.R(32, GICD_TYPER, 1),
		reg.W(32, GICD_CTLR, 0),
		reg.R(32, GICD_CTLR, 0), // RWP clear
		reg.W(32, 0x184, 0xffffffff),
		reg.R(32, GICD_CTLR, 0), // RWP clear
		reg.W(32, 0x284, 0xffffffff),
		reg.W(32, 0x384, 0xffffffff),
		reg.W(32, 0x084, 0xffffffff),
	}
	for off := uint32(0x420); off < 0x440; off += 4 {
		want = append(want, reg.W(32, off, 0xa0a0a0a0))
	}
	want = append(want,
		reg.W(32, 0xc08, 0),
		reg.W(32, 0xc0c, 0),
		reg.W(32, GICD_CTLR, 0x12), // ARE_NS | EnableGrp1A
		reg.R(32, GICD_CTLR, 0x12), // RWP clear
	)
	for id := uint32(32); id < 64; id++ {
		want = append(want, reg.W(64, 0x6000+8*id, 0))
	}
	checkLog(t, "Distributor.Init accesses", f.Log, want)
}

func TestDistributorInitMaxLines(t *testing.T) {
	f := reg.NewFake()
	f.Poke(GICD_TYPER, 31)
	d := &Distributor{Regs: f}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	var routes, prios, cfgs, enables int
	var lastRoute, lastPrio, lastCfg uint32
	for _, a := range f.Writes() {
		switch {
		case a.Off >= GICD_IROUTER:
			routes++
			lastRoute = a.Off
		case a.Off >= GICD_ICFGR:
			cfgs++
			lastCfg = a.Off
		case a.Off >= GICD_IPRIORITYR:
			prios++
			lastPrio = a.Off
		case a.Off >= GICD_ICENABLER && a.Off < GICD_ISPENDR:
			enables++
		}
	}
	// SPIs 32..1019: 988 routes, 247 priority words, 62 ICFGR words,
	// 31 one-bit-per-INTID words.
	if routes != 988 || lastRoute != 0x6000+8*1019 {
		t.Errorf("IROUTER: %d writes, last at %#x", routes, lastRoute)
	}
	if prios != 247 || lastPrio != 0x400+1016 {
		t.Errorf("IPRIORITYR: %d writes, last at %#x", prios, lastPrio)
	}
	if cfgs != 62 || lastCfg != 0xc00+4*63 {
		t.Errorf("ICFGR: %d writes, last at %#x", cfgs, lastCfg)
	}
	if enables != 31 {
		t.Errorf("ICENABLER: %d writes", enables)
	}
}

func TestDistributorRWPTimeout(t *testing.T) {
	lowerSpin(t, 32)
	f := reg.NewFake()
	f.Poke(GICD_TYPER, 1)
	f.OnRead[GICD_CTLR] = func(f *reg.Fake, off uint32) uint64 {
		return f.Regs[off] | 1<<CTLR_RWP
	}
	d := &Distributor{Regs: f}
	err := d.Init()
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "GICD_CTLR=0x80000000") {
		t.Fatalf("Init err = %v, want ErrTimeout naming GICD_CTLR=0x80000000", err)
	}
	checkLog(t, "writes", f.Writes(), []reg.Access{reg.W(32, GICD_CTLR, 0)})
}

func TestRedistributorWake(t *testing.T) {
	f := reg.NewFake()
	f.Poke(GICR_WAKER, 1<<WAKER_PROCESSOR_SLEEP|1<<WAKER_CHILDREN_ASLEEP)
	reads := 0
	f.OnRead[GICR_WAKER] = func(f *reg.Fake, off uint32) uint64 {
		reads++
		if reads > 3 && f.Regs[off]&(1<<WAKER_PROCESSOR_SLEEP) == 0 {
			f.Regs[off] &^= 1 << WAKER_CHILDREN_ASLEEP
		}
		return f.Regs[off]
	}
	r := &Redistributor{Regs: f}
	if err := r.Wake(); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "Wake accesses", f.Log, []reg.Access{
		reg.R(32, GICR_WAKER, 0x6),
		reg.W(32, GICR_WAKER, 0x4), // ProcessorSleep cleared
		reg.R(32, GICR_WAKER, 0x4),
		reg.R(32, GICR_WAKER, 0x4),
		reg.R(32, GICR_WAKER, 0x0), // children awake
	})
}

func TestRedistributorWakeTimeout(t *testing.T) {
	lowerSpin(t, 32)
	f := reg.NewFake()
	f.Poke(GICR_WAKER, 0x6)
	f.OnWrite[GICR_WAKER] = func(f *reg.Fake, off uint32, val uint64) {
		f.Regs[off] = val | 1<<WAKER_CHILDREN_ASLEEP // never wakes
	}
	r := &Redistributor{Regs: f}
	err := r.Init()
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "GICR_WAKER=0x4") {
		t.Fatalf("Init err = %v, want ErrTimeout naming GICR_WAKER=0x4", err)
	}
	if n := len(f.Writes()); n != 1 {
		t.Errorf("%d writes after a failed wake, want only the GICR_WAKER write", n)
	}
}

func TestRedistributorInitSequence(t *testing.T) {
	f := reg.NewFake()
	r := &Redistributor{Regs: f}
	if err := r.Init(); err != nil {
		t.Fatal(err)
	}
	want := []reg.Access{
		reg.R(32, GICR_WAKER, 0),
		reg.W(32, GICR_WAKER, 0),
		reg.R(32, GICR_WAKER, 0),
		reg.W(32, 0x10180, 0xffffffff), // ICENABLER0
		reg.W(32, 0x10280, 0xffffffff), // ICPENDR0
		reg.W(32, 0x10380, 0xffffffff), // ICACTIVER0
		reg.W(32, 0x10080, 0xffffffff), // IGROUPR0
	}
	for off := uint32(0x10400); off < 0x10420; off += 4 {
		want = append(want, reg.W(32, off, 0xa0a0a0a0))
	}
	want = append(want, reg.R(32, GICR_CTLR, 0))
	checkLog(t, "Redistributor.Init accesses", f.Log, want)
}

func TestRedistributorRWPTimeout(t *testing.T) {
	lowerSpin(t, 32)
	f := reg.NewFake()
	f.Poke(GICR_CTLR, 1<<GICR_CTLR_RWP)
	err := (&Redistributor{Regs: f}).Init()
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "GICR_CTLR=0x8") {
		t.Fatalf("Init err = %v, want ErrTimeout naming GICR_CTLR=0x8", err)
	}
}

// twoFrames is a redistributor region for PEs 0.0.0.0 and 0.0.0.1, the
// second marked Last, as on QEMU virt with -smp 2.
func twoFrames() *reg.Fake {
	f := reg.NewFake()
	f.Poke(0x00008, 0<<32|0<<8)
	f.Poke(0x20008, 1<<32|1<<8|1<<GICR_TYPER_LAST)
	return f
}

func TestCountRedistributors(t *testing.T) {
	f := twoFrames()
	n, err := CountRedistributors(f, FrameSizeV3, 8)
	if n != 2 || err != nil {
		t.Fatalf("CountRedistributors = %d, %v; want 2", n, err)
	}
	checkLog(t, "reads", f.Log, []reg.Access{
		{Off: 0x00008, Width: 64, Val: 0},
		{Off: 0x20008, Width: 64, Val: 1<<32 | 1<<8 | 1<<4},
	})

	aff, err := Affinities(f, FrameSizeV3, 8)
	if err != nil || !slices.Equal(aff, []uint32{0, 1}) {
		t.Errorf("Affinities = %v, %v; want [0 1]", aff, err)
	}
}

func TestCountRedistributorsNoLast(t *testing.T) {
	f := twoFrames()
	if n, err := CountRedistributors(f, FrameSizeV3, 1); n != 0 || !errors.Is(err, ErrNoLast) {
		t.Errorf("max 1: %d, %v; want ErrNoLast", n, err)
	}
	// With the GICv4 stride the second frame is never seen.
	if _, err := CountRedistributors(f, FrameSizeV4, 4); !errors.Is(err, ErrNoLast) {
		t.Errorf("wrong stride: %v; want ErrNoLast", err)
	}
	if _, err := Affinities(f, FrameSizeV3, 1); !errors.Is(err, ErrNoLast) {
		t.Errorf("Affinities: %v; want ErrNoLast", err)
	}
	for _, tc := range []struct {
		size uint32
		max  int
	}{{0, 4}, {FrameSizeV3, 0}} {
		if _, err := CountRedistributors(f, tc.size, tc.max); !errors.Is(err, ErrInvalid) {
			t.Errorf("CountRedistributors(%#x, %d): %v; want ErrInvalid", tc.size, tc.max, err)
		}
	}
	// 0x40000 * 0x4000 = 4 GiB: the walk must stop, not wrap around.
	if _, err := CountRedistributors(reg.NewFake(), FrameSizeV4, 1<<15); !errors.Is(err, ErrInvalid) {
		t.Errorf("walk past 4 GiB: %v; want ErrInvalid", err)
	}
}

func TestTyper(t *testing.T) {
	v := Typer(0x01020304<<32 | 0x0007<<8 | 1<<GICR_TYPER_LAST | 1<<GICR_TYPER_VLPIS)
	if !v.Last() || !v.VLPIS() || v.ProcessorNumber() != 7 || v.Affinity() != 0x01020304 {
		t.Errorf("Typer %#x: Last %v VLPIS %v ProcessorNumber %d Affinity %#x",
			uint64(v), v.Last(), v.VLPIS(), v.ProcessorNumber(), v.Affinity())
	}
	// MPIDR_EL1: Aff3 0x01 [39:32], U/MT bits [31:24] ignored, Aff2..0.
	if got := MPIDRAffinity(0x01_8002_0304); got != 0x01020304 {
		t.Errorf("MPIDRAffinity = %#x, want 0x01020304", got)
	}
	f := twoFrames()
	if got := (&Redistributor{Regs: f}).Typer(); got.Last() {
		t.Errorf("frame 0 Typer = %#x, Last set", uint64(got))
	}
}

func TestEnableDisableSPI(t *testing.T) {
	f := reg.NewFake()
	f.Poke(GICD_TYPER, 1) // 64 INTIDs
	d := &Distributor{Regs: f}
	if err := d.EnableSPI(34); err != nil {
		t.Fatal(err)
	}
	if err := d.DisableSPI(63); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "enable/disable", f.Writes(), []reg.Access{
		reg.W(32, 0x104, 1<<2),
		reg.W(32, 0x184, 1<<31),
	})
	for _, bad := range []uint32{0, 27, 31, 64, 1020, 0xffffffff} {
		f.Reset()
		if err := d.EnableSPI(bad); err == nil {
			t.Errorf("EnableSPI(%d) accepted", bad)
		}
		if err := d.DisableSPI(bad); err == nil {
			t.Errorf("DisableSPI(%d) accepted", bad)
		}
		if w := f.Writes(); len(w) != 0 {
			t.Errorf("INTID %d: wrote %v", bad, w)
		}
	}
}
