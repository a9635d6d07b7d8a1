// hv/vdev/x2apic: an emulated local APIC in x2APIC mode for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

package x2apic

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// fuzzBaseValues are IA32_APIC_BASE values worth trying: every mode,
// with and without BSP, and two refused ones.
var fuzzBaseValues = [8]uint64{
	DefaultBase, DefaultBase | 1<<11, DefaultBase | 1<<11 | 1<<10, DefaultBase | 1<<10,
	DefaultBase | 1<<11 | 1<<10 | 1<<8, DefaultBase | 1<<8, 0xfec0_0c00, DefaultBase | 1<<11 | 1<<9,
}

// fuzzMSR maps a selector byte to an MSR: 0x00-0x3f are 0x800-0x83f
// (every defined x2APIC register and the holes between them), 0x40-0x47
// IA32_APIC_BASE, the rest 0x800+b (reserved) or, for 0xf0 and up, MSRs
// outside the APIC.
func fuzzMSR(b byte) uint32 {
	switch {
	case b < 0x40:
		return X2APIC_MSR_FIRST + uint32(b)
	case b < 0x48:
		return IA32_APIC_BASE
	case b < 0xf0:
		return X2APIC_MSR_FIRST + uint32(b)
	}
	return uint32(b) << 4
}

// FuzzAPIC guards Intel SDM Vol. 3A 11.12 (x2APIC MSR interface) and
// 11.8 (interrupt acceptance) as emulated: any sequence of MSR reads and
// writes, external interrupts, injections, EOIs, resets and clock steps
// (forwards, backwards, huge) never panics and never loops unboundedly
// (the run is bounded by the fuzzer's timeout), every error wraps one of
// the package sentinels, and after every step: IRR and ISR never hold a
// vector below 16, a vector Pending returns has its IRR bit set and a
// priority class above PPR's, and NextEvent is 0 exactly when the timer
// is stopped or masked.
//
// Encoding, per step: an op byte; its top three bits choose
// 0 RDMSR (selector byte, see fuzzMSR),
// 1 WRMSR (selector byte, then a value: op bit 0 set takes 8 bytes,
// clear takes 1 byte, or for IA32_APIC_BASE indexes fuzzBaseValues),
// 2 Raise (vector byte), 3 Accept (of Pending's vector when op bit 0 is
// set, else of a vector byte), 4 clock step (two bytes, little endian,
// shifted left by op&0x1f capped at 47: forwards when op&0x1f < 24,
// backwards otherwise), 5 Pending, 6 ISA line op&3 toggled, 7 Reset
// when op bit 0 is set, else an EOI write. Seeds: testdata/fuzz/FuzzAPIC.
func FuzzAPIC(f *testing.F) {
	f.Add([]byte{
		0x20, 0x0f, 0xff, // SVR = 0xff: software-disabled
		0x21, 0x0f, 0x00, 0x01, 0, 0, 0, 0, 0, 0, // SVR = 0x100
		0x20, 0x3e, 0x0b, // divide by 1
		0x20, 0x32, 0x30, // LVT timer vector 0x30, one-shot
		0x20, 0x38, 0x64, // initial count 100
		0x8a, 0x00, 0x01, // step 1024 ns
		0xa0, 0x61, // Pending, Accept it
		0xe0, // EOI
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		a := New(3, 1e9)
		lines := [4]struct {
			l    hv.IRQLine
			high bool
		}{}
		for i := range lines {
			lines[i].l = a.IRQLine(i)
		}
		now := int64(0)
		get := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		for steps := 0; len(data) > 0 && steps < 4096; steps++ {
			op := get()
			var err error
			switch op >> 5 {
			case 0:
				_, err = a.ReadMSR(fuzzMSR(get()), now)
			case 1:
				msr := fuzzMSR(get())
				var val uint64
				switch {
				case op&1 != 0:
					var b [8]byte
					for i := range b {
						b[i] = get()
					}
					val = binary.LittleEndian.Uint64(b[:])
				case msr == IA32_APIC_BASE:
					val = fuzzBaseValues[get()&7]
				default:
					val = uint64(get())
				}
				err = a.WriteMSR(msr, val, now)
			case 2:
				a.Raise(get())
			case 3:
				if op&1 != 0 {
					if v, ok := a.Pending(now); ok {
						a.Accept(v)
					}
				} else {
					a.Accept(get())
				}
			case 4:
				shift := op & 0x1f
				d := int64(uint64(get())|uint64(get())<<8) << min(shift, 47)
				if shift >= 24 {
					d = -d
				}
				now += d // may wrap: the APIC must cope with any clock
			case 5:
				a.Pending(now)
			case 6:
				i := op & 3
				lines[i].high = !lines[i].high
				lines[i].l.SetLevel(lines[i].high)
			case 7:
				if op&1 != 0 {
					a.Reset()
				} else {
					err = a.WriteMSR(IA32_X2APIC_EOI, 0, now)
				}
			}
			if err != nil && !isSentinel(err) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			checkAPIC(t, a, now)
		}
	})
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrReservedMSR, ErrNotX2APIC, ErrReadOnly, ErrWriteOnly, ErrReservedBits, ErrTransition} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// checkAPIC checks the invariants listed on FuzzAPIC.
func checkAPIC(t *testing.T, a *APIC, now int64) {
	t.Helper()
	v, ok := a.Pending(now)
	ev := a.NextEvent()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.irr[0]&0xffff != 0 || a.isr[0]&0xffff != 0 {
		t.Fatalf("vector below 16: IRR0 %#x ISR0 %#x", a.irr[0], a.isr[0])
	}
	if ok {
		if !testVec(&a.irr, v) {
			t.Fatalf("Pending %#x not in IRR", v)
		}
		if uint32(v)>>4 <= a.ppr()>>4 || v < FirstValidVector {
			t.Fatalf("Pending %#x with PPR %#x", v, a.ppr())
		}
	}
	stopped := !a.armed || a.lvt[lvtTimer].Masked()
	if stopped && ev != 0 || !stopped && ev != a.deadline {
		t.Fatalf("NextEvent %d, armed %v deadline %d, LVT timer %#x", ev, a.armed, a.deadline, a.lvt[lvtTimer])
	}
	if a.armed && a.timerMode() == TIMER_TSC_DEADLINE {
		t.Fatal("armed in TSC-deadline mode")
	}
	// Pending ran at now: an armed timer's deadline is in the future.
	if a.armed && a.deadline <= now {
		t.Fatalf("deadline %d not after now %d", a.deadline, now)
	}
	if c := a.currentCount(now); c > a.initial {
		t.Fatalf("current count %d > initial %d", c, a.initial)
	}
}
