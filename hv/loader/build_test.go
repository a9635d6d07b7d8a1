// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
)

// Synthetic images for the tests and the seed corpus.

// seg describes one program header of a synthetic ELF file. Its data go
// into the file after the program headers unless off is set.
type seg struct {
	typ          elf.ProgType
	paddr, vaddr uint64
	data         []byte
	memsz        uint64 // 0: len(data)
	off          uint64 // 0: where the data is written
	filesz       uint64 // 0: len(data)
}

// elfSpec describes a synthetic ELF64 little-endian file.
type elfSpec struct {
	machine elf.Machine
	typ     elf.Type
	entry   uint64
	segs    []seg
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// buildELF lays out an ELF64 header, the program headers and the segment
// data, with encoding/binary (ELF-64 Object File Format 1.5, sections 3
// and 6).
func buildELF(s elfSpec) []byte {
	const hdrSize, phSize = 64, 56
	dataOff := uint64(hdrSize + phSize*len(s.segs))
	h := elf.Header64{
		Type:      uint16(s.typ),
		Machine:   uint16(s.machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     s.entry,
		Phoff:     hdrSize,
		Ehsize:    hdrSize,
		Phentsize: phSize,
		Phnum:     uint16(len(s.segs)),
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	must(binary.Write(&b, binary.LittleEndian, &h))
	var data bytes.Buffer
	for _, sg := range s.segs {
		off, filesz, memsz := dataOff+uint64(data.Len()), uint64(len(sg.data)), uint64(len(sg.data))
		if sg.off != 0 {
			off = sg.off
		}
		if sg.filesz != 0 {
			filesz = sg.filesz
		}
		if sg.memsz != 0 {
			memsz = sg.memsz
		}
		p := elf.Prog64{Type: uint32(sg.typ), Flags: uint32(elf.PF_R | elf.PF_X), Off: off, Vaddr: sg.vaddr, Paddr: sg.paddr,
			Filesz: filesz, Memsz: memsz, Align: 0x1000}
		must(binary.Write(&b, binary.LittleEndian, &p))
		data.Write(sg.data)
	}
	b.Write(data.Bytes())
	return b.Bytes()
}

// simpleELF is a valid two-segment aarch64 executable at paddr base:
// code, then data with bss; linked at virtual vbase.
func simpleELF(machine elf.Machine, base, vbase uint64) []byte {
	return buildELF(elfSpec{machine: machine, typ: elf.ET_EXEC, entry: vbase + 0x10, segs: []seg{
		{typ: elf.PT_LOAD, paddr: base, vaddr: vbase, data: bytes.Repeat([]byte{0xc0}, 0x40)},
		{typ: elf.PT_NOTE, data: []byte("note")},
		{typ: elf.PT_LOAD, paddr: base + 0x2000, vaddr: vbase + 0x2000, data: []byte("data"), memsz: 0x1000},
	}})
}

// buildImage returns an arm64 Linux Image of n bytes (at least the
// header) with the given header fields; the body counts up.
func buildImage(textOffset, imageSize, flags uint64, n int) []byte {
	h := ImageHeader{Code0: 0x91005a4d, Code1: 0x14000000, TextOffset: textOffset, ImageSize: imageSize, Flags: flags, Magic: ARM64_IMAGE_MAGIC}
	var b bytes.Buffer
	must(binary.Write(&b, binary.LittleEndian, &h))
	for b.Len() < n {
		b.WriteByte(byte(b.Len()))
	}
	return b.Bytes()
}

// TestFormatSizes checks the in-RAM formats against their specs
// (CONVENTIONS.md §4).
func TestFormatSizes(t *testing.T) {
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"ImageHeader (booting.rst)", binary.Size(ImageHeader{}), ImageHeaderSize},
		{"ImageHeader.Magic offset (booting.rst)", int(magicOffset()), imageMagicOff},
		{"elf.Header64 (ELF-64 section 3)", binary.Size(elf.Header64{}), elfHeaderSize},
		{"elf.Prog64 (ELF-64 section 6)", binary.Size(elf.Prog64{}), 56},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.what, c.got, c.want)
		}
	}
}

// magicOffset finds the encoded offset of ImageHeader.Magic
// without unsafe: encode a header with only the magic set.
func magicOffset() int {
	var b bytes.Buffer
	must(binary.Write(&b, binary.LittleEndian, &ImageHeader{Magic: 0xffffffff}))
	return bytes.IndexByte(b.Bytes(), 0xff)
}
