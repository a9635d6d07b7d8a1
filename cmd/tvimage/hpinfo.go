// cmd/tvimage: post-link tool that makes bootable tamavisor images.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
)

// symHPInfo is the array hpinfo fills (hotpatch/selfimage info.go).
const symHPInfo = "github.com/tamavisor/tamavisor/hotpatch/selfimage.info"

// buildIDSize is how much of the SHA-256 digest is the build-id
// (hotpatch/selfimage doc.go, "Build-id").
const buildIDSize = 20

// runHPInfo runs "hpinfo [-symbol NAME] IMAGE" and "buildid [-symbol NAME]
// IMAGE" (cmd is the subcommand, args what follows it).
func runHPInfo(cmd string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tvimage "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sym := fs.String("symbol", symHPInfo, "the selfimage info array's symbol")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%v\n%v", err, errUsage)
	}
	if fs.NArg() != 1 {
		return errUsage
	}
	path := fs.Arg(0)
	var err error
	switch cmd {
	case "hpinfo":
		err = hpinfo(path, *sym, stdout)
	case "buildid":
		err = printBuildID(path, *sym, stdout)
	default:
		return errUsage
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// hpinfo writes the selfimage blob of the ELF image at path into its info
// array, in place, and prints what it wrote. The file changes only in the
// array's bytes, and not at all when they already hold the blob (a second
// run).
func hpinfo(path, sym string, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	p, err := postLink(b, sym)
	if err != nil {
		return err
	}
	if !bytes.Equal(b[p.off:p.off+selfimage.InfoSize], p.array) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteAt(p.array, int64(p.off))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "hpinfo: build-id %x, %d functions, %d objects, %d of %d bytes", p.buildID, p.nfuncs, p.nobjs, p.used, selfimage.InfoSize)
	if p.skipped > 0 {
		fmt.Fprintf(stdout, " (%d symbols with names over %d bytes or shared left out)", p.skipped, selfimage.MaxName)
	}
	fmt.Fprintln(stdout)
	return nil
}

// printBuildID prints the build-id recorded in the image's blob.
func printBuildID(path, sym string, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, off, err := openImage(b, sym)
	if err != nil {
		return err
	}
	img, err := selfimage.Parse(b[off : off+selfimage.InfoSize])
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, hex.EncodeToString(img.BuildID()))
	return nil
}

// postLinked is what hpinfo writes: array, the blob padded to InfoSize,
// goes at file offset off.
type postLinked struct {
	off     uint64
	array   []byte
	buildID []byte
	nfuncs  int // functions in the blob
	nobjs   int // data objects in the blob
	skipped int // symbols left out (imageSymbols)
	used    int // bytes of the blob before the padding
}

// postLink computes the info array's contents for the ELF image b, whose
// array is the symbol sym. It does not modify b.
func postLink(b []byte, sym string) (*postLinked, error) {
	f, off, err := openImage(b, sym)
	if err != nil {
		return nil, err
	}
	var arch payload.Arch
	switch f.Machine {
	case elf.EM_X86_64:
		arch = payload.ArchAMD64
	case elf.EM_AARCH64:
		arch = payload.ArchARM64
	default:
		return nil, fmt.Errorf("e_machine %v: not amd64 or arm64", f.Machine)
	}
	id, err := buildID(f, b, off)
	if err != nil {
		return nil, err
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	all, nfuncs, nobjs, skipped := imageSymbols(syms)
	blob, err := selfimage.Encode(uint16(arch), id, all)
	if err != nil {
		return nil, err
	}
	array := make([]byte, selfimage.InfoSize)
	copy(array, blob)
	return &postLinked{off: off, array: array, buildID: id, nfuncs: nfuncs, nobjs: nobjs, skipped: skipped, used: len(blob)}, nil
}

// openImage parses the ELF image b and returns the file offset of the info
// array, the symbol sym in .symtab. It refuses an image that is not a
// little-endian ELF64, has no .symtab (stripped), has no such symbol or
// more than one, whose symbol is not InfoSize bytes, is not wholly inside
// the file bytes of one PT_LOAD segment, or does not start with the
// selfimage magic.
func openImage(b []byte, sym string) (*elf.File, uint64, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, 0, fmt.Errorf("not an ELF image: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		return nil, 0, fmt.Errorf("%v %v: want a little-endian ELF64 image", f.Class, f.Data)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, 0, fmt.Errorf("reading .symtab (stripped image?): %w", err)
	}
	var found []elf.Symbol
	for _, s := range syms {
		if s.Name == sym {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, 0, fmt.Errorf("symbol %s not found in .symtab: the image does not import hotpatch/selfimage, or -symbol is wrong", sym)
	case 1:
	default:
		return nil, 0, fmt.Errorf("symbol %s is defined %d times in .symtab", sym, len(found))
	}
	s := found[0]
	if s.Size != selfimage.InfoSize {
		return nil, 0, fmt.Errorf("symbol %s at %#x is %d bytes, want selfimage.InfoSize (%d): not the info array, or tvimage and the image disagree on its size", sym, s.Value, s.Size, selfimage.InfoSize)
	}
	off, err := fileOffset(f, uint64(len(b)), s.Value, s.Size)
	if err != nil {
		return nil, 0, fmt.Errorf("symbol %s: %w", sym, err)
	}
	if m := b[off : off+uint64(len(selfimage.Magic))]; string(m) != selfimage.Magic {
		return nil, 0, fmt.Errorf("symbol %s at %#x (file offset %#x) starts with %q, not the %q magic", sym, s.Value, off, m, selfimage.Magic)
	}
	return f, off, nil
}

// fileOffset maps [va, va+size) to a file offset through the PT_LOAD
// program headers; the range must lie in one segment's file bytes, inside
// a file of flen bytes.
func fileOffset(f *elf.File, flen, va, size uint64) (uint64, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || va < p.Vaddr || va-p.Vaddr >= p.Memsz {
			continue
		}
		rel := va - p.Vaddr
		if rel > p.Filesz || size > p.Filesz-rel {
			return 0, fmt.Errorf("[%#x, +%#x) is not wholly in the file bytes of the PT_LOAD segment at %#x (filesz %#x)", va, size, p.Vaddr, p.Filesz)
		}
		off := p.Off + rel
		if off < p.Off || off > flen || size > flen-off {
			return 0, fmt.Errorf("[%#x, +%#x) maps to file offset %#x, outside the %d-byte file", va, size, off, flen)
		}
		return off, nil
	}
	return 0, fmt.Errorf("address %#x is in no PT_LOAD segment", va)
}

// buildID returns the image's build-id (hotpatch/selfimage doc.go,
// "Build-id"): the first buildIDSize bytes of SHA-256 over the file bytes
// of every PT_LOAD segment in program-header order, with the InfoSize
// bytes at file offset info taken as zero.
func buildID(f *elf.File, b []byte, info uint64) ([]byte, error) {
	h := sha256.New()
	zero := make([]byte, selfimage.InfoSize)
	infoEnd := info + selfimage.InfoSize
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		start, end := p.Off, p.Off+p.Filesz
		if end < start || end > uint64(len(b)) {
			return nil, fmt.Errorf("PT_LOAD segment %d: file bytes [%#x, +%#x) outside the %d-byte file", i, p.Off, p.Filesz, len(b))
		}
		// The segment is start..end; the part in [info, infoEnd)
		// hashes as zeros.
		for start < end {
			switch {
			case start >= info && start < infoEnd:
				n := min(end, infoEnd) - start
				h.Write(zero[:n])
				start += n
			case start < info:
				n := min(end, info) - start
				h.Write(b[start : start+n])
				start += n
			default:
				h.Write(b[start:end])
				start = end
			}
		}
	}
	return h.Sum(nil)[:buildIDSize], nil
}

// imageSymbols returns what hpinfo stores of .symtab (selfimage doc,
// "Symbols"): the STT_FUNC symbols with a non-zero size, which is every
// function the Go linker emits, and the STT_OBJECT symbols of any size
// whose name is unique. It counts the functions, the objects, and the
// symbols left out for names longer than selfimage.MaxName or for a name
// shared by several objects or by an object and a function.
func imageSymbols(syms []elf.Symbol) (out []selfimage.Sym, nfuncs, nobjs, skipped int) {
	count := map[string]int{}
	for _, s := range syms {
		if t := elf.ST_TYPE(s.Info); t == elf.STT_OBJECT || (t == elf.STT_FUNC && s.Size > 0) {
			count[s.Name]++
		}
	}
	for _, s := range syms {
		kind := selfimage.Kind(0)
		switch t := elf.ST_TYPE(s.Info); {
		case t == elf.STT_FUNC && s.Size > 0:
			kind = selfimage.Func
		case t == elf.STT_OBJECT && s.Name != "":
			kind = selfimage.Object
		default:
			continue
		}
		if len(s.Name) > selfimage.MaxName || (kind == selfimage.Object && count[s.Name] > 1) {
			skipped++
			continue
		}
		out = append(out, selfimage.Sym{Name: s.Name, Addr: s.Value, Size: s.Size, Kind: kind})
		if kind == selfimage.Func {
			nfuncs++
		} else {
			nobjs++
		}
	}
	return out, nfuncs, nobjs, skipped
}
