// image/boot: what the boot loader or firmware handed to tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package boot turns the registers and memory a loader leaves behind
// (the Multiboot2 information structure, the Xen PVH start_info, the UEFI
// system table and the final UEFI memory map) into an hv.BootInfo and a
// RAM map. Everything it reads is loader-controlled and treated as
// untrusted: sizes are capped, checksums checked, and a malformed piece is
// reported in BootInfo.Errors while the rest is still used.
//
// The package is plain Go: a board passes a Reader for physical memory,
// host tests pass a fake one. It runs on the target (qemu-q35-amd64) and
// on the host.
package boot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/image/multiboot2"
)

// Entry magics.
const (
	// MB2_BOOTLOADER_MAGIC is EAX at a Multiboot2 entry (spec 2.0 3.2).
	MB2_BOOTLOADER_MAGIC = 0x36d76289
	// PVH_START_MAGIC is hvm_start_info.magic (Xen
	// include/public/arch-x86/hvm/start_info.h).
	PVH_START_MAGIC = 0x336ec578
	// UEFI_MAGIC is what cpuinit records for a direct UEFI start.
	UEFI_MAGIC = 0x49464555
)

// Limits on loader-supplied sizes.
const (
	MaxMBI        = 1 << 20
	MaxEFITables  = 256
	MaxModules    = 64
	MaxCmdlineLen = 4096
	// MaxModuleSize caps one boot module (a guest kernel, initrd or
	// manifest).
	MaxModuleSize = 256 << 20
)

// UEFI 2.10 7.2 EFI_MEMORY_TYPE values that are RAM once boot services
// have ended.
const (
	EfiLoaderCode         = 1
	EfiLoaderData         = 2
	EfiBootServicesCode   = 3
	EfiBootServicesData   = 4
	EfiConventionalMemory = 7
	EFI_PAGE_SIZE         = 4096
)

// UEFI 2.10 4.3 EFI_SYSTEM_TABLE (x64) offsets and 4.6 the ACPI 2.0
// configuration table GUID 8868e871-e4f1-11d3-bc22-0080c73c8881 in its
// in-memory (mixed-endian) form.
const (
	EFI_ST_NUMTABLES = 104
	EFI_ST_CONFIG    = 112
	EFI_ST_SIZE      = 120
	EFI_CONFIG_SIZE  = 24
)

var efiACPI20GUID = []byte{0x71, 0xe8, 0x68, 0x88, 0xf1, 0xe4, 0xd3, 0x11,
	0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81}

// Reader reads n bytes of physical memory at pa.
type Reader func(pa uint64, n int) ([]byte, error)

// Entry is what cpuinit recorded (hv/amd64.BootParams).
type Entry struct {
	Magic uint32
	Info  uint64 // MBI or start_info physical address
	// LinkBase/LoadBase/Size: the relocated RAM window.
	LinkBase, LoadBase, Size uint64

	EFIEntry  bool // entered in 64-bit mode with boot services running
	PE        bool // started as a PE32+ application
	EBSDone   bool // cpuinit's ExitBootServices succeeded
	NoTable   bool // EFI entry without system table or image handle
	EBSStatus uint64
	EBSTries  uint64
	EFISystab uint64
	// EFIMap and DescSize: the UEFI memory map of the successful
	// ExitBootServices.
	EFIMap   []byte
	DescSize uint64
}

// Result is the outcome of Collect.
type Result struct {
	Info hv.BootInfo
	// RAM is the usable RAM the loader or firmware reported, sorted and
	// merged; nil when the protocol gives none (PVH: the board asks
	// fw_cfg).
	RAM []hv.Region
	// MBI is the decoded Multiboot2 information, if any.
	MBI *multiboot2.Info
}

// Collect decodes the boot information. It never fails: problems are in
// Result.Info.Errors.
func Collect(e Entry, read Reader) *Result {
	r := &Result{Info: hv.BootInfo{LinkBase: e.LinkBase, LoadBase: e.LoadBase}}
	bi := &r.Info
	errf := func(format string, a ...any) { bi.Errors = append(bi.Errors, fmt.Sprintf(format, a...)) }

	switch {
	case e.Magic == MB2_BOOTLOADER_MAGIC:
		bi.Protocol = "multiboot2"
		if e.EFIEntry {
			bi.Protocol = "multiboot2-efi"
		}
		r.multiboot2(e, read, errf)
	case e.Magic == UEFI_MAGIC && e.PE:
		bi.Protocol = "uefi"
		r.acpiFromSystab(e.EFISystab, read, errf)
	default:
		if b, err := read(e.Info, 4); err == nil && binary.LittleEndian.Uint32(b) == PVH_START_MAGIC {
			bi.Protocol = "pvh"
		} else {
			bi.Protocol = "unknown"
			errf("boot: entry magic %#x and info %#x match no known protocol", e.Magic, e.Info)
		}
	}

	if e.EFIEntry {
		switch {
		case e.NoTable:
			errf("boot: UEFI entry without EFI64 system table or image handle: boot services were not exited")
		case e.EBSDone:
			bi.ExitBootServices = "tamavisor"
			r.RAM = efiRAM(e.EFIMap, e.DescSize, errf)
		default:
			errf("boot: ExitBootServices failed after %d tries, status %#x", e.EBSTries, e.EBSStatus)
		}
	}
	if r.RAM != nil && e.Size != 0 && !covered(r.RAM, e.LoadBase, e.Size) {
		errf("boot: the hypervisor runs at %#x-%#x, which the memory map does not list as RAM", e.LoadBase, e.LoadBase+e.Size)
	}
	return r
}

func (r *Result) multiboot2(e Entry, read Reader, errf func(string, ...any)) {
	bi := &r.Info
	hdr, err := read(e.Info, 8)
	if err != nil {
		errf("multiboot2: MBI at %#x: %v", e.Info, err)
		return
	}
	total := binary.LittleEndian.Uint32(hdr)
	if total < 16 || total > MaxMBI {
		errf("multiboot2: MBI at %#x: total_size %d out of range 16..%d", e.Info, total, MaxMBI)
		return
	}
	b, err := read(e.Info, int(total))
	if err != nil {
		errf("multiboot2: MBI at %#x: %v", e.Info, err)
		return
	}
	info, err := multiboot2.Parse(b)
	if err != nil {
		errf("%v", err)
		return
	}
	r.MBI = info
	bi.Cmdline = clip(info.Cmdline)
	bi.Loader = clip(info.BootLoaderName)
	for _, w := range info.Warnings {
		errf("multiboot2: %s", w)
	}

	// Tag 21 against the entry address cpuinit measured.
	switch {
	case info.Has(multiboot2.TagLoadBaseAddr) && uint64(info.LoadBaseAddr) != e.LoadBase:
		errf("multiboot2: load base tag says %#x but the entry point ran at load base %#x", info.LoadBaseAddr, e.LoadBase)
	case !info.Has(multiboot2.TagLoadBaseAddr) && e.LoadBase != e.LinkBase:
		errf("multiboot2: relocated to %#x but the loader gave no load base tag", e.LoadBase)
	}

	for i, m := range info.Modules {
		if i == MaxModules {
			errf("multiboot2: %d modules, only the first %d are used", len(info.Modules), MaxModules)
			break
		}
		if m.End < m.Start {
			errf("multiboot2: module %d (%q) ends at %#x before its start %#x", i, m.Cmdline, m.End, m.Start)
			continue
		}
		cl := clip(m.Cmdline)
		name, _, _ := strings.Cut(strings.TrimSpace(cl), " ")
		bi.Modules = append(bi.Modules, hv.BootModule{Name: name, Cmdline: cl, Base: hv.PA(m.Start), Size: uint64(m.End - m.Start)})
	}

	r.checkModules(e, errf)

	if info.EFI64SystemTable != 0 {
		r.acpiFromSystab(info.EFI64SystemTable, read, errf)
	}
	if bi.ACPIRoot == 0 {
		if info.Has(multiboot2.TagACPINewRSDP) {
			r.acpiFromRSDP(info.ACPINewRSDP, "multiboot2 tag 15", errf)
		} else if info.Has(multiboot2.TagACPIOldRSDP) {
			r.acpiFromRSDP(info.ACPIOldRSDP, "multiboot2 tag 14", errf)
		}
	}

	if e.EFIEntry {
		if !info.EFIBootServicesNotTerminated {
			errf("multiboot2: EFI entry without tag 18 (boot services not terminated)")
		}
		return // RAM from cpuinit's own final map
	}
	if info.EFIBootServicesNotTerminated {
		errf("multiboot2: tag 18 says boot services are running, but the 32-bit entry was used")
	}
	if info.Has(multiboot2.TagEFI64SystemTable) || info.Has(multiboot2.TagEFIMemoryMap) {
		bi.ExitBootServices = "loader"
	}
	if info.MemoryMap != nil {
		var ram []hv.Region
		for _, m := range info.MemoryMap.Entries {
			if m.Type != multiboot2.MemAvailable || m.Length == 0 {
				continue
			}
			if m.Base+m.Length < m.Base {
				errf("multiboot2: memory map entry %#x+%#x wraps", m.Base, m.Length)
				continue
			}
			{
				ram = append(ram, hv.Region{Kind: hv.RAM, Base: hv.PA(m.Base), Size: m.Length})
			}
		}
		r.RAM = mergeRAM(ram)
	} else {
		errf("multiboot2: no memory map tag")
	}
}

// checkModules drops, with an error each, modules that are empty, too
// large, duplicated by name, overlapping another module, or overlapping
// the hypervisor's own load range; the others stay usable.
func (r *Result) checkModules(e Entry, errf func(string, ...any)) {
	bi := &r.Info
	var ok []hv.BootModule
	names := map[string]int{}
	for _, m := range bi.Modules {
		names[m.Name]++
	}
	for i, m := range bi.Modules {
		bad := ""
		switch {
		case m.Name == "":
			bad = "has no name (empty command line)"
		case m.Size == 0:
			bad = "is empty"
		case m.Size > MaxModuleSize:
			bad = fmt.Sprintf("is %d MiB, more than the %d MiB limit", m.Size>>20, MaxModuleSize>>20)
		case names[m.Name] > 1:
			bad = fmt.Sprintf("is given %d times", names[m.Name])
		case e.Size != 0 && uint64(m.Base) < e.LoadBase+e.Size && e.LoadBase < uint64(m.Base)+m.Size:
			bad = fmt.Sprintf("overlaps the hypervisor at %#x-%#x", e.LoadBase, e.LoadBase+e.Size)
		}
		for j, o := range bi.Modules {
			if bad == "" && j != i && m.Base < o.End() && o.Base < m.End() {
				bad = fmt.Sprintf("overlaps module %q", o.Name)
			}
		}
		if bad != "" {
			errf("boot: module %d %q at %#x (%d bytes) %s; not used", i, m.Name, uint64(m.Base), m.Size, bad)
			continue
		}
		ok = append(ok, m)
	}
	bi.Modules = ok
}

// Module returns the module called name, or false.
func (r *Result) Module(name string) (hv.BootModule, bool) {
	for _, m := range r.Info.Modules {
		if m.Name == name {
			return m, true
		}
	}
	return hv.BootModule{}, false
}

// MissingImages returns an error for each image name (a manifest VM's
// kernel or initrd, matched by base name against the module names) that
// no usable module provides.
func (r *Result) MissingImages(vm string, images ...string) []string {
	var out []string
	for _, img := range images {
		if img == "" {
			continue
		}
		name := img[strings.LastIndexByte(img, '/')+1:]
		if _, ok := r.Module(name); !ok {
			out = append(out, fmt.Sprintf("boot: VM %q needs image %q, but no boot module is named %q", vm, img, name))
		}
	}
	return out
}

// efiRAM converts a UEFI memory map (UEFI 2.10 7.2
// EFI_MEMORY_DESCRIPTOR: Type u32, pad, PhysicalStart u64, VirtualStart
// u64, NumberOfPages u64, Attribute u64) to RAM regions.
func efiRAM(m []byte, desc uint64, errf func(string, ...any)) []hv.Region {
	if desc < 40 || desc > 4096 || uint64(len(m))%desc != 0 {
		errf("uefi: memory map of %d bytes with descriptor size %d is malformed", len(m), desc)
		return nil
	}
	var ram []hv.Region
	for off := uint64(0); off < uint64(len(m)); off += desc {
		d := m[off:]
		typ := binary.LittleEndian.Uint32(d)
		base := binary.LittleEndian.Uint64(d[8:])
		pages := binary.LittleEndian.Uint64(d[24:])
		switch typ {
		case EfiLoaderCode, EfiLoaderData, EfiBootServicesCode, EfiBootServicesData, EfiConventionalMemory:
		default:
			continue
		}
		if pages == 0 || pages > (1<<52)/EFI_PAGE_SIZE || base+pages*EFI_PAGE_SIZE < base {
			errf("uefi: memory descriptor at %#x: %d pages at %#x out of range", off, pages, base)
			continue
		}
		ram = append(ram, hv.Region{Kind: hv.RAM, Base: hv.PA(base), Size: pages * EFI_PAGE_SIZE})
	}
	return mergeRAM(ram)
}

// covered reports whether [base, base+size) lies inside one region of
// the merged map.
func covered(ram []hv.Region, base, size uint64) bool {
	for _, r := range ram {
		if base >= uint64(r.Base) && base+size <= uint64(r.End()) {
			return true
		}
	}
	return false
}

// mergeRAM sorts regions and merges touching or overlapping ones; the
// results are named ram0, ram1, ...
func mergeRAM(in []hv.Region) []hv.Region {
	sort.Slice(in, func(i, j int) bool { return in[i].Base < in[j].Base })
	var out []hv.Region
	for _, r := range in {
		if n := len(out); n > 0 && r.Base <= out[n-1].End() {
			if r.End() > out[n-1].End() {
				out[n-1].Size = uint64(r.End() - out[n-1].Base)
			}
			continue
		}
		out = append(out, r)
	}
	for i := range out {
		out[i].Name = fmt.Sprintf("ram%d", i)
	}
	return out
}

// acpiFromSystab finds the ACPI 2.0 table in the UEFI configuration
// table.
func (r *Result) acpiFromSystab(systab uint64, read Reader, errf func(string, ...any)) {
	st, err := read(systab, EFI_ST_SIZE)
	if err != nil {
		errf("uefi: system table at %#x: %v", systab, err)
		return
	}
	if !bytes.Equal(st[:8], []byte("IBI SYST")) {
		errf("uefi: system table at %#x: bad signature %q", systab, st[:8])
		return
	}
	n := binary.LittleEndian.Uint64(st[EFI_ST_NUMTABLES:])
	tables := binary.LittleEndian.Uint64(st[EFI_ST_CONFIG:])
	if n > MaxEFITables {
		errf("uefi: %d configuration tables, more than %d", n, MaxEFITables)
		return
	}
	ct, err := read(tables, int(n)*EFI_CONFIG_SIZE)
	if err != nil {
		errf("uefi: configuration table at %#x: %v", tables, err)
		return
	}
	for i := 0; i < int(n); i++ {
		e := ct[i*EFI_CONFIG_SIZE:]
		if !bytes.Equal(e[:16], efiACPI20GUID) {
			continue
		}
		p := binary.LittleEndian.Uint64(e[16:])
		rsdp, err := read(p, 36)
		if err != nil {
			errf("uefi: ACPI RSDP at %#x: %v", p, err)
			return
		}
		r.acpiFromRSDP(rsdp, fmt.Sprintf("UEFI configuration table (RSDP at %#x)", p), errf)
		return
	}
	errf("uefi: no ACPI 2.0 configuration table")
}

// acpiFromRSDP checks an RSDP (ACPI 6.5 5.2.5.3) and records the root
// table.
func (r *Result) acpiFromRSDP(b []byte, src string, errf func(string, ...any)) {
	if len(b) < 20 || !bytes.Equal(b[:8], []byte("RSD PTR ")) {
		errf("acpi: RSDP from %s: bad signature", src)
		return
	}
	if sum(b[:20]) != 0 {
		errf("acpi: RSDP from %s: checksum mismatch", src)
		return
	}
	root := uint64(binary.LittleEndian.Uint32(b[16:]))
	if b[15] >= 2 {
		if len(b) < 36 || sum(b[:36]) != 0 {
			errf("acpi: RSDP v%d from %s: extended checksum mismatch or short", b[15], src)
			return
		}
		if x := binary.LittleEndian.Uint64(b[24:]); x != 0 {
			root = x
		}
	}
	r.Info.ACPIRoot, r.Info.ACPISource = root, src
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func clip(s string) string {
	if len(s) > MaxCmdlineLen {
		return s[:MaxCmdlineLen]
	}
	return s
}
