// hv/vdev/pl011: an emulated ARM PrimeCell PL011 UART for guests.
// SPDX-License-Identifier: BSD-3-Clause

package pl011

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// fuzzOffsets are the offsets an op byte below 0x80 selects: every
// register, the ID block and two reserved holes.
var fuzzOffsets = []uint64{
	UARTDR, UARTRSR, UARTFR, UARTILPR, UARTIBRD, UARTFBRD, UARTLCR_H, UARTCR,
	UARTIFLS, UARTIMSC, UARTRIS, UARTMIS, UARTICR, UARTDMACR,
	UARTPeriphID0, UARTPeriphID3, UARTPCellID0, UARTPCellID3, 0x008, 0x04c,
}

// fuzzSizes are the access sizes the low three bits of an op select,
// legal and not.
var fuzzSizes = [8]int{4, 4, 2, 1, 8, 3, 0, 4}

// FuzzUART guards ARM DDI 0183G §3.3-§3.4 as emulated: any sequence of
// guest accesses, host input and resets never panics, illegal accesses
// fail with hv.ErrBadAccess and nothing else does, and after every step
// the interrupt line equals (UARTRIS & UARTIMSC) != 0, UARTMIS equals
// that AND, UARTFR.RXFE agrees with RXRIS, and every transmitted byte
// reached the output or, in loopback, the receive FIFO.
//
// Encoding, per step: an op byte whose top two bits choose read (0),
// write (1), Input (2) or Reset (3). Reads and writes take an offset byte
// (below 0x80: fuzzOffsets[b%len]; else (b&0x7f)*33, which reaches
// unaligned and out-of-window offsets) and the op's low three bits pick
// the size from fuzzSizes; writes then take two value bytes, little
// endian. Input takes op&0x3f bytes. Seeds: testdata/fuzz/FuzzUART.
func FuzzUART(f *testing.F) {
	f.Add([]byte{0x40, 9, 0x30, 0, 0x40, 0, 'h', 0, 0x84, 'a', 'b', 'c', 'd', 0x00, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		l := &line{}
		u := New("fuzz", &out, l)
		loopedBack := uint64(0)
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
				ob := get()
				off := fuzzOffsets[int(ob)%len(fuzzOffsets)]
				if ob >= 0x80 {
					off = uint64(ob&0x7f) * 33
				}
				size := fuzzSizes[op&7]
				legal := size != 8 && size != 3 && size != 0 && off%4 == 0 && off < Size
				var err error
				if op>>6 == 0 {
					_, err = u.MMIORead(0, off, size)
				} else {
					val := uint64(get()) | uint64(get())<<8
					if legal && off == UARTDR {
						cr, _ := u.MMIORead(0, UARTCR, 4)
						if cr&(1<<CR_LBE) != 0 {
							loopedBack++
						}
					}
					err = u.MMIOWrite(0, off, size, val)
				}
				if legal && err != nil {
					t.Fatalf("legal %d-byte access at %#x: %v", size, off, err)
				}
				if !legal && !errors.Is(err, hv.ErrBadAccess) {
					t.Fatalf("illegal %d-byte access at %#x: %v", size, off, err)
				}
			case 2:
				n := int(op & 0x3f)
				n = min(n, len(data))
				in := data[:n]
				data = data[n:]
				if got := u.Input(in); got < 0 || got > n {
					t.Fatalf("Input(%d bytes) = %d", n, got)
				}
			case 3:
				u.Reset()
			}
			ris, _ := u.MMIORead(0, UARTRIS, 4)
			imsc, _ := u.MMIORead(0, UARTIMSC, 4)
			mis, _ := u.MMIORead(0, UARTMIS, 4)
			fr, _ := u.MMIORead(0, UARTFR, 4)
			if mis != ris&imsc {
				t.Fatalf("MIS %#x != RIS %#x & IMSC %#x", mis, ris, imsc)
			}
			if l.high != (mis != 0) || u.Level() != l.high || l.redundant != 0 {
				t.Fatalf("line %v (redundant %d), MIS %#x", l.high, l.redundant, mis)
			}
			if (fr&(1<<FR_RXFE) == 0) != (ris&(1<<INT_RX) != 0) {
				t.Fatalf("FR %#x disagrees with RIS %#x", fr, ris)
			}
			if fr&(1<<FR_TXFF|1<<FR_BUSY) != 0 {
				t.Fatalf("FR %#x: transmitter never fills", fr)
			}
			if s := u.Stats(); s.TXBytes != uint64(out.Len())+loopedBack {
				t.Fatalf("TX %d, output %d, looped back %d", s.TXBytes, out.Len(), loopedBack)
			}
		}
	})
}
