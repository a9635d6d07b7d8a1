// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"fmt"
	"testing"

	"github.com/tamavisor/tamavisor/hv/arm64/vgic"
)

// fakeHostGIC records the distributor operations.
type fakeHostGIC struct{ ops []string }

func (f *fakeHostGIC) EnableSPI(id uint32) error {
	f.ops = append(f.ops, fmt.Sprintf("enable %d", id))
	return nil
}
func (f *fakeHostGIC) DisableSPI(id uint32) error {
	f.ops = append(f.ops, fmt.Sprintf("disable %d", id))
	return nil
}

func (f *fakeHostGIC) take() []string { o := f.ops; f.ops = nil; return o }

func eq(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestPassthroughIRQ follows one passthrough SPI through mask on fire and
// unmask on completion, with the guest's side played through the virtual
// distributor.
func TestPassthroughIRQ(t *testing.T) {
	m, _ := newTestMachine(t, &fakeCPU{now: 1})
	host := &fakeHostGIC{}
	if err := m.claimHostIRQs(host, []uint32{34}); err != nil {
		t.Fatal(err)
	}
	defer m.releaseHostIRQs()
	if got := host.take(); !eq(got, []string{"enable 34"}) {
		t.Fatalf("claim: %v", got)
	}

	// A second VM cannot take the same line; bad INTIDs are refused.
	other, _ := newTestMachine(t, &fakeCPU{now: 1})
	for _, bad := range [][]uint32{{34}, {27}, {31}, {32 + 32}, {1023}} {
		if err := other.claimHostIRQs(&fakeHostGIC{}, bad); err == nil {
			t.Errorf("claim of %v by a second VM accepted", bad)
		}
		other.releaseHostIRQs()
	}

	// The guest enables SPI 34 in its virtual GIC.
	d := m.GIC.Dist()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.MMIOWrite(0, vgic.GICD_CTLR, 4, 1<<vgic.GICD_CTLR_ENABLE_GRP1))
	must(d.MMIOWrite(0, vgic.GICD_IGROUPR+4, 4, 1<<2))
	must(d.MMIOWrite(0, vgic.GICD_ISENABLER+4, 4, 1<<2))

	// It fires: masked at the distributor, pending for the owner only.
	before := HostIRQStats.Forwarded.Load()
	if !hostIRQ(34) {
		t.Fatal("hostIRQ(34) not forwarded")
	}
	if got := host.take(); !eq(got, []string{"disable 34"}) {
		t.Fatalf("fire: %v", got)
	}
	if HostIRQStats.Forwarded.Load() != before+1 {
		t.Errorf("forwarded count did not move")
	}
	m.serviceHostIRQs()
	if m.GIC.Quiet(34) || !m.GIC.HasPending(0) || m.HostIRQs != 1 {
		t.Fatalf("after service: quiet %v pending %v count %d", m.GIC.Quiet(34), m.GIC.HasPending(0), m.HostIRQs)
	}
	if other.GIC.HasPending(0) {
		t.Errorf("the other VM got the interrupt")
	}
	// Still in the guest's hands: no unmask.
	m.serviceHostIRQs()
	if got := host.take(); len(got) != 0 {
		t.Fatalf("unmasked while pending: %v", got)
	}
	// The guest is done with it (modelled by clearing the pending
	// state): the physical line is enabled again, once.
	must(d.MMIOWrite(0, vgic.GICD_ICPENDR+4, 4, 1<<2))
	m.serviceHostIRQs()
	m.serviceHostIRQs()
	if got := host.take(); !eq(got, []string{"enable 34"}) {
		t.Fatalf("completion: %v", got)
	}

	// Interrupts nobody owns, and the hypervisor's own, are not forwarded.
	unowned := HostIRQStats.Unowned.Load()
	for _, id := range []uint64{40, SGI_KICK, INTID_CNTHP, INTID_SPURIOUS, 1 << 40} {
		if hostIRQ(id) {
			t.Errorf("hostIRQ(%d) forwarded", id)
		}
	}
	if HostIRQStats.Unowned.Load() != unowned+1 || len(host.take()) != 0 {
		t.Errorf("unowned or private interrupts were forwarded")
	}

	// Released lines go back disabled and can be claimed again.
	m.releaseHostIRQs()
	if got := host.take(); !eq(got, []string{"disable 34"}) {
		t.Fatalf("release: %v", got)
	}
	if err := other.claimHostIRQs(&fakeHostGIC{}, []uint32{34}); err != nil {
		t.Errorf("claim after release: %v", err)
	}
	other.releaseHostIRQs()
}
