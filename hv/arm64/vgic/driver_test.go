// vgic: software GICv3 distributor and redistributors for one VM.
// SPDX-License-Identifier: BSD-3-Clause

package vgic

// This test runs tamavisor's own physical GICv3 driver (soc/arm/gicv3),
// which follows the same initialisation sequence as Linux's, against the
// model: a guest that programs a GIC the way the driver does must find
// it behaves like one. The import is test-only; the package itself does
// not depend on soc.

import (
	"testing"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/soc/arm/gicv3"
)

// mmioBus presents an hv.MMIODevice at base as a reg.Bus; a refused
// access fails the test.
type mmioBus struct {
	t    *testing.T
	dev  hv.MMIODevice
	base uint64
}

func (b mmioBus) read(off uint32, size int) uint64 {
	v, err := b.dev.MMIORead(0, b.base+uint64(off), size)
	if err != nil {
		b.t.Errorf("driver read: %v", err)
	}
	return v
}

func (b mmioBus) write(off uint32, size int, val uint64) {
	if err := b.dev.MMIOWrite(0, b.base+uint64(off), size, val); err != nil {
		b.t.Errorf("driver write: %v", err)
	}
}

func (b mmioBus) Read32(off uint32) uint32       { return uint32(b.read(off, 4)) }
func (b mmioBus) Write32(off uint32, val uint32) { b.write(off, 4, uint64(val)) }
func (b mmioBus) Read64(off uint32) uint64       { return b.read(off, 8) }
func (b mmioBus) Write64(off uint32, val uint64) { b.write(off, 8, val) }

func TestPhysicalDriverAgainstModel(t *testing.T) {
	const vcpus, spis = 4, 96
	g := newGIC(t, vcpus, spis)
	d := &gicv3.Distributor{Regs: mmioBus{t: t, dev: g.Dist()}}
	if got := d.Lines(); got != 32+spis {
		t.Errorf("driver Lines = %d", got)
	}
	if got := d.ArchRev(); got != 3 {
		t.Errorf("driver ArchRev = %d", got)
	}
	// Dirty some state first so Init has something to reset.
	g.RaiseEdge(0, 50)
	wr(t, g.Dist(), GICD_ISENABLER+4, 4, 0xffffffff)
	wr(t, g.Dist(), GICD_IROUTER+8*60, 8, 3)
	if err := d.Init(); err != nil {
		t.Fatalf("Distributor.Init: %v", err)
	}
	if got := rd(t, g.Dist(), GICD_CTLR, 4); got != 1<<6|1<<4|1<<1 {
		t.Errorf("GICD_CTLR after Init = %#x", got)
	}
	for id := 32; id < 32+spis; id++ {
		st, _ := g.State(0, id)
		if st.Enabled || st.Pending || st.Active || !st.Group1 || st.Edge || st.Priority != gicv3.DefaultPriority || st.Target != 0 {
			t.Fatalf("SPI %d after Init: %+v", id, st)
		}
	}

	rb := mmioBus{t: t, dev: g.Redist()}
	n, err := gicv3.CountRedistributors(rb, gicv3.FrameSizeV3, 16)
	if err != nil || n != vcpus {
		t.Fatalf("CountRedistributors = %d, %v", n, err)
	}
	aff, err := gicv3.Affinities(rb, gicv3.FrameSizeV3, 16)
	if err != nil {
		t.Fatal(err)
	}
	for v := 0; v < vcpus; v++ {
		if aff[v] != gicv3.MPIDRAffinity(MPIDR(v)) {
			t.Errorf("redistributor %d affinity %#x, MPIDR %#x", v, aff[v], MPIDR(v))
		}
		r := &gicv3.Redistributor{Regs: mmioBus{t: t, dev: g.Redist(), base: uint64(v) * RedistStride}}
		if err := r.Init(); err != nil {
			t.Fatalf("Redistributor %d Init: %v", v, err)
		}
		if g.cpus[v].sleep {
			t.Errorf("redistributor %d still asleep", v)
		}
		for id := 0; id < 32; id++ {
			st, _ := g.State(v, id)
			if st.Enabled || st.Pending || !st.Group1 || st.Priority != gicv3.DefaultPriority {
				t.Fatalf("vCPU %d INTID %d after Init: %+v", v, id, st)
			}
		}
	}
	if e := g.Stats().Errors; e != 0 {
		t.Errorf("%d refused accesses during driver init", e)
	}
}
