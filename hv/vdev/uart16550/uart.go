// hv/vdev/uart16550: an emulated 16550A UART for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

// Package uart16550 emulates a 16550A UART for a guest, as the console of
// an x86 VM: eight byte-wide registers behind I/O ports (COM1 is ports
// 0x3f8-0x3ff), served through hv.PortBus. The guest's transmitted bytes
// go to a host io.Writer and the host pushes received bytes in with
// Input. It follows the National Semiconductor PC16550D datasheet
// ("PC16550D Universal Asynchronous Receiver/Transmitter with FIFOs",
// June 1995; section numbers below are that datasheet's), with the
// register offsets and bit positions shared with the physical driver in
// soc/intel/uart16550.
//
// The model is a UART whose transmitter never waits: a byte written to
// THR leaves at once, so LSR.THRE and LSR.TEMT are always set and the
// divisor latch, line control and FIFO trigger level are stored but have
// no effect. The receive FIFO holds 16 bytes when FCR.FIFO_ENABLE is set
// and one byte (the 16450-compatible RBR) when it is clear, as after
// reset. Received data raises "received data available" as soon as one
// byte is waiting, whatever the trigger level, so the character timeout
// indication (IIR 0x0C) is never needed and never reported.
//
// The interrupt output is gated as on a PC: the line driven on the
// hv.IRQLine is "an enabled interrupt is pending" AND MCR.OUT2, and it
// is low in loopback mode, where the datasheet forces the OUT2 pin
// inactive (§8.8).
//
// Every access is guest-controlled and never panics. Only 1-byte
// accesses at offsets 0-7 are valid; anything else fails with an error
// wrapping hv.ErrBadAccess, counted in Stats.BadAccesses, which the
// caller turns into #GP.
//
// It is pure Go with no build tags: it runs on every target
// (GOOS=tamago amd64 and arm64) and on the host.
package uart16550

import (
	"fmt"
	"io"
	"sync"

	"github.com/tamavisor/tamavisor/hv"
	hw "github.com/tamavisor/tamavisor/soc/intel/uart16550"
)

// Register offsets from the port base (PC16550D Table II "Summary of
// Registers"), as programmed by the physical driver. Offsets 0 and 1
// are the divisor latch while LCR.DLAB is set.
const (
	RBR = hw.RBR // Receiver Buffer Register (read, DLAB=0)
	THR = hw.THR // Transmitter Holding Register (write, DLAB=0)
	DLL = hw.DLL // Divisor Latch LSB (DLAB=1)
	IER = hw.IER // Interrupt Enable Register (DLAB=0)
	DLM = hw.DLM // Divisor Latch MSB (DLAB=1)
	IIR = hw.IIR // Interrupt Identification Register (read)
	FCR = hw.FCR // FIFO Control Register (write)
	LCR = hw.LCR // Line Control Register
	MCR = hw.MCR // Modem Control Register
	LSR = hw.LSR // Line Status Register
	MSR = hw.MSR // Modem Status Register
	SCR = hw.SCR // Scratch Register

	// Size is the number of ports the UART decodes.
	Size = 8
)

// Bit positions shared with the driver: LCR (§8.1), LSR (§8.4), FCR
// (§8.5), IER (§8.7) and MCR (§8.8).
const (
	LCR_DLAB = hw.LCR_DLAB

	LSR_DR   = hw.LSR_DR
	LSR_OE   = hw.LSR_OE
	LSR_THRE = hw.LSR_THRE
	LSR_TEMT = hw.LSR_TEMT

	FCR_FIFO_ENABLE = hw.FCR_FIFO_ENABLE
	FCR_RCVR_RESET  = hw.FCR_RCVR_RESET
	FCR_XMIT_RESET  = hw.FCR_XMIT_RESET
	FCR_DMA_MODE    = hw.FCR_DMA_MODE

	IER_ERBFI = hw.IER_ERBFI
	IER_ETBEI = hw.IER_ETBEI
	IER_ELSI  = hw.IER_ELSI
	IER_EDSSI = hw.IER_EDSSI

	MCR_DTR  = hw.MCR_DTR
	MCR_RTS  = hw.MCR_RTS
	MCR_OUT1 = hw.MCR_OUT1
	MCR_OUT2 = hw.MCR_OUT2
	MCR_LOOP = hw.MCR_LOOP
)

// IIR values (PC16550D §8.6, Table IV "Interrupt Control Functions"):
// bit 0 is clear while an interrupt is pending, bits 3:1 identify the
// highest-priority one, and bits 7:6 are both set while the FIFOs are
// enabled (FCR bit 0).
const (
	IIR_NONE  = 0x01 // no interrupt pending
	IIR_RLS   = 0x06 // receiver line status (1st priority)
	IIR_RDA   = 0x04 // received data available (2nd)
	IIR_CTI   = 0x0c // character timeout indication (2nd); never reported
	IIR_THRE  = 0x02 // transmitter holding register empty (3rd)
	IIR_MODEM = 0x00 // modem status (4th)

	IIR_FIFOS_SHIFT = 6
	IIR_FIFOS_MASK  = 0x3
)

// MSR bits (PC16550D §8.9 Modem Status Register): deltas in 3:0, the
// complemented modem inputs in 7:4.
const (
	MSR_DCTS = 0 // delta clear to send
	MSR_DDSR = 1 // delta data set ready
	MSR_TERI = 2 // trailing edge ring indicator
	MSR_DDCD = 3 // delta data carrier detect
	MSR_CTS  = 4
	MSR_DSR  = 5
	MSR_RI   = 6
	MSR_DCD  = 7
)

// Writable widths (PC16550D §8.7, §8.8, §8.5): IER bits 7:4 and MCR bits
// 7:5 are always zero; FCR keeps bits 0, 3 and 7:6 (1 and 2 self-clear;
// 5:4 are reserved).
const (
	ierMask = 0x0f
	mcrMask = 0x1f
	fcrMask = 0xc9
)

// FIFODepth is the depth of the 16550A receive FIFO (§1 "Features").
const FIFODepth = 16

// Stats counts what the UART has done. All counters only grow.
type Stats struct {
	TXBytes      uint64 `json:"tx_bytes"`      // bytes the guest wrote to THR
	RXBytes      uint64 `json:"rx_bytes"`      // bytes Input accepted
	RXDropped    uint64 `json:"rx_dropped"`    // bytes Input refused (receive FIFO full)
	RXFlushed    uint64 `json:"rx_flushed"`    // received bytes discarded by FCR (reset or mode change)
	Overruns     uint64 `json:"overruns"`      // loopback bytes lost to a full FIFO (LSR.OE)
	BadAccesses  uint64 `json:"bad_accesses"`  // accesses refused with hv.ErrBadAccess
	OutputErrors uint64 `json:"output_errors"` // writes to the output sink that failed
}

// UART is one emulated 16550A. It implements hv.PortDevice for the guest
// and Input for the host; both sides may run on different goroutines.
type UART struct {
	name string
	out  io.Writer
	irq  hv.IRQLine

	mu    sync.Mutex
	fifo  [FIFODepth]byte
	head  int // index of the oldest byte
	count int // bytes waiting

	ier, lcr, mcr, fcr, scr, dll, dlm uint8
	// oe is LSR.OE: set when a loopback byte finds the FIFO full,
	// cleared by reading LSR (§8.4).
	oe bool
	// thre is the THR-empty interrupt latch (Table IV): set by a THR
	// write (the byte leaves at once) and when IER.ETBEI is turned on
	// with THR empty; cleared by an IIR read that reports it.
	thre bool
	// msrDelta holds MSR bits 3:0; msrPrev the modem inputs last seen,
	// in MSR bit positions 7:4, to detect changes.
	msrDelta, msrPrev uint8
	level             bool // last level driven on irq
	stats             Stats
	txb               [1]byte
}

// New returns a 16550A named name (for messages) in its reset state.
// Bytes the guest transmits are written to out, one Write per byte, in
// order; out may be nil to discard them. out is called with the UART's
// lock held, so it must not block for long and must not call back into
// the UART.
//
// irq is the UART's interrupt line (its INTR pin gated by OUT2, as
// wired on a PC: IRQ 4 for COM1); it may be nil. SetLevel is called,
// with the lock held, whenever the gated level changes; the line is
// taken to be low at construction.
func New(name string, out io.Writer, irq hv.IRQLine) *UART {
	u := &UART{name: name, out: out, irq: irq}
	u.reset()
	return u
}

// Name returns the name given to New.
func (u *UART) Name() string { return u.name }

// Reset puts the registers back to their master-reset values (PC16550D
// Table VI "UART Reset Configuration") and empties the receive FIFO, as a
// guest reboot does. The divisor latch and scratch register, which the
// datasheet leaves alone, are cleared too so that every boot starts
// alike. The counters are kept. The interrupt line goes low if it was
// high.
func (u *UART) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reset()
	u.update()
}

func (u *UART) reset() {
	u.head, u.count = 0, 0
	u.ier, u.lcr, u.mcr, u.fcr, u.scr, u.dll, u.dlm = 0, 0, 0, 0, 0, 0, 0
	u.oe, u.thre = false, false
	u.msrDelta = 0
	u.msrPrev = u.modemInputs()
}

// Stats returns a snapshot of the counters.
func (u *UART) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

// Level reports the level last driven on the interrupt line.
func (u *UART) Level() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.level
}

// Divisor returns the divisor latch (DLM:DLL), for the introspection
// monitor; it does not affect the emulation.
func (u *UART) Divisor() uint16 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return uint16(u.dlm)<<8 | uint16(u.dll)
}

// capacity is the usable receive depth: the 16-byte FIFO in FIFO mode,
// the single RBR otherwise (§8.5 FCR bit 0).
func (u *UART) capacity() int {
	if u.fcr&(1<<FCR_FIFO_ENABLE) != 0 {
		return FIFODepth
	}
	return 1
}

func (u *UART) push(b byte) bool {
	if u.count >= u.capacity() {
		return false
	}
	u.fifo[(u.head+u.count)%FIFODepth] = b
	u.count++
	return true
}

func (u *UART) pop() byte {
	if u.count == 0 {
		return 0
	}
	b := u.fifo[u.head]
	u.head = (u.head + 1) % FIFODepth
	u.count--
	return b
}

func (u *UART) flushRX() {
	u.stats.RXFlushed += uint64(u.count)
	u.head, u.count = 0, 0
}

func (u *UART) loop() bool { return u.mcr&(1<<MCR_LOOP) != 0 }

// modemInputs returns the modem inputs as MSR bits 7:4. Outside loopback
// the virtual line is always connected: CTS, DSR and DCD asserted, RI
// not, so no guest flow control or carrier detect ever waits. In
// loopback they follow MCR (§8.8): CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2.
func (u *UART) modemInputs() uint8 {
	if !u.loop() {
		return 1<<MSR_CTS | 1<<MSR_DSR | 1<<MSR_DCD
	}
	var m uint8
	if u.mcr&(1<<MCR_RTS) != 0 {
		m |= 1 << MSR_CTS
	}
	if u.mcr&(1<<MCR_DTR) != 0 {
		m |= 1 << MSR_DSR
	}
	if u.mcr&(1<<MCR_OUT1) != 0 {
		m |= 1 << MSR_RI
	}
	if u.mcr&(1<<MCR_OUT2) != 0 {
		m |= 1 << MSR_DCD
	}
	return m
}

// trackModem latches the MSR delta bits for a change of the modem inputs
// (§8.9: DCTS, DDSR, DDCD on any change, TERI when RI goes inactive).
func (u *UART) trackModem() {
	now := u.modemInputs()
	changed := now ^ u.msrPrev
	if changed&(1<<MSR_CTS) != 0 {
		u.msrDelta |= 1 << MSR_DCTS
	}
	if changed&(1<<MSR_DSR) != 0 {
		u.msrDelta |= 1 << MSR_DDSR
	}
	if changed&(1<<MSR_DCD) != 0 {
		u.msrDelta |= 1 << MSR_DDCD
	}
	if changed&(1<<MSR_RI) != 0 && now&(1<<MSR_RI) == 0 {
		u.msrDelta |= 1 << MSR_TERI
	}
	u.msrPrev = now
}

// iir computes the interrupt identification (§8.6 Table IV) in priority
// order, without side effects.
func (u *UART) iir() uint8 {
	id := uint8(IIR_NONE)
	switch {
	case u.ier&(1<<IER_ELSI) != 0 && u.oe:
		id = IIR_RLS
	case u.ier&(1<<IER_ERBFI) != 0 && u.count > 0:
		id = IIR_RDA
	case u.ier&(1<<IER_ETBEI) != 0 && u.thre:
		id = IIR_THRE
	case u.ier&(1<<IER_EDSSI) != 0 && u.msrDelta != 0:
		id = IIR_MODEM
	}
	if u.fcr&(1<<FCR_FIFO_ENABLE) != 0 {
		id |= IIR_FIFOS_MASK << IIR_FIFOS_SHIFT
	}
	return id
}

// lsr computes the line status (§8.4). THRE and TEMT are always set: the
// transmitter is never busy.
func (u *UART) lsr() uint8 {
	l := uint8(1<<LSR_THRE | 1<<LSR_TEMT)
	if u.count > 0 {
		l |= 1 << LSR_DR
	}
	if u.oe {
		l |= 1 << LSR_OE
	}
	return l
}

// wantLevel is the level of the PC's IRQ input: INTR (an enabled
// interrupt pending) gated by the OUT2 pin, which loopback forces
// inactive (§8.8).
func (u *UART) wantLevel() bool {
	return u.iir()&IIR_NONE == 0 && u.mcr&(1<<MCR_OUT2) != 0 && !u.loop()
}

// update drives the interrupt line after a state change.
func (u *UART) update() {
	l := u.wantLevel()
	if l == u.level {
		return
	}
	u.level = l
	if u.irq != nil {
		u.irq.SetLevel(l)
	}
}

// tx transmits one byte written to THR: to the output sink, or back into
// the receive FIFO in loopback mode (§8.8 MCR bit 4), where a full FIFO
// overruns (LSR.OE) and the byte is lost.
func (u *UART) tx(b byte) {
	u.stats.TXBytes++
	u.thre = true // the byte left at once: THR is empty again
	if u.loop() {
		if !u.push(b) {
			u.oe = true
			u.stats.Overruns++
		}
		return
	}
	if u.out == nil {
		return
	}
	u.txb[0] = b
	if n, err := u.out.Write(u.txb[:]); n != 1 || err != nil {
		u.stats.OutputErrors++
	}
}

// check validates an access: one byte at offset 0-7. The 16550 has an
// 8-bit data bus; a word IN or OUT to its ports is a guest bug.
func (u *UART) check(write bool, off uint16, size int) error {
	if size == 1 && off < Size {
		return nil
	}
	u.stats.BadAccesses++
	dir := "read"
	if write {
		dir = "write"
	}
	return fmt.Errorf("%w: uart16550 %d-byte %s at offset %#x", hv.ErrBadAccess, size, dir, off)
}

// PortRead implements hv.PortDevice. Reading RBR takes the oldest byte of
// the receive FIFO (zero when it is empty). Reading IIR clears the THR
// empty interrupt when that is what it reports; reading LSR clears
// LSR.OE and reading MSR clears the delta bits, as in the datasheet.
func (u *UART) PortRead(vcpu int, off uint16, size int) (uint32, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.check(false, off, size); err != nil {
		return 0, err
	}
	dlab := u.lcr&(1<<LCR_DLAB) != 0
	var v uint8
	switch off {
	case RBR:
		if dlab {
			v = u.dll
		} else {
			v = u.pop()
		}
	case IER:
		if dlab {
			v = u.dlm
		} else {
			v = u.ier
		}
	case IIR:
		v = u.iir()
		if v&^(IIR_FIFOS_MASK<<IIR_FIFOS_SHIFT) == IIR_THRE {
			u.thre = false
		}
	case LCR:
		v = u.lcr
	case MCR:
		v = u.mcr
	case LSR:
		v = u.lsr()
		u.oe = false
	case MSR:
		v = u.msrPrev | u.msrDelta
		u.msrDelta = 0
	case SCR:
		v = u.scr
	}
	u.update()
	return uint32(v), nil
}

// PortWrite implements hv.PortDevice. Writes to the read-only LSR and
// MSR are ignored (the datasheet reserves them for factory test);
// writable registers keep only their defined bits.
func (u *UART) PortWrite(vcpu int, off uint16, size int, val uint32) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.check(true, off, size); err != nil {
		return err
	}
	dlab := u.lcr&(1<<LCR_DLAB) != 0
	v := uint8(val)
	switch off {
	case THR:
		if dlab {
			u.dll = v
		} else {
			u.tx(v)
		}
	case IER:
		if dlab {
			u.dlm = v
			break
		}
		// Turning ETBEI on while THR is empty (always, here) raises
		// the THR empty interrupt, which drivers rely on to start
		// interrupt-driven transmission.
		if v&(1<<IER_ETBEI) != 0 && u.ier&(1<<IER_ETBEI) == 0 {
			u.thre = true
		}
		u.ier = v & ierMask
	case FCR:
		u.writeFCR(v)
	case LCR:
		u.lcr = v
	case MCR:
		u.mcr = v & mcrMask
		u.trackModem()
	case LSR, MSR:
	case SCR:
		u.scr = v
	}
	u.update()
	return nil
}

// writeFCR applies a FIFO Control write (§8.5): changing bit 0 switches
// between FIFO and 16450 mode and clears the FIFOs; bit 1 clears the
// receive FIFO; bit 2 (transmit FIFO reset) has nothing to clear. The
// other bits are only programmed while bit 0 is written as 1.
func (u *UART) writeFCR(v uint8) {
	if (v^u.fcr)&(1<<FCR_FIFO_ENABLE) != 0 || v&(1<<FCR_RCVR_RESET) != 0 {
		u.flushRX()
	}
	if v&(1<<FCR_FIFO_ENABLE) == 0 {
		u.fcr = 0
		return
	}
	u.fcr = v & fcrMask
}

// Input pushes bytes received from the host side into the receive FIFO
// and returns how many were accepted, in order from the start of b. The
// rest did not fit and are counted in Stats.RXDropped; a caller that
// wants back-pressure keeps them and offers them again later. The FIFO
// takes 16 bytes in FIFO mode and one byte otherwise, and nothing in
// loopback mode, where the serial input is disconnected (§8.8); RXSpace
// says how many bytes would fit.
func (u *UART) Input(b []byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range b {
		if u.loop() || !u.push(c) {
			break
		}
		n++
	}
	u.stats.RXBytes += uint64(n)
	u.stats.RXDropped += uint64(len(b) - n)
	u.update()
	return n
}

// RXSpace returns how many bytes Input would accept now.
func (u *UART) RXSpace() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.loop() {
		return 0
	}
	return max(0, u.capacity()-u.count)
}
