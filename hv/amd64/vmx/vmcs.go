// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"sync"
	"sync/atomic"
)

// VMCS reads and writes the fields of one virtual-machine control
// structure (Intel SDM Vol. 3C, 25.11.2 "VMREAD, VMWRITE, and Encodings of
// VMCS Fields"). The backend touches a VMCS only through this interface:
// on the target each call is one VMREAD or VMWRITE of the VMCS it names
// (made current with VMPTRLD first if another one is), in host tests it
// is a MapVMCS.
//
// A VMCS is never laid over memory as a Go struct: its layout is
// implementation-specific and only VMREAD/VMWRITE may touch it (25.11.1).
type VMCS interface {
	// Read returns the field's value, zero-extended; bits beyond the
	// field's width are 0.
	Read(f Field) uint64
	// Write sets the field; bits beyond its width are ignored.
	Write(f Field, v uint64)
}

// VMCS region layout (25.2 "Format of the VMCS Region"): the first 32
// bits hold the revision identifier (bits 30:0, from IA32_VMX_BASIC) and
// the shadow-VMCS indicator (bit 31), the next 32 the VMX-abort
// indicator. The VMXON region starts with the revision identifier too
// (24.11.5 "VMXON Region").
const (
	VMCS_REVISION_MASK  = 0x7fff_ffff
	VMCS_SHADOW_VMCS    = 1 << 31
	VMCS_ABORT_OFF      = 4
	VMCS_LINK_POINTER_0 = ^uint64(0) // "no VMCS link" (26.3.1.5)
)

// MapVMCS is a VMCS kept in a Go map, for host tests: it stores each
// field truncated to its width (25.11.2), like VMWRITE, and reads absent
// fields as 0. It records every write in order when Log is set. It is
// safe for concurrent use.
type MapVMCS struct {
	mu     sync.Mutex
	fields map[Field]uint64
	// Log, when non-nil, receives every Write.
	Log *[]FieldWrite
}

// FieldWrite is one recorded MapVMCS.Write.
type FieldWrite struct {
	F Field
	V uint64
}

// NewMapVMCS returns an empty MapVMCS.
func NewMapVMCS() *MapVMCS { return &MapVMCS{fields: map[Field]uint64{}} }

// widthMask is the value mask of a field of width w.
func widthMask(f Field) uint64 {
	if f.High() {
		return 0xffff_ffff
	}
	switch f.Width() {
	case WIDTH_16:
		return 0xffff
	case WIDTH_32:
		return 0xffff_ffff
	}
	return ^uint64(0)
}

// Read implements VMCS.
func (m *MapVMCS) Read(f Field) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fields[f] & widthMask(f)
}

// Write implements VMCS.
func (m *MapVMCS) Write(f Field, v uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fields[f] = v & widthMask(f)
	if m.Log != nil {
		*m.Log = append(*m.Log, FieldWrite{f, v & widthMask(f)})
	}
}

// Has reports whether f was ever written.
func (m *MapVMCS) Has(f Field) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.fields[f]
	return ok
}

// VMREAD/VMWRITE failures of the hardware accessor (never expected: a
// failure is a hypervisor bug, which the next VM entry then reports).
var (
	vmcsFailures   atomic.Uint64
	vmcsLastFailed atomic.Uint64 // field | status<<32
)

func vmcsFailed(f Field, st Status) {
	vmcsFailures.Add(1)
	vmcsLastFailed.Store(uint64(f) | uint64(st)<<32)
}

// VMCSAccessFailures returns how many VMREAD or VMWRITE instructions
// failed, and the field and status of the last failure.
func VMCSAccessFailures() (n uint64, last Field, st Status) {
	l := vmcsLastFailed.Load()
	return vmcsFailures.Load(), Field(l), Status(l >> 32)
}
