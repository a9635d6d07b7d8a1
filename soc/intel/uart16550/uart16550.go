// soc/intel/uart16550: NS16550A / PC16550D UART driver.
// SPDX-License-Identifier: BSD-3-Clause

// Package uart16550 drives the 16550-compatible UART of PCs, the console
// of the qemu-q35-amd64 board (COM1, I/O ports 0x3f8-0x3ff) and of Bochs.
// It is host-tested against reg.Fake.
//
// The driver follows the National Semiconductor PC16550D datasheet
// ("PC16550D Universal Asynchronous Receiver/Transmitter with FIFOs",
// June 1995), which the NS16550A matches for everything used here. It is
// polled: UART interrupts stay disabled. Every wait on the hardware is
// bounded, so a missing or wedged UART costs dropped bytes, never a hang.
//
// It is plain portable Go over reg.Bus8: the board passes a reg.Port on
// the target.
package uart16550

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tamavisor/tamavisor/soc/reg"
)

// Register offsets from the port base (PC16550D Table II "Summary of
// Registers"). Offsets 0 and 1 select the divisor latch when LCR.DLAB=1.
const (
	RBR = 0 // Receiver Buffer Register (read, DLAB=0)
	THR = 0 // Transmitter Holding Register (write, DLAB=0)
	DLL = 0 // Divisor Latch LSB (DLAB=1)
	IER = 1 // Interrupt Enable Register (DLAB=0)
	DLM = 1 // Divisor Latch MSB (DLAB=1)
	IIR = 2 // Interrupt Identification Register (read)
	FCR = 2 // FIFO Control Register (write)
	LCR = 3 // Line Control Register
	MCR = 4 // Modem Control Register
	LSR = 5 // Line Status Register
	MSR = 6 // Modem Status Register
	SCR = 7 // Scratch Register
)

// LCR fields (PC16550D §8.1 Line Control Register).
const (
	LCR_WLS_SHIFT = 0 // word length select
	LCR_WLS_MASK  = 0x3
	LCR_STB       = 2 // two stop bits
	LCR_PEN       = 3 // parity enable
	LCR_EPS       = 4 // even parity select
	LCR_STICK     = 5 // stick parity
	LCR_SBRK      = 6 // set break
	LCR_DLAB      = 7 // divisor latch access bit

	WLS_5 = 0b00
	WLS_6 = 0b01
	WLS_7 = 0b10
	WLS_8 = 0b11
)

// LSR bits (PC16550D §8.4 Line Status Register).
const (
	LSR_DR   = 0 // data ready
	LSR_OE   = 1 // overrun error
	LSR_PE   = 2 // parity error
	LSR_FE   = 3 // framing error
	LSR_BI   = 4 // break interrupt
	LSR_THRE = 5 // transmitter holding register (or FIFO) empty
	LSR_TEMT = 6 // transmitter empty
	LSR_ERR  = 7 // error in receiver FIFO

	// lsrErrors are the error bits counted by Rx.
	lsrErrors = 1<<LSR_OE | 1<<LSR_PE | 1<<LSR_FE | 1<<LSR_BI
)

// FCR fields (PC16550D §8.5 FIFO Control Register).
const (
	FCR_FIFO_ENABLE        = 0
	FCR_RCVR_RESET         = 1
	FCR_XMIT_RESET         = 2
	FCR_DMA_MODE           = 3
	FCR_RCVR_TRIGGER_SHIFT = 6
	FCR_RCVR_TRIGGER_MASK  = 0x3

	RCVR_TRIGGER_1  = 0b00
	RCVR_TRIGGER_4  = 0b01
	RCVR_TRIGGER_8  = 0b10
	RCVR_TRIGGER_14 = 0b11
)

// IER bits (PC16550D §8.7 Interrupt Enable Register); Init clears them all.
const (
	IER_ERBFI = 0 // received data available
	IER_ETBEI = 1 // transmitter holding register empty
	IER_ELSI  = 2 // receiver line status
	IER_EDSSI = 3 // modem status
)

// MCR bits (PC16550D §8.8 Modem Control Register). On PCs OUT2 gates the
// UART's interrupt line to the interrupt controller.
const (
	MCR_DTR  = 0
	MCR_RTS  = 1
	MCR_OUT1 = 2
	MCR_OUT2 = 3
	MCR_LOOP = 4
)

// BaseBaud is the baud rate at divisor 1: the PC's 1.8432 MHz crystal
// divided by 16 (PC16550D §8.3 Programmable Baud Generator, Table III).
const BaseBaud = 115200

// Errors returned by the driver, wrapped with %w together with the
// register values that explain them.
var (
	// ErrBaud means the baud rate is not BaseBaud divided by an integer
	// from 1 to 65535.
	ErrBaud = errors.New("uart16550: unsupported baud rate")
	// ErrTimeout means the transmitter stayed busy for the whole poll
	// bound.
	ErrTimeout = errors.New("uart16550: timeout")
)

// spinLimit bounds every poll of LSR. At 9600 baud one character leaves
// in about 1 ms, far less than 1<<20 port reads take. Tests lower it.
var spinLimit = 1 << 20

// UART is one 16550 instance.
type UART struct {
	// Regs holds the eight registers at offsets 0-7 from the port base
	// (e.g. reg.Port{Base: 0x3f8} for COM1).
	Regs reg.Bus8

	// Errors counts received characters that came with an overrun,
	// parity, framing or break indication (LSR bits 4:1).
	Errors atomic.Uint64
	// Dropped counts characters Tx discarded because the transmitter
	// never became ready.
	Dropped atomic.Uint64
}

// Divisor returns the divisor latch value for baud: BaseBaud/baud, which
// must be exact and fit 16 bits.
func Divisor(baud uint32) (uint16, error) {
	if baud == 0 || BaseBaud%baud != 0 || BaseBaud/baud > 0xffff {
		return 0, fmt.Errorf("%w: %d baud (divisor must be %d/baud, exact, 1 to 65535)",
			ErrBaud, baud, BaseBaud)
	}
	return uint16(BaseBaud / baud), nil
}

// Init programs the UART for baud 8N1: UART interrupts disabled (IER=0),
// divisor latched through LCR.DLAB, LCR = 8 data bits, no parity, one stop
// bit, both FIFOs enabled and cleared with a 14-byte receive trigger
// (FCR=0xc7), and DTR, RTS and OUT2 asserted (MCR=0x0b). Nothing is
// written when the baud rate is unsupported.
func (u *UART) Init(baud uint32) error {
	div, err := Divisor(baud)
	if err != nil {
		return err
	}
	u.Regs.Write8(IER, 0)
	u.Regs.Write8(LCR, 1<<LCR_DLAB)
	u.Regs.Write8(DLL, uint8(div))
	u.Regs.Write8(DLM, uint8(div>>8))
	u.Regs.Write8(LCR, WLS_8<<LCR_WLS_SHIFT)
	u.Regs.Write8(FCR, RCVR_TRIGGER_14<<FCR_RCVR_TRIGGER_SHIFT|
		1<<FCR_XMIT_RESET|1<<FCR_RCVR_RESET|1<<FCR_FIFO_ENABLE)
	u.Regs.Write8(MCR, 1<<MCR_OUT2|1<<MCR_RTS|1<<MCR_DTR)
	return nil
}

// tx waits for LSR.THRE and writes b to THR. It reports false, with the
// last LSR value, if THRE never rose.
func (u *UART) tx(b byte) (bool, uint8) {
	var lsr uint8
	for i := 0; i < spinLimit; i++ {
		if lsr = u.Regs.Read8(LSR); lsr&(1<<LSR_THRE) != 0 {
			u.Regs.Write8(THR, b)
			return true, lsr
		}
	}
	u.Dropped.Add(1)
	return false, lsr
}

// Tx transmits b, waiting (bounded) for LSR.THRE. If the transmitter never
// becomes ready the byte is dropped and counted in Dropped.
func (u *UART) Tx(b byte) {
	u.tx(b)
}

// Write transmits p as raw bytes (no newline translation). It implements
// io.Writer: if the transmitter stays busy it stops and returns the
// number of bytes sent so far with an error wrapping ErrTimeout.
func (u *UART) Write(p []byte) (int, error) {
	for n, b := range p {
		if ok, lsr := u.tx(b); !ok {
			return n, fmt.Errorf("%w: LSR.THRE never set, LSR=%#x", ErrTimeout, lsr)
		}
	}
	return len(p), nil
}

// Rx returns the next received byte, or false if none is waiting
// (LSR.DR clear); it never blocks. A byte that arrives with an overrun,
// parity, framing or break indication is still returned, and counted in
// Errors.
func (u *UART) Rx() (byte, bool) {
	lsr := u.Regs.Read8(LSR)
	if lsr&(1<<LSR_DR) == 0 {
		return 0, false
	}
	if lsr&lsrErrors != 0 {
		u.Errors.Add(1)
	}
	return u.Regs.Read8(RBR), true
}
