// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Errors. Every error the package returns wraps one of them.
const (
	ErrUnknownFormat = hv.Error("loader: unknown image format")
	ErrUnsupported   = hv.Error("loader: unsupported image")
	ErrMachine       = hv.Error("loader: image is for another machine")
	ErrTruncated     = hv.Error("loader: image truncated")
	ErrMalformed     = hv.Error("loader: malformed image")
	ErrOutsideRAM    = hv.Error("loader: image does not fit in guest RAM")
	ErrOverlap       = hv.Error("loader: segments overlap")
	ErrEntry         = hv.Error("loader: entry point outside the loaded image")
	ErrTooLarge      = hv.Error("loader: blob too large")
	ErrStartInfo     = hv.Error("loader: invalid PVH start info")
)

// Kind is a kernel image format.
type Kind int

const (
	Unknown Kind = iota
	// ELFAArch64 is an ELF64 little-endian file for EM_AARCH64.
	ELFAArch64
	// ELFX8664 is an ELF64 little-endian file for EM_X86_64.
	ELFX8664
	// LinuxARM64 is an arm64 Linux Image (booting.rst).
	LinuxARM64
)

func (k Kind) String() string {
	switch k {
	case ELFAArch64:
		return "ELF64 AArch64"
	case ELFX8664:
		return "ELF64 x86-64"
	case LinuxARM64:
		return "arm64 Linux Image"
	}
	return "unknown"
}

// Machine returns the ELF machine the image runs on, or EM_NONE.
func (k Kind) Machine() elf.Machine {
	switch k {
	case ELFAArch64, LinuxARM64:
		return elf.EM_AARCH64
	case ELFX8664:
		return elf.EM_X86_64
	}
	return elf.EM_NONE
}

// ELF-64 Object File Format 1.5, 3 "ELF Header": e_ident occupies bytes
// 0..15, e_type bytes 16..17, e_machine bytes 18..19; the header is 64
// bytes long.
const (
	elfHeaderSize = 64
	elfTypeOff    = 16
	elfMachineOff = 18
)

// Detect tells what kind of kernel img is. It looks only at the headers:
// an ELF file must be ELFCLASS64, ELFDATA2LSB, EV_CURRENT and for
// EM_AARCH64 or EM_X86_64; an arm64 Image must carry ARM64_IMAGE_MAGIC.
// Anything else is ErrUnknownFormat, or ErrUnsupported for an ELF file of
// another class, byte order or machine.
func Detect(img []byte) (Kind, error) {
	if len(img) >= len(elf.ELFMAG) && string(img[:len(elf.ELFMAG)]) == elf.ELFMAG {
		if len(img) < elfHeaderSize {
			return Unknown, fmt.Errorf("%w: %d bytes, an ELF64 header needs %d", ErrTruncated, len(img), elfHeaderSize)
		}
		if c := elf.Class(img[elf.EI_CLASS]); c != elf.ELFCLASS64 {
			return Unknown, fmt.Errorf("%w: ELF class %v, want ELFCLASS64", ErrUnsupported, c)
		}
		if d := elf.Data(img[elf.EI_DATA]); d != elf.ELFDATA2LSB {
			return Unknown, fmt.Errorf("%w: ELF data encoding %v, want ELFDATA2LSB", ErrUnsupported, d)
		}
		if v := elf.Version(img[elf.EI_VERSION]); v != elf.EV_CURRENT {
			return Unknown, fmt.Errorf("%w: ELF version %v", ErrUnsupported, v)
		}
		switch m := elf.Machine(binary.LittleEndian.Uint16(img[elfMachineOff:])); m {
		case elf.EM_AARCH64:
			return ELFAArch64, nil
		case elf.EM_X86_64:
			return ELFX8664, nil
		default:
			return Unknown, fmt.Errorf("%w: ELF machine %v", ErrUnsupported, m)
		}
	}
	if len(img) >= ImageHeaderSize && binary.LittleEndian.Uint32(img[imageMagicOff:]) == ARM64_IMAGE_MAGIC {
		return LinuxARM64, nil
	}
	return Unknown, ErrUnknownFormat
}
