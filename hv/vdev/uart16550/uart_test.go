// hv/vdev/uart16550: an emulated 16550A UART for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

package uart16550

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
	hw "github.com/tamavisor/tamavisor/soc/intel/uart16550"
)

// line is a fake hv.IRQLine that records every level it is given and
// flags redundant calls (SetLevel must only be called on a change).
type line struct {
	mu        sync.Mutex
	high      bool
	calls     int
	redundant int
}

func (l *line) SetLevel(high bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if high == l.high {
		l.redundant++
	}
	l.high = high
	l.calls++
}

func (l *line) level() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.high
}

func newTest(t *testing.T) (*UART, *bytes.Buffer, *line) {
	t.Helper()
	var out bytes.Buffer
	l := &line{}
	return New("ttyS0", &out, l), &out, l
}

func rd(t *testing.T, u *UART, off uint16) uint8 {
	t.Helper()
	v, err := u.PortRead(0, off, 1)
	if err != nil {
		t.Fatalf("read %d: %v", off, err)
	}
	if v > 0xff {
		t.Fatalf("read %d = %#x, wider than a byte", off, v)
	}
	return uint8(v)
}

func wr(t *testing.T, u *UART, off uint16, v uint8) {
	t.Helper()
	if err := u.PortWrite(0, off, 1, uint32(v)); err != nil {
		t.Fatalf("write %d: %v", off, err)
	}
}

func checkLine(t *testing.T, u *UART, l *line, want bool) {
	t.Helper()
	if l.level() != want || u.Level() != want {
		t.Fatalf("line %v (UART says %v), want %v", l.level(), u.Level(), want)
	}
	if l.redundant != 0 {
		t.Fatalf("%d redundant SetLevel calls", l.redundant)
	}
}

// port adapts the virtual UART to reg.Bus8, so that the physical
// driver in soc/intel/uart16550 can drive it.
type port struct {
	t *testing.T
	u *UART
}

func (p port) Read8(off uint32) uint8       { return rd(p.t, p.u, uint16(off)) }
func (p port) Write8(off uint32, val uint8) { wr(p.t, p.u, uint16(off), val) }

func TestResetValues(t *testing.T) {
	u, out, l := newTest(t)
	for off, want := range map[uint16]uint8{
		RBR: 0, IER: 0, IIR: IIR_NONE, LCR: 0, MCR: 0,
		LSR: 1<<LSR_THRE | 1<<LSR_TEMT,
		MSR: 1<<MSR_CTS | 1<<MSR_DSR | 1<<MSR_DCD,
		SCR: 0,
	} {
		if got := rd(t, u, off); got != want {
			t.Errorf("reg %d = %#x, want %#x", off, got, want)
		}
	}
	checkLine(t, u, l, false)
	if l.calls != 0 || out.Len() != 0 {
		t.Fatalf("%d SetLevel calls, output %q", l.calls, out)
	}
}

// TestPolledGuest is a guest that polls: the soc/intel/uart16550 driver
// (the one tamavisor uses on real PCs) initialises the UART, writes
// through THR while polling LSR.THRE, and reads by polling LSR.DR.
func TestPolledGuest(t *testing.T) {
	u, out, l := newTest(t)
	d := &hw.UART{Regs: port{t, u}}
	if err := d.Init(115200); err != nil {
		t.Fatal(err)
	}
	if u.Divisor() != 1 || rd(t, u, LCR) != 0x03 || rd(t, u, MCR) != 0x0b {
		t.Fatalf("divisor %d LCR %#x MCR %#x", u.Divisor(), rd(t, u, LCR), rd(t, u, MCR))
	}
	if iir := rd(t, u, IIR); iir != 0xc1 {
		t.Fatalf("IIR %#x with FIFOs on and no interrupt", iir)
	}
	msg := "Linux version 6.12 (tamavisor)\r\n"
	if n, err := d.Write([]byte(msg)); n != len(msg) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if out.String() != msg {
		t.Fatalf("out %q", out)
	}
	if _, ok := d.Rx(); ok {
		t.Fatal("Rx with nothing received")
	}
	if n := u.Input([]byte("ls\r")); n != 3 {
		t.Fatalf("Input took %d", n)
	}
	var got []byte
	for i := 0; i < 10; i++ {
		if b, ok := d.Rx(); ok {
			got = append(got, b)
		}
	}
	if string(got) != "ls\r" || d.Errors.Load() != 0 || d.Dropped.Load() != 0 {
		t.Fatalf("received %q, driver errors %d dropped %d", got, d.Errors.Load(), d.Dropped.Load())
	}
	// Interrupts stay disabled (IER=0) even with OUT2 on.
	checkLine(t, u, l, false)
	if s := u.Stats(); s.TXBytes != uint64(len(msg)) || s.RXBytes != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestInterruptDriven follows the interrupt-driven path of a driver
// like Linux's 8250: enable OUT2 and the interrupts, transmit from the
// THR empty interrupt, receive from the data available one.
func TestInterruptDriven(t *testing.T) {
	u, out, l := newTest(t)
	wr(t, u, FCR, 0xc7)
	wr(t, u, LCR, 0x03)
	wr(t, u, MCR, 1<<MCR_OUT2|1<<MCR_RTS|1<<MCR_DTR)
	wr(t, u, IER, 1<<IER_ERBFI)
	checkLine(t, u, l, false)

	// start_tx: enabling ETBEI with THR empty raises the interrupt.
	wr(t, u, IER, 1<<IER_ERBFI|1<<IER_ETBEI)
	checkLine(t, u, l, true)
	if iir := rd(t, u, IIR); iir != 0xc0|IIR_THRE {
		t.Fatalf("IIR %#x, want THRE", iir)
	}
	// Reading IIR acknowledged it.
	checkLine(t, u, l, false)
	if iir := rd(t, u, IIR); iir != 0xc1 {
		t.Fatalf("IIR %#x after acknowledge", iir)
	}
	// Each THR write empties at once and re-raises THRE.
	wr(t, u, THR, 'o')
	checkLine(t, u, l, true)
	wr(t, u, THR, 'k') // writing THR clears and re-latches
	checkLine(t, u, l, true)
	if iir := rd(t, u, IIR); iir&0x0f != IIR_THRE {
		t.Fatalf("IIR %#x", iir)
	}
	checkLine(t, u, l, false)
	// stop_tx: ETBEI off; a later write latches THRE but it stays
	// masked until ETBEI comes back, which raises it anyway.
	wr(t, u, IER, 1<<IER_ERBFI)
	wr(t, u, THR, '\n')
	checkLine(t, u, l, false)
	if out.String() != "ok\n" {
		t.Fatalf("out %q", out)
	}

	// Received data: line high until the FIFO is drained; RDA has
	// priority over THRE.
	wr(t, u, IER, 1<<IER_ERBFI|1<<IER_ETBEI)
	u.Input([]byte("yes"))
	checkLine(t, u, l, true)
	if iir := rd(t, u, IIR); iir != 0xc0|IIR_RDA {
		t.Fatalf("IIR %#x, want RDA", iir)
	}
	// An IIR read reporting RDA does not acknowledge the pending THRE.
	for _, want := range []byte("yes") {
		if lsr := rd(t, u, LSR); lsr&(1<<LSR_DR) == 0 {
			t.Fatalf("LSR %#x before %q", lsr, want)
		}
		if got := rd(t, u, RBR); got != want {
			t.Fatalf("RBR %q, want %q", got, want)
		}
	}
	if lsr := rd(t, u, LSR); lsr&(1<<LSR_DR) != 0 {
		t.Fatalf("LSR %#x when drained", lsr)
	}
	if iir := rd(t, u, IIR); iir != 0xc0|IIR_THRE {
		t.Fatalf("IIR %#x, want THRE after RDA", iir)
	}
	checkLine(t, u, l, false)
	// Empty RBR reads as zero.
	if rd(t, u, RBR) != 0 {
		t.Fatal("empty RBR nonzero")
	}

	// OUT2 gates the line: pending but not delivered.
	u.Input([]byte("x"))
	checkLine(t, u, l, true)
	wr(t, u, MCR, 1<<MCR_RTS|1<<MCR_DTR)
	checkLine(t, u, l, false)
	if rd(t, u, IIR)&IIR_NONE != 0 {
		t.Fatal("IIR lost the pending interrupt when OUT2 dropped")
	}
	wr(t, u, MCR, 1<<MCR_OUT2)
	checkLine(t, u, l, true)
	rd(t, u, RBR)
	checkLine(t, u, l, false)
}

// TestLinuxProbe replays the checks of Linux's 8250 autoconfig: the
// scratch and IER read-back tests, the loopback modem status test and
// the FIFO detection through IIR bits 7:6.
func TestLinuxProbe(t *testing.T) {
	u, out, l := newTest(t)
	wr(t, u, IER, 0)
	if rd(t, u, IER) != 0 {
		t.Fatal("IER not cleared")
	}
	wr(t, u, IER, 0xff)
	if got := rd(t, u, IER); got != 0x0f {
		t.Fatalf("IER read back %#x", got)
	}
	wr(t, u, IER, 0)
	for _, v := range []uint8{0xa5, 0x5a} {
		wr(t, u, SCR, v)
		if rd(t, u, SCR) != v {
			t.Fatalf("scratch %#x", v)
		}
	}
	wr(t, u, MCR, 1<<MCR_LOOP|1<<MCR_OUT2|1<<MCR_RTS)
	if msr := rd(t, u, MSR) & 0xf0; msr != 0x90 {
		t.Fatalf("loopback MSR %#x, want DCD|CTS", msr)
	}
	wr(t, u, MCR, 0)
	wr(t, u, FCR, 1<<FCR_FIFO_ENABLE)
	if iir := rd(t, u, IIR); iir>>IIR_FIFOS_SHIFT != IIR_FIFOS_MASK {
		t.Fatalf("IIR %#x: not a 16550A", iir)
	}
	wr(t, u, FCR, 0)
	if iir := rd(t, u, IIR); iir != IIR_NONE {
		t.Fatalf("IIR %#x with FIFOs off", iir)
	}
	checkLine(t, u, l, false)
	if out.Len() != 0 {
		t.Fatalf("probe printed %q", out)
	}
}

func TestDivisorLatch(t *testing.T) {
	u, out, _ := newTest(t)
	wr(t, u, IER, 1<<IER_ERBFI)
	u.Input([]byte("r"))
	wr(t, u, LCR, 1<<LCR_DLAB|0x03)
	wr(t, u, DLL, 0x80)
	wr(t, u, DLM, 0x01)
	if rd(t, u, DLL) != 0x80 || rd(t, u, DLM) != 0x01 || u.Divisor() != 384 {
		t.Fatalf("divisor %d", u.Divisor())
	}
	if out.Len() != 0 {
		t.Fatalf("DLL write transmitted %q", out)
	}
	// Other registers are unaffected by DLAB; the byte stays queued.
	if rd(t, u, LSR)&(1<<LSR_DR) == 0 || rd(t, u, LCR) != 0x83 {
		t.Fatal("DLAB disturbed LSR or LCR")
	}
	wr(t, u, LCR, 0x03)
	if rd(t, u, IER) != 1<<IER_ERBFI {
		t.Fatal("DLM write reached IER")
	}
	if rd(t, u, RBR) != 'r' {
		t.Fatal("RBR after DLAB")
	}
	wr(t, u, THR, 'T')
	if out.String() != "T" || u.Divisor() != 384 {
		t.Fatalf("out %q divisor %d", out, u.Divisor())
	}
}

func TestLoopback(t *testing.T) {
	u, out, l := newTest(t)
	wr(t, u, FCR, 1<<FCR_FIFO_ENABLE)
	wr(t, u, IER, 1<<IER_ERBFI|1<<IER_ELSI|1<<IER_EDSSI)
	wr(t, u, MCR, 1<<MCR_OUT2)
	wr(t, u, MCR, 1<<MCR_LOOP|1<<MCR_OUT2)
	// Entering loopback disconnects CTS and DSR (RTS and DTR are off).
	if msr := rd(t, u, MSR); msr != 1<<MSR_DCD|1<<MSR_DCTS|1<<MSR_DDSR {
		t.Fatalf("MSR %#x entering loopback", msr)
	}
	for i := 0; i < FIFODepth; i++ {
		wr(t, u, THR, byte('a'+i))
	}
	if out.Len() != 0 {
		t.Fatalf("loopback byte reached the output: %q", out)
	}
	// Loopback forces OUT2 inactive: no interrupt reaches the PIC.
	checkLine(t, u, l, false)
	if iir := rd(t, u, IIR); iir&0x0f != IIR_RDA {
		t.Fatalf("IIR %#x", iir)
	}
	// The serial input is disconnected: operator input waits.
	if n := u.Input([]byte("typed")); n != 0 || u.RXSpace() != 0 {
		t.Fatalf("Input took %d in loopback", n)
	}
	// One more overruns.
	wr(t, u, THR, 'z')
	if iir := rd(t, u, IIR); iir&0x0f != IIR_RLS {
		t.Fatalf("IIR %#x, want line status", iir)
	}
	if lsr := rd(t, u, LSR); lsr&(1<<LSR_OE|1<<LSR_DR) != 1<<LSR_OE|1<<LSR_DR {
		t.Fatalf("LSR %#x", lsr)
	}
	if lsr := rd(t, u, LSR); lsr&(1<<LSR_OE) != 0 {
		t.Fatalf("LSR.OE survived a read: %#x", lsr)
	}
	for i := 0; i < FIFODepth; i++ {
		if got := rd(t, u, RBR); got != byte('a'+i) {
			t.Fatalf("looped back %q", got)
		}
	}
	// Modem status in loopback follows MCR; the deltas latch until read.
	wr(t, u, MCR, 1<<MCR_LOOP|1<<MCR_OUT2|1<<MCR_OUT1|1<<MCR_DTR)
	if iir := rd(t, u, IIR); iir&0x0f != IIR_MODEM {
		t.Fatalf("IIR %#x, want modem status", iir)
	}
	if msr := rd(t, u, MSR); msr != 1<<MSR_DCD|1<<MSR_RI|1<<MSR_DSR|1<<MSR_DDSR {
		t.Fatalf("MSR %#x", msr)
	}
	wr(t, u, MCR, 1<<MCR_LOOP|1<<MCR_OUT2) // RI falls: TERI
	if msr := rd(t, u, MSR); msr != 1<<MSR_DCD|1<<MSR_TERI|1<<MSR_DDSR {
		t.Fatalf("MSR %#x", msr)
	}
	if msr := rd(t, u, MSR); msr != 1<<MSR_DCD {
		t.Fatalf("MSR %#x after read", msr)
	}
	// Leaving loopback: the line is connected again; the modem status
	// change is pending and now reaches the PIC.
	wr(t, u, MCR, 1<<MCR_OUT2)
	checkLine(t, u, l, true)
	if msr := rd(t, u, MSR); msr != 1<<MSR_CTS|1<<MSR_DSR|1<<MSR_DCD|1<<MSR_DCTS|1<<MSR_DDSR {
		t.Fatalf("MSR %#x", msr)
	}
	checkLine(t, u, l, false)
	wr(t, u, THR, '!')
	if out.String() != "!" {
		t.Fatalf("out %q", out)
	}
	if s := u.Stats(); s.TXBytes != FIFODepth+2 || s.Overruns != 1 || s.RXDropped != 5 || s.RXBytes != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFIFOOverflow(t *testing.T) {
	u, _, _ := newTest(t)
	// 16450 mode (the reset state): the one-byte RBR.
	if n := u.RXSpace(); n != 1 {
		t.Fatalf("RXSpace = %d", n)
	}
	if n := u.Input([]byte("ab")); n != 1 {
		t.Fatalf("RBR took %d", n)
	}
	if n := u.Input([]byte("c")); n != 0 {
		t.Fatalf("full RBR took %d", n)
	}
	if rd(t, u, RBR) != 'a' || rd(t, u, LSR)&(1<<LSR_DR) != 0 {
		t.Fatal("RBR")
	}
	wr(t, u, FCR, 1<<FCR_FIFO_ENABLE)
	if n := u.RXSpace(); n != FIFODepth {
		t.Fatalf("RXSpace = %d", n)
	}
	in := []byte(strings.Repeat("0123456789", 2))
	if n := u.Input(in); n != FIFODepth {
		t.Fatalf("FIFO took %d", n)
	}
	if n := u.Input([]byte("z")); n != 0 || u.RXSpace() != 0 {
		t.Fatalf("full FIFO took %d", n)
	}
	// Input refuses rather than overruns: no error is reported.
	if lsr := rd(t, u, LSR); lsr != 1<<LSR_DR|1<<LSR_THRE|1<<LSR_TEMT {
		t.Fatalf("LSR %#x", lsr)
	}
	s := u.Stats()
	if s.RXBytes != 1+FIFODepth || s.RXDropped != 1+1+4+1 {
		t.Fatalf("stats %+v", s)
	}
	for i := 0; i < 4; i++ {
		if got := rd(t, u, RBR); got != in[i] {
			t.Fatalf("byte %d = %q", i, got)
		}
	}
	if n := u.Input([]byte("wxyz!")); n != 4 {
		t.Fatalf("took %d after 4 reads", n)
	}
	// FCR receive reset flushes; FIFOs stay on. Changing the mode also
	// flushes, and other FCR bits need bit 0.
	wr(t, u, FCR, 1<<FCR_FIFO_ENABLE|1<<FCR_RCVR_RESET)
	if rd(t, u, LSR)&(1<<LSR_DR) != 0 || u.RXSpace() != FIFODepth || rd(t, u, IIR) != 0xc1 {
		t.Fatal("receive reset")
	}
	u.Input([]byte("abc"))
	wr(t, u, FCR, 1<<FCR_XMIT_RESET) // bit 0 clear: back to 16450 mode
	if rd(t, u, LSR)&(1<<LSR_DR) != 0 || rd(t, u, IIR) != IIR_NONE || u.RXSpace() != 1 {
		t.Fatal("mode change")
	}
	if s := u.Stats(); s.RXFlushed != FIFODepth+3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAccessSizes(t *testing.T) {
	u, out, _ := newTest(t)
	bad := []struct {
		off  uint16
		size int
	}{
		{THR, 2}, {THR, 4}, {LSR, 2}, {IER, 4}, {THR, 0}, {THR, 3}, {THR, 8}, {THR, -1},
		{Size, 1}, {0xffff, 1}, {9, 2},
	}
	for _, b := range bad {
		if v, err := u.PortRead(0, b.off, b.size); !errors.Is(err, hv.ErrBadAccess) || v != 0 {
			t.Errorf("read %d at %#x: %#x %v", b.size, b.off, v, err)
		}
		if err := u.PortWrite(0, b.off, b.size, 0x41); !errors.Is(err, hv.ErrBadAccess) {
			t.Errorf("write %d at %#x: %v", b.size, b.off, err)
		}
	}
	if s := u.Stats(); s.BadAccesses != uint64(2*len(bad)) || s.TXBytes != 0 || out.Len() != 0 {
		t.Fatalf("stats %+v out %q", s, out)
	}
	// Read-only registers ignore writes; only the low byte counts.
	wr(t, u, LSR, 0)
	wr(t, u, MSR, 0)
	if rd(t, u, LSR) != 0x60 || rd(t, u, MSR) != 0xb0 {
		t.Fatal("read-only register written")
	}
	if err := u.PortWrite(0, MCR, 1, 0x1ff); err != nil || rd(t, u, MCR) != 0x1f {
		t.Fatalf("MCR %#x %v", rd(t, u, MCR), err)
	}
}

func TestReset(t *testing.T) {
	u, _, l := newTest(t)
	wr(t, u, FCR, 1<<FCR_FIFO_ENABLE)
	wr(t, u, MCR, 1<<MCR_OUT2)
	wr(t, u, IER, 1<<IER_ERBFI)
	wr(t, u, SCR, 0x42)
	wr(t, u, LCR, 1<<LCR_DLAB)
	wr(t, u, DLL, 12)
	u.Input([]byte("abc"))
	checkLine(t, u, l, true)
	u.Reset()
	checkLine(t, u, l, false)
	for off, want := range map[uint16]uint8{
		RBR: 0, IER: 0, IIR: IIR_NONE, LCR: 0, MCR: 0, LSR: 0x60, MSR: 0xb0, SCR: 0,
	} {
		if got := rd(t, u, off); got != want {
			t.Errorf("reg %d = %#x after reset, want %#x", off, got, want)
		}
	}
	if u.Divisor() != 0 || u.RXSpace() != 1 {
		t.Fatal("divisor or FIFO mode survived reset")
	}
	if u.Stats().RXBytes != 3 {
		t.Fatal("counters reset")
	}
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("gone") }

func TestOutputErrors(t *testing.T) {
	u := New("x", failWriter{}, nil)
	wr(t, u, THR, 'a')
	if s := u.Stats(); s.OutputErrors != 1 || s.TXBytes != 1 {
		t.Fatalf("stats %+v", s)
	}
	// nil output and nil line are fine.
	u = New("y", nil, nil)
	wr(t, u, MCR, 1<<MCR_OUT2)
	wr(t, u, IER, 1<<IER_ETBEI)
	wr(t, u, THR, 'a')
	if !u.Level() {
		t.Fatal("level not tracked without a line")
	}
}

// TestBus drives the UART through hv.PortBus at COM1.
func TestBus(t *testing.T) {
	u, out, _ := newTest(t)
	var bus hv.PortBus
	const com1 = 0x3f8
	if err := bus.Register(u.Name(), com1, Size, u); err != nil {
		t.Fatal(err)
	}
	for _, c := range []byte("ok\n") {
		if _, err := bus.Dispatch(0, com1+THR, 1, true, uint32(c)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := bus.Dispatch(0, com1+LSR, 1, false, 0); err != nil || v != 0x60 {
		t.Fatalf("LSR %#x %v", v, err)
	}
	if _, err := bus.Dispatch(0, com1+LSR, 2, false, 0); !errors.Is(err, hv.ErrBadAccess) {
		t.Fatalf("word read: %v", err)
	}
	if _, err := bus.Dispatch(0, com1+SCR, 2, false, 0); !errors.Is(err, hv.ErrBadAccess) {
		t.Fatalf("word read across the end: %v", err)
	}
	if out.String() != "ok\n" {
		t.Fatalf("out %q", out)
	}
}

// TestConcurrentInput runs the host side and a polling guest at once
// (meaningful under -race).
func TestConcurrentInput(t *testing.T) {
	u, _, l := newTest(t)
	wr(t, u, FCR, 1<<FCR_FIFO_ENABLE)
	wr(t, u, MCR, 1<<MCR_OUT2)
	wr(t, u, IER, 1<<IER_ERBFI)
	const total = 5000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b := []byte{0}
		for i := 0; i < total; {
			b[0] = byte(i)
			if u.Input(b) == 0 {
				runtime.Gosched()
				continue
			}
			i++
		}
	}()
	var got []byte
	for len(got) < total {
		if rd(t, u, LSR)&(1<<LSR_DR) != 0 {
			got = append(got, rd(t, u, RBR))
		} else {
			runtime.Gosched()
		}
	}
	wg.Wait()
	for i, b := range got {
		if b != byte(i) {
			t.Fatalf("byte %d = %d", i, b)
		}
	}
	checkLine(t, u, l, false)
}
