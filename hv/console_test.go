// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import (
	"bytes"
	"testing"
	"time"
)

// fifoUART delivers its bytes only after `idle` empty polls.
type fifoUART struct {
	bytes.Buffer
	rx   []byte
	idle int
}

func (u *fifoUART) Rx() (byte, bool) {
	if u.idle > 0 {
		u.idle--
		return 0, false
	}
	if len(u.rx) == 0 {
		return 0, false
	}
	b := u.rx[0]
	u.rx = u.rx[1:]
	return b, true
}

func TestPolledConsole(t *testing.T) {
	u := &fifoUART{rx: []byte("abc"), idle: 3}
	c := &PolledConsole{UART: u, PollInterval: time.Microsecond}
	buf := make([]byte, 2)
	if n, err := c.Read(buf); n != 2 || err != nil || string(buf) != "ab" {
		t.Fatalf("first read %q %d %v", buf[:n], n, err)
	}
	if n, _ := c.Read(buf); n != 1 || buf[0] != 'c' {
		t.Fatalf("second read %q", buf[:n])
	}
	if _, err := c.Write([]byte("out")); err != nil || u.String() != "out" {
		t.Fatalf("write %q %v", u.String(), err)
	}
}
