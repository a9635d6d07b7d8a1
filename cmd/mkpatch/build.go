// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

// Refusal classes of build. Every error build returns for the images'
// contents wraps one of them.
var (
	// errNoChange: OLD and NEW have the same code (after normalisation),
	// or -func named only unchanged functions.
	errNoChange = errors.New("no functions changed")
	// errRefused: a change the payload format cannot express soundly.
	errRefused = errors.New("change cannot be live-patched")
)

// buildOptions are the inputs of `mkpatch build`.
type buildOptions struct {
	old, new []byte   // the ELF images
	name     string   // payload name
	funcs    []string // -func: the functions to replace, or all changed
	depends  []byte   // -depends
	symbol   string   // the selfimage info array in OLD
}

// builtFunc is one replaced function, for the report.
type builtFunc struct {
	name             string
	oldSize, newSize uint64
	relocs           int
}

// buildResult is a built payload and what the report prints.
type buildResult struct {
	p       *payload.Payload
	funcs   []builtFunc
	skipped []string // changed functions -func left out
	added   []string // functions only in NEW
}

// refusal is one reason a function cannot be patched.
type refusal struct {
	fn   string
	off  int
	insn string
	why  string
}

func (r refusal) String() string {
	if r.insn == "" {
		return fmt.Sprintf("%s+%#x: %s", r.fn, r.off, r.why)
	}
	return fmt.Sprintf("%s+%#x (%s): %s", r.fn, r.off, r.insn, r.why)
}

// build compares OLD and NEW and returns the payload that turns OLD's
// changed functions into NEW's.
func build(o buildOptions) (*buildResult, error) {
	old, err := openImage("OLD", o.old)
	if err != nil {
		return nil, err
	}
	new, err := openImage("NEW", o.new)
	if err != nil {
		return nil, err
	}
	if old.arch != new.arch {
		return nil, fmt.Errorf("OLD is %v, NEW is %v", old.arch, new.arch)
	}
	id, err := old.buildID(o.symbol)
	if err != nil {
		return nil, err
	}
	d, err := diff(old, new)
	if err != nil {
		return nil, err
	}
	res := &buildResult{added: d.added}
	changed, olds := d.changed, d.oldFns
	if len(o.funcs) > 0 {
		want := map[string]bool{}
		for _, f := range o.funcs {
			want[f] = true
		}
		var c, ol []*fn
		for i, f := range changed {
			if want[f.s.name] {
				c, ol = append(c, f), append(ol, olds[i])
				delete(want, f.s.name)
			} else {
				res.skipped = append(res.skipped, f.s.name)
			}
		}
		for _, f := range o.funcs {
			if !want[f] {
				continue
			}
			switch {
			case new.funcs[f] == nil:
				return nil, fmt.Errorf("-func %s: no such function in NEW", f)
			case old.funcs[f] == nil:
				return nil, fmt.Errorf("%w: -func %s: new function, not in OLD (a payload only replaces existing functions)", errRefused, f)
			case slices.Contains(d.ambiguous, f):
				return nil, fmt.Errorf("%w: -func %s: the name is defined more than once", errRefused, f)
			}
			return nil, fmt.Errorf("%w: -func %s is unchanged", errNoChange, f)
		}
		changed, olds = c, ol
	}
	if len(changed) == 0 {
		return nil, errNoChange
	}
	if len(changed) > payload.MaxFuncs {
		return nil, fmt.Errorf("%w: %d functions changed, a payload replaces at most %d", errRefused, len(changed), payload.MaxFuncs)
	}

	names := make([]string, len(changed))
	for i, f := range changed {
		names[i] = f.s.name
	}
	tables, refusals, err := runtimeTables(o.new, names)
	if err != nil {
		return nil, err
	}

	p := &payload.Payload{Name: o.name, Arch: old.arch, BuildID: id, Depends: o.depends}
	for i, f := range changed {
		off := uint32(len(p.Text))
		code := f.code
		if t := tables[i]; t != nil {
			c, r := new.padded(f, t.Size)
			if r != nil {
				refusals = append(refusals, *r)
				continue
			}
			code = c
		}
		relocs, rs := relocate(old, new, f, off)
		refusals = append(refusals, rs...)
		p.Text = append(p.Text, code...)
		for len(p.Text)%payload.TextAlign != 0 {
			p.Text = append(p.Text, padByte(old.arch))
		}
		p.Relocs = append(p.Relocs, relocs...)
		p.Funcs = append(p.Funcs, payload.Func{Name: f.s.name, Offset: off, Size: uint32(len(code)), OldSize: olds[i].s.size})
		res.funcs = append(res.funcs, builtFunc{f.s.name, olds[i].s.size, uint64(len(code)), len(relocs)})
	}
	if len(refusals) > 0 {
		var b strings.Builder
		for i, r := range refusals {
			if i == 20 {
				fmt.Fprintf(&b, "\n\t... and %d more", len(refusals)-i)
				break
			}
			b.WriteString("\n\t" + r.String())
		}
		return nil, fmt.Errorf("%w:%s", errRefused, b.String())
	}
	if err := setPCLN(p, tables); err != nil {
		return nil, err
	}
	if _, err := payload.Encode(p); err != nil {
		return nil, err
	}
	res.p = p
	return res, nil
}

// padByte is what fills the text between functions: INT3 on amd64, as
// the Go linker pads, and zero (UDF #0) on arm64.
func padByte(a payload.Arch) byte {
	if a == payload.ArchAMD64 {
		return 0xcc
	}
	return 0
}

// padded returns function f's bytes up to size, the length its runtime
// tables cover, after checking that the bytes past its symbol are the
// linker's padding.
func (im *image) padded(f *fn, size uint32) ([]byte, *refusal) {
	n := uint64(size)
	if n < f.s.size {
		return nil, &refusal{fn: f.s.name, why: fmt.Sprintf("runtime tables cover %#x bytes, the symbol %#x", n, f.s.size)}
	}
	b, ok := im.bytesAt(f.s.addr, n)
	if !ok {
		return nil, &refusal{fn: f.s.name, why: fmt.Sprintf("[%#x, +%#x) is not in the file", f.s.addr, n)}
	}
	for i, c := range b[f.s.size:] {
		if c != padByte(im.arch) && !(im.arch == payload.ArchAMD64 && c == 0x90) {
			return nil, &refusal{fn: f.s.name, off: int(f.s.size) + i, why: fmt.Sprintf("byte %#02x after the function is not padding", c)}
		}
	}
	return b, nil
}

// relocate returns the relocations that make NEW's function f, placed at
// text offset base, reference OLD's symbols, and every reference it
// cannot express.
func relocate(old, new *image, f *fn, base uint32) ([]payload.Reloc, []refusal) {
	var relocs []payload.Reloc
	var rs []refusal
	refuse := func(off int, insn, format string, a ...any) {
		rs = append(rs, refusal{f.s.name, off, insn, fmt.Sprintf(format, a...)})
	}
	if f.undec >= 0 {
		refuse(f.undec, "", "cannot decode the instruction: %v", f.undecEr)
	}
	for _, v := range f.imms {
		what := fmt.Sprintf("%#x", v.v)
		if s, ok := new.resolve(v.v); ok {
			what = fmt.Sprintf("%#x (%s+%#x)", v.v, s.name, v.v-s.addr)
		}
		refuse(v.off, "", "absolute address %s in the code: it cannot be relocated", what)
	}
	for _, s := range f.sites {
		if s.target >= f.s.addr && s.target < f.s.end() {
			if s.kind == a64ADRP {
				refuse(s.off, f.disasm(new.arch, s), "ADRP of the function's own page: page distances change when it moves")
			}
			continue // distances inside the function are kept
		}
		name, symOff, why := resolveRef(old, new, f, s.target)
		if why != "" {
			refuse(s.off, f.disasm(new.arch, s), "%s", why)
			continue
		}
		at := func(off int) uint32 { return base + uint32(off) }
		switch s.kind {
		case x86Branch, x86RIP:
			if s.width != 4 {
				refuse(s.off, f.disasm(new.arch, s), "%d-byte displacement to %s: only rel32 can be relocated", s.width, name)
				continue
			}
			// P is the field; the CPU adds the displacement to the
			// end of the instruction, which may hold an immediate
			// after the field.
			relocs = append(relocs, payload.Reloc{Offset: at(s.field), Kind: payload.R_X86_64_PC32, Symbol: name,
				Addend: symOff - int64(s.end-s.field)})
		case a64B, a64BL:
			k := payload.R_AARCH64_JUMP26
			if s.kind == a64BL {
				k = payload.R_AARCH64_CALL26
			}
			relocs = append(relocs, payload.Reloc{Offset: at(s.off), Kind: k, Symbol: name, Addend: symOff})
		case a64ADRP:
			if s.lo < 0 {
				refuse(s.off, f.disasm(new.arch, s), "ADRP not followed by ADD or LDR/STR (unsigned immediate) of its register")
				continue
			}
			var lo payload.RelocKind
			switch s.access {
			case 0:
				lo = payload.R_AARCH64_ADD_ABS_LO12_NC
			case 1:
				lo = payload.R_AARCH64_LDST8_ABS_LO12_NC
			case 2:
				lo = payload.R_AARCH64_LDST16_ABS_LO12_NC
			case 4:
				lo = payload.R_AARCH64_LDST32_ABS_LO12_NC
			case 8:
				lo = payload.R_AARCH64_LDST64_ABS_LO12_NC
			case 16:
				lo = payload.R_AARCH64_LDST128_ABS_LO12_NC
			}
			relocs = append(relocs,
				payload.Reloc{Offset: at(s.off), Kind: payload.R_AARCH64_ADR_PREL_PG_HI21, Symbol: name, Addend: symOff},
				payload.Reloc{Offset: at(s.lo), Kind: lo, Symbol: name, Addend: symOff})
		default:
			refuse(s.off, f.disasm(new.arch, s), "%v to %s+%#x outside the function: no relocation reaches it", s.kind, name, symOff)
		}
	}
	return relocs, rs
}

// resolveRef expresses NEW's address target, referenced by function f,
// as a symbol of OLD and an offset, or says why it cannot.
func resolveRef(old, new *image, f *fn, target uint64) (name string, off int64, why string) {
	s, ok := new.resolve(target)
	if !ok {
		return "", 0, fmt.Sprintf("reference to %#x, which is in no symbol of NEW", target)
	}
	o := target - s.addr
	if new.dups[s.name] || old.dups[s.name] {
		return "", 0, fmt.Sprintf("reference to %s, a name defined more than once", s.name)
	}
	switch s.kind {
	case kindFunc:
		os := old.funcs[s.name]
		switch {
		case os == nil:
			return "", 0, fmt.Sprintf("new function %s (not in OLD): a payload only replaces existing functions", s.name)
		case o != 0 && !sameFunc(old, new, os, s):
			// Duff's devices (runtime.duffzero, duffcopy) are
			// entered in the middle; the offset means the same in
			// OLD only if the function did not change.
			return "", 0, fmt.Sprintf("reference into the middle of function %s (+%#x), which changed", s.name, o)
		}
		return s.name, int64(o), ""
	case kindMarker:
		om := old.byName[s.name]
		if om == nil || om.kind != kindMarker {
			return "", 0, fmt.Sprintf("new global variable %s", s.name)
		}
		return s.name, int64(o), ""
	case kindData:
		if jumpTableName.MatchString(s.name) || new.pointsInto(s, f.s) {
			return "", 0, fmt.Sprintf("jump table %s: its entries are absolute addresses in the new code", s.name)
		}
		os := old.byName[s.name]
		switch {
		case os == nil || os.kind != kindData:
			return "", 0, fmt.Sprintf("new global variable %s", s.name)
		case os.size != s.size:
			return "", 0, fmt.Sprintf("global %s changed size (OLD %d bytes, NEW %d)", s.name, os.size, s.size)
		case os.sect.Name != s.sect.Name:
			return "", 0, fmt.Sprintf("global %s moved from %s to %s", s.name, os.sect.Name, s.sect.Name)
		case generated(s.name) && s.writable():
			return "", 0, fmt.Sprintf("compiler-generated static %s: OLD's variable of that name may be another", s.name)
		case !s.writable() || generated(s.name):
			a, aok := old.contentKey(os.addr, os.size)
			b, bok := new.contentKey(s.addr, s.size)
			if !aok || !bok || a != b {
				return "", 0, fmt.Sprintf("read-only data %s changed content", s.name)
			}
		}
		return s.name, int64(o), ""
	case kindGap:
		if new.pointsInto(&sym{addr: target, size: s.end() - target}, f.s) {
			return "", 0, fmt.Sprintf("jump table at %s+%#x: its entries are absolute addresses in the new code", s.name, o)
		}
		return gapRef(old, new, s, target)
	}
	or := old.byName[s.name]
	if or == nil || or.kind != kindRegion {
		return "", 0, fmt.Sprintf("reference into region %s, which OLD does not have", s.name)
	}
	switch s.name {
	case regionType:
		start, nt, err := new.typeHolding(target, s.addr)
		if err != nil {
			return "", 0, fmt.Sprintf("reference into %s+%#x, not a type descriptor: %v", s.name, o, err)
		}
		ostart := or.addr + (start - s.addr)
		ot, err := old.typeAt(ostart, true)
		if err != nil || ot.ident != nt.ident {
			return "", 0, fmt.Sprintf("type %s changed layout or moved (%s+%#x)", nt.name, s.name, start-s.addr)
		}
		nf, nok := new.typeFieldKey(start, target-start)
		of, ook := old.typeFieldKey(ostart, target-start)
		if !nok || !ook || nf != of {
			return "", 0, fmt.Sprintf("field +%d of type %s differs or cannot be compared (%s+%#x)", target-start, nt.name, s.name, o)
		}
		return s.name, int64(o), ""
	case regionString, regionGCBits:
		// String literals and GC bitmaps are named by their contents,
		// which the symbol table does not give the length of: the
		// bytes from the reference to the end of the region must be
		// the same in OLD at the same offset.
		nb, _ := new.bytesAt(target, s.end()-target)
		var ob []byte
		if o < or.size {
			ob, _ = old.bytesAt(or.addr+o, or.end()-(or.addr+o))
		}
		if nb == nil || !bytes.Equal(ob, nb) {
			what := "string literal data"
			if s.name == regionGCBits {
				what = "GC bitmap data"
			}
			return "", 0, fmt.Sprintf("%s changed (%s+%#x differs between OLD and NEW up to the end of the region)", what, s.name, o)
		}
		return s.name, int64(o), ""
	case regionFunc:
		// A static func value (X·f) is one word, the entry of X. OLD's
		// word at the same offset must be the entry of OLD's X.
		nw, nok := new.bytesAt(target, 8)
		ow, ook := old.bytesAt(or.addr+o, 8)
		var nf, of *sym
		if nok && ook {
			nf, _ = new.resolve(le64(nw))
			of, _ = old.resolve(le64(ow))
		}
		switch {
		case nf == nil || nf.kind != kindFunc || nf.addr != le64(nw) || new.dups[nf.name]:
			return "", 0, fmt.Sprintf("reference into %s+%#x, not a func value", s.name, o)
		case old.funcs[nf.name] == nil:
			return "", 0, fmt.Sprintf("func value of new function %s (not in OLD): a payload only replaces existing functions", nf.name)
		case of == nil || of.name != nf.name || of.addr != le64(ow):
			return "", 0, fmt.Sprintf("func value of %s moved in %s (OLD has another word at +%#x)", nf.name, s.name, o)
		}
		return s.name, int64(o), ""
	}
	return "", 0, fmt.Sprintf("reference into the anonymous region %s+%#x: not supported", s.name, o)
}

// pointsInto reports whether object s holds an 8-byte word that is an
// address inside function f, past its entry: a table of code addresses
// (an itab or a table of functions holds entries).
func (im *image) pointsInto(s, f *sym) bool {
	if s.size > maxContentKey {
		return false
	}
	b, ok := im.bytesAt(s.addr, s.size)
	if !ok {
		return false
	}
	for i := int(-s.addr & 7); i+8 <= len(b); i += 8 {
		if v := le64(b[i:]); v > f.addr && v < f.end() {
			return true
		}
	}
	return false
}

// report prints what build made.
func (r *buildResult) report(w io.Writer, out string) {
	p := r.p
	fmt.Fprintf(w, "mkpatch: payload %q for %v build-id %x: %d functions, %d bytes of code, %d relocations",
		p.Name, p.Arch, p.BuildID, len(p.Funcs), len(p.Text), len(p.Relocs))
	if out != "" {
		fmt.Fprintf(w, " -> %s", out)
	}
	fmt.Fprintln(w)
	for _, f := range r.funcs {
		fmt.Fprintf(w, "  %-60s old %#6x  new %#6x  %3d relocs\n", f.name, f.oldSize, f.newSize, f.relocs)
	}
	fmt.Fprintf(w, "  runtime tables: %d bytes\n", len(p.PCLN))
	if len(r.skipped) > 0 {
		fmt.Fprintf(w, "  warning: changed but left out by -func: %s\n", strings.Join(r.skipped, ", "))
	}
	if len(r.added) > 0 {
		fmt.Fprintf(w, "  note: %d functions only in NEW, unused by the payload\n", len(r.added))
	}
}

// le64 reads a little-endian 64-bit word.
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// gapRef expresses a reference to unnamed data (a kindGap sym of NEW) as
// its anchor symbol plus an offset, which is sound when OLD has the same
// anchor with unnamed bytes at the same offset, as many of them up to the
// next symbol, and the same contents (compared as contentKey does). Only
// read-only data qualifies: unnamed writable data is a compiler static
// whose OLD counterpart, if any, cannot be identified.
func gapRef(old, new *image, s *sym, target uint64) (name string, off int64, why string) {
	o := target - s.addr
	what := fmt.Sprintf("unnamed data at %s+%#x (a file-local static the linker leaves out of .symtab)", s.name, o)
	if s.writable() {
		return "", 0, what + " in writable section " + s.sect.Name + ": OLD's counterpart cannot be identified"
	}
	var oa *sym
	if a := old.byName[s.name]; a != nil {
		oa = a
	} else if a := old.funcs[s.name]; a != nil {
		oa = a
	}
	if oa == nil {
		return "", 0, what + ": OLD has no symbol " + s.name
	}
	og, ok := old.resolve(oa.addr + o)
	switch {
	case !ok || og.kind != kindGap || og.addr != oa.addr || og.sect.Name != s.sect.Name || og.end()-(oa.addr+o) != s.end()-target:
		return "", 0, what + " changed or moved"
	}
	a, aok := old.contentKey(oa.addr+o, og.end()-(oa.addr+o))
	b, bok := new.contentKey(target, s.end()-target)
	if !aok || !bok || a != b {
		return "", 0, what + " changed content"
	}
	return s.name, int64(o), ""
}

// sameFunc reports whether OLD's function a and NEW's b are the same
// after normalisation.
func sameFunc(old, new *image, a, b *sym) bool {
	fa, err := old.decode(a)
	if err != nil {
		return false
	}
	fb, err := new.decode(b)
	if err != nil {
		return false
	}
	return same(old, new, fa, fb)
}
