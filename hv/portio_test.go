// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import (
	"errors"
	"testing"
)

// portLog is a fake PortDevice that records accesses and answers reads
// with a fixed value (all bits set, to check the bus masks it).
type portLog struct {
	reads, writes []portAccess
	fail          error
}

type portAccess struct {
	vcpu int
	off  uint16
	size int
	val  uint32
}

func (d *portLog) PortRead(vcpu int, off uint16, size int) (uint32, error) {
	d.reads = append(d.reads, portAccess{vcpu, off, size, 0})
	if d.fail != nil {
		return 0, d.fail
	}
	return 0xffff_ffff, nil
}

func (d *portLog) PortWrite(vcpu int, off uint16, size int, val uint32) error {
	d.writes = append(d.writes, portAccess{vcpu, off, size, val})
	return d.fail
}

func TestPortRegister(t *testing.T) {
	var b PortBus
	com1, pit, top := &portLog{}, &portLog{}, &portLog{}
	if err := b.Register("com1", 0x3f8, 8, com1); err != nil {
		t.Fatal(err)
	}
	if err := b.Register("pit", 0x40, 4, pit); err != nil {
		t.Fatal(err)
	}
	// A range may end exactly at the top of the port space.
	if err := b.Register("top", 0xfff0, 0x10, top); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		base uint16
		size uint32
		want error
	}{
		{0x100, 0, ErrEmptyRegion},
		{0xfff0, 0x11, ErrEmptyRegion},
		{0, PortSpace + 1, ErrEmptyRegion},
		{0xffff, 0xffff_ffff, ErrEmptyRegion}, // would wrap a uint32
		{0x3f0, 9, ErrOverlap},                // ends inside com1
		{0x3ff, 1, ErrOverlap},                // last port of com1
		{0x3fc, 2, ErrOverlap},
		{0, PortSpace, ErrOverlap},
		{0x43, 1, ErrOverlap},
	}
	for _, c := range bad {
		if err := b.Register("bad", c.base, c.size, &portLog{}); !errors.Is(err, c.want) {
			t.Errorf("Register(%#x, %#x) = %v, want %v", c.base, c.size, err, c.want)
		}
	}
	rs := b.Ranges()
	if len(rs) != 3 || rs[0].Name != "pit" || rs[1].Name != "com1" || rs[2].Name != "top" {
		t.Fatalf("ranges %v", rs)
	}
	// Adjacent ranges are fine.
	if err := b.Register("com1-next", 0x400, 1, &portLog{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Register("pit-prev", 0x3f, 1, &portLog{}); err != nil {
		t.Fatal(err)
	}
	for port, want := range map[uint16]string{
		0x3f: "pit-prev", 0x40: "pit", 0x43: "pit", 0x44: "", 0x3f7: "", 0x3f8: "com1",
		0x3ff: "com1", 0x400: "com1-next", 0x401: "", 0: "", 0xffef: "", 0xfff0: "top", 0xffff: "top",
	} {
		got := ""
		if r := b.Find(port); r != nil {
			got = r.Name
		}
		if got != want {
			t.Errorf("Find(%#x) = %q, want %q", port, got, want)
		}
	}
	var empty PortBus
	if empty.Find(0) != nil || len(empty.Ranges()) != 0 {
		t.Fatal("empty bus finds something")
	}
}

func TestPortDispatch(t *testing.T) {
	var b PortBus
	d := &portLog{}
	if err := b.Register("dev", 0x3f8, 8, d); err != nil {
		t.Fatal(err)
	}
	// Reads are masked to the access size.
	for size, want := range map[int]uint32{1: 0xff, 2: 0xffff, 4: 0xffff_ffff} {
		if v, err := b.Dispatch(1, 0x3f8, size, false, 0); err != nil || v != want {
			t.Errorf("%d-byte read = %#x, %v", size, v, err)
		}
	}
	// Writes are masked before the device sees them.
	if _, err := b.Dispatch(2, 0x3fd, 1, true, 0x1234_5678); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dispatch(2, 0x3fa, 2, true, 0x1234_5678); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dispatch(2, 0x3fc, 4, true, 0x1234_5678); err != nil {
		t.Fatal(err)
	}
	want := []portAccess{{2, 5, 1, 0x78}, {2, 2, 2, 0x5678}, {2, 4, 4, 0x1234_5678}}
	if len(d.writes) != len(want) {
		t.Fatalf("writes %v", d.writes)
	}
	for i, w := range want {
		if d.writes[i] != w {
			t.Errorf("write %d = %+v, want %+v", i, d.writes[i], w)
		}
	}
	if d.reads[0].vcpu != 1 || d.reads[0].off != 0 {
		t.Fatalf("reads %v", d.reads)
	}
	r := b.Find(0x3f8)
	if r.Reads != 3 || r.Writes != 3 || r.Errors != 0 {
		t.Fatalf("counters %+v", r)
	}

	// Straddling the range end: refused before the device is called.
	for _, c := range []struct {
		port uint16
		size int
	}{{0x3ff, 2}, {0x3fe, 4}, {0x3fd, 4}} {
		if _, err := b.Dispatch(0, c.port, c.size, false, 0); !errors.Is(err, ErrBadAccess) {
			t.Errorf("%d bytes at %#x: %v", c.size, c.port, err)
		}
		if _, err := b.Dispatch(0, c.port, c.size, true, 0); !errors.Is(err, ErrBadAccess) {
			t.Errorf("%d bytes at %#x: %v", c.size, c.port, err)
		}
	}
	if r.Errors != 6 || len(d.reads) != 3 || len(d.writes) != 3 {
		t.Fatalf("straddles reached the device: %+v", r)
	}

	// Bad sizes: no device is looked up or counted.
	for _, size := range []int{0, 3, 8, -1, 1 << 30} {
		if _, err := b.Dispatch(0, 0x3f8, size, false, 0); !errors.Is(err, ErrBadAccess) {
			t.Errorf("size %d: %v", size, err)
		}
	}
	if r.Errors != 6 || r.Reads != 3 || b.Unclaimed != 0 {
		t.Fatalf("bad sizes counted: %+v unclaimed %d", r, b.Unclaimed)
	}

	// Unclaimed ports.
	for _, port := range []uint16{0x80, 0x3f7, 0x400, 0xffff, 0} {
		if v, err := b.Dispatch(0, port, 1, false, 0); err != ErrNoDevice || v != 0 {
			t.Errorf("read %#x = %#x, %v", port, v, err)
		}
	}
	if _, err := b.Dispatch(0, 0x80, 1, true, 0x42); err != ErrNoDevice {
		t.Fatal(err)
	}
	if b.Unclaimed != 6 {
		t.Fatalf("unclaimed %d", b.Unclaimed)
	}
	// A 4-byte access starting just below a range is unclaimed, not
	// forwarded: port I/O is decoded on its first port.
	if _, err := b.Dispatch(0, 0x3f6, 4, false, 0); err != ErrNoDevice {
		t.Fatal(err)
	}

	// Device errors are wrapped and counted.
	sentinel := errors.New("boom")
	d.fail = sentinel
	if _, err := b.Dispatch(0, 0x3f9, 1, false, 0); !errors.Is(err, sentinel) {
		t.Fatalf("read: %v", err)
	}
	if _, err := b.Dispatch(0, 0x3f9, 1, true, 0); !errors.Is(err, sentinel) {
		t.Fatalf("write: %v", err)
	}
	if r.Errors != 8 {
		t.Fatalf("errors %d", r.Errors)
	}
}

// TestPortFullSpace registers one range covering every port and checks
// the last port and the overflow arithmetic at the top of the space.
func TestPortFullSpace(t *testing.T) {
	var b PortBus
	d := &portLog{}
	if err := b.Register("all", 0, PortSpace, d); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dispatch(0, 0xffff, 1, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dispatch(0, 0xfffc, 4, true, 1); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{2, 4} {
		if _, err := b.Dispatch(0, 0xffff, size, false, 0); !errors.Is(err, ErrBadAccess) {
			t.Fatalf("%d bytes at 0xffff: %v", size, err)
		}
	}
	if _, err := b.Dispatch(0, 0xfffd, 4, false, 0); !errors.Is(err, ErrBadAccess) {
		t.Fatal("wrap at 0xfffd")
	}
}
