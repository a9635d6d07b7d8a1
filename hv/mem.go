// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

// PageAllocator hands out zero-filled, PageSize-aligned physical pages.
// Every page-table builder in tamavisor (EL2 stage-1, stage-2, NPT, EPT,
// IOMMU) takes one, so host tests can build and walk real tables in
// ordinary memory.
type PageAllocator interface {
	AllocPage() (PA, error)
}

// PhysMemory reads and writes 64-bit words of physical memory. On the
// target it is the identity map; in host tests it is a SimMemory.
type PhysMemory interface {
	Read64(pa PA) uint64
	Write64(pa PA, val uint64)
}

// Error is a constant error value. Page-table code uses it because it
// also runs before the Go runtime is initialised (hwinit0), when package
// variables built with errors.New do not exist yet and nothing may
// allocate.
type Error string

func (e Error) Error() string { return string(e) }

// ErrNoMemory is returned by a PageAllocator that is exhausted.
const ErrNoMemory = Error("hv: out of page-table memory")

// BumpAllocator hands out pages from [Next, Limit) in order. It needs no
// heap, so it can serve page tables built before the runtime starts. The
// pages are zeroed through Mem.
type BumpAllocator struct {
	Next  PA
	Limit PA
	Mem   PhysMemory
}

// AllocPage returns the next zero-filled page, or ErrNoMemory.
func (b *BumpAllocator) AllocPage() (PA, error) {
	if !b.Next.PageAligned() || b.Next+PageSize > b.Limit || b.Next+PageSize < b.Next {
		return 0, ErrNoMemory
	}
	pa := b.Next
	b.Next += PageSize
	for off := PA(0); off < PageSize; off += 8 {
		b.Mem.Write64(pa+off, 0)
	}
	return pa, nil
}

// SimMemory is physical memory simulated in a Go slice, for host tests of
// page-table builders and DMA structures. Words outside [Base, Base+len)
// read as zero and writes to them are counted in Stray (a test that sees
// Stray != 0 has caught a builder writing where it must not).
type SimMemory struct {
	Base  PA
	Words []uint64
	Stray int
}

// NewSimMemory returns size bytes of zeroed simulated memory at base.
func NewSimMemory(base PA, size uint64) *SimMemory {
	return &SimMemory{Base: base, Words: make([]uint64, size/8)}
}

func (m *SimMemory) index(pa PA) (int, bool) {
	if pa < m.Base || pa%8 != 0 {
		return 0, false
	}
	i := uint64(pa-m.Base) / 8
	if i >= uint64(len(m.Words)) {
		return 0, false
	}
	return int(i), true
}

// Read64 reads the word at pa.
func (m *SimMemory) Read64(pa PA) uint64 {
	if i, ok := m.index(pa); ok {
		return m.Words[i]
	}
	m.Stray++
	return 0
}

// Write64 writes the word at pa.
func (m *SimMemory) Write64(pa PA, val uint64) {
	if i, ok := m.index(pa); ok {
		m.Words[i] = val
		return
	}
	m.Stray++
}
