// soc/fdt: a minimal, bounds-checked flattened device tree reader.
// SPDX-License-Identifier: BSD-3-Clause

// Package fdt reads flattened devicetree blobs (Devicetree Specification
// v0.4, chapter 5). Parse builds a small read-only tree (nodes, properties,
// children) with typed property accessors; Memory returns the /memory
// nodes' reg ranges, the one fact the boards need at start-up. QEMU's arm
// "virt" machine passes a blob at the base of RAM to bare-metal images,
// and host tests parse the trees tamavisor generates for its guests.
//
// The blob is untrusted (firmware, or a guest's): every offset, length and
// count is checked, every error wraps ErrFormat and names the offset, and
// the parser is fuzzed (FuzzMemory, FuzzParse). It is pure Go and runs on
// every target (GOOS=tamago arm64 and amd64) and on the host.
package fdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// 5.2 Header; 5.4.1 Lexical structure (tokens).
const (
	FDT_MAGIC      = 0xd00dfeed
	headerSize     = 40
	FDT_BEGIN_NODE = 0x1
	FDT_END_NODE   = 0x2
	FDT_PROP       = 0x3
	FDT_NOP        = 0x4
	FDT_END        = 0x9

	// MaxSize bounds the blob tamavisor accepts.
	MaxSize = 1 << 20
	// maxDepth bounds node nesting.
	maxDepth = 64
)

// ErrFormat is wrapped by every parse error.
var ErrFormat = errors.New("fdt: malformed blob")

// Range is one (address, size) pair of a reg property.
type Range struct {
	Addr, Size uint64
}

// TotalSize returns the blob size claimed by the header in b (at least
// the first 8 bytes), so a caller can bound how much memory to read.
func TotalSize(b []byte) (uint32, error) {
	if len(b) < 8 || binary.BigEndian.Uint32(b) != FDT_MAGIC {
		return 0, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	return binary.BigEndian.Uint32(b[4:]), nil
}

func fail(off int, format string, a ...any) error {
	return fmt.Errorf("%w at offset %#x: %s", ErrFormat, off, fmt.Sprintf(format, a...))
}

// Memory returns the reg ranges of the root's memory nodes (named
// "memory" or "memory@...", 3.4), decoded with the root's #address-cells
// and #size-cells (defaults 2 and 1, 2.3.5). It parses the whole blob
// with ParseBlob, so it is exactly as strict, but without copying the
// blob first: the ranges it returns are values.
func Memory(b []byte) ([]Range, error) {
	blob, err := parseBlob(b, false)
	if err != nil {
		return nil, err
	}
	root := blob.Root
	var mem []Range
	for _, c := range root.Children {
		if c.Name != "memory" && !strings.HasPrefix(c.Name, "memory@") {
			continue
		}
		if !c.Has("reg") {
			continue
		}
		rs, err := c.Reg()
		if err != nil {
			return nil, err
		}
		mem = append(mem, rs...)
	}
	return mem, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func cells(b []byte, n uint32) uint64 {
	var v uint64
	for i := uint32(0); i < n; i++ {
		v = v<<32 | uint64(binary.BigEndian.Uint32(b[4*i:]))
	}
	return v
}

func decodeReg(val []byte, ac, sc uint32) ([]Range, error) {
	entry := int(4 * (ac + sc))
	if len(val)%entry != 0 {
		return nil, fmt.Errorf("%w: reg of %d bytes, entries of %d", ErrFormat, len(val), entry)
	}
	var rs []Range
	for off := 0; off < len(val); off += entry {
		r := Range{Addr: cells(val[off:], ac), Size: cells(val[off+int(4*ac):], sc)}
		if r.Addr+r.Size < r.Addr {
			return nil, fmt.Errorf("%w: reg range %#x+%#x wraps", ErrFormat, r.Addr, r.Size)
		}
		rs = append(rs, r)
	}
	return rs, nil
}
