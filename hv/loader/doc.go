// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

// Package loader puts a guest's kernel, device tree and initrd into the
// guest's RAM before its first vCPU runs. It knows two kernel formats:
//
//   - ELF64 little-endian executables for AArch64 or x86-64 (ELF-64
//     Object File Format 1.5; Tool Interface Standard ELF 1.2). LoadELF
//     copies the PT_LOAD segments to their physical addresses (p_paddr)
//     and zero-fills their bss.
//   - arm64 Linux "Image" files (Linux Documentation/arch/arm64/booting.rst,
//     "4. Call the kernel image"). LoadLinuxImage places the image
//     text_offset bytes above a 2 MiB aligned base, as the boot protocol
//     asks.
//
// PlaceBlobs then chooses where the device tree and initrd go, and CopyIn
// copies them there.
//
// x86-64 guests boot only through Xen's x86/HVM direct boot ABI, "PVH"
// (Xen docs/misc/pvh.pandoc), as QEMU -kernel does and TamaGo amd64
// images expect: LoadPVH loads an ELF64 x86-64 kernel whose
// XEN_ELFNOTE_PHYS32_ENTRY note (PVHEntry; Xen public/elfnote.h) names a
// 32-bit physical entry point, places the initrd after it, and writes an
// hvm_start_info (BuildPVHStartInfo; Xen
// public/arch-x86/hvm/start_info.h) with the command line, the initrd
// and a memory map, whose address the boot vCPU gets in EBX.
//
// Guest images are operator input that may be corrupt or hostile, so
// every function here checks every offset and size against the image and
// the RAM window, and returns an error (wrapping one of the Err*
// sentinels) rather than panicking or writing outside the RAM slice. The
// fuzz targets FuzzDetect, FuzzLoadELF, FuzzLoadLinuxImage, FuzzPVHEntry
// and FuzzPVHStartInfo hold the package to that.
//
// RAM is passed as a byte slice whose first byte is the guest-physical
// address ramBase: on the target it is the host memory the hypervisor
// allocated for the VM (identity-mapped), in host tests an ordinary
// slice. The loaders expect it to be zeroed already and write only the
// ranges they load.
//
// The package is plain portable Go (standard library only, no unsafe, no
// build tags) and runs in the hypervisor on every TamaGo target and on
// the build host, where cmd/hvmanifest uses Detect to check kernels.
package loader
