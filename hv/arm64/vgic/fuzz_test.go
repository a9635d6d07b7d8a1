// vgic: software GICv3 distributor and redistributors for one VM.
// SPDX-License-Identifier: BSD-3-Clause

package vgic

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz input format. The first two bytes configure the GIC:
//
//	b[0]: vCPUs = 1 + b[0]%8, SPIs = {0, 32, 64, 988}[b[0]>>3&3]
//	b[1]: list registers per vCPU = 1 + b[1]%16
//
// then 8-byte records: op, a, b, c, then a 32-bit little-endian value.
// op&7 selects:
//
//	0-2  MMIO: frame op>>3&1 (0 GICD, 1 GICR), write op>>4&1,
//	     size {1, 2, 4, 8}[op>>5&3];
//	     GICD offset a | b<<8 | (c&1)<<16;
//	     GICR offset (c&0xf)*RedistStride + (c>>4&1)*SGIBase + (a | b<<8);
//	     c&0x80 narrows the 16-bit part to 0xfff (the dense registers)
//	3    injection op>>3&3: 0 SPI line 32+a%SPIs to level b&1,
//	     1 SetPPILevel(b%9, a, c&1), 2 RaiseEdge(b%9, a|(c&3)<<8),
//	     3 SGI(c%9, value | a<<32 | b<<40 | c<<48)
//	4    Flush(a%(vCPUs+1)) (vCPUs: an invalid index)
//	5    the guest runs on vCPU a%vCPUs, then Sync
//	6    HasPending(a%9), State(b%9, a|(c&3)<<8)
//	7    the guest runs on vCPU a%vCPUs, then Flush without Sync
//
// "The guest runs" changes list register i by value>>(2i)&3: 0 keeps it,
// 1 advances it as the virtual CPU interface would (pending to active,
// active to invalid), 2 deactivates it, 3 replaces it with garbage.
const (
	recSize = 8
	maxRecs = 1024 // bounds the time one input takes
)

var fuzzSPIs = [4]int{0, 32, 64, MaxSPIs}

type fuzzOp struct {
	op, a, b, c byte
	val         uint32
}

func encode(cfg0, cfg1 byte, ops ...fuzzOp) []byte {
	out := []byte{cfg0, cfg1}
	for _, o := range ops {
		out = append(out, o.op, o.a, o.b, o.c)
		out = binary.LittleEndian.AppendUint32(out, o.val)
	}
	return out
}

// Helpers for readable seeds.
func mmio(write bool, frame, size int, off uint64, val uint32) fuzzOp {
	op := byte(frame&1) << 3
	if write {
		op |= 1 << 4
	}
	op |= map[int]byte{1: 0, 2: 1, 4: 2, 8: 3}[size] << 5
	o := fuzzOp{op: op, val: val}
	if frame == 0 {
		o.a, o.b, o.c = byte(off), byte(off>>8), byte(off>>16&1)
		return o
	}
	cpu := off / RedistStride
	in := off % RedistStride
	var s byte
	if in >= SGIBase {
		s, in = 1, in-SGIBase
	}
	o.a, o.b, o.c = byte(in), byte(in>>8), byte(cpu&0xf)|s<<4
	return o
}

func fuzzSeeds() [][]byte {
	enable := mmio(true, 0, 4, GICD_CTLR, 3)
	return [][]byte{
		// SPI 33 level: enable, raise the line, flush, guest acks, EOIs.
		encode(0x08, 3,
			enable,
			mmio(true, 0, 4, GICD_ISENABLER+4, 0xffffffff),
			mmio(true, 0, 1, GICD_IPRIORITYR+33, 0x80),
			fuzzOp{op: 3, a: 1, b: 1},
			fuzzOp{op: 4},
			fuzzOp{op: 5, val: 0x1},
			fuzzOp{op: 4},
			fuzzOp{op: 5, val: 0x1},
			fuzzOp{op: 4},
			fuzzOp{op: 3, a: 1, b: 0},
			fuzzOp{op: 5, val: 0x2},
			fuzzOp{op: 4},
		),
		// Four vCPUs: SGIs, routing, pend/active writes, more than LRs.
		encode(0x0b, 1,
			enable,
			mmio(true, 1, 4, 1*RedistStride+SGIBase+GICR_ISENABLER0, 0xffffffff),
			mmio(true, 1, 4, 2*RedistStride+SGIBase+GICR_ISENABLER0, 0xffffffff),
			fuzzOp{op: 3 | 3<<3, c: 1, val: 5<<24 | 0b0110},
			fuzzOp{op: 3 | 3<<3, c: 0, a: 0, b: 1, val: 2 << 24},
			fuzzOp{op: 4, a: 1},
			fuzzOp{op: 4, a: 2},
			fuzzOp{op: 7, a: 1, val: 0xff},
			mmio(true, 0, 4, GICD_ISENABLER+4, 0xffffffff),
			mmio(true, 0, 8, GICD_IROUTER+8*40, 2),
			mmio(true, 0, 4, GICD_ISPENDR+4, 0x0000ff00),
			fuzzOp{op: 4, a: 2},
			mmio(true, 0, 4, GICD_ICPENDR+4, 0x00000f00),
			mmio(true, 0, 4, GICD_ISACTIVER+4, 0x000000f0),
			mmio(true, 0, 8, GICD_IROUTER+8*41, 1),
			fuzzOp{op: 5, a: 2, val: 0x5},
			fuzzOp{op: 4, a: 1},
			fuzzOp{op: 6, a: 1, b: 1},
		),
		// Identification and handshake reads, bad accesses.
		encode(0x00, 0,
			mmio(false, 0, 4, GICD_TYPER, 0),
			mmio(false, 0, 4, GICD_PIDR2, 0),
			mmio(false, 1, 8, GICR_TYPER, 0),
			mmio(true, 1, 4, GICR_WAKER, 0),
			mmio(false, 1, 4, GICR_WAKER, 0),
			mmio(false, 0, 2, GICD_CTLR, 0),
			mmio(false, 0, 8, GICD_CTLR, 0),
			mmio(true, 1, 4, 3*RedistStride, 0),
		),
		// Max SPIs, PPI timer level with edge config flips.
		encode(0x19, 15,
			enable,
			mmio(true, 1, 4, SGIBase+GICR_ISENABLER0, 1<<27),
			fuzzOp{op: 3 | 1<<3, a: 27, b: 0, c: 1},
			fuzzOp{op: 4},
			mmio(true, 1, 4, SGIBase+GICR_ICFGR1, 0xffffffff),
			fuzzOp{op: 5, val: 0x3},
			fuzzOp{op: 3 | 2<<3, a: 0xfb, c: 3},
			mmio(true, 0, 4, GICD_ISENABLER+4*31, 0xffffffff),
			fuzzOp{op: 4},
			fuzzOp{op: 7, val: 0xaaaa},
			fuzzOp{op: 5, val: 0xffffffff},
		),
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzMMIO from fuzzSeeds
// when VGIC_WRITE_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("VGIC_WRITE_CORPUS") == "" {
		t.Skip("set VGIC_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzMMIO")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"level-spi", "sgi-routing", "identification", "timer-maxspis"}
	for i, s := range fuzzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, names[i]), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// guestRuns mutates list registers as the virtual CPU interface (or a
// faulty read-back) might between Flush and Sync.
func guestRuns(lrs []LR, how uint32) {
	for i := range lrs {
		switch how >> (2 * (i % 16)) & 3 {
		case 1:
			switch lrs[i].State() {
			case StatePending, StatePendingActive:
				lrs[i] = lrs[i].WithState(StateActive)
			case StateActive:
				lrs[i] = lrs[i].WithState(StateInvalid)
			}
		case 2:
			lrs[i] = lrs[i].WithState(StateInvalid)
		case 3:
			lrs[i] = LR(uint64(how)*0x9e3779b97f4a7c15 ^ uint64(i)<<60 ^ uint64(i))
		}
	}
}

// checkFlush checks a Flush result: no INTID twice, only implemented
// INTIDs, and a pending list register only for an interrupt that is
// enabled and of an enabled group.
func checkFlush(t *testing.T, g *GIC, v int, lrs []LR) {
	t.Helper()
	seen := map[uint32]bool{}
	for i, l := range lrs {
		if !l.Valid() {
			if l != 0 {
				t.Fatalf("vCPU %d LR %d: invalid but not zero: %#x", v, i, uint64(l))
			}
			continue
		}
		id := l.VINTID()
		if seen[id] {
			t.Fatalf("vCPU %d: INTID %d in two LRs: %v", v, id, lrs)
		}
		seen[id] = true
		p := g.lookup(v, int(id))
		if p == nil {
			t.Fatalf("vCPU %d LR %d: unimplemented INTID %d", v, i, id)
		}
		if l.Pending() && (!p.enabled || !g.groupOn(p)) {
			t.Fatalf("vCPU %d LR %d: %v pending but enabled=%v group on=%v", v, i, l, p.enabled, g.groupOn(p))
		}
		if id >= FirstSPI && g.routeTarget(p.route) != v {
			t.Fatalf("vCPU %d LR %d: SPI %d routed to %d", v, i, id, g.routeTarget(p.route))
		}
		if l.HW() || l.Priority() != p.prio || l.Group1() != p.group1 || l.EOI() == p.edge {
			t.Fatalf("vCPU %d LR %d: %v does not match the interrupt %+v", v, i, l, *p)
		}
	}
}

// checkOwners checks that every interrupt marked as held in a list
// register is in exactly the shadow of a loaded vCPU, and the reverse,
// so no SPI is in two vCPUs' list registers.
func checkOwners(t *testing.T, g *GIC) {
	t.Helper()
	held := map[*irq]int{}
	for v := range g.cpus {
		c := &g.cpus[v]
		if !c.loaded {
			if c.nlr != 0 {
				t.Fatalf("vCPU %d not loaded with %d LRs", v, c.nlr)
			}
			continue
		}
		for i := 0; i < c.nlr; i++ {
			if !c.shadow[i].Valid() {
				continue
			}
			p := g.lookup(v, int(c.shadow[i].VINTID()))
			if w, dup := held[p]; dup {
				t.Fatalf("INTID %d held by vCPUs %d and %d", c.shadow[i].VINTID(), w, v)
			}
			held[p] = v
			if int(p.owner) != v {
				t.Fatalf("vCPU %d holds INTID %d owned by %d", v, c.shadow[i].VINTID(), p.owner)
			}
		}
	}
	check := func(p *irq, v, id int) {
		if p.owner >= 0 {
			if _, ok := held[p]; !ok {
				t.Fatalf("vCPU %d INTID %d owned by vCPU %d but in no LR", v, id, p.owner)
			}
		} else if p.lrLatch || p.dropPend || p.actSet != 0 {
			t.Fatalf("vCPU %d INTID %d not in an LR with LR state %+v", v, id, *p)
		}
	}
	for v := range g.cpus {
		for id := range g.cpus[v].priv {
			check(&g.cpus[v].priv[id], v, id)
		}
	}
	for i := range g.spis {
		check(&g.spis[i], 0, FirstSPI+i)
	}
}

// FuzzMMIO drives a GIC with guest MMIO, injections and list register
// round trips from arbitrary bytes. It must never panic, and the list
// registers and ownership invariants must hold after every step. Seeds
// live in testdata/fuzz/FuzzMMIO (regenerate with TestWriteFuzzCorpus).
func FuzzMMIO(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		ncpu := 1 + int(in[0]%8)
		g, err := New(ncpu, fuzzSPIs[in[0]>>3&3])
		if err != nil {
			t.Fatal(err)
		}
		nlr := 1 + int(in[1]%16)
		lrs := make([][]LR, ncpu)
		for v := range lrs {
			lrs[v] = make([]LR, nlr)
		}
		g.OnPending = func(v int) {
			if v < 0 || v >= ncpu {
				t.Fatalf("OnPending(%d)", v)
			}
		}
		dev := [2]interface {
			MMIORead(int, uint64, int) (uint64, error)
			MMIOWrite(int, uint64, int, uint64) error
		}{g.Dist(), g.Redist()}
		in = in[2:]
		if len(in) > maxRecs*recSize {
			in = in[:maxRecs*recSize]
		}
		for len(in) >= recSize {
			op, a, b, c := in[0], in[1], in[2], in[3]
			val := binary.LittleEndian.Uint32(in[4:8])
			in = in[recSize:]
			switch op & 7 {
			case 0, 1, 2:
				frame := int(op >> 3 & 1)
				size := [4]int{1, 2, 4, 8}[op>>5&3]
				low := uint64(a) | uint64(b)<<8
				if c&0x80 != 0 {
					low &= 0xfff
				}
				off := low | uint64(c&1)<<16
				if frame == 1 {
					off = uint64(c&0xf)*RedistStride + uint64(c>>4&1)*SGIBase + low
				}
				v64 := uint64(val) | uint64(val)<<32
				if op>>4&1 != 0 {
					_ = dev[frame].MMIOWrite(int(a%8), off, size, v64)
				} else {
					r, err := dev[frame].MMIORead(int(a%8), off, size)
					if err != nil && r != 0 {
						t.Fatalf("failed read returned %#x", r)
					}
					if err == nil && size < 8 && r>>(8*size) != 0 {
						t.Fatalf("%d-byte read at %#x returned %#x", size, off, r)
					}
				}
			case 3:
				switch op >> 3 & 3 {
				case 0:
					if g.nspi > 0 {
						l, err := g.SPI(FirstSPI + int(a)%g.nspi)
						if err != nil {
							t.Fatal(err)
						}
						l.SetLevel(b&1 != 0)
					}
				case 1:
					_ = g.SetPPILevel(int(b%9), int(a), c&1 != 0)
				case 2:
					_ = g.RaiseEdge(int(b%9), int(a)|int(c&3)<<8)
				case 3:
					_ = g.SGI(int(c%9), uint64(val)|uint64(a)<<32|uint64(b)<<40|uint64(c)<<48)
				}
			case 4:
				v := int(a) % (ncpu + 1)
				if v == ncpu {
					g.Flush(v, lrs[0])
					break
				}
				g.Flush(v, lrs[v])
				checkFlush(t, g, v, lrs[v])
			case 5:
				v := int(a) % ncpu
				guestRuns(lrs[v], val)
				g.Sync(v, lrs[v])
				if g.cpus[v].loaded {
					t.Fatal("still loaded after Sync")
				}
			case 6:
				g.HasPending(int(a % 9))
				_, _ = g.State(int(b%9), int(a)|int(c&3)<<8)
			case 7:
				v := int(a) % ncpu
				guestRuns(lrs[v], val)
				more := g.Flush(v, lrs[v])
				checkFlush(t, g, v, lrs[v])
				if more && !g.HasPending(v) {
					// Everything left out is pending and deliverable.
					t.Fatal("Flush reported more but nothing is pending")
				}
			}
			checkOwners(t, g)
		}
	})
}
