// hv/vdev/uart16550: an emulated 16550A UART for x86 guests.
// SPDX-License-Identifier: BSD-3-Clause

package uart16550

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// fuzzSizes are the access sizes bits 6:4 of an access byte select,
// legal (1) and not.
var fuzzSizes = [8]int{1, 1, 1, 1, 2, 4, 0, 3}

// FuzzUART guards PC16550D §8 as emulated: any sequence of guest port
// accesses, host input and resets never panics, illegal accesses fail
// with hv.ErrBadAccess and nothing else does, reads fit in a byte, and
// after every step the interrupt line equals "an enabled interrupt is
// pending (IIR bit 0 clear) AND MCR.OUT2 AND NOT loopback" with no
// redundant SetLevel calls, LSR.DR agrees with the receive FIFO, the
// FIFO never holds more than its mode allows, and the output never
// holds more bytes than the guest wrote to THR.
//
// Encoding, per step: an op byte whose top two bits choose read (0),
// write (1), Input (2) or Reset (3, when the low bit is set). Reads and
// writes take an access byte: bits 3:0 the offset (8-15 are outside the
// UART), bits 6:4 the size from fuzzSizes, bit 7 sets bits 31:8 of a
// written value (the UART must ignore them); writes then take a value
// byte. Input takes op&0x3f bytes. Seeds: testdata/fuzz/FuzzUART.
func FuzzUART(f *testing.F) {
	f.Add([]byte{0x40, 0x04, 0x08, 0x40, 0x01, 0x03, 0x40, 0x00, 'h', 0x00, 0x02, 0x83, 'a', 'b', 'c', 0x00, 0x00, 0xc1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		l := &line{}
		u := New("fuzz", &out, l)
		thrWrites := uint64(0)
		get := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		for steps := 0; len(data) > 0 && steps < 4096; steps++ {
			op := get()
			switch op >> 6 {
			case 0, 1:
				a := get()
				off := uint16(a & 0x0f)
				size := fuzzSizes[(a>>4)&7]
				legal := size == 1 && off < Size
				var err error
				if op>>6 == 0 {
					var v uint32
					v, err = u.PortRead(0, off, size)
					if v > 0xff {
						t.Fatalf("read at %d = %#x", off, v)
					}
				} else {
					val := uint32(get())
					if a&0x80 != 0 {
						val |= 0xffff_ff00
					}
					if legal && off == THR && u.lcr&(1<<LCR_DLAB) == 0 {
						thrWrites++
					}
					err = u.PortWrite(0, off, size, val)
				}
				if legal && err != nil {
					t.Fatalf("legal access at %d: %v", off, err)
				}
				if !legal && !errors.Is(err, hv.ErrBadAccess) {
					t.Fatalf("illegal %d-byte access at %d: %v", size, off, err)
				}
			case 2:
				n := min(int(op&0x3f), len(data))
				in := data[:n]
				data = data[n:]
				if got := u.Input(in); got < 0 || got > n {
					t.Fatalf("Input(%d bytes) = %d", n, got)
				}
			case 3:
				if op&1 != 0 {
					u.Reset()
				}
			}
			checkInvariants(t, u, l, &out, thrWrites)
		}
	})
}

// checkInvariants inspects the model without side effects (no register
// reads, which would acknowledge interrupts).
func checkInvariants(t *testing.T, u *UART, l *line, out *bytes.Buffer, thrWrites uint64) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.count < 0 || u.count > u.capacity() || u.capacity() > FIFODepth || u.head < 0 || u.head >= FIFODepth {
		t.Fatalf("FIFO count %d head %d capacity %d", u.count, u.head, u.capacity())
	}
	if (u.lsr()&(1<<LSR_DR) != 0) != (u.count > 0) {
		t.Fatalf("LSR %#x with %d bytes", u.lsr(), u.count)
	}
	if u.lsr()&(1<<LSR_THRE|1<<LSR_TEMT) != 1<<LSR_THRE|1<<LSR_TEMT {
		t.Fatalf("LSR %#x: transmitter busy", u.lsr())
	}
	iir := u.iir()
	pending := iir&IIR_NONE == 0
	want := pending && u.mcr&(1<<MCR_OUT2) != 0 && u.mcr&(1<<MCR_LOOP) == 0
	if u.level != want || l.level() != want {
		t.Fatalf("line %v (model %v), want %v: IIR %#x MCR %#x", l.level(), u.level, want, iir, u.mcr)
	}
	if l.redundant != 0 {
		t.Fatalf("%d redundant SetLevel calls", l.redundant)
	}
	if (iir>>IIR_FIFOS_SHIFT == IIR_FIFOS_MASK) != (u.fcr&(1<<FCR_FIFO_ENABLE) != 0) || iir&0x30 != 0 {
		t.Fatalf("IIR %#x with FCR %#x", iir, u.fcr)
	}
	if uint64(out.Len()) > thrWrites || u.stats.TXBytes != thrWrites {
		t.Fatalf("output %d bytes, TX %d, THR writes %d", out.Len(), u.stats.TXBytes, thrWrites)
	}
}
