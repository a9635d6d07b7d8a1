// hv/loader: guest kernel image loading into guest RAM.
// SPDX-License-Identifier: BSD-3-Clause

package loader

import (
	"bytes"
	"debug/elf"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// MaxSegments bounds the PT_LOAD segments of an ELF image (real kernels
// have a handful); it keeps the overlap check cheap.
const MaxSegments = 64

// segment is one PT_LOAD segment, checked against the image and RAM.
type segment struct {
	index        int
	off          uint64 // file offset
	filesz       uint64
	paddr, memsz uint64
	vaddr        uint64
}

func (s segment) end() uint64 { return s.paddr + s.memsz }

// parseELF runs debug/elf over img. The package says it is not hardened
// against adversarial input, and a panic here would stop the whole
// hypervisor, so a panic becomes ErrMalformed (guest input is never a
// reason to panic: CONVENTIONS.md §10).
func parseELF(img []byte) (f *elf.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("%w: debug/elf: %v", ErrMalformed, r)
		}
	}()
	f, err = elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return f, nil
}

// LoadELF copies the PT_LOAD segments of an ELF64 executable for machine
// into ram, whose first byte is at guest-physical ramBase, and returns
// the guest-physical entry point.
//
// Segments are placed at their physical address p_paddr, always (also
// when it is 0, which is a valid address on x86), because guests start
// with the MMU off; p_vaddr is used only to translate the entry point.
// Each segment's bytes past p_filesz up to p_memsz (bss) are zeroed. The
// image is refused, before anything is written, if it is not ET_EXEC or
// ET_DYN for machine, has no loadable bytes or more than MaxSegments
// PT_LOAD segments, if p_filesz > p_memsz, a segment's file bytes lie
// outside img, a segment wraps around or leaves RAM, two segments
// overlap, or e_entry lies in no segment. e_entry is looked up in the
// segments' virtual ranges and translated to the physical one, so an
// image linked with p_vaddr != p_paddr still starts at the right place.
// ET_DYN images are loaded at their p_paddr without relocation.
func LoadELF(img []byte, ramBase hv.IPA, ram []byte, machine elf.Machine) (entry hv.IPA, err error) {
	entry, _, _, err = loadELF(img, ramBase, ram, machine)
	return entry, err
}

// loadELF is LoadELF, also returning the lowest and the first address
// after the highest loaded byte.
func loadELF(img []byte, ramBase hv.IPA, ram []byte, machine elf.Machine) (entry, start, end hv.IPA, err error) {
	p, err := planELF(img, ramBase, ram, machine)
	if err != nil {
		return 0, 0, 0, err
	}
	p.write(img, ram)
	return p.entry, p.start, p.end, nil
}

// elfPlan is an ELF image checked against a RAM window and ready to be
// copied in.
type elfPlan struct {
	segs       []segment
	lo         uint64 // guest-physical address of ram[0]
	entry      hv.IPA // physical e_entry
	start, end hv.IPA // [lowest, highest) loaded byte
}

// planELF does every check of LoadELF without writing RAM, so callers
// that place more (LoadPVH) can refuse an image before touching RAM.
func planELF(img []byte, ramBase hv.IPA, ram []byte, machine elf.Machine) (elfPlan, error) {
	kind, err := Detect(img)
	if err != nil {
		return elfPlan{}, err
	}
	if kind.Machine() != machine || kind == LinuxARM64 {
		return elfPlan{}, fmt.Errorf("%w: %v image, want an ELF64 file for %v", ErrMachine, kind, machine)
	}
	f, err := parseELF(img)
	if err != nil {
		return elfPlan{}, err
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return elfPlan{}, fmt.Errorf("%w: ELF type %v, want ET_EXEC or ET_DYN", ErrUnsupported, f.Type)
	}
	lo, hi, err := ramWindow(ramBase, ram)
	if err != nil {
		return elfPlan{}, err
	}
	segs, err := checkSegments(f, uint64(len(img)), lo, hi)
	if err != nil {
		return elfPlan{}, err
	}
	e, ok := entryPA(f.Entry, segs)
	if !ok {
		return elfPlan{}, fmt.Errorf("%w: e_entry %#x", ErrEntry, f.Entry)
	}
	first, last := segs[0].paddr, segs[0].end()
	for _, s := range segs {
		first, last = min(first, s.paddr), max(last, s.end())
	}
	return elfPlan{segs: segs, lo: lo, entry: hv.IPA(e), start: hv.IPA(first), end: hv.IPA(last)}, nil
}

// write copies the planned segments from img into ram and zeroes their
// bss.
func (p elfPlan) write(img, ram []byte) {
	for _, s := range p.segs {
		dst := ram[s.paddr-p.lo : s.end()-p.lo]
		copy(dst, img[s.off:s.off+s.filesz])
		clear(dst[s.filesz:])
	}
}

// checkSegments returns the non-empty PT_LOAD segments of f once each is
// known to be well-formed, inside the file, inside RAM [lo, hi), and
// disjoint from the others.
func checkSegments(f *elf.File, fileSize, lo, hi uint64) ([]segment, error) {
	var segs []segment
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		if len(segs) == MaxSegments {
			return nil, fmt.Errorf("%w: more than %d PT_LOAD segments", ErrUnsupported, MaxSegments)
		}
		s := segment{index: i, off: p.Off, filesz: p.Filesz, paddr: p.Paddr, memsz: p.Memsz, vaddr: p.Vaddr}
		switch {
		case s.filesz > s.memsz:
			return nil, fmt.Errorf("%w: program header %d: p_filesz %#x > p_memsz %#x", ErrMalformed, i, s.filesz, s.memsz)
		case s.off+s.filesz < s.off || s.off+s.filesz > fileSize:
			return nil, fmt.Errorf("%w: program header %d: file bytes [%#x,+%#x) beyond the %#x-byte image", ErrTruncated, i, s.off, s.filesz, fileSize)
		case s.end() < s.paddr:
			return nil, fmt.Errorf("%w: program header %d: p_paddr %#x + p_memsz %#x wraps", ErrMalformed, i, s.paddr, s.memsz)
		case s.paddr < lo || s.end() > hi:
			return nil, fmt.Errorf("%w: program header %d: [%#x,%#x) is outside RAM [%#x,%#x)", ErrOutsideRAM, i, s.paddr, s.end(), lo, hi)
		}
		for _, o := range segs {
			if s.paddr < o.end() && o.paddr < s.end() {
				return nil, fmt.Errorf("%w: program headers %d [%#x,%#x) and %d [%#x,%#x)", ErrOverlap, o.index, o.paddr, o.end(), i, s.paddr, s.end())
			}
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: no PT_LOAD segment with p_memsz > 0", ErrMalformed)
	}
	return segs, nil
}

// entryPA translates the virtual entry point to the physical address it
// is loaded at.
func entryPA(entry uint64, segs []segment) (uint64, bool) {
	for _, s := range segs {
		if entry >= s.vaddr && entry-s.vaddr < s.memsz {
			return s.paddr + (entry - s.vaddr), true
		}
	}
	return 0, false
}
