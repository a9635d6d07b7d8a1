// soc/intel/i8259: Intel 8259A PIC masking.
// SPDX-License-Identifier: BSD-3-Clause

package i8259

import (
	"slices"
	"testing"

	"github.com/tamavisor/tamavisor/soc/reg"
)

// ports maps a Bus8 at base onto one Fake addressed by I/O port number.
type ports struct {
	f    *reg.Fake
	base uint32
}

func (p ports) Read8(off uint32) uint8       { return p.f.Read8(p.base + off) }
func (p ports) Write8(off uint32, val uint8) { p.f.Write8(p.base+off, val) }

func TestMask(t *testing.T) {
	f := reg.NewFake()
	Mask(ports{f, MasterPort}, ports{f, SlavePort})
	want := []reg.Access{
		{Write: true, Off: 0x21, Width: 8, Val: 0xff},
		{Write: true, Off: 0xa1, Width: 8, Val: 0xff},
	}
	if !slices.Equal(f.Log, want) {
		t.Errorf("accesses %v, want %v", f.Log, want)
	}
}
