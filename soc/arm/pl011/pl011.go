// soc/arm/pl011: ARM PrimeCell PL011 UART driver.
// SPDX-License-Identifier: BSD-3-Clause

// Package pl011 drives the ARM PrimeCell UART (PL011), the console of the
// qemu-virt-arm64 board (0x09000000) and of most Arm reference platforms.
//
// The driver follows the PrimeCell UART (PL011) Technical Reference
// Manual, ARM DDI 0183G (r1p5). It is polled: interrupts are masked and
// the hypervisor reads and writes the FIFOs itself. Every wait on the
// hardware is bounded, so a wedged UART costs a dropped byte or an error,
// never a hang.
//
// It is plain portable Go over reg.Bus: the board passes a reg.MMIO on the
// target, host tests pass a reg.Fake.
package pl011

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tamavisor/tamavisor/soc/reg"
)

// Register offsets (ARM DDI 0183G §3.2, Table 3-1 "UART register summary").
const (
	UARTDR    = 0x000 // §3.3.1 Data Register
	UARTRSR   = 0x004 // §3.3.2 Receive Status Register (read)
	UARTECR   = 0x004 // §3.3.2 Error Clear Register (write)
	UARTFR    = 0x018 // §3.3.3 Flag Register
	UARTILPR  = 0x020 // §3.3.4 IrDA Low-Power Counter Register
	UARTIBRD  = 0x024 // §3.3.5 Integer Baud Rate Register
	UARTFBRD  = 0x028 // §3.3.6 Fractional Baud Rate Register
	UARTLCR_H = 0x02c // §3.3.7 Line Control Register
	UARTCR    = 0x030 // §3.3.8 Control Register
	UARTIFLS  = 0x034 // §3.3.9 Interrupt FIFO Level Select Register
	UARTIMSC  = 0x038 // §3.3.10 Interrupt Mask Set/Clear Register
	UARTRIS   = 0x03c // §3.3.11 Raw Interrupt Status Register
	UARTMIS   = 0x040 // §3.3.12 Masked Interrupt Status Register
	UARTICR   = 0x044 // §3.3.13 Interrupt Clear Register
	UARTDMACR = 0x048 // §3.3.14 DMA Control Register
)

// UARTDR fields (ARM DDI 0183G §3.3.1).
const (
	DR_DATA_SHIFT = 0
	DR_DATA_MASK  = 0xff
	DR_FE         = 8  // framing error
	DR_PE         = 9  // parity error
	DR_BE         = 10 // break error
	DR_OE         = 11 // overrun error

	// DR_ERR_SHIFT/DR_ERR_MASK select the four error bits FE, PE, BE
	// and OE together.
	DR_ERR_SHIFT = DR_FE
	DR_ERR_MASK  = 0xf
)

// UARTFR bits (ARM DDI 0183G §3.3.3).
const (
	FR_CTS  = 0
	FR_DSR  = 1
	FR_DCD  = 2
	FR_BUSY = 3 // UART busy transmitting data
	FR_RXFE = 4 // receive FIFO empty
	FR_TXFF = 5 // transmit FIFO full
	FR_RXFF = 6 // receive FIFO full
	FR_TXFE = 7 // transmit FIFO empty
	FR_RI   = 8
)

// UARTIBRD and UARTFBRD fields (ARM DDI 0183G §3.3.5, §3.3.6). The baud
// rate divisor is BAUDDIV = UARTCLK / (16 * baud); IBRD holds its integer
// part and FBRD its fraction in 64ths.
const (
	IBRD_SHIFT = 0
	IBRD_MASK  = 0xffff
	FBRD_SHIFT = 0
	FBRD_MASK  = 0x3f
	FBRD_BITS  = 6 // fractional bits: FBRD counts 1/64ths
)

// UARTLCR_H fields (ARM DDI 0183G §3.3.7).
const (
	LCR_H_BRK        = 0 // send break
	LCR_H_PEN        = 1 // parity enable
	LCR_H_EPS        = 2 // even parity select
	LCR_H_STP2       = 3 // two stop bits
	LCR_H_FEN        = 4 // enable FIFOs
	LCR_H_WLEN_SHIFT = 5 // word length
	LCR_H_WLEN_MASK  = 0x3
	LCR_H_SPS        = 7 // stick parity select

	WLEN_5 = 0b00
	WLEN_6 = 0b01
	WLEN_7 = 0b10
	WLEN_8 = 0b11
)

// UARTCR bits (ARM DDI 0183G §3.3.8).
const (
	CR_UARTEN = 0 // UART enable
	CR_SIREN  = 1
	CR_SIRLP  = 2
	CR_LBE    = 7 // loopback enable
	CR_TXE    = 8 // transmit enable
	CR_RXE    = 9 // receive enable
	CR_DTR    = 10
	CR_RTS    = 11
	CR_RTSEN  = 14
	CR_CTSEN  = 15
)

// UARTICR: bits 10:0 clear the RI, CTS, DCD, DSR, RX, TX, RT, FE, PE, BE
// and OE interrupts (ARM DDI 0183G §3.3.13).
const ICR_ALL = 0x7ff

// Errors returned by the driver. They are wrapped with %w together with
// the register values that explain them.
var (
	// ErrTimeout means the UART did not reach the state the driver
	// waited for within the poll bound.
	ErrTimeout = errors.New("pl011: timeout")
	// ErrBaud means the requested baud rate cannot be reached from
	// ClockHz (divisor out of range, or zero baud).
	ErrBaud = errors.New("pl011: baud rate out of range")
)

// spinLimit bounds every poll of UARTFR. At 115200 baud one character
// leaves the FIFO in about 87 µs, far less than 1<<20 register reads take
// even on fast hardware. Tests lower it.
var spinLimit = 1 << 20

// UART is one PL011 instance. The zero value is not usable: set Regs.
//
// Methods may be called from several goroutines only as far as the
// hardware allows (bytes of concurrent writers interleave); the counters
// are atomic.
type UART struct {
	// Regs is the 4 KiB register window of the UART.
	Regs reg.Bus
	// ClockHz is the frequency of UARTCLK. Zero means unknown: Init
	// then leaves the baud rate divisor alone (QEMU ignores it).
	ClockHz uint32

	// Errors counts received characters that came with a framing,
	// parity, break or overrun error (UARTDR bits 11:8).
	Errors atomic.Uint64
	// Dropped counts characters Tx discarded because the transmit FIFO
	// stayed full for the whole poll bound.
	Dropped atomic.Uint64
}

// Divisor returns the UARTIBRD and UARTFBRD values for baud from a
// UARTCLK of clockHz, rounding to the nearest 1/64 as ARM DDI 0183G §3.3.6
// describes (FBRD = integer(fraction * 64 + 0.5)). It fails with ErrBaud
// when the divisor falls outside 1.0 to 65535.0, the range §3.3.6 allows.
func Divisor(clockHz, baud uint32) (ibrd, fbrd uint32, err error) {
	if baud == 0 || clockHz == 0 {
		return 0, 0, fmt.Errorf("%w: %d baud from UARTCLK %d Hz", ErrBaud, baud, clockHz)
	}
	// 64 * UARTCLK / (16 * baud), rounded to nearest; computing the
	// whole value at once lets a fraction of .99 carry into IBRD.
	div := (uint64(clockHz)*8/uint64(baud) + 1) / 2
	if div < 1<<FBRD_BITS || div > IBRD_MASK<<FBRD_BITS {
		return 0, 0, fmt.Errorf("%w: %d baud from UARTCLK %d Hz needs divisor %d/64",
			ErrBaud, baud, clockHz, div)
	}
	return uint32(div >> FBRD_BITS), uint32(div & FBRD_MASK), nil
}

// Init programs the UART for baud 8N1 with FIFOs enabled and every
// interrupt masked, following the sequence of ARM DDI 0183G §3.3.8
// (UARTCR): disable the UART, wait for the current character to finish,
// flush the transmit FIFO by clearing UARTLCR_H.FEN, reprogram, enable.
//
// UARTIBRD and UARTFBRD are written before UARTLCR_H because the three
// form one register that is latched by the UARTLCR_H write (§3.3.7). When
// ClockHz is zero the divisor is left as it is. Nothing is written when
// the baud rate is out of range.
func (u *UART) Init(baud uint32) error {
	var ibrd, fbrd uint32
	if u.ClockHz != 0 {
		var err error
		if ibrd, fbrd, err = Divisor(u.ClockHz, baud); err != nil {
			return err
		}
	}

	u.Regs.Write32(UARTCR, 0)
	if !reg.Wait(u.Regs, UARTFR, FR_BUSY, 1, 0, spinLimit) {
		return fmt.Errorf("%w: UARTFR.BUSY stuck after disable, UARTFR=%#x",
			ErrTimeout, u.Regs.Read32(UARTFR))
	}
	reg.Clear(u.Regs, UARTLCR_H, LCR_H_FEN)

	if u.ClockHz != 0 {
		u.Regs.Write32(UARTIBRD, ibrd<<IBRD_SHIFT)
		u.Regs.Write32(UARTFBRD, fbrd<<FBRD_SHIFT)
	}
	u.Regs.Write32(UARTLCR_H, WLEN_8<<LCR_H_WLEN_SHIFT|1<<LCR_H_FEN)

	u.Regs.Write32(UARTIMSC, 0)
	u.Regs.Write32(UARTICR, ICR_ALL)
	u.Regs.Write32(UARTCR, 1<<CR_UARTEN|1<<CR_TXE|1<<CR_RXE)
	return nil
}

// tx waits for room in the transmit FIFO and queues b. It reports false,
// with the last UARTFR value, if the FIFO stayed full.
func (u *UART) tx(b byte) (bool, uint32) {
	var fr uint32
	for i := 0; i < spinLimit; i++ {
		if fr = u.Regs.Read32(UARTFR); fr&(1<<FR_TXFF) == 0 {
			u.Regs.Write32(UARTDR, uint32(b))
			return true, fr
		}
	}
	u.Dropped.Add(1)
	return false, fr
}

// Tx transmits b, waiting (bounded) while the transmit FIFO is full. If
// the FIFO stays full the byte is dropped and counted in Dropped.
func (u *UART) Tx(b byte) {
	u.tx(b)
}

// Write transmits p as raw bytes (no newline translation). It implements
// io.Writer: if the transmit FIFO stays full it stops and returns the
// number of bytes queued so far with an error wrapping ErrTimeout.
func (u *UART) Write(p []byte) (int, error) {
	for n, b := range p {
		if ok, fr := u.tx(b); !ok {
			return n, fmt.Errorf("%w: UARTFR.TXFF stuck, UARTFR=%#x", ErrTimeout, fr)
		}
	}
	return len(p), nil
}

// Rx returns the next received byte, or false if the receive FIFO is
// empty; it never blocks. A character received with a framing, parity,
// break or overrun error is still returned, and counted in Errors.
func (u *UART) Rx() (byte, bool) {
	if u.Regs.Read32(UARTFR)&(1<<FR_RXFE) != 0 {
		return 0, false
	}
	dr := u.Regs.Read32(UARTDR)
	if (dr>>DR_ERR_SHIFT)&DR_ERR_MASK != 0 {
		u.Errors.Add(1)
	}
	return byte((dr >> DR_DATA_SHIFT) & DR_DATA_MASK), true
}
