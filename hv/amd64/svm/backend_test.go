// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// hostRAM is ordinary memory standing in for physical RAM at base: views
// of it are what the target's physmap gives.
type hostRAM struct {
	base hv.PA
	b    []byte
}

func newHostRAM(base hv.PA, size int) *hostRAM {
	raw := make([]byte, size+hv.PageSize)
	off := int(-uintptr(unsafe.Pointer(&raw[0])) & (hv.PageSize - 1))
	return &hostRAM{base: base, b: raw[off : off+size]}
}

func (r *hostRAM) view(pa hv.PA, size uint64) []byte {
	if pa < r.base || uint64(pa-r.base)+size > uint64(len(r.b)) {
		return nil
	}
	return r.b[pa-r.base : uint64(pa-r.base)+size]
}
func (r *hostRAM) Read64(pa hv.PA) uint64 { return binary.LittleEndian.Uint64(r.view(pa, 8)) }
func (r *hostRAM) Write64(pa hv.PA, v uint64) {
	binary.LittleEndian.PutUint64(r.view(pa, 8), v)
}

// Each vCPU enters its guest on the physical CPU it is pinned to, with
// that CPU's host VMCB; a CPU SVM was not turned on for gets no vCPU.
func TestVCPUsRunOnTheirCPU(t *testing.T) {
	const base = 0x4000_0000
	ram := newHostRAM(base, 8<<20)
	pool := vmm.NewRAMPool([]hv.Region{{Name: "ram", Kind: hv.RAM, Base: base, Size: 8 << 20}})
	type run struct {
		pcpu       int
		vmcb, host hv.PA
	}
	var runs []run
	ops := NewOps(Features{ASIDs: 16}, 0x1000, func(pcpu int, vmcb, host hv.PA, g *GPRs, fpu uintptr) {
		runs = append(runs, run{pcpu, vmcb, host})
	})
	var wrote []string
	wr := func(cpu int, msr uint32, val uint64) error {
		if msr != MSR_VM_HSAVE_PA || val%hv.PageSize != 0 {
			t.Errorf("cpu %d: wrmsr %#x = %#x", cpu, msr, val)
		}
		wrote = append(wrote, "cpu"+string(rune('0'+cpu)))
		return nil
	}
	if err := ops.EnableCPU(0, pool, ram.view, wr); err == nil {
		t.Error("EnableCPU(0) accepted: the boot CPU is set up by Setup")
	}
	if err := ops.EnableCPU(1, pool, ram.view, wr); err != nil {
		t.Fatal(err)
	}
	if err := ops.EnableCPU(1, pool, ram.view, wr); err != nil || len(wrote) != 1 {
		t.Fatalf("second EnableCPU(1): %v, writes %v", err, wrote)
	}
	tables, err := pool.Alloc(vmm.RAMAlign)
	if err != nil {
		t.Fatal(err)
	}
	alloc := &hv.BumpAllocator{Next: tables, Limit: tables + vmm.RAMAlign, Mem: ram}
	g, err := ops.NewGuest(alloc, ram, ram.view)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.NewVCPU(0, 2); err == nil {
		t.Error("vCPU pinned to CPU 2, where SVM is off, accepted")
	}
	v0, err := g.NewVCPU(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := g.NewVCPU(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	var e hv.Exit
	v1.Enter(&e)
	v0.Enter(&e)
	if len(runs) != 2 || runs[0].pcpu != 1 || runs[1].pcpu != 0 {
		t.Fatalf("runs %+v", runs)
	}
	if runs[1].host != 0x1000 || runs[0].host == 0 || runs[0].host == runs[1].host || runs[0].vmcb == runs[1].vmcb {
		t.Errorf("host VMCBs / VMCBs not per CPU / per vCPU: %+v", runs)
	}
}
