// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Limits of the normalised comparison.
const (
	// stringKeyLen is how many bytes of go:string.* from a referenced
	// address stand for the string when comparing two functions (the
	// length of a string literal is not in the symbol table).
	stringKeyLen = 4096
	// regionKeyLen is the same for other anonymous regions.
	regionKeyLen = 256
	// gapKeyLen is how many bytes of unnamed read-only data from a
	// referenced address stand for it when comparing two functions.
	gapKeyLen = 64
	// maxContentKey bounds the bytes of a named read-only object that are
	// compared word by word.
	maxContentKey = 1 << 20
)

// jumpTableName matches the symbol of a jump table the compiler made for
// a switch (cmd/compile/internal/ssa rewrite.go, makeJumpTableSym).
var jumpTableName = regexp.MustCompile(`\.jump\d+$`)

// generated reports whether name is a compiler-generated static whose
// number, not its content, names it: two images may give the same name
// to different data.
func generated(name string) bool { return strings.Contains(name, "..stmp_") }

// targetKey is what a reference from function f to addr means, as a
// string that is equal in two images when the references are equivalent:
// an offset in f itself, else key.
func (im *image) targetKey(f *sym, addr uint64) string {
	if addr >= f.addr && addr < f.end() {
		return fmt.Sprintf("self+%#x", addr-f.addr)
	}
	return im.key(addr, true)
}

// key names what addr refers to independently of where the linker put
// it: a function or named object by name and offset (and a read-only
// object's contents too), a type descriptor by its decoded header, a
// string literal by its bytes. An address key cannot name gets a key
// that matches nothing in the other image. deep keys include the
// contents of read-only objects (one level: the words of the contents
// are keyed shallowly).
func (im *image) key(addr uint64, deep bool) string {
	if k, ok := im.keys[addr]; ok && deep {
		return k
	}
	k := im.key1(addr, deep)
	if deep {
		im.keys[addr] = k
	}
	return k
}

func (im *image) key1(addr uint64, deep bool) string {
	unknown := fmt.Sprintf("?%s:%#x", im.what, addr)
	s, ok := im.resolve(addr)
	if !ok {
		return unknown
	}
	off := addr - s.addr
	switch s.kind {
	case kindFunc:
		return fmt.Sprintf("f:%s+%#x", s.name, off)
	case kindMarker:
		return "m:" + s.name
	case kindData:
		k := fmt.Sprintf("d:%s/%d+%#x", s.name, s.size, off)
		if deep && (!s.writable() || generated(s.name)) {
			c, ok := im.contentKey(s.addr, s.size)
			if !ok {
				return unknown
			}
			k += "=" + c
		}
		return k
	case kindGap:
		if s.writable() {
			return fmt.Sprintf("g:%s+%#x", s.name, off)
		}
		// Read-only unnamed data: its first gapKeyLen bytes (the
		// statics in a gap have no known sizes, and content to the
		// end of the gap would change whenever any later static, such
		// as another function's jump table, changes).
		c, ok := im.contentKey(addr, min(gapKeyLen, s.end()-addr))
		if !ok || !deep {
			return unknown
		}
		return "g:" + c
	}
	end := s.end()
	switch s.name {
	case regionType:
		start, t, err := im.typeHolding(addr, s.addr)
		if err != nil {
			return unknown
		}
		f, ok := im.typeFieldKey(start, addr-start)
		if !ok {
			return unknown
		}
		return fmt.Sprintf("t:%s+%d%s", t.ident, addr-start, f)
	case regionString:
		b, _ := im.bytesAt(addr, min(stringKeyLen, end-addr))
		h := sha256.Sum256(b)
		return fmt.Sprintf("s:%d:%x", len(b), h)
	case regionFunc:
		// A funcval: the first word is the code pointer.
		w, ok := im.bytesAt(addr, 8)
		if !ok || !deep {
			return unknown
		}
		if v := binary.LittleEndian.Uint64(w); im.inImage(v) {
			return "fv:" + im.key(v, false)
		}
		// Not a func value (the compiler also points at go:func.*
		// for zero-size data): compare the bytes.
	}
	b, _ := im.bytesAt(addr, min(regionKeyLen, end-addr))
	return "r:" + s.name + ":" + hex.EncodeToString(b)
}

// contentKey digests the size bytes at addr with every 8-byte word
// that is an address in the image replaced by its shallow key, so tables
// of pointers compare equal when only the layout moved.
func (im *image) contentKey(addr, size uint64) (string, bool) {
	if size > maxContentKey {
		return "", false
	}
	ck := [2]uint64{addr, size}
	if k, ok := im.content[ck]; ok {
		return k, true
	}
	b, ok := im.bytesAt(addr, size)
	if !ok {
		return "", false
	}
	h := sha256.New()
	run := 0 // start of the raw bytes not yet hashed
	flush := func(end int) {
		fmt.Fprintf(h, "%d:", end-run)
		h.Write(b[run:end])
	}
	for i := int(-addr & 7); i+8 <= len(b); i += 8 {
		if v := binary.LittleEndian.Uint64(b[i:]); im.inImage(v) {
			flush(i)
			fmt.Fprintf(h, "<%s>", im.key(v, false))
			run = i + 8
		}
	}
	flush(len(b))
	k := hex.EncodeToString(h.Sum(nil))
	im.content[ck] = k
	return k, true
}

// same reports whether function a of OLD and b of NEW do the same thing:
// the same bytes outside PC-relative fields, and PC-relative references
// at the same places to equivalent targets.
func same(old, new *image, a, b *fn) bool {
	if len(a.code) != len(b.code) || !bytes.Equal(a.masked, b.masked) || len(a.sites) != len(b.sites) || a.undec != b.undec {
		return false
	}
	for i := range a.sites {
		x, y := a.sites[i], b.sites[i]
		if x.kind != y.kind || x.off != y.off || x.lo != y.lo || x.access != y.access {
			return false
		}
		if old.targetKey(a.s, x.target) != new.targetKey(b.s, y.target) {
			return false
		}
	}
	return true
}

// diffResult is the outcome of comparing two images.
type diffResult struct {
	changed   []*fn    // NEW's changed functions, by address
	oldFns    []*fn    // OLD's of the same names
	added     []string // functions only in NEW
	ambiguous []string // names defined more than once, not compared
}

// diff compares every function of NEW with OLD's of the same name.
func diff(old, new *image) (*diffResult, error) {
	var r diffResult
	names := make([]*sym, 0, len(new.funcs))
	for _, s := range new.funcs {
		names = append(names, s)
	}
	slices.SortFunc(names, func(a, b *sym) int { return cmp.Or(cmp.Compare(a.addr, b.addr), strings.Compare(a.name, b.name)) })
	for _, ns := range names {
		os, ok := old.funcs[ns.name]
		switch {
		case !ok:
			r.added = append(r.added, ns.name)
			continue
		case old.dups[ns.name] || new.dups[ns.name]:
			r.ambiguous = append(r.ambiguous, ns.name)
			continue
		}
		a, err := old.decode(os)
		if err != nil {
			return nil, err
		}
		b, err := new.decode(ns)
		if err != nil {
			return nil, err
		}
		if !same(old, new, a, b) {
			r.changed = append(r.changed, b)
			r.oldFns = append(r.oldFns, a)
		}
	}
	return &r, nil
}
