// hv/fdt: a flattened devicetree writer for the trees tamavisor gives its guests.
// SPDX-License-Identifier: BSD-3-Clause

// Package fdt writes flattened devicetree blobs (Devicetree Specification
// v0.4, chapter 5), the format a Linux guest expects in x0 at entry. The
// hypervisor builds one per VM (see hv/arm64/guestfdt); the reader for
// blobs coming the other way is soc/fdt.
//
// A Writer emits nodes and properties in order, as the structure block
// lays them out (5.4), and checks as it goes: names follow 2.2.1 and
// 2.2.4.1, nodes balance, properties sit inside a node, no name repeats
// inside a node. The first mistake is kept and returned by Finish, so a
// generator can make all its calls and check one error, as with
// bufio.Writer.
//
// It is pure Go with no build tags: it runs on every target
// (GOOS=tamago arm64 and amd64) and on the host.
package fdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// 5.2 Header, 5.4.1 Lexical structure.
const (
	FDT_MAGIC      = 0xd00dfeed
	FDT_BEGIN_NODE = 0x1
	FDT_END_NODE   = 0x2
	FDT_PROP       = 0x3
	FDT_NOP        = 0x4
	FDT_END        = 0x9

	// Version is the format version written (5.1); LastCompVersion is
	// the oldest version a reader may know and still read it.
	Version         = 17
	LastCompVersion = 16

	// HeaderSize is the size of the 5.2 header (ten 32-bit fields).
	HeaderSize = 40
	// rsvEntrySize is one 5.3 fdt_reserve_entry: 64-bit address, size.
	rsvEntrySize = 16

	// MaxNameLen is the longest node-name (2.2.1) and property name
	// (2.2.4.1) the spec allows.
	MaxNameLen = 31
	// MaxDepth bounds node nesting, as the soc/fdt reader does.
	MaxDepth = 64
)

// Errors kept by a Writer and returned, wrapped with the offending name,
// by Finish.
var (
	// ErrName: a node or property name breaks 2.2.1 or 2.2.4.1.
	ErrName = errors.New("fdt: invalid name")
	// ErrNesting: nodes do not balance, there is not exactly one root
	// node (named ""), or nesting is deeper than MaxDepth.
	ErrNesting = errors.New("fdt: unbalanced or misplaced node")
	// ErrOutsideNode: a property was written with no node open.
	ErrOutsideNode = errors.New("fdt: property outside a node")
	// ErrDuplicate: a node already holds a property or child of that name.
	ErrDuplicate = errors.New("fdt: duplicate name in node")
	// ErrValue: a property value cannot be encoded (a string with a NUL
	// inside, a reservation that wraps, phandles exhausted).
	ErrValue = errors.New("fdt: invalid property value")
	// ErrTooLarge: the blob would not fit the 32-bit header fields.
	ErrTooLarge = errors.New("fdt: blob too large")
	// ErrFinished: the Writer was used after Finish.
	ErrFinished = errors.New("fdt: writer already finished")
)

// Reservation is one entry of the memory reservation block (5.3).
type Reservation struct {
	Addr, Size uint64
}

type open struct {
	name  string
	names map[string]bool // "p:" + property, "n:" + child
}

// Writer builds one blob. The zero value is not usable: call NewWriter.
// A Writer is not safe for concurrent use.
type Writer struct {
	st       []byte
	strs     []byte
	strOff   map[string]uint32
	rsv      []Reservation
	stack    []open
	rootDone bool
	finished bool
	bootCPU  uint32
	phandle  uint32
	err      error
}

// NewWriter returns an empty Writer with boot_cpuid_phys 0.
func NewWriter() *Writer {
	return &Writer{strOff: map[string]uint32{}}
}

func (w *Writer) setErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// ok reports whether the Writer may take another call, recording
// ErrFinished if it was finished.
func (w *Writer) ok() bool {
	if w.finished {
		w.setErr(ErrFinished)
	}
	return w.err == nil
}

// Err returns the first error recorded so far, or nil.
func (w *Writer) Err() error { return w.err }

// SetBootCPU sets the header's boot_cpuid_phys (5.2): the reg value of
// the cpu node of the CPU that boots.
func (w *Writer) SetBootCPU(id uint32) { w.bootCPU = id }

// AddReservation adds a range to the memory reservation block (5.3), memory
// the guest must not use for allocations. A zero-sized or wrapping range
// is an error (a zero pair is the block's terminator).
func (w *Writer) AddReservation(addr, size uint64) {
	if !w.ok() {
		return
	}
	if size == 0 || addr+size < addr {
		w.setErr(fmt.Errorf("%w: reservation %#x+%#x", ErrValue, addr, size))
		return
	}
	w.rsv = append(w.rsv, Reservation{addr, size})
}

// AllocPhandle returns a new phandle (2.3.3), unique within this Writer:
// 1, 2, 3 ... The caller writes it as the node's "phandle" property and
// uses it in other nodes' references (interrupt-parent, clocks).
// 0 and 0xffffffff are never returned; exhausting the space records
// ErrValue.
func (w *Writer) AllocPhandle() uint32 {
	if w.phandle >= math.MaxUint32-1 {
		w.setErr(fmt.Errorf("%w: phandles exhausted", ErrValue))
		return 0
	}
	w.phandle++
	return w.phandle
}

func (w *Writer) u32(v uint32) { w.st = binary.BigEndian.AppendUint32(w.st, v) }

func (w *Writer) pad() {
	for len(w.st)%4 != 0 {
		w.st = append(w.st, 0)
	}
}

// BeginNode opens a node (FDT_BEGIN_NODE, 5.4.1). The first node must be
// the root, named ""; every other node is a child of the innermost open
// node and is named node-name[@unit-address] as 2.2.1 requires: a
// node-name of 1 to 31 characters from [0-9a-zA-Z,._+-] starting with a
// letter, and an optional non-empty unit address from the same set.
func (w *Writer) BeginNode(name string) {
	if !w.ok() {
		return
	}
	switch {
	case len(w.stack) == 0 && w.rootDone:
		w.setErr(fmt.Errorf("%w: second top-level node %q", ErrNesting, name))
		return
	case len(w.stack) == 0:
		if name != "" {
			w.setErr(fmt.Errorf("%w: root node named %q, want \"\"", ErrNesting, name))
			return
		}
	default:
		if err := CheckNodeName(name); err != nil {
			w.setErr(err)
			return
		}
		if len(w.stack) >= MaxDepth {
			w.setErr(fmt.Errorf("%w: %q nested deeper than %d", ErrNesting, name, MaxDepth))
			return
		}
		parent := w.stack[len(w.stack)-1]
		if parent.names["n:"+name] {
			w.setErr(fmt.Errorf("%w: node %q twice in %q", ErrDuplicate, name, parent.name))
			return
		}
		parent.names["n:"+name] = true
	}
	w.u32(FDT_BEGIN_NODE)
	w.st = append(w.st, name...)
	w.st = append(w.st, 0)
	w.pad()
	w.stack = append(w.stack, open{name: name, names: map[string]bool{}})
}

// EndNode closes the innermost open node (FDT_END_NODE).
func (w *Writer) EndNode() {
	if !w.ok() {
		return
	}
	if len(w.stack) == 0 {
		w.setErr(fmt.Errorf("%w: EndNode with no open node", ErrNesting))
		return
	}
	w.u32(FDT_END_NODE)
	w.stack = w.stack[:len(w.stack)-1]
	if len(w.stack) == 0 {
		w.rootDone = true
	}
}

// Prop adds a property with a raw value to the innermost open node
// (FDT_PROP, 5.4.1). The name is entered once in the strings block (5.5)
// however many nodes use it. Names follow 2.2.4.1: 1 to 31 characters
// from [0-9a-zA-Z,._+?#-].
func (w *Writer) Prop(name string, val []byte) {
	if !w.ok() {
		return
	}
	if len(w.stack) == 0 {
		w.setErr(fmt.Errorf("%w: %q", ErrOutsideNode, name))
		return
	}
	if err := CheckPropName(name); err != nil {
		w.setErr(err)
		return
	}
	cur := w.stack[len(w.stack)-1]
	if cur.names["p:"+name] {
		w.setErr(fmt.Errorf("%w: property %q twice in %q", ErrDuplicate, name, cur.name))
		return
	}
	if uint64(len(val)) > math.MaxUint32 {
		w.setErr(fmt.Errorf("%w: property %q of %d bytes", ErrTooLarge, name, len(val)))
		return
	}
	cur.names["p:"+name] = true
	off, ok := w.strOff[name]
	if !ok {
		off = uint32(len(w.strs))
		w.strOff[name] = off
		w.strs = append(append(w.strs, name...), 0)
	}
	w.u32(FDT_PROP)
	w.u32(uint32(len(val)))
	w.u32(off)
	w.st = append(w.st, val...)
	w.pad()
}

// PropEmpty adds a property with no value (a boolean such as
// interrupt-controller, 2.2.4.2 <empty>).
func (w *Writer) PropEmpty(name string) { w.Prop(name, nil) }

// PropU32 adds a property of 32-bit big-endian cells (<u32> or
// <prop-encoded-array>, 2.2.4.2).
func (w *Writer) PropU32(name string, v ...uint32) {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	w.Prop(name, b)
}

// PropU64 adds a property of 64-bit big-endian values, each two cells
// with the high cell first (<u64>, 2.2.4.2).
func (w *Writer) PropU64(name string, v ...uint64) {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	w.Prop(name, b)
}

// PropString adds a NUL-terminated <string> property (2.2.4.2). A string
// holding a NUL cannot be encoded and records ErrValue.
func (w *Writer) PropString(name, s string) { w.PropStrings(name, s) }

// PropStrings adds a <stringlist> property (2.2.4.2): the strings
// concatenated, each NUL-terminated. At least one string is needed.
func (w *Writer) PropStrings(name string, s ...string) {
	if !w.ok() {
		return
	}
	if len(s) == 0 {
		w.setErr(fmt.Errorf("%w: %q: empty string list", ErrValue, name))
		return
	}
	var b []byte
	for _, x := range s {
		if strings.IndexByte(x, 0) >= 0 {
			w.setErr(fmt.Errorf("%w: %q: string %q holds a NUL", ErrValue, name, x))
			return
		}
		b = append(append(b, x...), 0)
	}
	w.Prop(name, b)
}

// Finish ends the structure block (FDT_END) and returns the blob: header
// (5.2), memory reservation block at an 8-byte aligned offset (5.3,
// terminated by a zero entry), structure block at a 4-byte aligned
// offset (5.4) and strings block (5.5), all big-endian, laid out as 5.6
// asks. It returns the first error recorded by any earlier call, or
// ErrNesting if the root node is missing or still open. The Writer
// cannot be used afterwards.
func (w *Writer) Finish() ([]byte, error) {
	if !w.ok() {
		return nil, w.err
	}
	w.finished = true
	if len(w.stack) != 0 {
		w.err = fmt.Errorf("%w: node %q still open", ErrNesting, w.stack[len(w.stack)-1].name)
		return nil, w.err
	}
	if !w.rootDone {
		w.err = fmt.Errorf("%w: no root node", ErrNesting)
		return nil, w.err
	}
	w.u32(FDT_END)

	offRsv := uint64(HeaderSize) // a multiple of 8
	offStruct := offRsv + uint64(len(w.rsv)+1)*rsvEntrySize
	offStrings := offStruct + uint64(len(w.st))
	total := offStrings + uint64(len(w.strs))
	if total > math.MaxUint32 {
		w.err = fmt.Errorf("%w: %d bytes", ErrTooLarge, total)
		return nil, w.err
	}
	out := make([]byte, 0, total)
	for _, v := range []uint32{
		FDT_MAGIC,
		uint32(total),
		uint32(offStruct),
		uint32(offStrings),
		uint32(offRsv),
		Version,
		LastCompVersion,
		w.bootCPU,
		uint32(len(w.strs)),
		uint32(len(w.st)),
	} {
		out = binary.BigEndian.AppendUint32(out, v)
	}
	for _, r := range w.rsv {
		out = binary.BigEndian.AppendUint64(out, r.Addr)
		out = binary.BigEndian.AppendUint64(out, r.Size)
	}
	out = append(out, make([]byte, rsvEntrySize)...)
	out = append(out, w.st...)
	out = append(out, w.strs...)
	return out, nil
}

func nameChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		c == ',' || c == '.' || c == '_' || c == '+' || c == '-'
}

// CheckNodeName reports whether name is a valid non-root node name,
// node-name[@unit-address] (Devicetree Spec 2.2.1, Table 2.1).
func CheckNodeName(name string) error {
	base, unit, hasUnit := strings.Cut(name, "@")
	bad := func(why string) error {
		return fmt.Errorf("%w: node %q: %s", ErrName, name, why)
	}
	if len(base) < 1 || len(base) > MaxNameLen {
		return bad("node-name must be 1 to 31 characters")
	}
	if c := base[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return bad("node-name must start with a letter")
	}
	for i := 0; i < len(base); i++ {
		if !nameChar(base[i]) {
			return bad(fmt.Sprintf("character %q not allowed", base[i]))
		}
	}
	if hasUnit {
		if unit == "" {
			return bad("empty unit address")
		}
		for i := 0; i < len(unit); i++ {
			if !nameChar(unit[i]) {
				return bad(fmt.Sprintf("unit address character %q not allowed", unit[i]))
			}
		}
	}
	return nil
}

// CheckPropName reports whether name is a valid property name
// (Devicetree Spec 2.2.4.1, Table 2.2).
func CheckPropName(name string) error {
	if len(name) < 1 || len(name) > MaxNameLen {
		return fmt.Errorf("%w: property %q must be 1 to 31 characters", ErrName, name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !nameChar(c) && c != '?' && c != '#' {
			return fmt.Errorf("%w: property %q: character %q not allowed", ErrName, name, c)
		}
	}
	return nil
}
