// soc/intel/uart16550: NS16550A / PC16550D UART driver.
// SPDX-License-Identifier: BSD-3-Clause

package uart16550

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

func TestInitSequence(t *testing.T) {
	for _, tc := range []struct {
		baud     uint32
		dll, dlm uint64
	}{
		{115200, 1, 0},
		{9600, 12, 0},
		{300, 0x80, 0x01}, // 384
	} {
		f := reg.NewFake()
		u := &UART{Regs: f}
		if err := u.Init(tc.baud); err != nil {
			t.Fatalf("Init(%d): %v", tc.baud, err)
		}
		checkLog(t, "Init writes", f.Log, []reg.Access{
			reg.W(8, IER, 0),
			reg.W(8, LCR, 0x80), // DLAB
			reg.W(8, DLL, tc.dll),
			reg.W(8, DLM, tc.dlm),
			reg.W(8, LCR, 0x03), // 8N1, DLAB off
			reg.W(8, FCR, 0xc7), // FIFOs on and cleared, trigger 14
			reg.W(8, MCR, 0x0b), // DTR | RTS | OUT2
		})
	}
}

func TestInitBadBaud(t *testing.T) {
	for _, baud := range []uint32{0, 1, 56000, 230400} {
		f := reg.NewFake()
		if err := (&UART{Regs: f}).Init(baud); !errors.Is(err, ErrBaud) {
			t.Errorf("Init(%d) = %v, want ErrBaud", baud, err)
		}
		if len(f.Log) != 0 {
			t.Errorf("Init(%d) touched registers: %v", baud, f.Log)
		}
	}
	if d, err := Divisor(2); d != 57600 || err != nil {
		t.Errorf("Divisor(2) = %d, %v", d, err)
	}
}

func TestTxWaitsForTHRE(t *testing.T) {
	f := reg.NewFake()
	busy := 2
	f.OnRead[LSR] = func(*reg.Fake, uint32) uint64 {
		if busy > 0 {
			busy--
			return 0
		}
		return 1<<LSR_THRE | 1<<LSR_TEMT
	}
	u := &UART{Regs: f}
	u.Tx('Z')
	checkLog(t, "Tx accesses", f.Log, []reg.Access{
		reg.R(8, LSR, 0), reg.R(8, LSR, 0), reg.R(8, LSR, 0x60), reg.W(8, THR, 'Z'),
	})
}

func TestTxTimeout(t *testing.T) {
	lowerSpin(t, 10)
	f := reg.NewFake() // LSR reads 0: THRE never set
	u := &UART{Regs: f}
	u.Tx('a')
	n, err := u.Write([]byte("bc"))
	if n != 0 || !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "LSR=0x0") {
		t.Errorf("Write = %d, %v; want 0, ErrTimeout with LSR=0x0", n, err)
	}
	if len(f.Writes()) != 0 || u.Dropped.Load() != 2 {
		t.Errorf("writes %v, Dropped %d; want none, 2", f.Writes(), u.Dropped.Load())
	}
}

func TestWriteRaw(t *testing.T) {
	f := reg.NewFake()
	f.Poke(LSR, 1<<LSR_THRE)
	u := &UART{Regs: f}
	if n, err := u.Write([]byte("o\nk")); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	checkLog(t, "Write writes", f.Writes(), []reg.Access{
		reg.W(8, THR, 'o'), reg.W(8, THR, '\n'), reg.W(8, THR, 'k'),
	})
}

func TestRx(t *testing.T) {
	f := reg.NewFake()
	u := &UART{Regs: f}
	f.Poke(LSR, 1<<LSR_THRE)
	if b, ok := u.Rx(); ok || b != 0 {
		t.Errorf("Rx with DR clear = %q, %v", b, ok)
	}
	checkLog(t, "empty Rx", f.Log, []reg.Access{reg.R(8, LSR, 0x20)})

	f.Poke(LSR, 1<<LSR_THRE|1<<LSR_DR)
	f.Poke(RBR, 'q')
	if b, ok := u.Rx(); !ok || b != 'q' || u.Errors.Load() != 0 {
		t.Errorf("Rx = %q, %v, Errors %d; want 'q', true, 0", b, ok, u.Errors.Load())
	}
	for i, bit := range []int{LSR_OE, LSR_PE, LSR_FE, LSR_BI} {
		f.Poke(LSR, 1<<LSR_DR|1<<bit)
		if b, ok := u.Rx(); !ok || b != 'q' {
			t.Errorf("Rx with LSR bit %d = %q, %v", bit, b, ok)
		}
		if e := u.Errors.Load(); e != uint64(i+1) {
			t.Errorf("Errors = %d after LSR bit %d, want %d", e, bit, i+1)
		}
	}
}
