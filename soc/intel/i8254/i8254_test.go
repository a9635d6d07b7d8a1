// soc/intel/i8254: Intel 8254 PIT driver for TSC calibration.
// SPDX-License-Identifier: BSD-3-Clause

package i8254

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/soc/reg"
)

// ports maps a Bus8 at base onto one Fake addressed by I/O port number,
// so the test sees the PIT and port 0x61 accesses in a single ordered log.
type ports struct {
	f    *reg.Fake
	base uint32
}

func (p ports) Read8(off uint32) uint8       { return p.f.Read8(p.base + off) }
func (p ports) Write8(off uint32, val uint8) { p.f.Write8(p.base+off, val) }

func w8(port uint32, val uint64) reg.Access {
	return reg.Access{Write: true, Off: port, Width: 8, Val: val}
}

func r8(port uint32, val uint64) reg.Access {
	return reg.Access{Off: port, Width: 8, Val: val}
}

// machine is a fake PC: OUT2 rises after `after` reads of port 0x61
// made with the gate open.
func machine(after int) (*PIT, *reg.Fake) {
	f := reg.NewFake()
	f.Poke(0x61, 0x1f) // firmware: gate and speaker on, NMIs masked, refresh toggle
	reads := 0
	f.OnRead[0x61] = func(f *reg.Fake, off uint32) uint64 {
		v := f.Regs[off]
		if v&(1<<NMI_SC_TIM_CNT2_EN) != 0 {
			reads++
			if after >= 0 && reads >= after {
				v |= 1 << NMI_SC_TMR2_OUT_STS
			}
		}
		return v
	}
	f.OnWrite[0x61] = func(f *reg.Fake, off uint32, val uint64) {
		reads = 0
		f.Regs[off] = val & nmiSCWritable
	}
	return &PIT{Regs: ports{f, 0x40}, Ctrl: ports{f, 0x61}}, f
}

// tsc returns a counter that advances by step on each call and records
// where in the port log it was read.
func tsc(f *reg.Fake, step uint64, at *[]int) func() uint64 {
	v := uint64(1_000_000)
	return func() uint64 {
		*at = append(*at, len(f.Log))
		v += step
		return v
	}
}

func TestCalibrate(t *testing.T) {
	p, f := machine(5)
	// A 2.4 GHz TSC over count = 11931 PIT ticks (ms=10):
	// 2.4e9 * 11931 / 1193182 = 23998355.6 counts.
	const step = 23_998_356
	var at []int
	hz, err := p.Calibrate(tsc(f, step, &at), 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(step) * Hz / 11931; hz != want {
		t.Errorf("hz = %d, want %d", hz, want)
	}
	if d := int64(hz) - 2_400_000_000; d < -2400 || d > 2400 {
		t.Errorf("hz = %d, more than 1 ppm from 2.4 GHz", hz)
	}

	want := []reg.Access{
		r8(0x61, 0x1f), // firmware state
		w8(0x61, 0x0c), // gate off, speaker off, NMI bits kept
		w8(0x43, 0xb0), // counter 2, LSB then MSB, mode 0, binary
		w8(0x42, 0x9b), // count 11931 = 0x2e9b, LSB
		w8(0x42, 0x2e), // MSB
		w8(0x61, 0x0d), // gate on
		r8(0x61, 0x0d), // OUT2 low
		r8(0x61, 0x0d),
		r8(0x61, 0x0d),
		r8(0x61, 0x0d),
		r8(0x61, 0x2d), // OUT2 high
	}
	if !slices.Equal(f.Log, want) {
		t.Errorf("port accesses:\n got  %v\n want %v", f.Log, want)
	}
	// counter is read right after the gate opens and right after OUT2.
	if !slices.Equal(at, []int{6, 11}) {
		t.Errorf("counter read at log positions %v, want [6 11]", at)
	}
}

func TestCalibrateLongestInterval(t *testing.T) {
	p, f := machine(1)
	var at []int
	hz, err := p.Calibrate(tsc(f, 64431, &at), MaxCalibrationMs) // 1 count per PIT tick
	if err != nil || hz != Hz {
		t.Errorf("Calibrate(54 ms) = %d, %v; want %d", hz, err, Hz)
	}
	w := f.Writes()
	if len(w) < 4 || w[2].Val != 0xaf || w[3].Val != 0xfb { // 64431 = 0xfbaf
		t.Errorf("writes %v, want count 0xfbaf", w)
	}
}

func TestCalibrateBadInterval(t *testing.T) {
	for _, ms := range []uint32{0, 55, 1000} {
		p, f := machine(1)
		_, err := p.Calibrate(func() uint64 { t.Fatal("counter read"); return 0 }, ms)
		if !errors.Is(err, ErrInterval) {
			t.Errorf("Calibrate(%d ms) err = %v, want ErrInterval", ms, err)
		}
		if len(f.Log) != 0 {
			t.Errorf("Calibrate(%d ms) touched ports: %v", ms, f.Log)
		}
	}
}

func TestCalibrateOUT2NeverRises(t *testing.T) {
	old := readsPerMs
	readsPerMs = 100
	t.Cleanup(func() { readsPerMs = old })

	p, f := machine(-1)
	var at []int
	_, err := p.Calibrate(tsc(f, 1000, &at), 1)
	if !errors.Is(err, ErrNoOUT2) || !strings.Contains(err.Error(), "port 0x61=0xd") {
		t.Fatalf("err = %v, want ErrNoOUT2 with port 0x61=0xd", err)
	}
	if !strings.HasPrefix(err.Error(), "pit: OUT2 never rose") {
		t.Errorf("message %q", err)
	}
	if n := len(f.Log); n != 6+200 {
		t.Errorf("%d port accesses, want 6 + (1+1)*100 polls", n)
	}
}

func TestCalibrateCounterStuck(t *testing.T) {
	p, _ := machine(2)
	if _, err := p.Calibrate(func() uint64 { return 42 }, 10); !errors.Is(err, ErrCounter) {
		t.Errorf("stuck counter: err = %v, want ErrCounter", err)
	}
	p, _ = machine(2)
	n := uint64(0)
	huge := func() uint64 { n += 1 << 62; return n }
	if _, err := p.Calibrate(huge, 1); !errors.Is(err, ErrCounter) {
		t.Errorf("overflowing counter: err = %v, want ErrCounter", err)
	}
}
