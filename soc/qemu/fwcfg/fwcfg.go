// soc/qemu/fwcfg: QEMU firmware configuration (fw_cfg) device reader.
// SPDX-License-Identifier: BSD-3-Clause

// Package fwcfg reads QEMU's fw_cfg device (QEMU docs/specs/fw_cfg.rst):
// RAM size, CPU count, the file directory, and the x86 e820 memory map.
// Boards use it to describe the machine they were started on (-m, -smp)
// rather than assume it. Access is through a Transport (MMIO on
// qemu-virt-arm64, I/O ports on qemu-q35-amd64); host tests use a fake.
//
// What fw_cfg returns is produced by QEMU, which tamavisor treats as
// firmware: sizes and counts are bounded before use and the directory and
// e820 parsers are fuzzed.
package fwcfg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Selector keys (fw_cfg.rst "Selector Register" and hw/nvram/fw_cfg.h).
const (
	FW_CFG_SIGNATURE = 0x0000
	FW_CFG_ID        = 0x0001
	FW_CFG_RAM_SIZE  = 0x0003
	FW_CFG_NB_CPUS   = 0x0005
	FW_CFG_FILE_DIR  = 0x0019
)

// FW_CFG_FILE_DIR entry layout: be32 size, be16 select, be16 reserved,
// char name[56].
const (
	fileEntrySize = 64
	fileNameLen   = 56
	// MaxFiles bounds the directory walk.
	MaxFiles = 4096
	// MaxFileSize bounds a file read into memory.
	MaxFileSize = 1 << 20
)

// Transport selects an item and reads its bytes in order.
type Transport interface {
	Select(key uint16)
	DataByte() byte
}

// Errors.
var (
	ErrNoDevice = errors.New("fwcfg: no QEMU fw_cfg device")
	ErrNotFound = errors.New("fwcfg: file not found")
	ErrFormat   = errors.New("fwcfg: malformed data")
)

// Device is a fw_cfg device.
type Device struct {
	T Transport
}

func (d *Device) read(key uint16, n int) []byte {
	d.T.Select(key)
	b := make([]byte, n)
	for i := range b {
		b[i] = d.T.DataByte()
	}
	return b
}

// Present reports whether the signature reads "QEMU".
func (d *Device) Present() bool {
	return string(d.read(FW_CFG_SIGNATURE, 4)) == "QEMU"
}

// RAMSize returns the guest RAM size QEMU was started with (-m).
func (d *Device) RAMSize() (uint64, error) {
	if !d.Present() {
		return 0, ErrNoDevice
	}
	return binary.LittleEndian.Uint64(d.read(FW_CFG_RAM_SIZE, 8)), nil
}

// CPUs returns the number of CPUs QEMU was started with (-smp).
func (d *Device) CPUs() (int, error) {
	if !d.Present() {
		return 0, ErrNoDevice
	}
	n := int(binary.LittleEndian.Uint16(d.read(FW_CFG_NB_CPUS, 2)))
	if n == 0 {
		return 0, fmt.Errorf("%w: NB_CPUS=0", ErrFormat)
	}
	return n, nil
}

// File is one entry of the fw_cfg file directory.
type File struct {
	Name   string
	Size   uint32
	Select uint16
}

// ParseDir parses FW_CFG_FILE_DIR contents: a be32 count followed by
// count 64-byte entries.
func ParseDir(b []byte) ([]File, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: directory of %d bytes", ErrFormat, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxFiles || uint64(len(b)-4) < uint64(n)*fileEntrySize {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrFormat, n, len(b))
	}
	files := make([]File, 0, n)
	for i := uint32(0); i < n; i++ {
		e := b[4+i*fileEntrySize : 4+(i+1)*fileEntrySize]
		name := e[8 : 8+fileNameLen]
		end := 0
		for end < len(name) && name[end] != 0 {
			end++
		}
		files = append(files, File{
			Size:   binary.BigEndian.Uint32(e[0:]),
			Select: binary.BigEndian.Uint16(e[4:]),
			Name:   string(name[:end]),
		})
	}
	return files, nil
}

// Files reads the file directory.
func (d *Device) Files() ([]File, error) {
	if !d.Present() {
		return nil, ErrNoDevice
	}
	hdr := d.read(FW_CFG_FILE_DIR, 4)
	n := binary.BigEndian.Uint32(hdr)
	if n > MaxFiles {
		return nil, fmt.Errorf("%w: %d directory entries", ErrFormat, n)
	}
	// Re-select to read the whole directory from the start.
	return ParseDir(d.read(FW_CFG_FILE_DIR, 4+int(n)*fileEntrySize))
}

// ReadFile returns the contents of the named file.
func (d *Device) ReadFile(name string) ([]byte, error) {
	files, err := d.Files()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Name == name {
			if f.Size > MaxFileSize {
				return nil, fmt.Errorf("%w: %s is %d bytes", ErrFormat, name, f.Size)
			}
			return d.read(f.Select, int(f.Size)), nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
}

// E820 entry types (ACPI 6.5, 15.1 "INT 15H, E820H").
const (
	E820_RAM      = 1
	E820_RESERVED = 2
	E820_ACPI     = 3
	E820_NVS      = 4
)

// E820Entry is one range of the "etc/e820" file: le64 address, le64
// length, le32 type (20 bytes, packed).
type E820Entry struct {
	Addr uint64
	Len  uint64
	Type uint32
}

const e820EntrySize = 20

// ParseE820 parses the "etc/e820" file. Entries whose end overflows are
// rejected.
func ParseE820(b []byte) ([]E820Entry, error) {
	if len(b)%e820EntrySize != 0 {
		return nil, fmt.Errorf("%w: e820 of %d bytes", ErrFormat, len(b))
	}
	var out []E820Entry
	for off := 0; off < len(b); off += e820EntrySize {
		e := E820Entry{
			Addr: binary.LittleEndian.Uint64(b[off:]),
			Len:  binary.LittleEndian.Uint64(b[off+8:]),
			Type: binary.LittleEndian.Uint32(b[off+16:]),
		}
		if e.Addr+e.Len < e.Addr {
			return nil, fmt.Errorf("%w: e820 entry at byte %d wraps: addr=%#x len=%#x", ErrFormat, off, e.Addr, e.Len)
		}
		out = append(out, e)
	}
	return out, nil
}
