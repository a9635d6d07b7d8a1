// soc/intel/i8254: Intel 8254 PIT driver for TSC calibration.
// SPDX-License-Identifier: BSD-3-Clause

// Package i8254 uses channel 2 of the PC's Intel 8254 Programmable
// Interval Timer as a known time base to measure the frequency of another
// counter, typically the TSC. It is used by board qemu-q35-amd64 (and
// Bochs), where the CPU's reported TSC frequency is missing or wrong
// under TCG, and is host-tested against reg.Fake.
//
// References: Intel 8254 Programmable Interval Timer datasheet (order
// number 231164), "Control Word Format" and "Mode 0: Interrupt on
// Terminal Count"; for I/O port 0x61, the NMI_SC (NMI Status and Control)
// register of the Intel I/O Controller Hub / PCH datasheets, the PC/AT
// "port B". On PCs channel 2's GATE input is NMI_SC bit 0 and its OUT
// output reads back as NMI_SC bit 5; channel 2 also drives the speaker,
// which stays off here.
//
// It is plain portable Go over reg.Bus8: the board passes reg.Port values
// on the target.
package i8254

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/tamavisor/tamavisor/soc/reg"
)

// Hz is the 8254's input clock on PCs: 14.31818 MHz / 12.
const Hz = 1193182

// Register offsets from I/O port 0x40 (8254 datasheet: A1,A0 select
// counter 0, 1, 2 or the control word register).
const (
	COUNTER0     = 0 // port 0x40
	COUNTER1     = 1 // port 0x41
	COUNTER2     = 2 // port 0x42
	CONTROL_WORD = 3 // port 0x43
)

// Control word fields (8254 datasheet, "Control Word Format").
const (
	CW_BCD      = 0 // 0: 16-bit binary counter, 1: BCD
	CW_M_SHIFT  = 1 // mode 0-5
	CW_M_MASK   = 0x7
	CW_RW_SHIFT = 4 // read/write: 01 LSB, 10 MSB, 11 LSB then MSB
	CW_RW_MASK  = 0x3
	CW_SC_SHIFT = 6 // select counter: 00, 01, 10, or 11 read-back
	CW_SC_MASK  = 0x3

	SC_COUNTER2 = 0b10
	RW_LSB_MSB  = 0b11
	MODE0       = 0b000 // interrupt on terminal count: OUT rises at 0

	// calibrateCW is 0b10110000: counter 2, LSB then MSB, mode 0, binary.
	calibrateCW = SC_COUNTER2<<CW_SC_SHIFT | RW_LSB_MSB<<CW_RW_SHIFT | MODE0<<CW_M_SHIFT
)

// NMI_SC, I/O port 0x61 (Ctrl offset 0). Bits 3:0 are read/write, bits
// 7:4 read-only status.
const (
	NMI_SC = 0

	NMI_SC_TIM_CNT2_EN   = 0 // timer counter 2 enable: channel 2 GATE
	NMI_SC_SPKR_DAT_EN   = 1 // speaker data enable
	NMI_SC_PCI_SERR_EN   = 2 // SERR# NMI control, preserved
	NMI_SC_IOCHK_NMI_EN  = 3 // IOCHK# NMI control, preserved
	NMI_SC_REF_TOGGLE    = 4 // refresh cycle toggle (read-only)
	NMI_SC_TMR2_OUT_STS  = 5 // channel 2 OUT (read-only)
	NMI_SC_IOCHK_NMI_STS = 6 // read-only
	NMI_SC_SERR_NMI_STS  = 7 // read-only

	nmiSCWritable = 0x0f
)

// MaxCalibrationMs is the longest interval Calibrate can time: the count
// Hz*ms/1000 must fit channel 2's 16-bit counter (65535 ticks = 54.9 ms).
const MaxCalibrationMs = 54

// Errors returned by Calibrate, wrapped with %w together with the values
// that explain them.
var (
	// ErrInterval means ms is 0 or above MaxCalibrationMs.
	ErrInterval = errors.New("pit: calibration interval out of range")
	// ErrNoOUT2 means channel 2's OUT never went high: no PIT, or
	// channel 2 not wired to port 0x61 as on a PC.
	ErrNoOUT2 = errors.New("pit: OUT2 never rose")
	// ErrCounter means the counter being calibrated did not advance, or
	// advanced so far that the frequency does not fit 64 bits.
	ErrCounter = errors.New("pit: implausible counter")
)

// readsPerMs bounds the wait for OUT2: Calibrate gives up after
// (ms+1)*readsPerMs reads of port 0x61, which is several times ms
// milliseconds even if a port read took only 4 ns (real ones take
// hundreds). Tests lower it.
var readsPerMs = 1 << 18

// PIT is the PC's 8254 together with the port that gates channel 2.
type PIT struct {
	// Regs holds the counters and control word: I/O ports 0x40-0x43
	// (reg.Port{Base: 0x40}).
	Regs reg.Bus8
	// Ctrl holds NMI_SC: I/O port 0x61 (reg.Port{Base: 0x61}).
	Ctrl reg.Bus8
}

// Calibrate measures the frequency of counter, in counts per second,
// against ms milliseconds of PIT channel 2 (1 <= ms <= MaxCalibrationMs).
// counter is typically the TSC (RDTSC); it must increase monotonically at
// a constant rate.
//
// It gates channel 2 off with the speaker disabled, programs it in mode 0
// (control word 0xb0) with count = Hz*ms/1000, reads counter, opens the
// gate, busy-waits (bounded) until OUT2 (NMI_SC bit 5) goes high, and
// reads counter again. It returns ticks*Hz/count rather than
// ticks*1000/ms because count is rounded down: the interval timed is
// exactly count/Hz seconds (for ms=1 that is 152 ppm shorter than 1 ms).
// The result is good to about one PIT period (838 ns) plus two port
// reads over the interval, so longer intervals are more accurate.
//
// Call it with interrupts masked: a handler running during the interval
// does not disturb the PIT, but does delay the final read of counter. It
// leaves the gate open and the speaker off.
func (p *PIT) Calibrate(counter func() uint64, ms uint32) (hz uint64, err error) {
	count := uint64(Hz) * uint64(ms) / 1000
	if count == 0 || count > 0xffff {
		return 0, fmt.Errorf("%w: %d ms is %d PIT ticks (1 to %d ms)",
			ErrInterval, ms, count, MaxCalibrationMs)
	}

	ctrl := p.Ctrl.Read8(NMI_SC) & nmiSCWritable &^ (1<<NMI_SC_TIM_CNT2_EN | 1<<NMI_SC_SPKR_DAT_EN)
	p.Ctrl.Write8(NMI_SC, ctrl) // gate off, speaker off
	p.Regs.Write8(CONTROL_WORD, calibrateCW)
	p.Regs.Write8(COUNTER2, uint8(count))
	p.Regs.Write8(COUNTER2, uint8(count>>8))

	// In mode 0 the counter counts only while GATE is high; OUT stays
	// low from the control word write until the count reaches zero.
	p.Ctrl.Write8(NMI_SC, ctrl|1<<NMI_SC_TIM_CNT2_EN)
	t0 := counter()
	tries := (int(ms) + 1) * readsPerMs
	var sc uint8
	for i := 0; ; i++ {
		if i == tries {
			return 0, fmt.Errorf("%w: port 0x61=%#x after %d reads", ErrNoOUT2, sc, tries)
		}
		if sc = p.Ctrl.Read8(NMI_SC); sc&(1<<NMI_SC_TMR2_OUT_STS) != 0 {
			break
		}
	}
	t1 := counter()

	if t1 <= t0 {
		return 0, fmt.Errorf("%w: %#x then %#x over %d PIT ticks", ErrCounter, t0, t1, count)
	}
	hi, lo := bits.Mul64(t1-t0, Hz)
	if hi >= count {
		return 0, fmt.Errorf("%w: %d counts over %d PIT ticks", ErrCounter, t1-t0, count)
	}
	hz, _ = bits.Div64(hi, lo, count)
	return hz, nil
}
