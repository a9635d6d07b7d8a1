// hv/vdev/pl011: an emulated ARM PrimeCell PL011 UART for guests.
// SPDX-License-Identifier: BSD-3-Clause

package pl011

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
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
	return New("ttyAMA0", &out, l), &out, l
}

func rd(t *testing.T, u *UART, off uint64) uint32 {
	t.Helper()
	v, err := u.MMIORead(0, off, 4)
	if err != nil {
		t.Fatalf("read %#x: %v", off, err)
	}
	return uint32(v)
}

func wr(t *testing.T, u *UART, off uint64, v uint32) {
	t.Helper()
	if err := u.MMIOWrite(0, off, 4, uint64(v)); err != nil {
		t.Fatalf("write %#x: %v", off, err)
	}
}

// checkLine asserts the interrupt invariant: the line is high exactly
// when a raw interrupt is unmasked.
func checkLine(t *testing.T, u *UART, l *line, want bool) {
	t.Helper()
	ris, imsc, mis := rd(t, u, UARTRIS), rd(t, u, UARTIMSC), rd(t, u, UARTMIS)
	if mis != ris&imsc {
		t.Fatalf("MIS %#x != RIS %#x & IMSC %#x", mis, ris, imsc)
	}
	if l.level() != (mis != 0) || u.Level() != l.level() {
		t.Fatalf("line %v, UART says %v, MIS %#x", l.level(), u.Level(), mis)
	}
	if l.level() != want {
		t.Fatalf("line %v, want %v (RIS %#x IMSC %#x)", l.level(), want, ris, imsc)
	}
	if l.redundant != 0 {
		t.Fatalf("%d redundant SetLevel calls", l.redundant)
	}
}

// TestAMBAProbe reads the identification registers as Linux's amba bus
// does (32-bit reads, low byte of each, drivers/amba/bus.c) and checks
// the result matches the amba-pl011 driver's ID 0x00041011/0x000fffff.
func TestAMBAProbe(t *testing.T) {
	u, _, _ := newTest(t)
	var pid, cid uint32
	for i := uint64(0); i < 4; i++ {
		pid |= (rd(t, u, Size-0x20+4*i) & 0xff) << (8 * i)
		cid |= (rd(t, u, Size-0x10+4*i) & 0xff) << (8 * i)
	}
	if cid != 0xb105f00d {
		t.Fatalf("cell ID %#x", cid)
	}
	if pid != 0x00341011 || pid&0x000fffff != 0x00041011 {
		t.Fatalf("periph ID %#x", pid)
	}
	// ID registers are read-only.
	wr(t, u, UARTPeriphID0, 0xff)
	if rd(t, u, UARTPeriphID0) != 0x11 {
		t.Fatal("PeriphID0 written")
	}
	if u.Stats().Unknown != 0 {
		t.Fatalf("stats %+v", u.Stats())
	}
}

func TestResetValues(t *testing.T) {
	u, _, l := newTest(t)
	for off, want := range map[uint64]uint32{
		UARTRSR:   0,
		UARTFR:    1<<FR_TXFE | 1<<FR_RXFE | 1<<FR_CTS | 1<<FR_DSR | 1<<FR_DCD,
		UARTILPR:  0,
		UARTIBRD:  0,
		UARTFBRD:  0,
		UARTLCR_H: 0,
		UARTCR:    0x300,
		UARTIFLS:  0x12,
		UARTIMSC:  0,
		UARTRIS:   1 << INT_TX,
		UARTMIS:   0,
		UARTICR:   0,
		UARTDMACR: 0,
	} {
		if got := rd(t, u, off); got != want {
			t.Errorf("reg %#x = %#x, want %#x", off, got, want)
		}
	}
	checkLine(t, u, l, false)
	if l.calls != 0 {
		t.Fatalf("%d SetLevel calls at reset", l.calls)
	}
}

func TestRegisterWidths(t *testing.T) {
	u, _, _ := newTest(t)
	for off, mask := range map[uint64]uint32{
		UARTILPR: 0xff, UARTIBRD: 0xffff, UARTFBRD: 0x3f, UARTLCR_H: 0xff,
		UARTCR: 0xff87, UARTIFLS: 0x3f, UARTIMSC: 0x7ff, UARTDMACR: 0x7,
	} {
		wr(t, u, off, 0xffffffff)
		if got := rd(t, u, off); got != mask {
			t.Errorf("reg %#x = %#x, want %#x", off, got, mask)
		}
		wr(t, u, off, 0)
	}
	for _, off := range []uint64{UARTFR, UARTRIS, UARTMIS} {
		before := rd(t, u, off)
		wr(t, u, off, 0xffffffff)
		if rd(t, u, off) != before {
			t.Errorf("read-only reg %#x changed", off)
		}
	}
}

func TestTXInterrupt(t *testing.T) {
	u, out, l := newTest(t)
	wr(t, u, UARTIMSC, 1<<INT_TX)
	checkLine(t, u, l, true) // TXRIS set from reset: transmit possible
	wr(t, u, UARTICR, 1<<INT_TX)
	checkLine(t, u, l, false)
	if rd(t, u, UARTRIS)&(1<<INT_TX) != 0 {
		t.Fatal("TXRIS survived ICR.TXIC")
	}
	wr(t, u, UARTDR, 'A')
	checkLine(t, u, l, true) // the byte drained at once
	wr(t, u, UARTIMSC, 0)
	checkLine(t, u, l, false)
	if out.String() != "A" || u.Stats().TXBytes != 1 {
		t.Fatalf("out %q stats %+v", out, u.Stats())
	}
	if fr := rd(t, u, UARTFR); fr&(1<<FR_TXFF|1<<FR_BUSY) != 0 || fr&(1<<FR_TXFE) == 0 {
		t.Fatalf("FR %#x after transmit", fr)
	}
}

// linuxDriver models the interrupt-driven parts of Linux's amba-pl011
// driver (drivers/tty/serial/amba-pl011.c) closely enough to show that
// the emulation neither deadlocks nor storms under it.
type linuxDriver struct {
	t        *testing.T
	u        *UART
	l        *line
	im       uint32
	xmit     []byte // characters waiting to go out
	rx       []byte // characters received
	fifosize int
	// pioLimit bounds the characters start_tx writes before relying
	// on the TX interrupt, to force that path (0: no bound, as Linux).
	pioLimit int
}

// startup is pl011_hwinit + pl011_startup + pl011_enable_interrupts.
func (d *linuxDriver) startup() {
	t, u := d.t, d.u
	wr(t, u, UARTICR, 1<<INT_OE|1<<INT_BE|1<<INT_PE|1<<INT_FE|1<<INT_RT|1<<INT_RX)
	d.im = rd(t, u, UARTIMSC)
	wr(t, u, UARTIMSC, 0)
	wr(t, u, UARTIFLS, 0x12)
	wr(t, u, UARTIBRD, 13)
	wr(t, u, UARTFBRD, 1)
	wr(t, u, UARTLCR_H, 1<<LCR_H_FEN|3<<5)
	wr(t, u, UARTCR, 1<<CR_UARTEN|1<<CR_TXE|1<<CR_RXE)
	wr(t, u, UARTICR, 1<<INT_RT|1<<INT_RX)
	for i := 0; i < d.fifosize*2; i++ {
		if rd(t, u, UARTFR)&(1<<FR_RXFE) != 0 {
			break
		}
		rd(t, u, UARTDR)
	}
	d.im = 1<<INT_RT | 1<<INT_RX
	wr(t, u, UARTIMSC, d.im)
}

// txChars is pl011_tx_chars: it reports whether characters remain.
func (d *linuxDriver) txChars(fromIRQ bool) bool {
	count := d.fifosize >> 1
	sent := 0
	for len(d.xmit) > 0 {
		if fromIRQ {
			if count == 0 {
				break
			}
			count--
		} else {
			if rd(d.t, d.u, UARTFR)&(1<<FR_TXFF) != 0 {
				break
			}
			if d.pioLimit > 0 && sent == d.pioLimit {
				break
			}
		}
		wr(d.t, d.u, UARTDR, uint32(d.xmit[0]))
		d.xmit = d.xmit[1:]
		sent++
	}
	if len(d.xmit) == 0 {
		d.im &^= 1 << INT_TX // pl011_stop_tx
		wr(d.t, d.u, UARTIMSC, d.im)
		return false
	}
	return true
}

// write is uart_write + pl011_start_tx (PIO).
func (d *linuxDriver) write(s string) {
	d.xmit = append(d.xmit, s...)
	if d.txChars(false) {
		d.im |= 1 << INT_TX
		wr(d.t, d.u, UARTIMSC, d.im)
	}
}

// interrupt is pl011_int, called while the line is high. It returns the
// number of passes made, bounded by AMBA_ISR_PASS_LIMIT as in Linux.
func (d *linuxDriver) interrupt() int {
	t, u := d.t, d.u
	passes := 0
	status := rd(t, u, UARTMIS)
	for pass := 256; status != 0 && pass > 0; pass-- {
		passes++
		wr(t, u, UARTICR, status&^(1<<INT_TX|1<<INT_RT|1<<INT_RX))
		if status&(1<<INT_RT|1<<INT_RX) != 0 {
			for n := 256; n > 0; n-- { // pl011_fifo_to_tty
				if rd(t, u, UARTFR)&(1<<FR_RXFE) != 0 {
					break
				}
				d.rx = append(d.rx, byte(rd(t, u, UARTDR)))
			}
		}
		if status&(1<<INT_TX) != 0 {
			d.txChars(true)
		}
		status = rd(t, u, UARTMIS)
	}
	return passes
}

// run services interrupts until the line is low, failing if it never
// settles.
func (d *linuxDriver) run() {
	for i := 0; d.l.level(); i++ {
		if i == 1000 {
			d.t.Fatalf("interrupt storm: line still high after %d handler calls, MIS %#x", i, rd(d.t, d.u, UARTMIS))
		}
		d.interrupt()
	}
}

func TestLinuxDriver(t *testing.T) {
	for _, limit := range []int{0, 1, 16} {
		u, out, l := newTest(t)
		d := &linuxDriver{t: t, u: u, l: l, fifosize: 32, pioLimit: limit}
		d.startup()
		checkLine(t, u, l, false)
		msg := strings.Repeat("Booting Linux on physical CPU 0x0\n", 40)
		d.write(msg)
		d.run()
		if out.String() != msg {
			t.Fatalf("limit %d: sent %d of %d bytes", limit, out.Len(), len(msg))
		}
		if d.im&(1<<INT_TX) != 0 {
			t.Fatalf("limit %d: TXIM still enabled with nothing to send", limit)
		}
		// Typing while output is in flight.
		d.write("login: ")
		if n := u.Input([]byte("root\r")); n != 5 {
			t.Fatalf("Input took %d", n)
		}
		checkLine(t, u, l, true)
		d.run()
		if string(d.rx) != "root\r" || !strings.HasSuffix(out.String(), "login: ") {
			t.Fatalf("limit %d: rx %q out tail %q", limit, d.rx, out.String()[out.Len()-10:])
		}
		checkLine(t, u, l, false)
	}
}

// TestTXNoDeadlock: a driver that fills the FIFO, acknowledges the TX
// interrupt and only then enables it (the order the TRM warns about)
// still gets its interrupt, because every UARTDR write re-asserts TXRIS.
func TestTXNoDeadlock(t *testing.T) {
	u, _, l := newTest(t)
	wr(t, u, UARTICR, 1<<INT_TX)
	wr(t, u, UARTDR, 'x')
	wr(t, u, UARTIMSC, 1<<INT_TX)
	checkLine(t, u, l, true)
}

func TestRX(t *testing.T) {
	u, _, l := newTest(t)
	wr(t, u, UARTLCR_H, 1<<LCR_H_FEN)
	wr(t, u, UARTIMSC, 1<<INT_RX|1<<INT_RT)
	checkLine(t, u, l, false)
	if n := u.Input([]byte("hey")); n != 3 {
		t.Fatalf("Input took %d", n)
	}
	if fr := rd(t, u, UARTFR); fr&(1<<FR_RXFE) != 0 || fr&(1<<FR_RXFF) != 0 {
		t.Fatalf("FR %#x with 3 bytes", fr)
	}
	if ris := rd(t, u, UARTRIS); ris&(1<<INT_RX|1<<INT_RT) != 1<<INT_RX|1<<INT_RT {
		t.Fatalf("RIS %#x", ris)
	}
	checkLine(t, u, l, true)
	// Acknowledging without reading does not drop the level.
	wr(t, u, UARTICR, 1<<INT_RX|1<<INT_RT)
	checkLine(t, u, l, true)
	for _, want := range "hey" {
		checkLine(t, u, l, true)
		if got := rd(t, u, UARTDR); got != uint32(want) {
			t.Fatalf("DR %#x, want %q", got, want)
		}
	}
	checkLine(t, u, l, false)
	if fr := rd(t, u, UARTFR); fr&(1<<FR_RXFE) == 0 {
		t.Fatalf("FR %#x when drained", fr)
	}
	if rd(t, u, UARTDR) != 0 {
		t.Fatal("empty DR read nonzero")
	}
	if s := u.Stats(); s.RXBytes != 3 || s.RXDropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRXOverflow(t *testing.T) {
	u, _, _ := newTest(t)
	// Character mode (FEN clear, the reset state): one-byte holding register.
	if n := u.RXSpace(); n != 1 {
		t.Fatalf("RXSpace in character mode = %d", n)
	}
	if n := u.Input([]byte("ab")); n != 1 {
		t.Fatalf("character mode took %d", n)
	}
	if fr := rd(t, u, UARTFR); fr&(1<<FR_RXFF) == 0 {
		t.Fatalf("FR %#x, want RXFF", fr)
	}
	rd(t, u, UARTDR)
	wr(t, u, UARTLCR_H, 1<<LCR_H_FEN)
	if n := u.RXSpace(); n != DefaultRXDepth {
		t.Fatalf("RXSpace = %d", n)
	}
	in := []byte(strings.Repeat("0123456789", 4))
	if n := u.Input(in); n != DefaultRXDepth {
		t.Fatalf("FIFO took %d", n)
	}
	if fr := rd(t, u, UARTFR); fr&(1<<FR_RXFF) == 0 {
		t.Fatalf("FR %#x, want RXFF", fr)
	}
	if n := u.Input([]byte("z")); n != 0 {
		t.Fatalf("full FIFO took %d", n)
	}
	s := u.Stats()
	if s.RXBytes != 1+DefaultRXDepth || s.RXDropped != 1+8+1 {
		t.Fatalf("stats %+v", s)
	}
	for i := 0; i < DefaultRXDepth; i++ {
		if got := byte(rd(t, u, UARTDR)); got != in[i] {
			t.Fatalf("byte %d = %q, want %q", i, got, in[i])
		}
	}
	// A deeper FIFO, clamped.
	if got := len(NewWithFIFO("x", nil, nil, 1<<20).fifo); got != MaxRXDepth {
		t.Fatalf("depth %d", got)
	}
	if got := len(NewWithFIFO("x", nil, nil, 0).fifo); got != 1 {
		t.Fatalf("depth %d", got)
	}
}

func TestLoopback(t *testing.T) {
	u, out, _ := newTest(t)
	wr(t, u, UARTLCR_H, 1<<LCR_H_FEN)
	wr(t, u, UARTCR, 1<<CR_UARTEN|1<<CR_TXE|1<<CR_RXE|1<<CR_LBE)
	wr(t, u, UARTDR, 'L')
	if out.Len() != 0 {
		t.Fatalf("loopback byte reached the output: %q", out)
	}
	if got := rd(t, u, UARTDR); got != 'L' {
		t.Fatalf("looped back %#x", got)
	}
}

func TestAccessSizes(t *testing.T) {
	u, out, _ := newTest(t)
	// 8- and 16-bit accesses at register offsets work.
	if err := u.MMIOWrite(0, UARTDR, 1, 'b'); err != nil {
		t.Fatal(err)
	}
	if err := u.MMIOWrite(0, UARTDR, 2, 'h'); err != nil {
		t.Fatal(err)
	}
	if v, err := u.MMIORead(0, UARTFR, 2); err != nil || v&(1<<FR_TXFE) == 0 {
		t.Fatalf("16-bit FR read %#x %v", v, err)
	}
	if v, err := u.MMIORead(0, UARTPCellID1, 1); err != nil || v != 0xf0 {
		t.Fatalf("8-bit CellID1 read %#x %v", v, err)
	}
	if out.String() != "bh" {
		t.Fatalf("out %q", out)
	}
	bad := []struct {
		off  uint64
		size int
	}{
		{UARTDR, 8}, {UARTDR, 3}, {UARTDR, 0}, {UARTDR, -1},
		{1, 1}, {2, 2}, {UARTFR + 2, 2}, {Size, 4}, {1 << 63, 4}, {^uint64(3), 4},
	}
	for _, b := range bad {
		if _, err := u.MMIORead(0, b.off, b.size); !errors.Is(err, hv.ErrBadAccess) {
			t.Errorf("read %d at %#x: %v", b.size, b.off, err)
		}
		if err := u.MMIOWrite(0, b.off, b.size, 0x41); !errors.Is(err, hv.ErrBadAccess) {
			t.Errorf("write %d at %#x: %v", b.size, b.off, err)
		}
	}
	s := u.Stats()
	if s.BadAccesses != uint64(2*len(bad)) || s.TXBytes != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestUnknownOffsets(t *testing.T) {
	u, out, _ := newTest(t)
	for _, off := range []uint64{0x008, 0x00c, 0x010, 0x014, 0x01c, 0x04c, 0x800, 0xfdc} {
		wr(t, u, off, 0xffffffff)
		if got := rd(t, u, off); got != 0 {
			t.Errorf("%#x reads %#x", off, got)
		}
	}
	if s := u.Stats(); s.Unknown != 16 || s.BadAccesses != 0 || out.Len() != 0 {
		t.Fatalf("stats %+v out %q", s, out)
	}
}

func TestReset(t *testing.T) {
	u, _, l := newTest(t)
	wr(t, u, UARTLCR_H, 1<<LCR_H_FEN)
	wr(t, u, UARTIMSC, 1<<INT_RX)
	u.Input([]byte("abc"))
	checkLine(t, u, l, true)
	u.Reset()
	checkLine(t, u, l, false)
	if rd(t, u, UARTFR)&(1<<FR_RXFE) == 0 || rd(t, u, UARTCR) != 0x300 || rd(t, u, UARTLCR_H) != 0 {
		t.Fatal("not reset")
	}
	if u.Stats().RXBytes != 3 {
		t.Fatal("counters reset")
	}
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("gone") }

func TestOutputErrors(t *testing.T) {
	u := New("x", failWriter{}, nil)
	wr(t, u, UARTDR, 'a')
	if s := u.Stats(); s.OutputErrors != 1 || s.TXBytes != 1 {
		t.Fatalf("stats %+v", s)
	}
	// nil output and nil line are fine.
	u = New("y", nil, nil)
	wr(t, u, UARTIMSC, 1<<INT_TX)
	wr(t, u, UARTDR, 'a')
	if !u.Level() {
		t.Fatal("level not tracked without a line")
	}
}

// TestBus drives the UART through hv.MMIOBus at the qemu-virt address.
func TestBus(t *testing.T) {
	u, out, _ := newTest(t)
	var bus hv.MMIOBus
	if err := bus.Register(u.Name(), 0x0900_0000, Size, u); err != nil {
		t.Fatal(err)
	}
	for _, c := range []byte("ok\n") {
		if _, err := bus.Dispatch(0, 0x0900_0000+UARTDR, 4, true, uint64(c)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := bus.Dispatch(0, 0x0900_0000+UARTPCellID3, 4, false, 0); err != nil || v != 0xb1 {
		t.Fatalf("CellID3 %#x %v", v, err)
	}
	if _, err := bus.Dispatch(0, 0x0900_0000+UARTFR, 8, false, 0); !errors.Is(err, hv.ErrBadAccess) {
		t.Fatalf("8-byte read: %v", err)
	}
	if out.String() != "ok\n" {
		t.Fatalf("out %q", out)
	}
}

// TestConcurrentInput runs the host side and a guest reader at once
// (meaningful under -race).
func TestConcurrentInput(t *testing.T) {
	u, _, l := newTest(t)
	wr(t, u, UARTLCR_H, 1<<LCR_H_FEN)
	wr(t, u, UARTIMSC, 1<<INT_RX)
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
		if rd(t, u, UARTFR)&(1<<FR_RXFE) == 0 {
			got = append(got, byte(rd(t, u, UARTDR)))
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
