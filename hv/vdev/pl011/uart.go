// hv/vdev/pl011: an emulated ARM PrimeCell PL011 UART for guests.
// SPDX-License-Identifier: BSD-3-Clause

// Package pl011 emulates an ARM PrimeCell UART (PL011) r1p5 for a guest,
// as the console of a VM: the guest's transmitted bytes go to a host
// io.Writer (typically a Ring log plus an attached console), and the host
// pushes received bytes in with Input. It follows the PrimeCell UART
// (PL011) Technical Reference Manual, ARM DDI 0183G, and is written for
// what Linux's amba-pl011 driver and earlycon expect.
//
// The model is a UART whose transmitter never waits: a byte written to
// UARTDR leaves at once, so the transmit FIFO is always empty (TXFE=1,
// TXFF=0, BUSY=0) and the baud rate, line control and IrDA registers are
// stored but have no effect. The receive FIFO is 32 bytes deep by default
// (one byte when UARTLCR_H.FEN is clear, as in character mode).
//
// Every access is guest-controlled and never panics: unknown offsets
// read as zero and ignore writes (counted in Stats.Unknown), and an
// access that is not 1, 2 or 4 bytes at a 4-byte aligned offset inside
// the 4 KiB window fails with an error wrapping hv.ErrBadAccess (counted
// in Stats.BadAccesses), which the caller turns into an abort.
//
// It is pure Go with no build tags: it runs on every target
// (GOOS=tamago arm64 and amd64) and on the host.
package pl011

import (
	"fmt"
	"io"
	"sync"

	"github.com/tamavisor/tamavisor/hv"
	hw "github.com/tamavisor/tamavisor/soc/arm/pl011"
)

// Register offsets (ARM DDI 0183G §3.2, Table 3-1 "UART register
// summary"): the same registers the physical driver programs, so the
// offsets are taken from it rather than written twice.
const (
	UARTDR    = hw.UARTDR
	UARTRSR   = hw.UARTRSR
	UARTECR   = hw.UARTECR
	UARTFR    = hw.UARTFR
	UARTILPR  = hw.UARTILPR
	UARTIBRD  = hw.UARTIBRD
	UARTFBRD  = hw.UARTFBRD
	UARTLCR_H = hw.UARTLCR_H
	UARTCR    = hw.UARTCR
	UARTIFLS  = hw.UARTIFLS
	UARTIMSC  = hw.UARTIMSC
	UARTRIS   = hw.UARTRIS
	UARTMIS   = hw.UARTMIS
	UARTICR   = hw.UARTICR
	UARTDMACR = hw.UARTDMACR

	UARTPeriphID0 = 0xfe0 // §3.3.15 Peripheral Identification Registers
	UARTPeriphID1 = 0xfe4
	UARTPeriphID2 = 0xfe8
	UARTPeriphID3 = 0xfec
	UARTPCellID0  = 0xff0 // §3.3.19 PrimeCell Identification Registers
	UARTPCellID1  = 0xff4
	UARTPCellID2  = 0xff8
	UARTPCellID3  = 0xffc

	// Size is the register window: one 4 KiB page (§3.2).
	Size = 0x1000
)

// Identification values of a PL011 r1p5 (§3.3.15-3.3.22): part number
// 0x011, designer 0x41 (ARM), revision 3; the PrimeCell ID 0xB105F00D.
// Linux's amba bus reads them to match the "arm,primecell" driver.
var idRegs = [8]uint32{0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1}

// UARTFR bits (§3.3.3).
const (
	FR_CTS  = 0
	FR_DSR  = 1
	FR_DCD  = 2
	FR_BUSY = 3
	FR_RXFE = 4
	FR_TXFF = 5
	FR_RXFF = 6
	FR_TXFE = 7
	FR_RI   = 8
)

// UARTLCR_H bits (§3.3.7).
const LCR_H_FEN = 4 // enable FIFOs

// UARTCR bits (§3.3.8).
const (
	CR_UARTEN = 0
	CR_LBE    = 7 // loopback enable
	CR_TXE    = 8
	CR_RXE    = 9
)

// Interrupt bits, at the same position in UARTIMSC, UARTRIS, UARTMIS and
// UARTICR (§3.3.10-§3.3.13): the RIMIM/RIRMIS/RIMMIS/RIMIC bit is
// INT_RI, and so on.
const (
	INT_RI  = 0  // nUARTRI modem
	INT_CTS = 1  // nUARTCTS modem
	INT_DCD = 2  // nUARTDCD modem
	INT_DSR = 3  // nUARTDSR modem
	INT_RX  = 4  // receive
	INT_TX  = 5  // transmit
	INT_RT  = 6  // receive timeout
	INT_FE  = 7  // framing error
	INT_PE  = 8  // parity error
	INT_BE  = 9  // break error
	INT_OE  = 10 // overrun error

	INT_MASK = 0x7ff
)

// Writable widths of the stored registers (§3.3.4-§3.3.14).
const (
	ilprMask  = 0xff
	ibrdMask  = 0xffff
	fbrdMask  = 0x3f
	lcrhMask  = 0xff
	crMask    = 0xff87 // bits 6:3 are reserved
	iflsMask  = 0x3f
	dmacrMask = 0x7
)

// Reset values (§3.2 Table 3-1).
const (
	crReset   = 1<<CR_RXE | 1<<CR_TXE // 0x0300
	iflsReset = 0x12                  // both trigger levels at 1/2
)

// DefaultRXDepth is the receive FIFO depth of a PL011 r1p5 (§2.1).
// MaxRXDepth bounds what NewWithFIFO accepts.
const (
	DefaultRXDepth = 32
	MaxRXDepth     = 4096
)

// Stats counts what the UART has done. All counters only grow.
type Stats struct {
	TXBytes      uint64 // bytes the guest wrote to UARTDR
	RXBytes      uint64 // bytes Input accepted into the receive FIFO
	RXDropped    uint64 // bytes refused because the receive FIFO was full (Input or loopback)
	BadAccesses  uint64 // accesses refused with hv.ErrBadAccess
	Unknown      uint64 // accesses to unimplemented offsets (RAZ/WI)
	OutputErrors uint64 // writes to the output sink that failed
}

// UART is one emulated PL011. It implements hv.MMIODevice for the guest
// and Input for the host; both sides may run on different goroutines.
type UART struct {
	name string
	out  io.Writer
	irq  hv.IRQLine

	mu    sync.Mutex
	fifo  []byte // receive FIFO storage, len = configured depth
	head  int    // index of the oldest byte
	count int    // bytes waiting

	rsr, ilpr, ibrd, fbrd, lcrh, cr, ifls, imsc, dmacr uint32
	// txris is UARTRIS.TXRIS, a latch: set at reset and after every
	// UARTDR write (the transmit FIFO drains at once), cleared by
	// UARTICR.TXIC.
	txris bool
	level bool // last level driven on irq
	stats Stats
	txb   [1]byte
}

// New returns a PL011 named name (for messages) in its reset state, with
// a DefaultRXDepth receive FIFO. Bytes the guest transmits are written to
// out, one Write per byte, in order; out may be nil to discard them. out
// is called with the UART's lock held, so it must not block for long
// and must not call back into the UART.
//
// irq is the UART's interrupt line (UARTINTR, the OR of the masked
// interrupts, §3.4); it may be nil. SetLevel is called, with the lock
// held, whenever (UARTRIS & UARTIMSC) != 0 changes; the line is taken to
// be low at construction.
func New(name string, out io.Writer, irq hv.IRQLine) *UART {
	return NewWithFIFO(name, out, irq, DefaultRXDepth)
}

// NewWithFIFO is New with a receive FIFO of depth bytes, clamped to
// [1, MaxRXDepth].
func NewWithFIFO(name string, out io.Writer, irq hv.IRQLine, depth int) *UART {
	depth = max(1, min(depth, MaxRXDepth))
	u := &UART{name: name, out: out, irq: irq, fifo: make([]byte, depth)}
	u.reset()
	return u
}

// Name returns the name given to New.
func (u *UART) Name() string { return u.name }

// Reset puts the registers back to their reset values (§3.2 Table 3-1)
// and empties the receive FIFO, as a guest reboot does. The counters are
// kept. The interrupt line goes low if it was high.
func (u *UART) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reset()
	u.update()
}

func (u *UART) reset() {
	u.head, u.count = 0, 0
	u.rsr, u.ilpr, u.ibrd, u.fbrd, u.lcrh, u.imsc, u.dmacr = 0, 0, 0, 0, 0, 0, 0
	u.cr = crReset
	u.ifls = iflsReset
	u.txris = true // the empty transmit FIFO is at or below any trigger level
}

// Stats returns a snapshot of the counters.
func (u *UART) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

// Level reports the level last driven on the interrupt line, which is
// always (UARTRIS & UARTIMSC) != 0.
func (u *UART) Level() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.level
}

// capacity is the usable receive depth: one byte in character mode
// (UARTLCR_H.FEN clear, §3.3.7), the whole FIFO otherwise.
func (u *UART) capacity() int {
	if u.lcrh&(1<<LCR_H_FEN) == 0 {
		return 1
	}
	return len(u.fifo)
}

// push adds b to the receive FIFO, reporting false (and counting a drop)
// when it is full.
func (u *UART) push(b byte) bool {
	if u.count >= u.capacity() {
		u.stats.RXDropped++
		return false
	}
	u.fifo[(u.head+u.count)%len(u.fifo)] = b
	u.count++
	return true
}

func (u *UART) pop() (byte, bool) {
	if u.count == 0 {
		return 0, false
	}
	b := u.fifo[u.head]
	u.head = (u.head + 1) % len(u.fifo)
	u.count--
	return b, true
}

// ris computes UARTRIS (§3.3.11). There is no receive trigger level nor
// timeout to model: RXRIS and RTRIS are both set while the receive FIFO
// holds data and clear when the guest has read it all, so a driver that
// enables either (Linux enables both) is interrupted until it drains the
// FIFO, and writing RXIC/RTIC while data remains has no lasting effect.
// The modem status and error interrupts never assert: the virtual line
// never changes state and never corrupts a character.
func (u *UART) ris() uint32 {
	var r uint32
	if u.txris {
		r |= 1 << INT_TX
	}
	if u.count > 0 {
		r |= 1<<INT_RX | 1<<INT_RT
	}
	return r
}

// fr computes UARTFR (§3.3.3). The transmit FIFO is always empty and
// never busy. CTS, DSR and DCD read as asserted: the virtual line is
// always connected, so neither CTS flow control nor carrier detect in
// the guest ever waits.
func (u *UART) fr() uint32 {
	f := uint32(1<<FR_TXFE | 1<<FR_CTS | 1<<FR_DSR | 1<<FR_DCD)
	if u.count == 0 {
		f |= 1 << FR_RXFE
	}
	if u.count >= u.capacity() {
		f |= 1 << FR_RXFF
	}
	return f
}

// update drives the interrupt line after a state change (§3.4: UARTINTR
// is the OR of the masked interrupts).
func (u *UART) update() {
	l := u.ris()&u.imsc != 0
	if l == u.level {
		return
	}
	u.level = l
	if u.irq != nil {
		u.irq.SetLevel(l)
	}
}

// tx transmits one byte written to UARTDR: to the output sink, or back
// into the receive FIFO in loopback mode (UARTCR.LBE, §3.3.8). It is
// sent whether or not UARTCR.UARTEN and TXE are set, as QEMU's model
// does, so an early console that assumes firmware enabled the UART still
// prints.
func (u *UART) tx(b byte) {
	u.stats.TXBytes++
	u.txris = true // the byte left at once: the FIFO is empty again
	if u.cr&(1<<CR_LBE) != 0 {
		u.push(b)
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

// check validates an access: 1, 2 or 4 bytes at a 4-byte aligned offset
// inside the window. The PL011 is an APB slave with 32-bit registers;
// narrower accesses see the low bits of the register.
func (u *UART) check(write bool, off uint64, size int) error {
	if (size == 1 || size == 2 || size == 4) && off%4 == 0 && off < Size {
		return nil
	}
	u.stats.BadAccesses++
	dir := "read"
	if write {
		dir = "write"
	}
	return fmt.Errorf("%w: pl011 %d-byte %s at offset %#x", hv.ErrBadAccess, size, dir, off)
}

// MMIORead implements hv.MMIODevice. Reading UARTDR takes the oldest byte
// from the receive FIFO (zero, with no error bits, when it is empty).
// Write-only UARTICR reads as zero.
func (u *UART) MMIORead(vcpu int, off uint64, size int) (uint64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.check(false, off, size); err != nil {
		return 0, err
	}
	var v uint32
	switch off {
	case UARTDR:
		b, _ := u.pop()
		v = uint32(b)
		u.update()
	case UARTRSR:
		v = u.rsr
	case UARTFR:
		v = u.fr()
	case UARTILPR:
		v = u.ilpr
	case UARTIBRD:
		v = u.ibrd
	case UARTFBRD:
		v = u.fbrd
	case UARTLCR_H:
		v = u.lcrh
	case UARTCR:
		v = u.cr
	case UARTIFLS:
		v = u.ifls
	case UARTIMSC:
		v = u.imsc
	case UARTRIS:
		v = u.ris()
	case UARTMIS:
		v = u.ris() & u.imsc
	case UARTICR:
		v = 0
	case UARTDMACR:
		v = u.dmacr
	default:
		if off >= UARTPeriphID0 {
			v = idRegs[(off-UARTPeriphID0)/4]
		} else {
			u.stats.Unknown++
		}
	}
	return uint64(v), nil
}

// MMIOWrite implements hv.MMIODevice. Writes to read-only registers
// (UARTFR, UARTRIS, UARTMIS, the ID registers) are ignored; writable
// registers keep only their defined bits.
func (u *UART) MMIOWrite(vcpu int, off uint64, size int, val uint64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.check(true, off, size); err != nil {
		return err
	}
	v := uint32(val)
	switch off {
	case UARTDR:
		u.tx(byte(v))
	case UARTECR:
		u.rsr = 0 // any write clears the error flags (§3.3.2)
	case UARTFR, UARTRIS, UARTMIS:
	case UARTILPR:
		u.ilpr = v & ilprMask
	case UARTIBRD:
		u.ibrd = v & ibrdMask
	case UARTFBRD:
		u.fbrd = v & fbrdMask
	case UARTLCR_H:
		// Bytes already received stay readable when FEN is cleared;
		// only new ones see the one-byte holding register.
		u.lcrh = v & lcrhMask
	case UARTCR:
		u.cr = v & crMask
	case UARTIFLS:
		u.ifls = v & iflsMask
	case UARTIMSC:
		u.imsc = v & INT_MASK
	case UARTICR:
		if v&(1<<INT_TX) != 0 {
			u.txris = false
		}
	case UARTDMACR:
		u.dmacr = v & dmacrMask
	default:
		if off < UARTPeriphID0 {
			u.stats.Unknown++
		}
	}
	u.update()
	return nil
}

// Input pushes bytes received from the host side into the receive FIFO
// and returns how many were accepted, in order from the start of b. The
// rest did not fit and are counted in Stats.RXDropped; a caller that
// wants back-pressure instead keeps them and offers them again later.
// Bytes are accepted whether or not the guest has enabled the receiver.
func (u *UART) Input(b []byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range b {
		if !u.push(c) {
			u.stats.RXDropped += uint64(len(b) - n - 1)
			break
		}
		n++
	}
	u.stats.RXBytes += uint64(n)
	u.update()
	return n
}

// RXSpace returns how many bytes Input would accept now: the room left
// in the receive FIFO at its current depth (one byte in all while the
// guest leaves UARTLCR_H.FEN clear, as it is from reset until its driver
// enables the FIFOs).
func (u *UART) RXSpace() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return max(0, u.capacity()-u.count)
}
