// hv/vdev/pl011: an emulated ARM PrimeCell PL011 UART for guests.
// SPDX-License-Identifier: BSD-3-Clause

package pl011

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

func TestRingWrap(t *testing.T) {
	r := NewRing(8)
	if r.Cap() != 8 || r.Len() != 0 || len(r.Bytes()) != 0 {
		t.Fatal("not empty")
	}
	fmt.Fprint(r, "abcde")
	if string(r.Bytes()) != "abcde" || r.Len() != 5 {
		t.Fatalf("%q", r.Bytes())
	}
	fmt.Fprint(r, "fghij") // wraps: keeps the last 8
	if string(r.Bytes()) != "cdefghij" || r.Len() != 8 || r.Written() != 10 {
		t.Fatalf("%q len %d written %d", r.Bytes(), r.Len(), r.Written())
	}
	if string(r.Tail(3)) != "hij" || string(r.Tail(100)) != "cdefghij" || len(r.Tail(0)) != 0 {
		t.Fatalf("tail %q", r.Tail(3))
	}
	// One write longer than the ring keeps its tail.
	n, err := r.Write([]byte("0123456789ABCDEF!"))
	if n != 17 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if string(r.Bytes()) != "9ABCDEF!" || r.Written() != 27 {
		t.Fatalf("%q written %d", r.Bytes(), r.Written())
	}
}

func TestRingSince(t *testing.T) {
	r := NewRing(4)
	fmt.Fprint(r, "ab")
	d, next, lost := r.Since(0)
	if string(d) != "ab" || next != 2 || lost != 0 {
		t.Fatalf("%q %d %d", d, next, lost)
	}
	fmt.Fprint(r, "cdefg") // positions 2..6; ring holds 3..6 "defg"
	d, next, lost = r.Since(next)
	if string(d) != "defg" || next != 7 || lost != 1 {
		t.Fatalf("%q %d %d", d, next, lost)
	}
	d, next, lost = r.Since(next)
	if len(d) != 0 || next != 7 || lost != 0 {
		t.Fatalf("caught up: %q %d %d", d, next, lost)
	}
	if d, next, _ = r.Since(100); len(d) != 0 || next != 7 {
		t.Fatalf("future: %q %d", d, next)
	}
	r.Reset()
	if r.Len() != 0 || r.Written() != 7 {
		t.Fatal("Reset")
	}
	fmt.Fprint(r, "h")
	if d, next, lost = r.Since(5); string(d) != "h" || next != 8 || lost != 2 {
		t.Fatalf("after reset: %q %d %d", d, next, lost)
	}
}

// TestRingModel compares the ring with a plain slice for many write
// sizes across the wrap point.
func TestRingModel(t *testing.T) {
	r := NewRing(0)
	if r.Cap() != DefaultRingSize {
		t.Fatalf("cap %d", r.Cap())
	}
	r = NewRing(37)
	var all []byte
	for i := 0; i < 300; i++ {
		p := bytes.Repeat([]byte{byte(i)}, i%50)
		r.Write(p)
		all = append(all, p...)
		want := all[max(0, len(all)-37):]
		if !bytes.Equal(r.Bytes(), want) {
			t.Fatalf("step %d: %v, want %v", i, r.Bytes(), want)
		}
	}
}

// TestRingAsUARTOutput wires a ring and a second writer behind a UART,
// as the hypervisor does for `vm log` plus an attached console.
func TestRingAsUARTOutput(t *testing.T) {
	r := NewRing(16)
	var console bytes.Buffer
	u := New("ttyAMA0", io.MultiWriter(r, &console), nil)
	for _, c := range []byte("hello, world\n") {
		wr(t, u, UARTDR, uint32(c))
	}
	if string(r.Bytes()) != "hello, world\n" || console.String() != "hello, world\n" {
		t.Fatalf("ring %q console %q", r.Bytes(), console.String())
	}
}
