// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
)

// This file is the tests' independent reader of a module's tables. It
// reads them as the Go 1.25 runtime does (runtime/symtab.go findfunc,
// pcvalue, step, readvarint, funcdata, funcfile, funcname;
// runtime/symtabinl.go inlineUnwinder; runtime/stkframe.go getStackMap;
// runtime/stack.go stackObjectRecord.gcdata; runtime/traceback.go
// printArgs; runtime/panic.go initOpenCodedDefers), on bytes and
// addresses rather than pointers, and shares no code with the package
// beyond the Tables and Functab types. It reads both an ELF image's own
// tables (elfModule) and Build's (builtModule), so the tests can compare
// what the runtime would see for the original and for the rebuilt
// function at every PC.

// module is one runtime.moduledata, as the reader sees it.
type module struct {
	quantum     uint64
	text        uint64 // moduledata.text
	minpc       uint64
	maxpc       uint64
	funcnametab []byte
	cutab       []uint32
	filetab     []byte
	pctab       []byte
	pclntable   []byte
	ftab        []Functab
	findfunctab []byte
	gofunc      uint64
	rodata      uint64
	mem         []memSection // what addresses read
	// name0 makes funcname read name offset 0 too. The runtime returns
	// "" for it, which in a linked image hides the first name of
	// funcnametab (an inlined callee's, say); Build never uses offset 0,
	// so the comparison reads the original's name there.
	name0 bool
}

func (m *module) read(addr, n uint64) ([]byte, error) {
	for _, s := range m.mem {
		if addr >= s.addr && addr-s.addr <= uint64(len(s.data)) && n <= uint64(len(s.data))-(addr-s.addr) {
			return s.data[addr-s.addr : addr-s.addr+n], nil
		}
	}
	return nil, fmt.Errorf("read of %d bytes at %#x outside the module", n, addr)
}

// elfModule reads the runtime's tables of an ELF executable with
// debug/elf, as the linker laid them out.
func elfModule(t *testing.T, b []byte) *module {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	m := &module{quantum: 1, name0: true}
	if f.Machine == elf.EM_AARCH64 {
		m.quantum = 4
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_ALLOC != 0 {
			d, err := s.Data()
			if err != nil {
				t.Fatal(err)
			}
			m.mem = append(m.mem, memSection{s.Addr, d})
		}
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	sym := map[string]elf.Symbol{}
	for _, s := range syms {
		sym[s.Name] = s
	}
	for _, n := range []string{"runtime.findfunctab", "go:func.*", "runtime.rodata", "runtime.text"} {
		if _, ok := sym[n]; !ok {
			t.Fatalf("no symbol %s", n)
		}
	}
	le := binary.LittleEndian
	pcln := f.Section(".gopclntab")
	if pcln == nil {
		t.Fatal("no .gopclntab")
	}
	hdrAddr := pcln.Addr // runtime.pcheader starts the section
	hdr, err := m.read(hdrAddr, 72)
	if err != nil {
		t.Fatal(err)
	}
	nfunc := le.Uint64(hdr[8:])
	m.text = le.Uint64(hdr[24:])
	if m.text != sym["runtime.text"].Value {
		t.Fatalf("pcHeader.textStart %#x, runtime.text %#x", m.text, sym["runtime.text"].Value)
	}
	tab := func(i int) uint64 { return hdrAddr + le.Uint64(hdr[32+8*i:]) }
	span := func(from, to uint64) []byte {
		d, err := m.read(from, to-from)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	m.funcnametab = span(tab(0), tab(1))
	cut := span(tab(1), tab(2))
	for i := 0; i+4 <= len(cut); i += 4 {
		m.cutab = append(m.cutab, le.Uint32(cut[i:]))
	}
	m.filetab = span(tab(2), tab(3))
	m.pctab = span(tab(3), tab(4))
	m.pclntable = span(tab(4), pcln.Addr+pcln.Size)
	for i := uint64(0); i <= nfunc; i++ {
		m.ftab = append(m.ftab, Functab{le.Uint32(m.pclntable[8*i:]), le.Uint32(m.pclntable[8*i+4:])})
	}
	m.minpc = m.text + uint64(m.ftab[0].Entryoff)
	m.maxpc = m.text + uint64(m.ftab[nfunc].Entryoff)
	ff := sym["runtime.findfunctab"]
	m.findfunctab = span(ff.Value, ff.Value+ff.Size)
	m.gofunc = sym["go:func.*"].Value
	m.rodata = sym["runtime.rodata"].Value
	return m
}

// builtModule is the module a target makes of Build's tables with its
// text at text and Gofunc at gofunc.
func builtModule(t *testing.T, tb *Tables, text, gofunc uint64) *module {
	t.Helper()
	le := binary.LittleEndian
	if le.Uint32(tb.PCHeader) != 0xfffffff1 || len(tb.PCHeader) != 72 || tb.PCHeader[7] != 8 {
		t.Fatalf("pcHeader % x", tb.PCHeader)
	}
	if nfunc := le.Uint64(tb.PCHeader[8:]); nfunc != uint64(len(tb.Ftab)-1) {
		t.Fatalf("pcHeader nfunc %d, ftab of %d entries", nfunc, len(tb.Ftab))
	}
	n := len(tb.Ftab) - 1
	return &module{
		quantum:     uint64(tb.PCHeader[6]),
		text:        text,
		minpc:       text,
		maxpc:       text + uint64(tb.Ftab[n].Entryoff),
		funcnametab: tb.Funcnametab,
		cutab:       tb.Cutab,
		filetab:     tb.Filetab,
		pctab:       tb.Pctab,
		pclntable:   tb.Pclntable,
		ftab:        tb.Ftab,
		findfunctab: tb.Findfunctab,
		gofunc:      gofunc,
		rodata:      gofunc,
		mem:         []memSection{{gofunc, tb.Gofunc}},
	}
}

// findfunc returns the ftab index of the function holding pc, as
// runtime.findfunc (with findmoduledatap's range check) does.
func (m *module) findfunc(pc uint64) (int, error) {
	if pc < m.minpc || pc >= m.maxpc {
		return -1, fmt.Errorf("pc %#x outside [%#x, %#x)", pc, m.minpc, m.maxpc)
	}
	pcOff := uint32(pc - m.text)
	x := uint64(pcOff) + m.text - m.minpc
	b := x / 4096
	i := x % 4096 / 256
	// The linker's table ends inside the last bucket, after the last
	// subbucket it needs.
	if b*20+4+i >= uint64(len(m.findfunctab)) {
		return -1, fmt.Errorf("pc %#x: bucket %d past findfunctab of %d bytes", pc, b, len(m.findfunctab))
	}
	ffb := m.findfunctab[b*20:]
	idx := binary.LittleEndian.Uint32(ffb) + uint32(ffb[4+i])
	for {
		if int(idx)+1 >= len(m.ftab) {
			return -1, fmt.Errorf("pc %#x: ftab index %d out of range", pc, idx+1)
		}
		if m.ftab[idx+1].Entryoff > pcOff {
			break
		}
		idx++
	}
	return int(idx), nil
}

// rfunc is a _func record as the reader decodes it.
type rfunc struct {
	entry, nameOff, args, deferreturn, pcsp, pcfile, pcln, npcdata, cuOffset, startLine uint32
	funcID, flag, nfuncdata                                                             uint8
	pcdata, funcdata                                                                    []uint32
}

func (m *module) funcAt(idx int) (*rfunc, error) {
	le := binary.LittleEndian
	fo := int(m.ftab[idx].Funcoff)
	if fo+44 > len(m.pclntable) {
		return nil, fmt.Errorf("_func at %#x outside pclntable", fo)
	}
	r := m.pclntable[fo:]
	u := func(o int) uint32 { return le.Uint32(r[o:]) }
	f := &rfunc{entry: u(0), nameOff: u(4), args: u(8), deferreturn: u(12), pcsp: u(16), pcfile: u(20), pcln: u(24),
		npcdata: u(28), cuOffset: u(32), startLine: u(36), funcID: r[40], flag: r[41], nfuncdata: r[43]}
	if f.entry != m.ftab[idx].Entryoff {
		return nil, fmt.Errorf("_func entryOff %#x, ftab %#x", f.entry, m.ftab[idx].Entryoff)
	}
	if 44+4*(int(f.npcdata)+int(f.nfuncdata)) > len(r) {
		return nil, fmt.Errorf("_func offsets outside pclntable")
	}
	for i := 0; i < int(f.npcdata); i++ {
		f.pcdata = append(f.pcdata, u(44+4*i))
	}
	for i := 0; i < int(f.nfuncdata); i++ {
		f.funcdata = append(f.funcdata, u(44+4*int(f.npcdata)+4*i))
	}
	return f, nil
}

// funcname is runtime.(*moduledata).funcName.
func (m *module) funcname(nameOff uint32) string {
	if nameOff == 0 && !m.name0 {
		return ""
	}
	s, _ := cstringT(m.funcnametab, nameOff)
	return s
}

func cstringT(t []byte, off uint32) (string, bool) {
	if int(off) >= len(t) {
		return "", false
	}
	if n := bytes.IndexByte(t[off:], 0); n >= 0 {
		return string(t[off : int(off)+n]), true
	}
	return "", false
}

// readvarint is runtime.readvarint, bounds-checked.
func readvarint(p []byte) (uint32, uint32, bool) {
	var v, shift, n uint32
	for {
		if int(n) >= len(p) {
			return 0, 0, false
		}
		b := p[n]
		n++
		v |= uint32(b&0x7f) << (shift & 31)
		if b&0x80 == 0 {
			return n, v, true
		}
		shift += 7
	}
}

// values expands the pc-value table at pctab offset off of a function
// of size bytes into its value at every offset, as runtime.pcvalue
// would return it (non-strict: -1 where the table does not reach, or
// for offset 0).
func (m *module) values(off uint32, size uint32) ([]int32, error) {
	v := make([]int32, size)
	for i := range v {
		v[i] = -1
	}
	if off == 0 {
		return v, nil
	}
	if int(off) >= len(m.pctab) {
		return nil, fmt.Errorf("table at %#x outside pctab", off)
	}
	p := m.pctab[off:]
	pc, val := uint64(0), int32(-1)
	done := uint64(0)
	for {
		if len(p) == 0 {
			return nil, fmt.Errorf("table at %#x runs off pctab", off)
		}
		uv := uint32(p[0])
		if uv == 0 && pc != 0 {
			return v, nil
		}
		n := uint32(1)
		if uv&0x80 != 0 {
			var ok bool
			if n, uv, ok = readvarint(p); !ok {
				return nil, fmt.Errorf("table at %#x: bad varint", off)
			}
		}
		val += int32(-(uv & 1) ^ (uv >> 1))
		p = p[n:]
		if len(p) == 0 {
			return nil, fmt.Errorf("table at %#x runs off pctab", off)
		}
		pcd := uint32(p[0])
		n = 1
		if pcd&0x80 != 0 {
			var ok bool
			if n, pcd, ok = readvarint(p); !ok {
				return nil, fmt.Errorf("table at %#x: bad varint", off)
			}
		}
		p = p[n:]
		pc += uint64(pcd) * m.quantum
		for ; done < pc && done < uint64(size); done++ {
			v[done] = val
		}
	}
}

// funcfile is runtime.funcfile.
func (m *module) funcfile(f *rfunc, fileno int32) string {
	if fileno < 0 {
		return "?"
	}
	i := uint64(f.cuOffset) + uint64(fileno)
	if i >= uint64(len(m.cutab)) {
		return "<cutab index out of range>"
	}
	if fo := m.cutab[i]; fo != ^uint32(0) {
		s, _ := cstringT(m.filetab, fo)
		return s
	}
	return "?"
}

// funcdata is runtime.funcdata: the address, or 0.
func (f *rfunc) funcdataAddr(m *module, i int) uint64 {
	if i >= int(f.nfuncdata) || f.funcdata[i] == ^uint32(0) {
		return 0
	}
	return m.gofunc + uint64(f.funcdata[i])
}

// funcdataContents returns funcdata i of f as the runtime would read
// all of it, in a printable form, or "" if absent. inl are the
// InlTreeIndex values of f; pcfile and pcln its file and line values.
func (m *module) funcdataContents(f *rfunc, i int) (string, error) {
	addr := f.funcdataAddr(m, i)
	if addr == 0 {
		return "", nil
	}
	le := binary.LittleEndian
	switch i {
	case FUNCDATA_ArgsPointerMaps, FUNCDATA_LocalsPointerMaps: // runtime.stackmapdata
		h, err := m.read(addr, 8)
		if err != nil {
			return "", err
		}
		n, nbit := int32(le.Uint32(h)), int32(le.Uint32(h[4:]))
		d, err := m.read(addr, uint64(8+n*((nbit+7)>>3)))
		return fmt.Sprintf("stackmap % x", d), err
	case FUNCDATA_StackObjects: // getStackMap, stackObjectRecord.gcdata
		h, err := m.read(addr, 8)
		if err != nil {
			return "", err
		}
		n := le.Uint64(h)
		s := fmt.Sprintf("%d objects", n)
		for k := uint64(0); k < n; k++ {
			r, err := m.read(addr+8+16*k, 16)
			if err != nil {
				return "", err
			}
			ptrBytes := uint64(le.Uint32(r[8:]))
			mask, err := m.read(m.rodata+uint64(le.Uint32(r[12:])), (ptrBytes+63)/64)
			if err != nil {
				return "", err
			}
			s += fmt.Sprintf("; off %d size %d ptrBytes %d mask % x", int32(le.Uint32(r)), int32(le.Uint32(r[4:])), ptrBytes, mask)
		}
		return s, nil
	case FUNCDATA_OpenCodedDeferInfo: // initOpenCodedDefers
		p, err := m.read(addr, 10)
		if err != nil {
			p, err = m.read(addr, 2)
			if err != nil {
				return "", err
			}
		}
		n1, v1, ok1 := readvarint(p)
		_, v2, ok2 := readvarint(p[n1:])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bad open-coded defer info")
		}
		return fmt.Sprintf("deferBits %d slots %d", v1, v2), nil
	case FUNCDATA_ArgInfo: // printArgs
		var s []byte
		for pi := uint64(0); ; {
			o, err := m.read(addr+pi, 1)
			if err != nil {
				return "", err
			}
			pi++
			s = append(s, o[0])
			switch o[0] {
			case 0xff:
				return fmt.Sprintf("arginfo % x", s), nil
			case 0xfe, 0xfd, 0xfc, 0xfb:
			default:
				sz, err := m.read(addr+pi, 1)
				if err != nil {
					return "", err
				}
				pi++
				s = append(s, sz[0])
			}
		}
	case FUNCDATA_InlTree:
		return "inltree", nil // compared call by call in inlineStack
	}
	return fmt.Sprintf("funcdata %d at %#x", i, addr), nil
}

// pcinfo is everything the runtime would read about one PC of a
// function.
type pcinfo struct {
	sp, line int32
	file     string
	pcdata   []int32
}

// funcValues expands f's tables (size bytes).
type funcValues struct {
	sp, file, line []int32
	pcdata         [][]int32
}

func (m *module) expand(f *rfunc, size uint32) (*funcValues, error) {
	var fv funcValues
	var err error
	if fv.sp, err = m.values(f.pcsp, size); err != nil {
		return nil, fmt.Errorf("pcsp: %v", err)
	}
	if fv.file, err = m.values(f.pcfile, size); err != nil {
		return nil, fmt.Errorf("pcfile: %v", err)
	}
	if fv.line, err = m.values(f.pcln, size); err != nil {
		return nil, fmt.Errorf("pcln: %v", err)
	}
	for i, off := range f.pcdata {
		v, err := m.values(off, size)
		if err != nil {
			return nil, fmt.Errorf("pcdata %d: %v", i, err)
		}
		fv.pcdata = append(fv.pcdata, v)
	}
	return &fv, nil
}

// inlineStack is the inline unwinder's view of offset off (the frames
// it reports, innermost first, with each frame's name, funcID,
// startLine and the file:line of its position), as
// runtime.newInlineUnwinder, next, srcFunc and fileLine compute it.
func (m *module) inlineStack(f *rfunc, fv *funcValues, off uint32) (string, error) {
	addr := f.funcdataAddr(m, FUNCDATA_InlTree)
	if addr == 0 || len(fv.pcdata) <= PCDATA_InlTreeIndex {
		return "", nil
	}
	le := binary.LittleEndian
	s := ""
	pos := off
	ix := fv.pcdata[PCDATA_InlTreeIndex][off]
	for depth := 0; ix >= 0; depth++ {
		if depth > 100 {
			return "", fmt.Errorf("inline tree loops at offset %#x", off)
		}
		r, err := m.read(addr+16*uint64(ix), 16)
		if err != nil {
			return "", err
		}
		parent := le.Uint32(r[8:])
		if parent >= uint32(len(fv.line)) {
			return "", fmt.Errorf("parentPc %#x outside the function", parent)
		}
		s += fmt.Sprintf("[%s id %d start %d at %s:%d] ", m.funcname(le.Uint32(r[4:])), r[0], int32(le.Uint32(r[12:])),
			m.funcfile(f, fv.file[pos]), fv.line[pos])
		pos = parent
		ix = fv.pcdata[PCDATA_InlTreeIndex][parent]
	}
	if s != "" {
		s += fmt.Sprintf("[physical frame at %s:%d]", m.funcfile(f, fv.file[pos]), fv.line[pos])
	}
	return s, nil
}

// readFile reads path, or skips the test if it does not exist.
func readOrSkip(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Skipf("%s not built", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}
