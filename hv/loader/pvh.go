// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// x86 guests boot through Xen's x86/HVM direct boot ABI, "PVH" (Xen
// docs/misc/pvh.pandoc), as QEMU -kernel does: the kernel names a 32-bit
// physical entry point in an ELF note, and starts there in protected
// mode with EBX holding the address of an hvm_start_info structure.

// Xen public/elfnote.h: the note that carries the PVH entry point. Xen
// notes are named "Xen" (namesz 4, with the NUL), and a numeric
// descriptor is "either 4 or 8 bytes".
const (
	XEN_ELFNOTE_PHYS32_ENTRY = 18
	xenNoteName              = "Xen\x00"
)

// System V gABI, chapter 5 "Note Section": a note is namesz, descsz and
// type (4-byte words), then the name and the descriptor, each padded to
// the note alignment (4, or 8 in segments and sections aligned to 8).
const (
	noteHeaderSize = 12
	// MaxNotes bounds the notes PVHEntry reads in one image (a kernel
	// has a few dozen; a zero-filled 4 KiB note area reads as 341).
	MaxNotes = 1024
)

// Xen public/arch-x86/hvm/start_info.h: the start of day structure,
// version 1, and the records it points to. Every address in them is a
// guest-physical address, and 0 means "not present".
const (
	// PVH_START_MAGIC is hvm_start_info.magic,
	// XEN_HVM_START_MAGIC_VALUE ("xEn3" with the 0x80 bit of the "E"
	// set).
	PVH_START_MAGIC = 0x336ec578
	// HVM_START_INFO_VERSION is the version BuildPVHStartInfo writes;
	// version 1 added memmap_paddr and memmap_entries.
	HVM_START_INFO_VERSION = 1

	HVMStartInfoSize        = 56 // struct hvm_start_info, version 1
	HVMModlistEntrySize     = 32 // struct hvm_modlist_entry
	HVMMemmapTableEntrySize = 24 // struct hvm_memmap_table_entry

	// hvm_memmap_table_entry.type: the E820 address range types.
	XEN_HVM_MEMMAP_TYPE_RAM      = 1
	XEN_HVM_MEMMAP_TYPE_RESERVED = 2
	XEN_HVM_MEMMAP_TYPE_ACPI     = 3
	XEN_HVM_MEMMAP_TYPE_NVS      = 4
	XEN_HVM_MEMMAP_TYPE_UNUSABLE = 5
	XEN_HVM_MEMMAP_TYPE_DISABLED = 6
	XEN_HVM_MEMMAP_TYPE_PMEM     = 7
)

// Limits on what BuildPVHStartInfo lays out (ours, not Xen's).
const (
	// PVHStartInfoAlign is the alignment of the start info blob, the
	// natural alignment of its 64-bit fields.
	PVHStartInfoAlign = 8
	MaxPVHMemmap      = 128     // memory map entries
	MaxPVHCmdline     = 2048    // bytes of a command line, without the NUL
	MaxPVHStartInfo   = 8 << 10 // bytes of the whole blob
)

// HVMStartInfo is struct hvm_start_info, version 1, as it is in guest
// memory (little-endian, 56 bytes).
type HVMStartInfo struct {
	Magic         uint32 // PVH_START_MAGIC
	Version       uint32
	Flags         uint32 // SIF_xxx
	NrModules     uint32
	ModlistPaddr  uint64 // array of HVMModlistEntry
	CmdlinePaddr  uint64 // NUL-terminated ASCII
	RSDPPaddr     uint64 // ACPI RSDP
	MemmapPaddr   uint64 // array of HVMMemmapTableEntry (version >= 1)
	MemmapEntries uint32 // (version >= 1)
	Reserved      uint32
}

// HVMModlistEntry is struct hvm_modlist_entry (32 bytes).
type HVMModlistEntry struct {
	Paddr        uint64
	Size         uint64
	CmdlinePaddr uint64 // NUL-terminated ASCII
	Reserved     uint64
}

// HVMMemmapTableEntry is struct hvm_memmap_table_entry (24 bytes).
type HVMMemmapTableEntry struct {
	Addr     uint64
	Size     uint64
	Type     uint32 // XEN_HVM_MEMMAP_TYPE_*
	Reserved uint32 // zero in version 1
}

// PVHMemory is one range of the guest's memory map.
type PVHMemory struct {
	Addr, Size uint64
	Type       uint32 // XEN_HVM_MEMMAP_TYPE_*
}

// PVHModule is a module (the initrd) handed to the guest.
type PVHModule struct {
	Addr    hv.IPA
	Size    uint64
	Cmdline string // "" for none
}

// PVHBootInfo is a start info blob as ParsePVHStartInfo decodes it.
type PVHBootInfo struct {
	Header  HVMStartInfo
	Cmdline string
	Memory  []PVHMemory
	Modules []PVHModule
}

// PVHEntry returns the physical entry point an x86 kernel names in its
// XEN_ELFNOTE_PHYS32_ENTRY note (name "Xen", Xen public/elfnote.h).
//
// It reads the notes of the PT_NOTE program headers and, if none of
// them has the entry, those of the SHT_NOTE sections (objcopy adds the
// note as a section without a segment). The descriptor must be 4 bytes,
// or 8 with the upper 4 zero. ok is false, with a nil error, when img is
// an ELF file without the note (or an arm64 Image, which has no notes).
// Any note that does not fit in its segment or section or in img, a
// wrong descriptor size, or more than MaxNotes notes is an error
// wrapping ErrMalformed (ErrUnsupported for the count); img that is no
// kernel gets Detect's error. img is never written.
func PVHEntry(img []byte) (entry uint32, ok bool, err error) {
	kind, err := Detect(img)
	if err != nil || kind == LinuxARM64 {
		return 0, false, err
	}
	f, err := parseELF(img)
	if err != nil {
		return 0, false, err
	}
	w := noteWalker{img: img}
	for i, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if entry, ok, err = w.find("program header", i, p.Off, p.Filesz, p.Align); ok || err != nil {
			return entry, ok, err
		}
	}
	for i, s := range f.Sections {
		if s.Type != elf.SHT_NOTE || s.Flags&elf.SHF_COMPRESSED != 0 {
			continue
		}
		if entry, ok, err = w.find("section", i, s.Offset, s.FileSize, s.Addralign); ok || err != nil {
			return entry, ok, err
		}
	}
	return 0, false, nil
}

// noteWalker reads the notes of an image, counting them across
// segments and sections.
type noteWalker struct {
	img   []byte
	notes int
}

// find looks for the PHYS32 entry note among the notes in the size
// bytes at file offset off of w.img, aligned to align (the p_align or
// sh_addralign of their segment or section). where and idx name that
// segment or section in errors. namesz and descsz are below 2^32 and
// the offsets below len(w.img), so the uint64 arithmetic cannot overflow.
func (w *noteWalker) find(where string, idx int, off, size, align uint64) (uint32, bool, error) {
	end := off + size
	if end < off || end > uint64(len(w.img)) {
		return 0, false, fmt.Errorf("%w: %s %d: notes at [%#x,+%#x) beyond the %#x-byte image", ErrMalformed, where, idx, off, size, len(w.img))
	}
	pad := uint64(4)
	if align == 8 {
		pad = 8
	}
	up := func(v uint64) uint64 { return (v + pad - 1) &^ (pad - 1) }
	b := w.img[off:end]
	for pos := uint64(0); pos < size; {
		if w.notes++; w.notes > MaxNotes {
			return 0, false, fmt.Errorf("%w: more than %d ELF notes", ErrUnsupported, MaxNotes)
		}
		if size-pos < noteHeaderSize {
			return 0, false, fmt.Errorf("%w: %s %d: %d bytes at note offset %#x, a note header needs %d", ErrMalformed, where, idx, size-pos, pos, noteHeaderSize)
		}
		namesz := uint64(binary.LittleEndian.Uint32(b[pos:]))
		descsz := uint64(binary.LittleEndian.Uint32(b[pos+4:]))
		typ := binary.LittleEndian.Uint32(b[pos+8:])
		// Offsets are from the start of the notes, which is aligned, as
		// binutils counts them: an 8-aligned "GNU" note's descriptor is
		// at 16, not 20.
		nameOff := pos + noteHeaderSize
		descOff := up(nameOff + namesz)
		// The last note's padding may be missing; its bytes may not.
		if nameOff+namesz > size || (descsz > 0 && descOff+descsz > size) {
			return 0, false, fmt.Errorf("%w: %s %d: note at offset %#x (namesz %#x, descsz %#x) overruns its %#x bytes", ErrMalformed, where, idx, pos, namesz, descsz, size)
		}
		if typ == XEN_ELFNOTE_PHYS32_ENTRY && string(b[nameOff:nameOff+namesz]) == xenNoteName {
			if descsz != 4 && descsz != 8 {
				return 0, false, fmt.Errorf("%w: %s %d: XEN_ELFNOTE_PHYS32_ENTRY descriptor of %d bytes, want 4 or 8", ErrMalformed, where, idx, descsz)
			}
			if desc := b[descOff : descOff+descsz]; descsz == 8 && binary.LittleEndian.Uint32(desc[4:]) != 0 {
				return 0, false, fmt.Errorf("%w: %s %d: XEN_ELFNOTE_PHYS32_ENTRY %#x is not a 32-bit address", ErrMalformed, where, idx, binary.LittleEndian.Uint64(desc))
			}
			return binary.LittleEndian.Uint32(b[descOff:]), true, nil
		}
		pos = min(descOff+up(descsz), size)
	}
	return 0, false, nil
}

// BuildPVHStartInfo lays out a start info blob for guest-physical
// address at and returns the bytes to copy there: the hvm_start_info
// (version 1), the memory map table (mem, in order), the module list (one
// entry for initrd, if not nil), then the NUL-terminated command line and
// the module's command line. Every pointer in it is a guest-physical
// address inside the blob; an absent part (no memory map, no initrd, an
// empty command line) has address 0.
//
// at must be a non-zero multiple of PVHStartInfoAlign, and the blob must
// end at or below 4 GiB, since the guest receives at in EBX. mem has at
// most MaxPVHMemmap entries, each of non-zero size, not wrapping, of a
// type XEN_HVM_MEMMAP_TYPE_RAM..PMEM. Command lines hold at most
// MaxPVHCmdline bytes of printable ASCII (0x20-0x7e). initrd must be at a
// non-zero address and not wrap. Violations wrap ErrStartInfo, or
// ErrTooLarge for the size limits.
func BuildPVHStartInfo(at hv.IPA, cmdline string, mem []PVHMemory, initrd *PVHModule) ([]byte, error) {
	a := uint64(at)
	if a == 0 || a%PVHStartInfoAlign != 0 {
		return nil, fmt.Errorf("%w: start info at %v, want a non-zero multiple of %d", ErrStartInfo, at, PVHStartInfoAlign)
	}
	if len(mem) > MaxPVHMemmap {
		return nil, fmt.Errorf("%w: %d memory map entries, at most %d", ErrTooLarge, len(mem), MaxPVHMemmap)
	}
	for i, m := range mem {
		switch {
		case m.Size == 0 || m.Addr+m.Size < m.Addr:
			return nil, fmt.Errorf("%w: memory map entry %d: [%#x,+%#x) is empty or wraps", ErrStartInfo, i, m.Addr, m.Size)
		case m.Type < XEN_HVM_MEMMAP_TYPE_RAM || m.Type > XEN_HVM_MEMMAP_TYPE_PMEM:
			return nil, fmt.Errorf("%w: memory map entry %d: type %d", ErrStartInfo, i, m.Type)
		}
	}
	if err := checkCmdline("command line", cmdline); err != nil {
		return nil, err
	}
	memOff := uint64(HVMStartInfoSize)
	modOff := memOff + uint64(len(mem))*HVMMemmapTableEntrySize
	cmdOff := modOff
	modCmdline := ""
	if initrd != nil {
		if initrd.Addr == 0 || uint64(initrd.Addr)+initrd.Size < uint64(initrd.Addr) {
			return nil, fmt.Errorf("%w: initrd [%v,+%#x) is at 0 or wraps", ErrStartInfo, initrd.Addr, initrd.Size)
		}
		if err := checkCmdline("initrd command line", initrd.Cmdline); err != nil {
			return nil, err
		}
		cmdOff += HVMModlistEntrySize
		modCmdline = initrd.Cmdline
	}
	modCmdOff := cmdOff + cstrSize(cmdline)
	size := modCmdOff + cstrSize(modCmdline)
	if size > MaxPVHStartInfo {
		return nil, fmt.Errorf("%w: start info of %d bytes, at most %d", ErrTooLarge, size, MaxPVHStartInfo)
	}
	if a+size > 1<<32 || a+size < a {
		return nil, fmt.Errorf("%w: start info [%#x,%#x) must lie below 4 GiB: its address is passed in EBX", ErrStartInfo, a, a+size)
	}

	ptr := func(off uint64, present bool) uint64 {
		if !present {
			return 0
		}
		return a + off
	}
	h := HVMStartInfo{
		Magic:         PVH_START_MAGIC,
		Version:       HVM_START_INFO_VERSION,
		CmdlinePaddr:  ptr(cmdOff, cmdline != ""),
		MemmapPaddr:   ptr(memOff, len(mem) > 0),
		MemmapEntries: uint32(len(mem)),
	}
	recs := []any{&h}
	for _, m := range mem {
		recs = append(recs, &HVMMemmapTableEntry{Addr: m.Addr, Size: m.Size, Type: m.Type})
	}
	if initrd != nil {
		h.NrModules, h.ModlistPaddr = 1, a+modOff
		recs = append(recs, &HVMModlistEntry{Paddr: uint64(initrd.Addr), Size: initrd.Size, CmdlinePaddr: ptr(modCmdOff, modCmdline != "")})
	}
	b := make([]byte, 0, size)
	for _, r := range recs {
		var err error
		if b, err = binary.Append(b, binary.LittleEndian, r); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStartInfo, err)
		}
	}
	for _, s := range []string{cmdline, modCmdline} {
		if s != "" {
			b = append(append(b, s...), 0)
		}
	}
	if uint64(len(b)) != size {
		return nil, fmt.Errorf("%w: laid out %d bytes, planned %d", ErrStartInfo, len(b), size)
	}
	return b, nil
}

// checkCmdline enforces BuildPVHStartInfo's command line rules.
func checkCmdline(what, s string) error {
	if len(s) > MaxPVHCmdline {
		return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrTooLarge, what, len(s), MaxPVHCmdline)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: %s byte %d is %#x, not printable ASCII", ErrStartInfo, what, i, c)
		}
	}
	return nil
}

// cstrSize is the size of s with its NUL, 0 for the empty string (which
// is not written).
func cstrSize(s string) uint64 {
	if s == "" {
		return 0
	}
	return uint64(len(s)) + 1
}

// ParsePVHStartInfo decodes a start info blob b that sits at
// guest-physical address at, as BuildPVHStartInfo writes it (and as Xen
// or QEMU would). Every non-zero pointer must lead into b: a pointer
// outside it, a table that does not fit, a string without its NUL within
// MaxPVHCmdline bytes, a non-zero reserved field, more than
// MaxPVHMemmap memory map entries, or a bad magic is an error wrapping
// ErrStartInfo. A version 0 structure has no memory map. b is not
// retained.
func ParsePVHStartInfo(b []byte, at hv.IPA) (PVHBootInfo, error) {
	var bi PVHBootInfo
	lo := uint64(at)
	hi := lo + uint64(len(b))
	if hi < lo {
		return bi, fmt.Errorf("%w: %#x bytes at %v wrap", ErrStartInfo, len(b), at)
	}
	if len(b) < HVMStartInfoSize {
		return bi, fmt.Errorf("%w: %d bytes, hvm_start_info needs %d", ErrStartInfo, len(b), HVMStartInfoSize)
	}
	h := &bi.Header
	if _, err := binary.Decode(b, binary.LittleEndian, h); err != nil {
		return bi, fmt.Errorf("%w: %v", ErrStartInfo, err)
	}
	if h.Magic != PVH_START_MAGIC {
		return bi, fmt.Errorf("%w: magic %#x, want %#x", ErrStartInfo, h.Magic, PVH_START_MAGIC)
	}
	// sub returns the n bytes at guest-physical address p.
	sub := func(what string, p, n uint64) ([]byte, error) {
		if p < lo || p > hi || n > hi-p {
			return nil, fmt.Errorf("%w: %s [%#x,+%#x) outside the start info [%#x,%#x)", ErrStartInfo, what, p, n, lo, hi)
		}
		return b[p-lo : p-lo+n], nil
	}
	cstr := func(what string, p uint64) (string, error) {
		if p == 0 {
			return "", nil
		}
		if _, err := sub(what, p, 0); err != nil {
			return "", err
		}
		s := b[p-lo:]
		s = s[:min(len(s), MaxPVHCmdline+1)]
		n := bytes.IndexByte(s, 0)
		if n < 0 {
			return "", fmt.Errorf("%w: %s at %#x has no NUL within %d bytes", ErrStartInfo, what, p, len(s))
		}
		return string(s[:n]), nil
	}
	var err error
	if bi.Cmdline, err = cstr("command line", h.CmdlinePaddr); err != nil {
		return bi, err
	}
	if h.Version >= 1 {
		if h.Reserved != 0 {
			return bi, fmt.Errorf("%w: reserved field %#x", ErrStartInfo, h.Reserved)
		}
		if h.MemmapEntries > MaxPVHMemmap {
			return bi, fmt.Errorf("%w: %d memory map entries, at most %d", ErrStartInfo, h.MemmapEntries, MaxPVHMemmap)
		}
		if h.MemmapEntries > 0 {
			t, err := sub("memory map", h.MemmapPaddr, uint64(h.MemmapEntries)*HVMMemmapTableEntrySize)
			if err != nil {
				return bi, err
			}
			for i := range h.MemmapEntries {
				var e HVMMemmapTableEntry
				if _, err := binary.Decode(t[uint64(i)*HVMMemmapTableEntrySize:], binary.LittleEndian, &e); err != nil {
					return bi, fmt.Errorf("%w: memory map entry %d: %v", ErrStartInfo, i, err)
				}
				if e.Reserved != 0 {
					return bi, fmt.Errorf("%w: memory map entry %d: reserved field %#x", ErrStartInfo, i, e.Reserved)
				}
				bi.Memory = append(bi.Memory, PVHMemory{Addr: e.Addr, Size: e.Size, Type: e.Type})
			}
		}
	}
	if h.NrModules > 0 {
		t, err := sub("module list", h.ModlistPaddr, uint64(h.NrModules)*HVMModlistEntrySize)
		if err != nil {
			return bi, err
		}
		for i := range h.NrModules {
			var e HVMModlistEntry
			if _, err := binary.Decode(t[uint64(i)*HVMModlistEntrySize:], binary.LittleEndian, &e); err != nil {
				return bi, fmt.Errorf("%w: module %d: %v", ErrStartInfo, i, err)
			}
			if e.Reserved != 0 {
				return bi, fmt.Errorf("%w: module %d: reserved field %#x", ErrStartInfo, i, e.Reserved)
			}
			m := PVHModule{Addr: hv.IPA(e.Paddr), Size: e.Size}
			if m.Cmdline, err = cstr(fmt.Sprintf("module %d command line", i), e.CmdlinePaddr); err != nil {
				return bi, err
			}
			bi.Modules = append(bi.Modules, m)
		}
	}
	return bi, nil
}

// LoadedPVH describes an x86 kernel LoadPVH put into RAM, with the
// values the boot vCPU starts with.
type LoadedPVH struct {
	// Entry is the XEN_ELFNOTE_PHYS32_ENTRY address: the vCPU's EIP.
	Entry hv.IPA
	// StartInfo is the address of the hvm_start_info: the vCPU's EBX.
	StartInfo hv.IPA
	// KernelEnd is the first address after the kernel's segments.
	KernelEnd hv.IPA
	// Initrd is where the initrd was copied, 0 without one.
	Initrd hv.IPA
	// End is the first address after the start info blob, the end of
	// everything LoadPVH wrote.
	End hv.IPA
}

// LoadPVH loads an x86-64 kernel that boots through the Xen PVH entry
// (docs/misc/pvh.pandoc) into ram, whose first byte is at guest-physical
// ramBase, with its initrd (if not empty) and a start info that gives
// the command line, the initrd as module 0 and a memory map of one
// XEN_HVM_MEMMAP_TYPE_RAM range, the whole RAM window.
//
// img must be an ELF64 x86-64 executable as LoadELF takes it, with a
// XEN_ELFNOTE_PHYS32_ENTRY note (PVHEntry) whose address lies in one of
// its PT_LOAD segments: tamavisor starts x86 guests only at the PVH
// entry, never at e_entry in long mode. Above the kernel's end, the
// initrd goes at the next page boundary, and the start info
// (BuildPVHStartInfo, whose rules apply to cmdline) in its own page after
// the initrd, below 4 GiB. Nothing is written unless everything fits in
// RAM; errors wrap the package's Err* values.
//
// The caller then starts the boot vCPU as pvh.pandoc asks: EIP = Entry,
// EBX = StartInfo, CR0 with only PE set among its writable bits, CR4 = 0,
// CS a flat 32-bit read/execute segment and DS, ES, SS flat 32-bit
// read/write segments (base 0, limit 0xffffffff), TR a 32-bit TSS with
// base 0 and limit 0x67, and EFLAGS.VM, IF and TF clear.
func LoadPVH(img []byte, ramBase hv.IPA, ram []byte, cmdline string, initrd []byte) (LoadedPVH, error) {
	p, err := planELF(img, ramBase, ram, elf.EM_X86_64)
	if err != nil {
		return LoadedPVH{}, err
	}
	entry, ok, err := PVHEntry(img)
	if err != nil {
		return LoadedPVH{}, err
	}
	if !ok {
		return LoadedPVH{}, fmt.Errorf("%w: no XEN_ELFNOTE_PHYS32_ENTRY note: x86 guests boot only through the Xen PVH entry", ErrUnsupported)
	}
	if !p.contains(uint64(entry)) {
		return LoadedPVH{}, fmt.Errorf("%w: PVH entry %#x is in no PT_LOAD segment", ErrEntry, entry)
	}
	ramSize := uint64(len(ram))
	l, err := PlaceBlobs(ramBase, ramSize, p.end, 0, uint64(len(initrd)))
	if err != nil {
		return LoadedPVH{}, err
	}
	si, ok := alignUp(uint64(l.End), hv.PageSize)
	if !ok || si-p.lo >= ramSize {
		return LoadedPVH{}, fmt.Errorf("%w: no page for the start info above %v in RAM [%v,+%#x)", ErrOutsideRAM, l.End, ramBase, ramSize)
	}
	var mod *PVHModule
	if len(initrd) > 0 {
		mod = &PVHModule{Addr: l.Initrd, Size: uint64(len(initrd))}
	}
	blob, err := BuildPVHStartInfo(hv.IPA(si), cmdline, []PVHMemory{{Addr: p.lo, Size: ramSize, Type: XEN_HVM_MEMMAP_TYPE_RAM}}, mod)
	if err != nil {
		return LoadedPVH{}, err
	}
	off := si - p.lo
	if uint64(len(blob)) > ramSize-off {
		return LoadedPVH{}, fmt.Errorf("%w: start info of %#x bytes at %#x, RAM ends at %#x", ErrOutsideRAM, len(blob), si, p.lo+ramSize)
	}
	p.write(img, ram)
	if len(initrd) > 0 {
		copy(ram[uint64(l.Initrd)-p.lo:], initrd)
	}
	copy(ram[off:], blob)
	return LoadedPVH{Entry: hv.IPA(entry), StartInfo: hv.IPA(si), KernelEnd: p.end, Initrd: l.Initrd, End: hv.IPA(si + uint64(len(blob)))}, nil
}

// contains reports whether physical address pa lies in a planned
// segment.
func (p elfPlan) contains(pa uint64) bool {
	for _, s := range p.segs {
		if pa >= s.paddr && pa < s.end() {
			return true
		}
	}
	return false
}
