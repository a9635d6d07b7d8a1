// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import (
	"reflect"
	"testing"
)

func TestRegionSubtract(t *testing.T) {
	r := Region{Name: "ram", Kind: RAM, Base: 0x1000, Size: 0x9000} // [0x1000, 0xa000)
	got := r.Subtract(
		Region{Base: 0x8000, Size: 0x4000}, // clips the end
		Region{Base: 0, Size: 0x2000},      // clips the start
		Region{Base: 0x4000, Size: 0x1000}, // splits
		Region{Base: 0x5000, Size: 0},      // empty: ignored
		Region{Base: 0x20000, Size: 0x1000},
	)
	want := []Region{
		{Name: "ram", Kind: RAM, Base: 0x2000, Size: 0x2000},
		{Name: "ram", Kind: RAM, Base: 0x5000, Size: 0x3000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Subtract = %+v, want %+v", got, want)
	}
	if all := r.Subtract(Region{Base: 0, Size: 0x10000}); len(all) != 0 {
		t.Fatalf("covering hole left %+v", all)
	}
}
