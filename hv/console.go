// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import (
	"io"
	"time"
)

// UART is what a polled console needs from a serial driver.
type UART interface {
	io.Writer
	// Rx returns a received byte without blocking.
	Rx() (byte, bool)
}

// PolledConsole is a serial console that polls its UART's receive FIFO,
// for boards that do not take console interrupts. Read blocks until at
// least one byte arrives, sleeping PollInterval between empty polls.
type PolledConsole struct {
	UART         UART
	PollInterval time.Duration
}

func (c *PolledConsole) Write(p []byte) (int, error) { return c.UART.Write(p) }

// Read returns the bytes waiting in the receive FIFO, at least one.
func (c *PolledConsole) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	interval := c.PollInterval
	if interval <= 0 {
		interval = 2 * time.Millisecond
	}
	for {
		n := 0
		for n < len(p) {
			b, ok := c.UART.Rx()
			if !ok {
				break
			}
			p[n] = b
			n++
		}
		if n > 0 {
			return n, nil
		}
		time.Sleep(interval)
	}
}
