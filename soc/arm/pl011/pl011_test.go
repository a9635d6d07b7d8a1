// soc/arm/pl011: ARM PrimeCell PL011 UART driver.
// SPDX-License-Identifier: BSD-3-Clause

package pl011

import (
	"errors"
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

func TestDivisor(t *testing.T) {
	for _, tc := range []struct {
		clock, baud uint32
		ibrd, fbrd  uint32
	}{
		{24_000_000, 115200, 13, 1}, // 13.0208: fraction .0208*64+.5 = 1
		{48_000_000, 115200, 26, 3},
		{4_000_000, 230400, 1, 5},   // worked example of DDI 0183G §3.3.6
		{1_048_560, 1, 0xffff, 0},   // largest divisor
		{16 * 115200, 115200, 1, 0}, // smallest divisor
	} {
		ibrd, fbrd, err := Divisor(tc.clock, tc.baud)
		if err != nil || ibrd != tc.ibrd || fbrd != tc.fbrd {
			t.Errorf("Divisor(%d, %d) = %d, %d, %v; want %d, %d",
				tc.clock, tc.baud, ibrd, fbrd, err, tc.ibrd, tc.fbrd)
		}
	}
	for _, tc := range []struct{ clock, baud uint32 }{
		{24_000_000, 0},
		{0, 115200},
		{24_000_000, 3_000_000}, // divisor 0.5
		{1_048_600, 1},          // divisor above 65535
	} {
		if _, _, err := Divisor(tc.clock, tc.baud); !errors.Is(err, ErrBaud) {
			t.Errorf("Divisor(%d, %d) err = %v, want ErrBaud", tc.clock, tc.baud, err)
		}
	}
}

func TestInitSequence(t *testing.T) {
	f := reg.NewFake()
	f.Poke(UARTLCR_H, 0x70) // firmware left 8N1 with FIFOs on
	u := &UART{Regs: f, ClockHz: 24_000_000}
	if err := u.Init(115200); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "Init accesses", f.Log, []reg.Access{
		reg.W(32, UARTCR, 0),       // disable
		reg.R(32, UARTFR, 0),       // BUSY clear
		reg.R(32, UARTLCR_H, 0x70), // flush: clear FEN...
		reg.W(32, UARTLCR_H, 0x60), // ...read-modify-write
		reg.W(32, UARTIBRD, 13),    // 24 MHz / (16 * 115200) = 13.0208:
		reg.W(32, UARTFBRD, 1),     // IBRD 13, FBRD int(.0208*64+.5) = 1
		reg.W(32, UARTLCR_H, 0x70), // WLEN=8, FEN; latches IBRD/FBRD
		reg.W(32, UARTIMSC, 0),     // mask all interrupts
		reg.W(32, UARTICR, 0x7ff),  // clear them
		reg.W(32, UARTCR, 0x301),   // UARTEN | TXE | RXE
	})
}

func TestInitWithoutClock(t *testing.T) {
	f := reg.NewFake()
	u := &UART{Regs: f} // QEMU: divisor ignored
	if err := u.Init(0); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "Init writes", f.Writes(), []reg.Access{
		reg.W(32, UARTCR, 0),
		reg.W(32, UARTLCR_H, 0),
		reg.W(32, UARTLCR_H, 0x70),
		reg.W(32, UARTIMSC, 0),
		reg.W(32, UARTICR, 0x7ff),
		reg.W(32, UARTCR, 0x301),
	})
}

func TestInitBusyTimeout(t *testing.T) {
	lowerSpin(t, 64)
	f := reg.NewFake()
	f.Poke(UARTFR, 1<<FR_BUSY|1<<FR_RXFE)
	u := &UART{Regs: f, ClockHz: 24_000_000}
	err := u.Init(115200)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "UARTFR=0x18") {
		t.Fatalf("Init err = %v, want ErrTimeout with UARTFR=0x18", err)
	}
	// The UART is left disabled and nothing else is programmed.
	checkLog(t, "writes", f.Writes(), []reg.Access{reg.W(32, UARTCR, 0)})
	if n := len(f.Log); n != 1+64+1 {
		t.Errorf("%d accesses, want the write, 64 polls and one read for the message", n)
	}
}

func TestInitBadBaudWritesNothing(t *testing.T) {
	f := reg.NewFake()
	u := &UART{Regs: f, ClockHz: 24_000_000}
	if err := u.Init(0); !errors.Is(err, ErrBaud) {
		t.Fatalf("Init(0) err = %v, want ErrBaud", err)
	}
	if len(f.Log) != 0 {
		t.Errorf("accesses on bad baud: %v", f.Log)
	}
}

func TestTxWaitsWhileFull(t *testing.T) {
	f := reg.NewFake()
	full := 3
	f.OnRead[UARTFR] = func(*reg.Fake, uint32) uint64 {
		if full > 0 {
			full--
			return 1 << FR_TXFF
		}
		return 1 << FR_TXFE
	}
	u := &UART{Regs: f}
	u.Tx('A')
	checkLog(t, "Tx accesses", f.Log, []reg.Access{
		reg.R(32, UARTFR, 0x20), reg.R(32, UARTFR, 0x20), reg.R(32, UARTFR, 0x20),
		reg.R(32, UARTFR, 0x80),
		reg.W(32, UARTDR, 'A'),
	})
	if d := u.Dropped.Load(); d != 0 {
		t.Errorf("Dropped = %d", d)
	}
}

func TestTxDropsWhenStuck(t *testing.T) {
	lowerSpin(t, 16)
	f := reg.NewFake()
	f.Poke(UARTFR, 1<<FR_TXFF)
	u := &UART{Regs: f}
	u.Tx('A')
	if len(f.Writes()) != 0 || len(f.Log) != 16 {
		t.Errorf("stuck Tx: %d accesses, writes %v", len(f.Log), f.Writes())
	}
	n, err := u.Write([]byte("bc"))
	if n != 0 || !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "UARTFR=0x20") {
		t.Errorf("Write = %d, %v; want 0, ErrTimeout with UARTFR=0x20", n, err)
	}
	if d := u.Dropped.Load(); d != 2 {
		t.Errorf("Dropped = %d, want 2 (Write stops at the first)", d)
	}
}

func TestWriteRaw(t *testing.T) {
	f := reg.NewFake()
	u := &UART{Regs: f}
	n, err := u.Write([]byte("a\nb"))
	if n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	checkLog(t, "Write writes", f.Writes(), []reg.Access{
		reg.W(32, UARTDR, 'a'), reg.W(32, UARTDR, '\n'), reg.W(32, UARTDR, 'b'),
	})
}

func TestRx(t *testing.T) {
	f := reg.NewFake()
	u := &UART{Regs: f}

	f.Poke(UARTFR, 1<<FR_RXFE)
	if b, ok := u.Rx(); ok || b != 0 {
		t.Errorf("Rx on empty FIFO = %q, %v", b, ok)
	}
	checkLog(t, "empty Rx", f.Log, []reg.Access{reg.R(32, UARTFR, 0x10)})

	f.Poke(UARTFR, 0)
	f.Poke(UARTDR, 'x')
	if b, ok := u.Rx(); !ok || b != 'x' {
		t.Errorf("Rx = %q, %v; want 'x', true", b, ok)
	}
	if e := u.Errors.Load(); e != 0 {
		t.Errorf("Errors = %d after a clean byte", e)
	}

	for i, bit := range []int{DR_FE, DR_PE, DR_BE, DR_OE} {
		f.Poke(UARTDR, 1<<bit|'y')
		if b, ok := u.Rx(); !ok || b != 'y' {
			t.Errorf("Rx with DR bit %d = %q, %v; want 'y', true", bit, b, ok)
		}
		if e := u.Errors.Load(); e != uint64(i+1) {
			t.Errorf("Errors = %d after DR bit %d, want %d", e, bit, i+1)
		}
	}
}
