// soc/fdt: a minimal, bounds-checked flattened device tree reader.
// SPDX-License-Identifier: BSD-3-Clause

// Package fdt reads the few facts tamavisor needs from a flattened device
// tree blob (Devicetree Specification v0.4, chapter 5): the /memory
// nodes' reg ranges. QEMU's arm "virt" machine passes one at the base of
// RAM to bare-metal images. The blob is firmware-provided and untrusted:
// every offset and length is checked, and the parser is fuzzed. It runs
// on every target and on the host.
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
// "memory" or "memory@..."), decoded with the root's #address-cells and
// #size-cells (defaults 2 and 1, 2.3.5).
func Memory(b []byte) ([]Range, error) {
	total, err := TotalSize(b)
	if err != nil {
		return nil, err
	}
	if len(b) < headerSize || total < headerSize || total > MaxSize || int(total) > len(b) {
		return nil, fail(0, "totalsize %d with %d bytes available", total, len(b))
	}
	b = b[:total]
	offStruct := binary.BigEndian.Uint32(b[8:])
	offStrings := binary.BigEndian.Uint32(b[12:])
	version := binary.BigEndian.Uint32(b[20:])
	sizeStrings := binary.BigEndian.Uint32(b[32:])
	sizeStruct := binary.BigEndian.Uint32(b[36:])
	if version < 17 {
		return nil, fail(20, "version %d, want 17", version)
	}
	if uint64(offStruct)+uint64(sizeStruct) > uint64(total) || offStruct%4 != 0 {
		return nil, fail(8, "structure block %#x+%#x outside %#x", offStruct, sizeStruct, total)
	}
	if uint64(offStrings)+uint64(sizeStrings) > uint64(total) {
		return nil, fail(12, "strings block %#x+%#x outside %#x", offStrings, sizeStrings, total)
	}
	st := b[offStruct : offStruct+sizeStruct]
	strs := b[offStrings : offStrings+sizeStrings]

	addrCells, sizeCells := uint32(2), uint32(1)
	var mem []Range
	var memRegs [][]byte
	depth := 0
	inMemory := false
	p := 0
	u32 := func() (uint32, error) {
		if p+4 > len(st) {
			return 0, fail(int(offStruct)+p, "truncated structure block")
		}
		v := binary.BigEndian.Uint32(st[p:])
		p += 4
		return v, nil
	}
	for {
		tok, err := u32()
		if err != nil {
			return nil, err
		}
		switch tok {
		case FDT_BEGIN_NODE:
			end := p
			for end < len(st) && st[end] != 0 {
				end++
			}
			if end >= len(st) {
				return nil, fail(int(offStruct)+p, "unterminated node name")
			}
			name := string(st[p:end])
			p = (end + 1 + 3) &^ 3
			depth++
			if depth > maxDepth {
				return nil, fail(int(offStruct)+p, "nesting deeper than %d", maxDepth)
			}
			inMemory = depth == 2 && (name == "memory" || strings.HasPrefix(name, "memory@"))
		case FDT_END_NODE:
			if depth == 0 {
				return nil, fail(int(offStruct)+p, "unbalanced end of node")
			}
			depth--
			inMemory = false
		case FDT_PROP:
			ln, err := u32()
			if err != nil {
				return nil, err
			}
			nameOff, err := u32()
			if err != nil {
				return nil, err
			}
			if uint64(p)+uint64(ln) > uint64(len(st)) {
				return nil, fail(int(offStruct)+p, "property of %d bytes past the block", ln)
			}
			val := st[p : p+int(ln)]
			p = (p + int(ln) + 3) &^ 3
			if int(nameOff) >= len(strs) {
				return nil, fail(int(offStruct)+p, "property name offset %#x outside strings", nameOff)
			}
			pname := strs[nameOff:]
			if i := indexByte(pname, 0); i >= 0 {
				pname = pname[:i]
			}
			switch {
			case depth == 1 && string(pname) == "#address-cells" && len(val) == 4:
				addrCells = binary.BigEndian.Uint32(val)
			case depth == 1 && string(pname) == "#size-cells" && len(val) == 4:
				sizeCells = binary.BigEndian.Uint32(val)
			case inMemory && string(pname) == "reg":
				memRegs = append(memRegs, val)
			}
		case FDT_NOP:
		case FDT_END:
			if depth != 0 {
				return nil, fail(int(offStruct)+p, "end inside a node")
			}
			if addrCells < 1 || addrCells > 2 || sizeCells > 2 {
				return nil, fail(int(offStruct)+p, "unsupported #address-cells %d / #size-cells %d", addrCells, sizeCells)
			}
			for _, reg := range memRegs {
				rs, err := decodeReg(reg, addrCells, sizeCells)
				if err != nil {
					return nil, err
				}
				mem = append(mem, rs...)
			}
			return mem, nil
		default:
			return nil, fail(int(offStruct)+p-4, "unknown token %#x", tok)
		}
	}
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
		return nil, fmt.Errorf("%w: memory reg of %d bytes, entries of %d", ErrFormat, len(val), entry)
	}
	var rs []Range
	for off := 0; off < len(val); off += entry {
		r := Range{Addr: cells(val[off:], ac), Size: cells(val[off+int(4*ac):], sc)}
		if r.Addr+r.Size < r.Addr {
			return nil, fmt.Errorf("%w: memory range %#x+%#x wraps", ErrFormat, r.Addr, r.Size)
		}
		rs = append(rs, r)
	}
	return rs, nil
}
