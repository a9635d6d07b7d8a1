// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

package reg

import "fmt"

// Access is one register access recorded by a Fake.
type Access struct {
	Write bool
	Off   uint32
	Width int // bits: 8, 32 or 64
	Val   uint64
}

func (a Access) String() string {
	op := "R"
	if a.Write {
		op = "W"
	}
	return fmt.Sprintf("%s%d[%#x]=%#x", op, a.Width, a.Off, a.Val)
}

// Fake is a register file in ordinary memory for host tests. Registers
// hold the last value written (or the value set with Poke). OnRead and
// OnWrite hooks, keyed by offset, model device side effects such as a
// status bit that clears itself. Every access is appended to Log.
type Fake struct {
	Regs    map[uint32]uint64
	Log     []Access
	OnRead  map[uint32]func(f *Fake, off uint32) uint64
	OnWrite map[uint32]func(f *Fake, off uint32, val uint64)
}

// NewFake returns an empty register file.
func NewFake() *Fake {
	return &Fake{
		Regs:    map[uint32]uint64{},
		OnRead:  map[uint32]func(*Fake, uint32) uint64{},
		OnWrite: map[uint32]func(*Fake, uint32, uint64){},
	}
}

// Poke sets a register without recording an access.
func (f *Fake) Poke(off uint32, val uint64) { f.Regs[off] = val }

// Peek returns a register without recording an access.
func (f *Fake) Peek(off uint32) uint64 { return f.Regs[off] }

// Writes returns the recorded writes, in order.
func (f *Fake) Writes() []Access {
	var w []Access
	for _, a := range f.Log {
		if a.Write {
			w = append(w, a)
		}
	}
	return w
}

// Reset forgets the access log (register contents are kept).
func (f *Fake) Reset() { f.Log = nil }

func (f *Fake) read(off uint32, width int) uint64 {
	v := f.Regs[off]
	if h := f.OnRead[off]; h != nil {
		v = h(f, off)
	}
	f.Log = append(f.Log, Access{Off: off, Width: width, Val: v})
	return v
}

func (f *Fake) write(off uint32, width int, val uint64) {
	f.Log = append(f.Log, Access{Write: true, Off: off, Width: width, Val: val})
	if h := f.OnWrite[off]; h != nil {
		h(f, off, val)
		return
	}
	f.Regs[off] = val
}

func (f *Fake) Read8(off uint32) uint8         { return uint8(f.read(off, 8)) }
func (f *Fake) Write8(off uint32, val uint8)   { f.write(off, 8, uint64(val)) }
func (f *Fake) Read32(off uint32) uint32       { return uint32(f.read(off, 32)) }
func (f *Fake) Write32(off uint32, val uint32) { f.write(off, 32, uint64(val)) }
func (f *Fake) Read64(off uint32) uint64       { return f.read(off, 64) }
func (f *Fake) Write64(off uint32, val uint64) { f.write(off, 64, val) }

// W returns the Access a Fake records for a write, for building the
// expected sequence in driver tests.
func W(width int, off uint32, val uint64) Access {
	return Access{Write: true, Off: off, Width: width, Val: val}
}

// R returns the Access a Fake records for a read that returned val.
func R(width int, off uint32, val uint64) Access {
	return Access{Off: off, Width: width, Val: val}
}

// DiffLog returns "" when got equals want, else a two-line description
// for a test failure.
func DiffLog(got, want []Access) string {
	if len(got) == len(want) {
		same := true
		for i := range got {
			if got[i] != want[i] {
				same = false
				break
			}
		}
		if same {
			return ""
		}
	}
	return fmt.Sprintf("\n got  %v\n want %v", got, want)
}
