// hv/vdev/x2apic: an emulated local APIC in x2APIC mode for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

package x2apic

import (
	"errors"
	"math"
	"sync"
	"testing"
)

const (
	svrOn     = 1<<SVR_APIC_ENABLE | 0xff // software-enabled, spurious vector 0xFF
	divideBy1 = 0xb
)

func rdmsr(t *testing.T, a *APIC, msr uint32, now int64) uint64 {
	t.Helper()
	v, err := a.ReadMSR(msr, now)
	if err != nil {
		t.Fatalf("rdmsr %#x: %v", msr, err)
	}
	return v
}

func wrmsr(t *testing.T, a *APIC, msr uint32, val uint64, now int64) {
	t.Helper()
	if err := a.WriteMSR(msr, val, now); err != nil {
		t.Fatalf("wrmsr %#x=%#x: %v", msr, val, err)
	}
}

// newOn returns an APIC with ID id, software-enabled, timer at 1 GHz.
func newOn(t *testing.T, id uint32) *APIC {
	t.Helper()
	a := New(id, 1e9)
	wrmsr(t, a, IA32_X2APIC_SIVR, svrOn, 0)
	return a
}

// expect checks what Pending reports at now.
func expect(t *testing.T, a *APIC, now int64, want int) {
	t.Helper()
	v, ok := a.Pending(now)
	switch {
	case want < 0 && ok:
		t.Fatalf("Pending(%d) = %#x, want nothing", now, v)
	case want >= 0 && (!ok || int(v) != want):
		t.Fatalf("Pending(%d) = %#x %v, want %#x", now, v, ok, want)
	}
}

// take injects what Pending reports, as the hypervisor does.
func take(t *testing.T, a *APIC, now int64, want int) {
	t.Helper()
	expect(t, a, now, want)
	a.Accept(uint8(want))
}

func eoi(t *testing.T, a *APIC) { t.Helper(); wrmsr(t, a, IA32_X2APIC_EOI, 0, 0) }

func TestResetState(t *testing.T) {
	a := New(0, 0)
	for msr, want := range map[uint32]uint64{
		IA32_APIC_BASE:          0xfee0_0000 | 1<<11 | 1<<10 | 1<<8,
		IA32_X2APIC_APICID:      0,
		IA32_X2APIC_VERSION:     0x0006_0014,
		IA32_X2APIC_TPR:         0,
		IA32_X2APIC_PPR:         0,
		IA32_X2APIC_LDR:         1,
		IA32_X2APIC_SIVR:        0xff,
		IA32_X2APIC_ESR:         0,
		IA32_X2APIC_ICR:         0,
		IA32_X2APIC_LVT_CMCI:    0x10000,
		IA32_X2APIC_LVT_TIMER:   0x10000,
		IA32_X2APIC_LVT_THERMAL: 0x10000,
		IA32_X2APIC_LVT_PMI:     0x10000,
		IA32_X2APIC_LVT_LINT0:   0x10000,
		IA32_X2APIC_LVT_LINT1:   0x10000,
		IA32_X2APIC_LVT_ERROR:   0x10000,
		IA32_X2APIC_INIT_COUNT:  0,
		IA32_X2APIC_CUR_COUNT:   0,
		IA32_X2APIC_DIV_CONF:    0,
		IA32_X2APIC_ISR0 + 7:    0,
		IA32_X2APIC_TMR0:        0,
		IA32_X2APIC_IRR0 + 3:    0,
	} {
		if got := rdmsr(t, a, msr, 0); got != want {
			t.Errorf("msr %#x = %#x, want %#x", msr, got, want)
		}
	}
	if a.hz != DefaultTimerHz || a.NextEvent() != 0 {
		t.Fatal("timer")
	}
	// Not the BSP; LDR: cluster 0x12, bit 3 (SDM 11.12.10.2).
	b := New(0x123, 1e9)
	if rdmsr(t, b, IA32_APIC_BASE, 0) != 0xfee0_0c00 || rdmsr(t, b, IA32_X2APIC_LDR, 0) != 0x12_0008 ||
		rdmsr(t, b, IA32_X2APIC_APICID, 0) != 0x123 || b.ID() != 0x123 {
		t.Fatal("ID 0x123")
	}
	// Nothing is delivered while software-disabled.
	a.Raise(0x40)
	expect(t, a, 0, -1)
	if s := a.Stats(); s.Ignored != 1 || s.Raised != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTimerOneShot(t *testing.T) {
	a := newOn(t, 0)
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, divideBy1, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0x30, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 1000, 5000)
	if got := a.NextEvent(); got != 6000 {
		t.Fatalf("NextEvent %d", got)
	}
	if got := rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 5250); got != 750 {
		t.Fatalf("current count %d", got)
	}
	if got := rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 4000); got != 1000 {
		t.Fatalf("current count before the start %d", got)
	}
	expect(t, a, 5999, -1)
	take(t, a, 6000, 0x30)
	if a.NextEvent() != 0 || rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 6001) != 0 {
		t.Fatal("one-shot still armed")
	}
	if rdmsr(t, a, IA32_X2APIC_ISR0+1, 6001) != 1<<16 {
		t.Fatal("0x30 not in service")
	}
	expect(t, a, 1e12, -1)
	eoi(t, a)
	expect(t, a, 1e12, -1)
	// Writing the initial count restarts it; zero stops it.
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 100, 7000)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 200, 7050)
	if a.NextEvent() != 7250 {
		t.Fatalf("restart: NextEvent %d", a.NextEvent())
	}
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 0, 7100)
	if a.NextEvent() != 0 {
		t.Fatal("zero count armed")
	}
	expect(t, a, 8000, -1)
	if s := a.Stats(); s.TimerFires != 1 || s.Accepted != 1 || s.EOIs != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTimerPeriodic(t *testing.T) {
	a := newOn(t, 0)
	const period = 1_000_000 // 1 ms at 1 GHz, divide by 1
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, divideBy1, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 1<<LVT_TIMER_MODE_SHIFT|0xec, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, period, 0)
	for i := int64(1); i <= 3; i++ {
		expect(t, a, i*period-1, -1)
		take(t, a, i*period+10, 0xec) // a little late: re-armed from the deadline
		if a.NextEvent() != (i+1)*period {
			t.Fatalf("tick %d: NextEvent %d", i, a.NextEvent())
		}
		eoi(t, a)
	}
	if got := rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 3*period+250_000); got != 750_000 {
		t.Fatalf("current count %d", got)
	}
	// A vCPU that did not run for ~1000 s: one interrupt, one step.
	far := int64(1e12) + period/2
	take(t, a, far, 0xec)
	if a.NextEvent() != 1e12+period {
		t.Fatalf("NextEvent after catching up %d", a.NextEvent())
	}
	if s := a.Stats(); s.TimerFires != 4 || s.TimerCoalesced != 1e6-4 {
		t.Fatalf("stats %+v", s)
	}
	if got := rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 1e12+period-1); got != 1 {
		t.Fatalf("current count %d", got)
	}
	// Switching to one-shot: fires once more, then stops.
	eoi(t, a)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0xec, far)
	take(t, a, 2e12, 0xec)
	if a.NextEvent() != 0 {
		t.Fatal("one-shot re-armed")
	}
	// Periodic timers re-arm at least MinPeriod apart.
	eoi(t, a)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 1<<LVT_TIMER_MODE_SHIFT|0xec, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 1, 3e12)
	if a.NextEvent() != 3e12+MinPeriod {
		t.Fatalf("short period: NextEvent %d", a.NextEvent())
	}
	take(t, a, 3e12+MinPeriod, 0xec)
	if a.NextEvent() != 3e12+2*MinPeriod {
		t.Fatalf("short period: NextEvent %d", a.NextEvent())
	}
}

func TestTimerEndOfTime(t *testing.T) {
	a := New(0, 1) // 1 Hz: the longest count is ~2^39 s, past int64 ns
	wrmsr(t, a, IA32_X2APIC_SIVR, svrOn, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 1<<LVT_TIMER_MODE_SHIFT|0x40, 0)
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, 0xa, 0) // divide by 128
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, math.MaxUint32, 0)
	if a.NextEvent() != math.MaxInt64 {
		t.Fatalf("NextEvent %d for a count past the end of time", a.NextEvent())
	}
	expect(t, a, math.MaxInt64-1, -1)
	if got := rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 1e18); got != math.MaxUint32-1e9/128 {
		t.Fatalf("current count %d", got)
	}
	// A periodic timer near the end of time stops rather than wraps.
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, divideBy1, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 1, math.MaxInt64-1.5e9)
	take(t, a, math.MaxInt64-0.5e9, 0x40)
	if a.NextEvent() != 0 {
		t.Fatalf("NextEvent %d", a.NextEvent())
	}
	expect(t, a, math.MaxInt64, -1)
	// Time going backwards fires nothing.
	eoi(t, a)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 10, 1e10)
	expect(t, a, math.MinInt64, -1)
	if rdmsr(t, a, IA32_X2APIC_CUR_COUNT, math.MinInt64) != 10 {
		t.Fatal("count before the start")
	}
}

func TestTimerDivide(t *testing.T) {
	// 100 MHz: a tick is 10 ns before division.
	for dcr, div := range map[uint64]int64{
		0x0: 2, 0x1: 4, 0x2: 8, 0x3: 16, 0x8: 32, 0x9: 64, 0xa: 128, 0xb: 1,
	} {
		a := New(0, 100e6)
		wrmsr(t, a, IA32_X2APIC_SIVR, svrOn, 0)
		wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0x40, 0)
		wrmsr(t, a, IA32_X2APIC_DIV_CONF, dcr, 0)
		wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 100, 0)
		if got, want := a.NextEvent(), 100*div*10; got != want {
			t.Errorf("DCR %#x: NextEvent %d, want %d", dcr, got, want)
		}
		if got := rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 25*div*10); got != 75 {
			t.Errorf("DCR %#x: current count %d", dcr, got)
		}
		if rdmsr(t, a, IA32_X2APIC_DIV_CONF, 0) != dcr {
			t.Errorf("DCR %#x read back", dcr)
		}
	}
	// Changing the divisor mid-count: the count goes on at the new rate.
	a := New(0, 100e6)
	wrmsr(t, a, IA32_X2APIC_SIVR, svrOn, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0x40, 0)
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, divideBy1, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 1000, 0) // 10 us
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, 0x0, 4000) // 600 ticks left, now 20 ns each
	if a.NextEvent() != 4000+600*20 {
		t.Fatalf("NextEvent %d", a.NextEvent())
	}
	if got := rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 4000); got != 600 {
		t.Fatalf("current count %d", got)
	}
	take(t, a, 16000, 0x40)
}

func TestTimerMasked(t *testing.T) {
	a := newOn(t, 0)
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, divideBy1, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 1<<LVT_MASKED|1<<LVT_TIMER_MODE_SHIFT|0x30, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 1_000_000, 0)
	if a.NextEvent() != 0 {
		t.Fatal("masked timer reports an event")
	}
	expect(t, a, 5_000_000, -1)
	if rdmsr(t, a, IA32_X2APIC_IRR0+1, 5_000_000) != 0 {
		t.Fatal("masked expiry reached IRR")
	}
	// The count went on: unmasking shows the next periodic deadline.
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 1<<LVT_TIMER_MODE_SHIFT|0x30, 5_000_000)
	if a.NextEvent() != 6_000_000 {
		t.Fatalf("NextEvent %d", a.NextEvent())
	}
	take(t, a, 6_000_000, 0x30)
	if s := a.Stats(); s.TimerFires != 2 || s.TimerMasked != 1 || s.TimerCoalesced != 4 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTSCDeadlineMode(t *testing.T) {
	a := newOn(t, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0x30, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 100, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, TIMER_TSC_DEADLINE<<LVT_TIMER_MODE_SHIFT|0x30, 10)
	if a.NextEvent() != 0 {
		t.Fatal("entering TSC-deadline mode did not stop the timer")
	}
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 100, 20) // ignored
	if a.NextEvent() != 0 || rdmsr(t, a, IA32_X2APIC_INIT_COUNT, 20) != 100 ||
		rdmsr(t, a, IA32_X2APIC_CUR_COUNT, 20) != 0 {
		t.Fatal("initial count in TSC-deadline mode")
	}
	expect(t, a, 1e12, -1)
	if got := rdmsr(t, a, IA32_X2APIC_LVT_TIMER, 0); got != 0x40030 {
		t.Fatalf("LVT timer %#x", got)
	}
}

// TestEOIOrdering nests interrupts of rising priority and checks EOI
// retires the highest in-service vector first.
func TestEOIOrdering(t *testing.T) {
	a := newOn(t, 0)
	a.Raise(0x41)
	take(t, a, 0, 0x41)
	if rdmsr(t, a, IA32_X2APIC_PPR, 0) != 0x40 {
		t.Fatal("PPR")
	}
	a.Raise(0x42) // same class: waits
	expect(t, a, 0, -1)
	a.Raise(0x61)
	take(t, a, 0, 0x61)
	a.Raise(0x55) // below the in-service class 6
	expect(t, a, 0, -1)
	if rdmsr(t, a, IA32_X2APIC_ISR0+2, 0) != 1<<1|1<<(0x41-0x40) ||
		rdmsr(t, a, IA32_X2APIC_ISR0+3, 0) != 1<<1 {
		t.Fatal("ISR")
	}
	if rdmsr(t, a, IA32_X2APIC_IRR0+2, 0) != 1<<0x15|1<<2 {
		t.Fatalf("IRR2 %#x", rdmsr(t, a, IA32_X2APIC_IRR0+2, 0))
	}
	eoi(t, a) // retires 0x61
	take(t, a, 0, 0x55)
	eoi(t, a) // retires 0x55
	expect(t, a, 0, -1)
	eoi(t, a) // retires 0x41
	take(t, a, 0, 0x42)
	eoi(t, a)
	eoi(t, a) // nothing in service
	if rdmsr(t, a, IA32_X2APIC_PPR, 0) != 0 {
		t.Fatal("PPR after EOIs")
	}
	if s := a.Stats(); s.EOIs != 4 || s.SpuriousEOIs != 1 || s.Accepted != 4 {
		t.Fatalf("stats %+v", s)
	}
	// Accepting what is not pending is counted and ignored.
	a.Accept(0x99)
	if s := a.Stats(); s.BadAccepts != 1 || rdmsr(t, a, IA32_X2APIC_ISR0+4, 0) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTPRMasking(t *testing.T) {
	a := newOn(t, 0)
	wrmsr(t, a, IA32_X2APIC_TPR, 0x5f, 0)
	if rdmsr(t, a, IA32_X2APIC_PPR, 0) != 0x5f {
		t.Fatal("PPR follows TPR")
	}
	a.Raise(0x5e)
	expect(t, a, 0, -1)
	a.Raise(0x61)
	take(t, a, 0, 0x61)
	// In service 0x61 outranks TPR: PPR is its class.
	if rdmsr(t, a, IA32_X2APIC_PPR, 0) != 0x60 {
		t.Fatalf("PPR %#x", rdmsr(t, a, IA32_X2APIC_PPR, 0))
	}
	wrmsr(t, a, IA32_X2APIC_TPR, 0x70, 0)
	if rdmsr(t, a, IA32_X2APIC_PPR, 0) != 0x70 {
		t.Fatal("PPR = TPR above ISR")
	}
	eoi(t, a)
	wrmsr(t, a, IA32_X2APIC_TPR, 0x40, 0)
	take(t, a, 0, 0x5e)
	eoi(t, a)
	wrmsr(t, a, IA32_X2APIC_TPR, 0, 0)
	expect(t, a, 0, -1)
}

func TestSelfIPI(t *testing.T) {
	a := newOn(t, 7)
	wrmsr(t, a, IA32_X2APIC_SELF_IPI, 0x80, 0)
	take(t, a, 0, 0x80)
	eoi(t, a)
	// ICR: shorthand self, and physical destination = own ID.
	wrmsr(t, a, IA32_X2APIC_ICR, SH_SELF<<ICR_SHORTHAND_SHIFT|0x81, 0)
	take(t, a, 0, 0x81)
	eoi(t, a)
	wrmsr(t, a, IA32_X2APIC_ICR, 7<<ICR_DEST_SHIFT|0x82, 0)
	if rdmsr(t, a, IA32_X2APIC_ICR, 0) != 7<<32|0x82 {
		t.Fatal("ICR read back")
	}
	take(t, a, 0, 0x82)
	eoi(t, a)
	// Everything else is dropped.
	for _, icr := range []uint64{
		8<<ICR_DEST_SHIFT | 0x83,                                 // another CPU
		7<<ICR_DEST_SHIFT | 1<<ICR_DEST_MODE | 0x83,              // logical
		SH_ALL_EXCL_SELF<<ICR_SHORTHAND_SHIFT | 0x83,             // all but self
		SH_ALL_INCL_SELF<<ICR_SHORTHAND_SHIFT | 0x83,             // broadcast
		SH_SELF<<ICR_SHORTHAND_SHIFT | 4<<ICR_DELIVERY_SHIFT,     // NMI
		7<<ICR_DEST_SHIFT | 5<<ICR_DELIVERY_SHIFT | 1<<ICR_LEVEL, // INIT
		7<<ICR_DEST_SHIFT | 6<<ICR_DELIVERY_SHIFT | 0x10,         // SIPI
	} {
		wrmsr(t, a, IA32_X2APIC_ICR, icr, 0)
	}
	expect(t, a, 0, -1)
	if s := a.Stats(); s.SelfIPIs != 3 || s.Dropped != 7 || s.IllegalVectors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestIllegalVector(t *testing.T) {
	a := newOn(t, 0)
	esr := func() uint64 {
		wrmsr(t, a, IA32_X2APIC_ESR, 0, 0)
		return rdmsr(t, a, IA32_X2APIC_ESR, 0)
	}
	// Masked vector 0 (the reset value, which guests write back) is fine.
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 1<<LVT_MASKED, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_LINT0, 7<<LVT_DELIVERY_SHIFT, 0) // ExtINT, not fixed
	if esr() != 0 {
		t.Fatal("ESR after legal writes")
	}
	wrmsr(t, a, IA32_X2APIC_LVT_ERROR, 0xfe, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0x05, 0)
	if got := esr(); got != 1<<ESR_RECV_ILLEGAL_VECTOR {
		t.Fatalf("ESR %#x after LVT vector 5", got)
	}
	if esr() != 0 {
		t.Fatal("ESR not cleared by the second write")
	}
	// The error interrupt was raised.
	take(t, a, 0, 0xfe)
	eoi(t, a)
	// The timer firing with vector 5 delivers nothing but logs again.
	wrmsr(t, a, IA32_X2APIC_DIV_CONF, divideBy1, 0)
	wrmsr(t, a, IA32_X2APIC_INIT_COUNT, 10, 0)
	expect(t, a, 100, 0xfe)
	a.Accept(0xfe)
	eoi(t, a)
	if got := esr(); got != 1<<ESR_RECV_ILLEGAL_VECTOR {
		t.Fatalf("ESR %#x after the timer fired", got)
	}
	wrmsr(t, a, IA32_X2APIC_LVT_ERROR, 1<<LVT_MASKED|0xfe, 0)
	wrmsr(t, a, IA32_X2APIC_SELF_IPI, 3, 0)
	if got := esr(); got != 1<<ESR_SEND_ILLEGAL_VECTOR|1<<ESR_RECV_ILLEGAL_VECTOR {
		t.Fatalf("ESR %#x after SELF IPI 3", got)
	}
	wrmsr(t, a, IA32_X2APIC_ICR, 9<<ICR_DEST_SHIFT|0x0f, 0)
	if got := esr(); got != 1<<ESR_SEND_ILLEGAL_VECTOR {
		t.Fatalf("ESR %#x after IPI vector 15 to another CPU", got)
	}
	expect(t, a, 0, -1)
	for i := uint32(0); i < 8; i++ {
		if rdmsr(t, a, IA32_X2APIC_IRR0+i, 0) != 0 {
			t.Fatalf("IRR%d set", i)
		}
	}
	// Raise of a vector below 16 is ignored.
	a.Raise(15)
	expect(t, a, 0, -1)
	if s := a.Stats(); s.IllegalVectors != 4 || s.Ignored != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReservedAccesses(t *testing.T) {
	a := newOn(t, 0)
	wrmsr(t, a, IA32_X2APIC_TPR, 0x20, 0)
	for _, msr := range []uint32{
		0x800, 0x801, 0x804, 0x807, 0x809, 0x80c, 0x80e, 0x829, 0x82e, 0x831,
		0x83a, 0x83d, 0x840, 0x8ff, 0x1a, 0x7ff, 0x900, 0xc000_0080,
	} {
		if _, err := a.ReadMSR(msr, 0); !errors.Is(err, ErrReservedMSR) {
			t.Errorf("rdmsr %#x: %v", msr, err)
		}
		if err := a.WriteMSR(msr, 0, 0); !errors.Is(err, ErrReservedMSR) {
			t.Errorf("wrmsr %#x: %v", msr, err)
		}
	}
	for _, msr := range []uint32{
		IA32_X2APIC_APICID, IA32_X2APIC_VERSION, IA32_X2APIC_PPR, IA32_X2APIC_LDR,
		IA32_X2APIC_ISR0, IA32_X2APIC_ISR0 + 7, IA32_X2APIC_TMR0 + 3, IA32_X2APIC_IRR0,
		IA32_X2APIC_IRR0 + 7, IA32_X2APIC_CUR_COUNT,
	} {
		if err := a.WriteMSR(msr, 0, 0); !errors.Is(err, ErrReadOnly) {
			t.Errorf("wrmsr %#x: %v", msr, err)
		}
	}
	for _, msr := range []uint32{IA32_X2APIC_EOI, IA32_X2APIC_SELF_IPI} {
		if _, err := a.ReadMSR(msr, 0); !errors.Is(err, ErrWriteOnly) {
			t.Errorf("rdmsr %#x: %v", msr, err)
		}
	}
	for _, w := range []struct {
		msr uint32
		val uint64
	}{
		{IA32_X2APIC_TPR, 0x100},
		{IA32_X2APIC_TPR, 1 << 32},
		{IA32_X2APIC_EOI, 1},
		{IA32_X2APIC_ESR, 1},
		{IA32_X2APIC_SIVR, 1 << 12}, // EOI-broadcast suppression: not offered
		{IA32_X2APIC_SIVR, 1 << 40},
		{IA32_X2APIC_LVT_TIMER, 1 << 19},
		{IA32_X2APIC_LVT_TIMER, 3 << LVT_TIMER_MODE_SHIFT}, // reserved timer mode
		{IA32_X2APIC_LVT_TIMER, 1 << 8},                    // no delivery mode in the timer entry
		{IA32_X2APIC_LVT_ERROR, 1 << 13},
		{IA32_X2APIC_LVT_LINT0, 1 << 17},
		{IA32_X2APIC_LVT_CMCI, 1 << 15},
		{IA32_X2APIC_LVT_PMI, 1 << 32},
		{IA32_X2APIC_ICR, 1 << 12},
		{IA32_X2APIC_ICR, 1 << 16},
		{IA32_X2APIC_ICR, 1 << 31},
		{IA32_X2APIC_INIT_COUNT, 1 << 32},
		{IA32_X2APIC_DIV_CONF, 1 << 2},
		{IA32_X2APIC_DIV_CONF, 0x10},
		{IA32_X2APIC_SELF_IPI, 0x100},
	} {
		if err := a.WriteMSR(w.msr, w.val, 0); !errors.Is(err, ErrReservedBits) {
			t.Errorf("wrmsr %#x=%#x: %v", w.msr, w.val, err)
		}
	}
	// Failed writes changed nothing.
	if rdmsr(t, a, IA32_X2APIC_TPR, 0) != 0x20 || rdmsr(t, a, IA32_X2APIC_SIVR, 0) != svrOn ||
		rdmsr(t, a, IA32_X2APIC_LVT_TIMER, 0) != 1<<LVT_MASKED || rdmsr(t, a, IA32_X2APIC_ICR, 0) != 0 {
		t.Fatal("a refused write took effect")
	}
	// Read-only LVT bits carried by a read-modify-write are ignored.
	wrmsr(t, a, IA32_X2APIC_LVT_LINT1, 1<<LVT_REMOTE_IRR|1<<LVT_DELIVERY_STATUS|4<<LVT_DELIVERY_SHIFT, 0)
	if rdmsr(t, a, IA32_X2APIC_LVT_LINT1, 0) != 4<<LVT_DELIVERY_SHIFT {
		t.Fatal("LINT1")
	}
	if s := a.Stats(); s.GPs != 18*2+10+2+20 {
		t.Fatalf("GPs %d", s.GPs)
	}
}

func TestAPICBase(t *testing.T) {
	const (
		en   = 1 << APIC_BASE_EN
		extd = 1 << APIC_BASE_EXTD
		bsp  = 1 << APIC_BASE_BSP
	)
	a := newOn(t, 0)
	wrmsr(t, a, IA32_X2APIC_TPR, 0x30, 0)
	a.Raise(0x50)
	// Rewriting the current value (BSP included or not) is a no-op.
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase|en|extd|bsp, 0)
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase|en|extd, 0)
	if rdmsr(t, a, IA32_APIC_BASE, 0) != DefaultBase|en|extd|bsp || rdmsr(t, a, IA32_X2APIC_TPR, 0) != 0x30 {
		t.Fatal("no-op write")
	}
	for _, v := range []uint64{
		DefaultBase | en,        // x2APIC -> xAPIC
		DefaultBase | extd,      // invalid state
		0xfec0_0000 | en | extd, // relocation
		DefaultBase | en | extd | 1<<9,
		DefaultBase | en | extd | 1<<52,
		DefaultBase | en | extd | 1,
	} {
		if err := a.WriteMSR(IA32_APIC_BASE, v, 0); !errors.Is(err, ErrTransition) && !errors.Is(err, ErrReservedBits) {
			t.Errorf("wrmsr IA32_APIC_BASE=%#x: %v", v, err)
		}
	}
	// Disable: registers reset, x2APIC MSRs #GP, interrupts ignored.
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase, 0)
	if rdmsr(t, a, IA32_APIC_BASE, 0) != DefaultBase|bsp {
		t.Fatal("disabled")
	}
	if _, err := a.ReadMSR(IA32_X2APIC_TPR, 0); !errors.Is(err, ErrNotX2APIC) {
		t.Fatalf("TPR while disabled: %v", err)
	}
	a.Raise(0x60)
	expect(t, a, 0, -1)
	// Disabled -> x2APIC directly is invalid; through xAPIC it works.
	if err := a.WriteMSR(IA32_APIC_BASE, DefaultBase|en|extd, 0); !errors.Is(err, ErrTransition) {
		t.Fatalf("disabled -> x2APIC: %v", err)
	}
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase|en, 0)
	for _, msr := range []uint32{IA32_X2APIC_APICID, IA32_X2APIC_EOI, 0x8ff} {
		if err := a.WriteMSR(msr, 0, 0); !errors.Is(err, ErrNotX2APIC) {
			t.Fatalf("wrmsr %#x in xAPIC mode: %v", msr, err)
		}
	}
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase|en|extd, 0)
	if rdmsr(t, a, IA32_X2APIC_TPR, 0) != 0 || rdmsr(t, a, IA32_X2APIC_SIVR, 0) != 0xff ||
		rdmsr(t, a, IA32_X2APIC_IRR0+2, 0) != 0 {
		t.Fatal("registers survived disabling")
	}
	// xAPIC -> disabled is fine too.
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase, 0)
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase|en, 0)
	wrmsr(t, a, IA32_APIC_BASE, DefaultBase, 0)
	// Reset returns to x2APIC mode.
	a.Reset()
	if rdmsr(t, a, IA32_APIC_BASE, 0) != DefaultBase|en|extd|bsp {
		t.Fatal("Reset")
	}
}

func TestSoftwareDisable(t *testing.T) {
	a := newOn(t, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0x30, 0)
	wrmsr(t, a, IA32_X2APIC_LVT_LINT0, 0x31, 0)
	a.Raise(0x40)
	wrmsr(t, a, IA32_X2APIC_SIVR, 0xff, 0)
	// Every LVT entry is masked and stays masked.
	if rdmsr(t, a, IA32_X2APIC_LVT_TIMER, 0) != 1<<LVT_MASKED|0x30 ||
		rdmsr(t, a, IA32_X2APIC_LVT_LINT0, 0) != 1<<LVT_MASKED|0x31 {
		t.Fatal("LVT not masked")
	}
	wrmsr(t, a, IA32_X2APIC_LVT_TIMER, 0x32, 0)
	if rdmsr(t, a, IA32_X2APIC_LVT_TIMER, 0) != 1<<LVT_MASKED|0x32 {
		t.Fatal("LVT unmasked while software-disabled")
	}
	// IRR is held, nothing is delivered or accepted.
	expect(t, a, 0, -1)
	a.Raise(0x41)
	wrmsr(t, a, IA32_X2APIC_SELF_IPI, 0x42, 0)
	if rdmsr(t, a, IA32_X2APIC_IRR0+2, 0) != 1 {
		t.Fatalf("IRR2 %#x", rdmsr(t, a, IA32_X2APIC_IRR0+2, 0))
	}
	wrmsr(t, a, IA32_X2APIC_SIVR, svrOn, 0)
	take(t, a, 0, 0x40)
	if s := a.Stats(); s.Ignored != 2 || s.SelfIPIs != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestIRQLine(t *testing.T) {
	a := newOn(t, 0)
	l := a.IRQLine(4) // COM1
	l.SetLevel(true)
	l.SetLevel(true) // still high: no second edge
	take(t, a, 0, 0x24)
	eoi(t, a)
	expect(t, a, 0, -1)
	l.SetLevel(false)
	l.SetLevel(true)
	take(t, a, 0, 0x24)
	if s := a.Stats(); s.Raised != 2 {
		t.Fatalf("stats %+v", s)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("IRQLine(224) did not panic")
		}
	}()
	a.IRQLine(0xe0)
}

// TestConcurrentLines drives a line from another goroutine while the
// vCPU side injects and retires (meaningful under -race).
func TestConcurrentLines(t *testing.T) {
	a := newOn(t, 0)
	l := a.IRQLine(3)
	const edges = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < edges; i++ {
			l.SetLevel(true)
			l.SetLevel(false)
		}
	}()
	taken := 0
	for done := false; !done; {
		if v, ok := a.Pending(0); ok {
			a.Accept(v)
			wrmsr(t, a, IA32_X2APIC_EOI, 0, 0)
			taken++
		}
		done = a.Stats().Raised == edges
	}
	wg.Wait()
	if v, ok := a.Pending(0); ok {
		a.Accept(v)
		taken++
	}
	if taken == 0 || taken > edges {
		t.Fatalf("took %d of %d edges", taken, edges)
	}
}
