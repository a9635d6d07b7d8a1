// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package amd64

import "runtime"

// bootParams is what cpuinit records before the Go runtime starts. It
// is written at the physical address the image was loaded at, before
// paging, and read by Go through the window. Field offsets reach the
// assembly through go_asm.h.
type bootParams struct {
	magic  uint32 // EAX at entry: Multiboot2 loader magic, or UEFI_MAGIC
	info   uint32 // EBX at entry: MBI or PVH start_info physical address
	offset uint32 // load - link, two's complement
	flags  uint32 // BOOT_* flags

	systab uint64 // EFI system table (UEFI entries)
	handle uint64 // EFI image handle

	ebsStatus uint64 // EFI_STATUS of the last ExitBootServices call
	ebsTries  uint64 // GetMemoryMap/ExitBootServices rounds
	mapSize   uint64 // bytes of efiMap filled by GetMemoryMap
	mapKey    uint64
	descSize  uint64
	descVer   uint64
	allocPA   uint64 // UEFI direct boot: the region cpuinit allocated
}

// Boot flags set by cpuinit.
const (
	BOOT_EFI_ENTRY   = 1 << 0 // entered in 64-bit mode with boot services
	BOOT_EBS_DONE    = 1 << 1 // tamavisor called ExitBootServices successfully
	BOOT_EBS_NOTABLE = 1 << 2 // EFI entry without system table / image handle
	BOOT_PE_ENTRY    = 1 << 3 // started by firmware as a PE32+ application
	BOOT_PE_AT_LINK  = 1 << 4 // AllocatePages got the link address itself
)

// UEFI_MAGIC is the magic cpuinit records for a direct UEFI start (the
// PE entry has no loader magic): "UEFI".
const UEFI_MAGIC = 0x49464555

// EFI_MAP_MAX is the size of the buffer for the final UEFI memory map.
const EFI_MAP_MAX = 32 << 10

var (
	boot     bootParams
	earlyMem [(EARLY_PAGES + 1) * 4096]byte
	efiMap   [EFI_MAP_MAX]byte
)

// BootParams is a copy of what cpuinit recorded.
type BootParams struct {
	Magic, Info uint32
	Flags       uint32
	Reloc       Relocation
	EFISystab   uint64
	EFIHandle   uint64
	EBSStatus   uint64
	EBSTries    uint64
	// EFIMap is the UEFI memory map that matched the successful
	// ExitBootServices call; DescSize its descriptor stride.
	EFIMap   []byte
	DescSize uint64
	DescVer  uint64
	AllocPA  uint64
}

// Boot returns the boot parameters. The relocation window is the Go
// runtime's RAM (runtime.MemRegion), which cpuinit mapped.
func Boot() BootParams {
	start, end := runtime.MemRegion()
	b := BootParams{
		Magic: boot.magic, Info: boot.info, Flags: boot.flags,
		Reloc: Relocation{
			LinkBase: start,
			LoadBase: uint64(int64(start) + int64(int32(boot.offset))),
			Size:     end - start,
		},
		EFISystab: boot.systab, EFIHandle: boot.handle,
		EBSStatus: boot.ebsStatus, EBSTries: boot.ebsTries,
		DescSize: boot.descSize, DescVer: boot.descVer, AllocPA: boot.allocPA,
	}
	if boot.flags&BOOT_EBS_DONE != 0 && boot.mapSize <= EFI_MAP_MAX {
		b.EFIMap = append([]byte(nil), efiMap[:boot.mapSize]...)
	}
	return b
}
