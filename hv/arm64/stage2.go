// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Stage 2 translation table descriptors, 4 KiB granule (ARM DDI 0487K.a,
// D8.3 "Translation table descriptor formats"; D8.6 "Memory region
// attributes", "Stage 2 memory region attributes"; D8.4 "Memory access
// control", "Stage 2 data access permissions" and "Stage 2 execute-never").
// Table descriptors carry no attributes at stage 2 (bits [63:59] are RES0).
const (
	S2PTE_VALID = 1 << 0
	// bit 1 set: table descriptor at levels 0-2, page descriptor at level 3
	S2PTE_TABLE = 1 << 1
	S2PTE_PAGE  = 1 << 1

	// MemAttr[5:2] when FEAT_S2FWB is not in use: [5:4] outer, [3:2]
	// inner, with [5:4] = 0b00 selecting Device memory.
	S2PTE_MEMATTR_SHIFT = 2
	S2PTE_MEMATTR_MASK  = 0xf

	S2_MEMATTR_DEVICE_nGnRE = 0b0001 // Device-nGnRE
	S2_MEMATTR_NORMAL_WB    = 0b1111 // Normal, Outer and Inner Write-Back Cacheable

	// S2AP[7:6], stage 2 data access permissions: bit 6 allows reads,
	// bit 7 allows writes.
	S2PTE_S2AP_SHIFT = 6
	S2PTE_S2AP_MASK  = 0x3
	S2AP_READ        = 0b01
	S2AP_WRITE       = 0b10

	// SH[9:8], shareability. Device memory is always Outer Shareable
	// whatever this field says; tamavisor writes 0b10 for it.
	S2PTE_SH_SHIFT = 8
	S2PTE_SH_MASK  = 0x3
	S2_SH_OUTER    = 0b10
	S2_SH_INNER    = 0b11

	// AF, the Access flag. tamavisor always sets it: it does not track
	// guest accesses.
	S2PTE_AF = 1 << 10

	// Output address bits [47:12] (no FEAT_LPA, 4 KiB granule).
	S2PTE_ADDR_MASK = 0x0000_ffff_ffff_f000

	// XN[54:53], stage 2 execute-never. Without FEAT_XNX bit 53 is RES0
	// and bit 54 alone is XN; with FEAT_XNX 0b10 means "not executable
	// at EL1 or EL0", so 0b10 is correct either way.
	S2PTE_XN_SHIFT = 53
	S2PTE_XN_MASK  = 0x3
	S2_XN_NONE     = 0b00
	S2_XN_ALL      = 0b10
)

// VTCR_EL2, Virtualization Translation Control Register (ARM DDI 0487K.a,
// D19.2 "General system control registers"): the fields tamavisor sets.
const (
	VTCR_T0SZ_SHIFT  = 0
	VTCR_T0SZ_MASK   = 0x3f
	VTCR_SL0_SHIFT   = 6
	VTCR_SL0_MASK    = 0x3
	VTCR_IRGN0_SHIFT = 8
	VTCR_IRGN0_MASK  = 0x3
	VTCR_ORGN0_SHIFT = 10
	VTCR_ORGN0_MASK  = 0x3
	VTCR_SH0_SHIFT   = 12
	VTCR_SH0_MASK    = 0x3
	VTCR_TG0_SHIFT   = 14
	VTCR_TG0_MASK    = 0x3
	VTCR_PS_SHIFT    = 16
	VTCR_PS_MASK     = 0x7
	VTCR_VS          = 1 << 19 // 16-bit VMID; tamavisor leaves it clear
	VTCR_EL2_RES1    = 1 << 31

	// SL0 with the 4 KiB granule (TG0 = 0b00): the initial lookup level.
	VTCR_SL0_4K_LEVEL2 = 0b00
	VTCR_SL0_4K_LEVEL1 = 0b01
	VTCR_SL0_4K_LEVEL0 = 0b10

	VTCR_RGN_WBWA = 0b01 // Normal, Write-Back Read-Allocate Write-Allocate
	VTCR_SH_INNER = 0b11
	VTCR_TG0_4K   = 0b00
	VTCR_PS_48BIT = 0b101 // same encoding as ID_AA64MMFR0_EL1.PARange
)

// VTTBR_EL2, Virtualization Translation Table Base Register (ARM DDI
// 0487K.a, D19.2). For a concatenated root, BADDR is aligned to the size
// of all the tables together.
const (
	VTTBR_BADDR_MASK = 0x0000_ffff_ffff_fffe // BADDR, bits [47:1]
	VTTBR_VMID_SHIFT = 48
	VTTBR_VMID_MASK  = 0xffff // VMID[15:8] is RES0 while VTCR_EL2.VS is 0
	VTTBR_CNP        = 1 << 0

	// VMIDBits is the VMID width tamavisor configures (VTCR_EL2.VS = 0).
	VMIDBits = 8
)

// Stage 2 IPA sizes Stage2 supports.
const (
	S2MinIPABits = 32
	S2MaxIPABits = 48

	// s2MaxConcatBits is the largest IPA size for which lookup starts
	// at level 1 with concatenated root tables (2^(ipaBits-39) of them,
	// at most 8). Larger IPA spaces start at level 0.
	s2MaxConcatBits = 42
	// s2MaxOutputBits is the largest output (host physical) address.
	s2MaxOutputBits = 48
)

// Stage 2 errors, in addition to ErrUnaligned and ErrRange (see
// pagetable.go). They are constants so nothing allocates (see hv.Error).
const (
	// ErrAlreadyMapped is ErrOverlap under its stage 2 name: errors.Is
	// matches either.
	ErrAlreadyMapped     = ErrOverlap
	ErrZeroSize          = hv.Error("arm64: zero-sized mapping")
	ErrIPABits           = hv.Error("arm64: unsupported stage-2 IPA size (want 32 to 48 bits)")
	ErrPARange           = hv.Error("arm64: stage-2 IPA size exceeds the CPU's physical address range")
	ErrStartLevel        = hv.Error("arm64: stage-2 start level inconsistent with the IPA size")
	ErrRootNotContiguous = hv.Error("arm64: allocator did not return contiguous, aligned pages for the concatenated stage-2 root")
	ErrS2Attr            = hv.Error("arm64: invalid stage-2 attributes (device memory must not be executable)")
	ErrNotInitialised    = hv.Error("arm64: stage-2 table used before Init")
	ErrPartialBlock      = hv.Error("arm64: stage-2 block only partly inside the range")
)

// S2MemType is the memory type of a stage 2 mapping.
type S2MemType uint8

const (
	// S2Device is Device-nGnRE memory (MemAttr 0b0001), for device
	// pass-through. It is the zero value and must not be executable.
	S2Device S2MemType = iota
	// S2Normal is Normal memory, Outer and Inner Write-Back cacheable,
	// Inner Shareable (MemAttr 0b1111), for guest RAM.
	S2Normal
)

// S2Attr says how the guest may access a stage 2 mapping. The effective
// attributes are the combination with the guest's own stage 1 (D8.6
// "Combining the stage 1 and stage 2 attributes"): stage 2 can only restrict.
type S2Attr struct {
	Type  S2MemType
	Read  bool
	Write bool
	Exec  bool
}

func (a S2Attr) String() string {
	t := "normal"
	if a.Type == S2Device {
		t = "device"
	}
	p := []byte("---")
	if a.Read {
		p[0] = 'r'
	}
	if a.Write {
		p[1] = 'w'
	}
	if a.Exec {
		p[2] = 'x'
	}
	return t + " " + string(p)
}

// S2PTE is one stage 2 translation table descriptor.
type S2PTE uint64

// Valid reports whether the descriptor's valid bit is set.
func (d S2PTE) Valid() bool { return d&S2PTE_VALID != 0 }

// IsTable reports whether d, found at the given lookup level, points to a
// next-level table (as opposed to a block or page).
func (d S2PTE) IsTable(level int) bool { return level < 3 && d&S2PTE_TABLE != 0 }

// IsLeaf reports whether d, found at level, is a valid block or page
// descriptor. Level 0 has no blocks with the 4 KiB granule, and at level
// 3 a descriptor with bit 1 clear is reserved (D8.3.1); both fault.
func (d S2PTE) IsLeaf(level int) bool {
	if !d.Valid() {
		return false
	}
	if level == 3 {
		return d&S2PTE_PAGE != 0
	}
	return level > 0 && level < 3 && d&S2PTE_TABLE == 0
}

// Addr returns the output address (next table, block or page).
func (d S2PTE) Addr() hv.PA { return hv.PA(uint64(d) & S2PTE_ADDR_MASK) }

// Attr decodes the attributes of a block or page descriptor. Any
// MemAttr with [5:4] = 0b00 decodes as Device, anything else as Normal;
// any XN value other than 0b00 decodes as not executable.
func (d S2PTE) Attr() S2Attr {
	v := uint64(d)
	a := S2Attr{Type: S2Normal}
	if ((v>>S2PTE_MEMATTR_SHIFT)&S2PTE_MEMATTR_MASK)>>2 == 0 {
		a.Type = S2Device
	}
	ap := (v >> S2PTE_S2AP_SHIFT) & S2PTE_S2AP_MASK
	a.Read = ap&S2AP_READ != 0
	a.Write = ap&S2AP_WRITE != 0
	a.Exec = (v>>S2PTE_XN_SHIFT)&S2PTE_XN_MASK == S2_XN_NONE
	return a
}

// String describes the descriptor as found at an unknown level.
func (d S2PTE) String() string {
	if !d.Valid() {
		return fmt.Sprintf("s2pte:%#x invalid", uint64(d))
	}
	return fmt.Sprintf("s2pte:%#x addr=%#x %v", uint64(d), uint64(d.Addr()), d.Attr())
}

// s2Leaf encodes a block (level 1, 2) or page (level 3) descriptor.
func s2Leaf(pa hv.PA, level int, a S2Attr) S2PTE {
	d := uint64(pa)&S2PTE_ADDR_MASK | S2PTE_VALID | S2PTE_AF
	if level == 3 {
		d |= S2PTE_PAGE
	}
	if a.Type == S2Normal {
		d |= S2_MEMATTR_NORMAL_WB<<S2PTE_MEMATTR_SHIFT | S2_SH_INNER<<S2PTE_SH_SHIFT
	} else {
		d |= S2_MEMATTR_DEVICE_nGnRE<<S2PTE_MEMATTR_SHIFT | S2_SH_OUTER<<S2PTE_SH_SHIFT
	}
	var ap uint64
	if a.Read {
		ap |= S2AP_READ
	}
	if a.Write {
		ap |= S2AP_WRITE
	}
	d |= ap << S2PTE_S2AP_SHIFT
	if !a.Exec {
		d |= S2_XN_ALL << S2PTE_XN_SHIFT
	}
	return S2PTE(d)
}

func s2TableDesc(next hv.PA) S2PTE {
	return S2PTE(uint64(next)&S2PTE_ADDR_MASK | S2PTE_TABLE | S2PTE_VALID)
}

// ContiguousAllocator is an optional interface of a hv.PageAllocator: it
// hands out n zero-filled, physically contiguous pages whose first
// address is a multiple of align. Stage2.Init uses it, when present, for
// a concatenated root table.
type ContiguousAllocator interface {
	AllocPages(n int, align uint64) (hv.PA, error)
}

// S2StartLevel returns the initial lookup level and the number of
// concatenated root tables tamavisor uses for an IPA size (ARM DDI
// 0487K.a D8.2 "Translation table walk", "Concatenated translation
// tables" and the stage 2 initial lookup level tables): level 1 with one
// table up to 39 bits, level 1 with 2^(ipaBits-39) concatenated tables
// for 40 to 42 bits, level 0 with one table for 43 to 48 bits. Starting
// at level 1 for 40-42 bits also keeps away from QEMU, which refuses
// level 0 when VTCR_EL2.PS is 42 bits or less.
func S2StartLevel(ipaBits uint) (level, rootPages int, err error) {
	switch {
	case ipaBits < S2MinIPABits || ipaBits > S2MaxIPABits:
		return 0, 0, ErrIPABits
	case ipaBits <= 39:
		return 1, 1, nil
	case ipaBits <= s2MaxConcatBits:
		return 1, 1 << (ipaBits - 39), nil
	}
	return 0, 1, nil
}

// VTCRValue returns VTCR_EL2 for a 4 KiB-granule stage 2 translation of
// ipaBits with lookup starting at startLevel, cacheable inner-shareable
// table walks, an 8-bit VMID and the output size the CPU reports in
// ID_AA64MMFR0_EL1.PARange (bits [3:0] of mmfr0; a bare PARange value
// works too), capped at 48 bits because tamavisor does not use FEAT_LPA
// descriptors.
//
// It checks the combination against the rules for a valid stage 2
// configuration (D8.2 "Translation table walk", AArch64.S2InvalidSL and
// AArch64.S2InconsistentSL in the pseudocode): T0SZ in 16..39, at most 16
// concatenated tables at the initial level, level 0 only with an output
// size of more than 42 bits, and an IPA size no larger than the output
// size.
func VTCRValue(ipaBits uint, startLevel int, mmfr0 uint64) (uint64, error) {
	if ipaBits < 25 || ipaBits > S2MaxIPABits {
		return 0, ErrIPABits
	}
	ps := mmfr0 & ID_AA64MMFR0_PARANGE_MASK
	if PARangeBits(ps) == 0 {
		return 0, ErrPARange // reserved encoding
	}
	if ps > VTCR_PS_48BIT {
		ps = VTCR_PS_48BIT
	}
	psBits := PARangeBits(ps)
	if int(ipaBits) > psBits {
		return 0, ErrPARange
	}
	var sl0 uint64
	switch startLevel {
	case 0:
		sl0 = VTCR_SL0_4K_LEVEL0
		if psBits <= 42 {
			return 0, ErrStartLevel
		}
	case 1:
		sl0 = VTCR_SL0_4K_LEVEL1
	case 2:
		sl0 = VTCR_SL0_4K_LEVEL2
	default:
		return 0, ErrStartLevel
	}
	// The bits resolved at the initial level must be 1 to 9+4 (one
	// table, or up to 16 concatenated ones).
	resolved := int(ipaBits) - int(levelShift(startLevel))
	if resolved < 1 || resolved > 9+4 {
		return 0, ErrStartLevel
	}
	return VTCR_EL2_RES1 |
		uint64(64-ipaBits)<<VTCR_T0SZ_SHIFT |
		sl0<<VTCR_SL0_SHIFT |
		VTCR_RGN_WBWA<<VTCR_IRGN0_SHIFT |
		VTCR_RGN_WBWA<<VTCR_ORGN0_SHIFT |
		VTCR_SH_INNER<<VTCR_SH0_SHIFT |
		VTCR_TG0_4K<<VTCR_TG0_SHIFT |
		ps<<VTCR_PS_SHIFT, nil
}

// Stage2 is a guest's stage 2 translation table (IPA to PA), 4 KiB
// granule, built in memory reached through a hv.PhysMemory with pages
// from a hv.PageAllocator.
//
// Map, Unmap and Walk allocate nothing from the Go heap, so they can run
// on the vmexit path. A Stage2 is not safe for concurrent use.
//
// Stage2 only edits memory. When the guest may be running, the caller
// issues the barriers and TLB maintenance: DSB ISHST after Map (and
// before the guest may touch the new range), and after Unmap DSB ISHST;
// TLBI IPAS2E1IS over the range (or TLBI VMALLS12E1IS); DSB ISH; TLBI
// VMALLE1IS; DSB ISH. Splitting a block during Unmap replaces one valid
// descriptor with another, which needs break-before-make (D8.16
// "Translation Lookaside Buffers", "Using break-before-make when updating
// translation table entries"): Unmap
// writes an invalid descriptor, calls Invalidate, then writes the table.
type Stage2 struct {
	// Invalidate, if set, is called during break-before-make with the
	// IPA range whose block descriptor has just been made invalid, and
	// must complete the TLB invalidation for that range (DSB ISHST; TLBI
	// IPAS2E1IS for the range; DSB ISH) before returning. It may be nil
	// while no vCPU of the guest runs.
	Invalidate func(ipa hv.IPA, size uint64)

	root      hv.PA
	ipaBits   uint
	start     int
	rootPages int
	alloc     hv.PageAllocator
	mem       hv.PhysMemory
}

// NewStage2 returns an empty stage 2 table (see Init).
func NewStage2(alloc hv.PageAllocator, mem hv.PhysMemory, ipaBits uint) (*Stage2, error) {
	s := &Stage2{}
	if err := s.Init(alloc, mem, ipaBits); err != nil {
		return nil, err
	}
	return s, nil
}

// Init sets up s in place for an IPA space of ipaBits (32 to 48) and
// allocates its empty root table (see S2StartLevel for the start level).
// It keeps s.Invalidate.
//
// For 40 to 42 bits the root is 2, 4 or 8 concatenated tables, which must
// be physically contiguous and aligned to their total size. If alloc is a
// ContiguousAllocator, Init asks it for them. Otherwise it takes single
// pages and requires them to come out consecutive, as hv.BumpAllocator's
// do: leading pages that are not suitably aligned are skipped (and stay
// allocated), and ErrRootNotContiguous is returned if a page is not the
// successor of the one before.
func (s *Stage2) Init(alloc hv.PageAllocator, mem hv.PhysMemory, ipaBits uint) error {
	start, n, err := S2StartLevel(ipaBits)
	if err != nil {
		return err
	}
	root, err := allocRoot(alloc, n)
	if err != nil {
		return err
	}
	*s = Stage2{Invalidate: s.Invalidate, root: root, ipaBits: ipaBits, start: start, rootPages: n, alloc: alloc, mem: mem}
	return nil
}

func allocRoot(alloc hv.PageAllocator, n int) (hv.PA, error) {
	align := uint64(n) * hv.PageSize
	if ca, ok := alloc.(ContiguousAllocator); ok && n > 1 {
		pa, err := ca.AllocPages(n, align)
		if err != nil {
			return 0, err
		}
		if uint64(pa)%align != 0 {
			return 0, ErrRootNotContiguous
		}
		return pa, nil
	}
	var start hv.PA
	have := 0
	// At most n-1 misaligned pages precede an aligned one in a
	// consecutive run.
	for budget := 2*n - 1; have < n; budget-- {
		if budget == 0 {
			return 0, ErrRootNotContiguous
		}
		p, err := alloc.AllocPage()
		if err != nil {
			return 0, err
		}
		switch {
		case have == 0 && uint64(p)%align == 0:
			start, have = p, 1
		case have == 0:
			// skip a leading misaligned page
		case p == start+hv.PA(have)*hv.PageSize:
			have++
		default:
			return 0, ErrRootNotContiguous
		}
	}
	return start, nil
}

// Root returns the physical address of the (first) root table.
func (s *Stage2) Root() hv.PA { return s.root }

// RootPages returns the number of concatenated root tables.
func (s *Stage2) RootPages() int { return s.rootPages }

// StartLevel returns the initial lookup level (0 or 1).
func (s *Stage2) StartLevel() int { return s.start }

// IPABits returns the size of the IPA space in bits.
func (s *Stage2) IPABits() uint { return s.ipaBits }

// VTCR returns the VTCR_EL2 value for this table on a CPU whose
// ID_AA64MMFR0_EL1 is mmfr0 (see VTCRValue). It fails with ErrPARange if
// the IPA space is larger than the CPU's physical address range.
func (s *Stage2) VTCR(mmfr0 uint64) (uint64, error) {
	return VTCRValue(s.ipaBits, s.start, mmfr0)
}

// VTTBR returns the VTTBR_EL2 value for this table and vmid. With the
// 8-bit VMIDs VTCR configures, vmid must be below 1<<VMIDBits: VTTBR
// does not truncate it, because two guests whose VMIDs alias would share
// TLB entries.
func (s *Stage2) VTTBR(vmid uint16) uint64 {
	return uint64(s.root)&VTTBR_BADDR_MASK | uint64(vmid)<<VTTBR_VMID_SHIFT
}

// entries returns the number of descriptors in a table at level.
func (s *Stage2) entries(level int) uint64 {
	if level == s.start {
		return entriesPerTable * uint64(s.rootPages)
	}
	return entriesPerTable
}

// entry returns the address of the descriptor for ipa in table at level.
// At the initial level the concatenated tables act as one larger table
// indexed by all the remaining IPA bits.
func (s *Stage2) entry(table hv.PA, ipa uint64, level int) hv.PA {
	idx := (ipa >> levelShift(level)) % s.entries(level)
	return table + hv.PA(idx*8)
}

func (s *Stage2) check(ipa hv.IPA, size uint64) error {
	if s.mem == nil {
		return ErrNotInitialised
	}
	if size == 0 {
		return ErrZeroSize
	}
	if ipa%hv.PageSize != 0 || size%hv.PageSize != 0 {
		return ErrUnaligned
	}
	end := uint64(ipa) + size
	if end < uint64(ipa) || end > 1<<s.ipaBits {
		return ErrRange
	}
	return nil
}

// Map maps [ipa, ipa+size) to [pa, pa+size) with attributes a, using 1
// GiB and 2 MiB blocks where both addresses are aligned and the size
// allows, 4 KiB pages elsewhere. ipa, pa and size must be multiples of 4
// KiB, size non-zero, the IPA range inside the IPA space and the PA range
// below 2^48. Device memory must not be executable (ErrS2Attr).
//
// Map is all or nothing: if any page of the range is already mapped it
// returns ErrAlreadyMapped and changes nothing, and if the allocator runs
// out it removes what it mapped before returning the error (tables
// allocated on the way stay, empty).
func (s *Stage2) Map(ipa hv.IPA, pa hv.PA, size uint64, a S2Attr) error {
	if err := s.check(ipa, size); err != nil {
		return err
	}
	if pa%hv.PageSize != 0 {
		return ErrUnaligned
	}
	if pend := uint64(pa) + size; pend < uint64(pa) || pend > 1<<s2MaxOutputBits {
		return ErrRange
	}
	if a.Type > S2Normal || (a.Type == S2Device && a.Exec) {
		return ErrS2Attr
	}
	lo, hi := uint64(ipa), uint64(ipa)+size
	if s.anyLeaf(s.root, s.start, 0, lo, hi) {
		return ErrAlreadyMapped
	}
	cur, out := lo, uint64(pa)
	for cur < hi {
		// The largest block alignment and size allow; no blocks at
		// level 0 with the 4 KiB granule.
		want := 3
		for l := 1; l < 3; l++ {
			blk := uint64(1) << levelShift(l)
			if cur%blk == 0 && out%blk == 0 && hi-cur >= blk {
				want = l
				break
			}
		}
		level, err := s.mapLeaf(cur, hv.PA(out), want, a)
		if err != nil {
			if cur > lo {
				// Only leaves this call wrote lie in [lo, cur), each
				// wholly inside it, so clearing cannot fail.
				_ = s.clearRange(s.root, s.start, 0, lo, cur)
			}
			return err
		}
		n := uint64(1) << levelShift(level)
		cur += n
		out += n
	}
	return nil
}

// mapLeaf writes one leaf for ipa at level want, or at a finer level if
// an (empty) table already sits where the block would go. It returns the
// level used.
func (s *Stage2) mapLeaf(ipa uint64, pa hv.PA, want int, a S2Attr) (int, error) {
	table := s.root
	for l := s.start; l <= 3; l++ {
		e := s.entry(table, ipa, l)
		d := S2PTE(s.mem.Read64(e))
		if !d.Valid() {
			if l >= want {
				s.mem.Write64(e, uint64(s2Leaf(pa, l, a)))
				return l, nil
			}
			next, err := s.alloc.AllocPage()
			if err != nil {
				return 0, err
			}
			d = s2TableDesc(next)
			s.mem.Write64(e, uint64(d))
		} else if !d.IsTable(l) {
			return 0, ErrAlreadyMapped
		}
		table = d.Addr()
	}
	return 0, ErrAlreadyMapped
}

// span returns the index range [first, last] of the entries of a table
// at level, covering base, that [lo, hi) touches (lo < hi, both inside
// the table's range).
func span(level int, base, lo, hi uint64) (first, last uint64) {
	sh := levelShift(level)
	return (lo - base) >> sh, (hi - 1 - base) >> sh
}

// anyLeaf reports whether a valid leaf in the table at level (mapping
// from base) intersects [lo, hi).
func (s *Stage2) anyLeaf(table hv.PA, level int, base, lo, hi uint64) bool {
	first, last := span(level, base, lo, hi)
	sz := uint64(1) << levelShift(level)
	for i := first; i <= last; i++ {
		d := S2PTE(s.mem.Read64(table + hv.PA(i*8)))
		switch {
		case d.IsLeaf(level):
			return true
		case d.Valid() && d.IsTable(level):
			eb := base + i*sz
			if s.anyLeaf(d.Addr(), level+1, eb, max(lo, eb), min(hi, eb+sz)) {
				return true
			}
		}
	}
	return false
}

// clearRange invalidates every leaf in [lo, hi) below the table at level.
// Leaves must lie wholly inside or outside the range.
func (s *Stage2) clearRange(table hv.PA, level int, base, lo, hi uint64) error {
	first, last := span(level, base, lo, hi)
	sz := uint64(1) << levelShift(level)
	for i := first; i <= last; i++ {
		e := table + hv.PA(i*8)
		d := S2PTE(s.mem.Read64(e))
		eb := base + i*sz
		switch {
		case d.IsLeaf(level):
			if eb < lo || eb+sz > hi {
				return ErrPartialBlock
			}
			s.mem.Write64(e, 0)
		case d.Valid() && d.IsTable(level):
			if err := s.clearRange(d.Addr(), level+1, eb, max(lo, eb), min(hi, eb+sz)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Unmap removes every mapping in [ipa, ipa+size); pages in the range that
// are not mapped are skipped. ipa and size must be multiples of 4 KiB.
//
// A 1 GiB or 2 MiB block that straddles either end of the range is first
// split into next-level descriptors with the same output addresses and
// attributes (with break-before-make, see Stage2), so the part outside
// the range stays mapped. Splitting needs table pages; if the allocator
// runs out, Unmap returns its error before removing anything, and any
// blocks already split still translate exactly as before. Table pages
// that become empty are kept for reuse.
func (s *Stage2) Unmap(ipa hv.IPA, size uint64) error {
	if err := s.check(ipa, size); err != nil {
		return err
	}
	lo, hi := uint64(ipa), uint64(ipa)+size
	if err := s.splitAt(lo); err != nil {
		return err
	}
	if hi < 1<<s.ipaBits {
		if err := s.splitAt(hi); err != nil {
			return err
		}
	}
	return s.clearRange(s.root, s.start, 0, lo, hi)
}

// splitAt makes sure no block straddles the boundary x.
func (s *Stage2) splitAt(x uint64) error {
	table := s.root
	for l := s.start; l < 3; l++ {
		e := s.entry(table, x, l)
		d := S2PTE(s.mem.Read64(e))
		if !d.Valid() {
			return nil
		}
		if !d.IsTable(l) {
			sz := uint64(1) << levelShift(l)
			if l == 0 || x%sz == 0 {
				return nil // a level 0 block is invalid (faults) anyway
			}
			next, err := s.split(e, d, l, x&^(sz-1))
			if err != nil {
				return err
			}
			d = s2TableDesc(next)
		}
		table = d.Addr()
	}
	return nil
}

// split replaces the block d (at level, mapping from ipa, descriptor at
// e) with a table of 512 next-level descriptors translating the same way.
func (s *Stage2) split(e hv.PA, d S2PTE, level int, ipa uint64) (hv.PA, error) {
	next, err := s.alloc.AllocPage()
	if err != nil {
		return 0, err
	}
	child := uint64(1) << levelShift(level+1)
	attrs := uint64(d) &^ (S2PTE_ADDR_MASK | S2PTE_VALID | S2PTE_TABLE)
	bit1 := uint64(0)
	if level+1 == 3 {
		bit1 = S2PTE_PAGE
	}
	for i := uint64(0); i < entriesPerTable; i++ {
		pa := uint64(d.Addr()) + i*child
		s.mem.Write64(next+hv.PA(i*8), pa|attrs|bit1|S2PTE_VALID)
	}
	// break-before-make
	s.mem.Write64(e, 0)
	if s.Invalidate != nil {
		s.Invalidate(hv.IPA(ipa), uint64(1)<<levelShift(level))
	}
	s.mem.Write64(e, uint64(s2TableDesc(next)))
	return next, nil
}

// Walk translates ipa as the MMU would, returning the output address, the
// leaf descriptor and the level it was found at. When ok is false, d and
// level describe the descriptor that stopped the walk.
func (s *Stage2) Walk(ipa hv.IPA) (pa hv.PA, d S2PTE, level int, ok bool) {
	if s.mem == nil || uint64(ipa) >= 1<<s.ipaBits {
		return 0, 0, 0, false
	}
	v := uint64(ipa)
	table := s.root
	for l := s.start; l <= 3; l++ {
		d = S2PTE(s.mem.Read64(s.entry(table, v, l)))
		if d.IsLeaf(l) {
			off := v & (1<<levelShift(l) - 1)
			return d.Addr() + hv.PA(off), d, l, true
		}
		if !d.Valid() || !d.IsTable(l) {
			return 0, d, l, false
		}
		table = d.Addr()
	}
	return 0, 0, 0, false
}

// Visit calls fn for every leaf mapping (block or page) in IPA order,
// with its IPA, output address, size and attributes, until fn returns
// false. It allocates nothing itself. tamavisor uses it to check at VM
// creation that a guest can reach no hypervisor memory (see OverlapsPA).
func (s *Stage2) Visit(fn func(ipa hv.IPA, pa hv.PA, size uint64, a S2Attr) bool) {
	if s.mem == nil {
		return
	}
	s.visit(s.root, s.start, 0, s.entries(s.start), fn)
}

func (s *Stage2) visit(table hv.PA, level int, base, n uint64, fn func(hv.IPA, hv.PA, uint64, S2Attr) bool) bool {
	sz := uint64(1) << levelShift(level)
	for i := uint64(0); i < n; i++ {
		d := S2PTE(s.mem.Read64(table + hv.PA(i*8)))
		eb := base + i*sz
		switch {
		case d.IsLeaf(level):
			if !fn(hv.IPA(eb), d.Addr(), sz, d.Attr()) {
				return false
			}
		case d.Valid() && d.IsTable(level):
			if !s.visit(d.Addr(), level+1, eb, entriesPerTable, fn) {
				return false
			}
		}
	}
	return true
}

// OverlapsPA reports whether any mapping's output range intersects [pa,
// pa+size), and if so the IPA of the first such mapping.
func (s *Stage2) OverlapsPA(pa hv.PA, size uint64) (hv.IPA, bool) {
	var hit hv.IPA
	found := false
	lo, hi := uint64(pa), uint64(pa)+size
	if hi < lo {
		hi = ^uint64(0)
	}
	s.Visit(func(ipa hv.IPA, out hv.PA, n uint64, _ S2Attr) bool {
		if uint64(out) < hi && lo < uint64(out)+n {
			hit, found = ipa, true
			return false
		}
		return true
	})
	return hit, found
}
