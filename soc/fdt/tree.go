// soc/fdt: a minimal, bounds-checked flattened device tree reader.
// SPDX-License-Identifier: BSD-3-Clause

package fdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Limits on what Parse accepts. The blob is untrusted (firmware, or a
// guest's own tree handed back), so every count that drives an
// allocation is bounded as well as every offset. The numbers leave room
// for large SoC trees (an i.MX8M Plus tree has about a thousand nodes).
const (
	// MaxNodes bounds the number of nodes in one tree.
	MaxNodes = 1 << 14
	// MaxProps bounds the number of properties in one tree.
	MaxProps = 1 << 16
	// MaxNameLen bounds a node's full name (node-name@unit-address) and
	// a property name. The spec limits node-name and property names to
	// 31 characters (2.2.1, 2.2.4.1); real trees use long unit
	// addresses, so the bound is generous.
	MaxNameLen = 256
	// MaxReservations bounds the memory reservation block (5.3).
	MaxReservations = 1024
)

// ErrNoProperty is returned by the typed property accessors when the
// node has no property of that name.
var ErrNoProperty = errors.New("fdt: no such property")

// Property is one property of a node (Devicetree Spec 2.2.4): a name and
// a value of raw big-endian bytes. Value aliases Parse's private copy of
// the blob and must not be modified.
type Property struct {
	Name  string
	Value []byte
}

// Node is one node of a parsed tree (Devicetree Spec 2.2). Name is the
// full node name (node-name[@unit-address]); the root's is "".
type Node struct {
	Name     string
	Props    []Property
	Children []*Node
	Parent   *Node
}

// Blob is a parsed flattened devicetree: the header fields a consumer may
// need, the memory reservation block and the tree itself.
type Blob struct {
	Version         uint32  // 5.2 version
	LastCompVersion uint32  // 5.2 last_comp_version
	BootCPU         uint32  // 5.2 boot_cpuid_phys
	Reservations    []Range // 5.3 memory reservation block, terminator excluded
	Root            *Node
}

// Parse parses a flattened devicetree blob (Devicetree Spec v0.4
// chapter 5) and returns its root node. See ParseBlob.
func Parse(b []byte) (*Node, error) {
	blob, err := ParseBlob(b)
	if err != nil {
		return nil, err
	}
	return blob.Root, nil
}

// ParseBlob parses a flattened devicetree blob (Devicetree Spec v0.4
// chapter 5) into a tree.
//
// b is untrusted. The header must describe a version 17 blob no larger
// than MaxSize that fits in b; the memory reservation block (5.3) must be
// 8-byte aligned and terminated, the structure block (5.4) 4-byte aligned
// and both it and the strings block (5.5) inside the blob and past the
// header. The structure block must hold exactly one root node named ""
// before FDT_END; every token, name and value is bounds-checked, nesting
// is limited to 64 levels and node, property and reservation counts to
// MaxNodes, MaxProps and MaxReservations. A node may not hold two
// properties or two children with the same name. Every error wraps
// ErrFormat and names the offending byte offset in the blob.
//
// The blob is copied once, so the caller may reuse b (or a guest may
// rewrite it) without changing the returned tree.
func ParseBlob(b []byte) (*Blob, error) { return parseBlob(b, true) }

// parseBlob is ParseBlob; with private false it skips the copy, for
// callers (Memory) whose results never alias the blob.
func parseBlob(b []byte, private bool) (*Blob, error) {
	total, err := TotalSize(b)
	if err != nil {
		return nil, err
	}
	if len(b) < headerSize || total < headerSize || total > MaxSize || int(total) > len(b) {
		return nil, fail(4, "totalsize %d with %d bytes available", total, len(b))
	}
	b = b[:total:total]
	if private {
		b = append([]byte(nil), b...)
	}
	be := binary.BigEndian
	offStruct := be.Uint32(b[8:])
	offStrings := be.Uint32(b[12:])
	offRsv := be.Uint32(b[16:])
	blob := &Blob{
		Version:         be.Uint32(b[20:]),
		LastCompVersion: be.Uint32(b[24:]),
		BootCPU:         be.Uint32(b[28:]),
	}
	sizeStrings := be.Uint32(b[32:])
	sizeStruct := be.Uint32(b[36:])
	if blob.Version < 17 {
		return nil, fail(20, "version %d, want 17", blob.Version)
	}
	if blob.LastCompVersion > 17 {
		return nil, fail(24, "last_comp_version %d, this reader knows 17", blob.LastCompVersion)
	}
	if offStruct < headerSize || offStruct%4 != 0 || uint64(offStruct)+uint64(sizeStruct) > uint64(total) {
		return nil, fail(8, "structure block %#x+%#x outside %#x or misaligned", offStruct, sizeStruct, total)
	}
	if offStrings < headerSize || uint64(offStrings)+uint64(sizeStrings) > uint64(total) {
		return nil, fail(12, "strings block %#x+%#x outside %#x", offStrings, sizeStrings, total)
	}
	if offRsv < headerSize || offRsv%8 != 0 || offRsv >= total {
		return nil, fail(16, "memory reservation block at %#x outside %#x or misaligned", offRsv, total)
	}
	if blob.Reservations, err = parseReservations(b, offRsv); err != nil {
		return nil, err
	}
	p := &parser{
		st:   b[offStruct : offStruct+sizeStruct],
		strs: b[offStrings : offStrings+sizeStrings],
		base: int(offStruct),
	}
	if blob.Root, err = p.structure(); err != nil {
		return nil, err
	}
	return blob, nil
}

// parseReservations reads the 5.3 memory reservation block at off: pairs
// of 64-bit address and size, ended by a pair of zeros.
func parseReservations(b []byte, off uint32) ([]Range, error) {
	var rs []Range
	for p := int(off); ; p += 16 {
		if p+16 > len(b) {
			return nil, fail(p, "memory reservation block not terminated")
		}
		r := Range{Addr: binary.BigEndian.Uint64(b[p:]), Size: binary.BigEndian.Uint64(b[p+8:])}
		if r == (Range{}) {
			return rs, nil
		}
		if r.Addr+r.Size < r.Addr {
			return nil, fail(p, "reservation %#x+%#x wraps", r.Addr, r.Size)
		}
		if len(rs) == MaxReservations {
			return nil, fail(p, "more than %d reservations", MaxReservations)
		}
		rs = append(rs, r)
	}
}

type parser struct {
	st, strs []byte
	base     int // blob offset of st, for error messages
	p        int // read position in st
	nodes    int
	props    int
}

func (ps *parser) fail(off int, format string, a ...any) error {
	return fail(ps.base+off, format, a...)
}

func (ps *parser) u32() (uint32, error) {
	if ps.p+4 > len(ps.st) {
		return 0, ps.fail(ps.p, "truncated structure block")
	}
	v := binary.BigEndian.Uint32(ps.st[ps.p:])
	ps.p += 4
	return v, nil
}

// cstring returns the NUL-terminated string at off in b, at most
// MaxNameLen bytes long, and the offset just past its NUL.
func cstring(b []byte, off int) (string, int, bool) {
	for i := off; i < len(b) && i-off <= MaxNameLen; i++ {
		if b[i] == 0 {
			return string(b[off:i]), i + 1, true
		}
	}
	return "", 0, false
}

// openNode is a node whose FDT_END_NODE has not been seen yet, with the
// names already used inside it.
type openNode struct {
	n     *Node
	names map[string]bool // "p:" + property name, "n:" + child name
}

// structure walks the 5.4 structure block.
func (ps *parser) structure() (*Node, error) {
	var root *Node
	var stack []openNode
	for {
		at := ps.p
		tok, err := ps.u32()
		if err != nil {
			return nil, err
		}
		switch tok {
		case FDT_BEGIN_NODE:
			name, next, ok := cstring(ps.st, ps.p)
			if !ok {
				return nil, ps.fail(ps.p, "node name unterminated or longer than %d bytes", MaxNameLen)
			}
			ps.p = (next + 3) &^ 3
			if ps.nodes++; ps.nodes > MaxNodes {
				return nil, ps.fail(at, "more than %d nodes", MaxNodes)
			}
			n := &Node{Name: name}
			switch {
			case root == nil:
				if name != "" {
					return nil, ps.fail(at, "root node named %q, want \"\"", name)
				}
				root = n
			case len(stack) == 0:
				return nil, ps.fail(at, "second root node %q", name)
			default:
				if name == "" || strings.IndexByte(name, '/') >= 0 {
					return nil, ps.fail(at, "invalid node name %q", name)
				}
				parent := stack[len(stack)-1]
				if parent.names["n:"+name] {
					return nil, ps.fail(at, "duplicate node %q", name)
				}
				parent.names["n:"+name] = true
				n.Parent = parent.n
				parent.n.Children = append(parent.n.Children, n)
			}
			if len(stack) == maxDepth {
				return nil, ps.fail(at, "nesting deeper than %d", maxDepth)
			}
			stack = append(stack, openNode{n: n, names: map[string]bool{}})
		case FDT_END_NODE:
			if len(stack) == 0 {
				return nil, ps.fail(at, "unbalanced end of node")
			}
			stack = stack[:len(stack)-1]
		case FDT_PROP:
			ln, err := ps.u32()
			if err != nil {
				return nil, err
			}
			nameOff, err := ps.u32()
			if err != nil {
				return nil, err
			}
			if uint64(ps.p)+uint64(ln) > uint64(len(ps.st)) {
				return nil, ps.fail(ps.p, "property of %d bytes past the structure block", ln)
			}
			val := ps.st[ps.p : ps.p+int(ln) : ps.p+int(ln)]
			ps.p = (ps.p + int(ln) + 3) &^ 3
			if len(stack) == 0 {
				return nil, ps.fail(at, "property outside a node")
			}
			if uint64(nameOff) >= uint64(len(ps.strs)) {
				return nil, ps.fail(at+8, "property name offset %#x outside strings block of %#x", nameOff, len(ps.strs))
			}
			name, _, ok := cstring(ps.strs, int(nameOff))
			if !ok || name == "" {
				return nil, ps.fail(at+8, "property name at strings offset %#x empty, unterminated or too long", nameOff)
			}
			if ps.props++; ps.props > MaxProps {
				return nil, ps.fail(at, "more than %d properties", MaxProps)
			}
			cur := stack[len(stack)-1]
			if cur.names["p:"+name] {
				return nil, ps.fail(at, "duplicate property %q", name)
			}
			cur.names["p:"+name] = true
			cur.n.Props = append(cur.n.Props, Property{Name: name, Value: val})
		case FDT_NOP:
		case FDT_END:
			if root == nil {
				return nil, ps.fail(at, "no root node")
			}
			if len(stack) != 0 {
				return nil, ps.fail(at, "end inside node %q", stack[len(stack)-1].n.Name)
			}
			return root, nil
		default:
			return nil, ps.fail(at, "unknown token %#x", tok)
		}
	}
}

// Path returns the node's full path, "/" for the root.
func (n *Node) Path() string {
	if n.Parent == nil {
		return "/"
	}
	var parts []string
	for x := n; x.Parent != nil; x = x.Parent {
		parts = append(parts, x.Name)
	}
	var sb strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		sb.WriteByte('/')
		sb.WriteString(parts[i])
	}
	return sb.String()
}

// Child returns the child called name. A name without a unit address
// also matches a child "name@unit" (the first one, in blob order), as
// Devicetree Spec 2.2.3 allows the unit address to be omitted when the
// node name alone is unambiguous. It returns nil when there is none.
func (n *Node) Child(name string) *Node {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	if strings.IndexByte(name, '@') < 0 {
		for _, c := range n.Children {
			if i := strings.IndexByte(c.Name, '@'); i >= 0 && c.Name[:i] == name {
				return c
			}
		}
	}
	return nil
}

// Find returns the node at path (Devicetree Spec 2.2.3), or nil. An
// absolute path ("/cpus/cpu@0") starts at the root of n's tree, a
// relative one ("cpu@0") at n. Components are matched as by Child.
func (n *Node) Find(path string) *Node {
	cur := n
	if strings.HasPrefix(path, "/") {
		for cur.Parent != nil {
			cur = cur.Parent
		}
	}
	for _, comp := range strings.Split(path, "/") {
		if comp == "" {
			continue
		}
		if cur = cur.Child(comp); cur == nil {
			return nil
		}
	}
	return cur
}

// Walk calls fn for n and then each descendant, depth first in blob
// order, stopping at the first error.
func (n *Node) Walk(fn func(*Node) error) error {
	if err := fn(n); err != nil {
		return err
	}
	for _, c := range n.Children {
		if err := c.Walk(fn); err != nil {
			return err
		}
	}
	return nil
}

// Prop returns the value of the property called name.
func (n *Node) Prop(name string) ([]byte, bool) {
	for _, p := range n.Props {
		if p.Name == name {
			return p.Value, true
		}
	}
	return nil, false
}

// Has reports whether the node has a property called name (as for empty
// boolean properties such as interrupt-controller).
func (n *Node) Has(name string) bool {
	_, ok := n.Prop(name)
	return ok
}

func (n *Node) propErr(name, format string, a ...any) error {
	return fmt.Errorf("%w: %s property %q: %s", ErrFormat, n.Path(), name, fmt.Sprintf(format, a...))
}

func (n *Node) get(name string) ([]byte, error) {
	v, ok := n.Prop(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s has no %q", ErrNoProperty, n.Path(), name)
	}
	return v, nil
}

// U32s decodes the property as an array of 32-bit cells (<u32>, 2.2.4.2).
func (n *Node) U32s(name string) ([]uint32, error) {
	v, err := n.get(name)
	if err != nil {
		return nil, err
	}
	if len(v)%4 != 0 {
		return nil, n.propErr(name, "%d bytes is not a whole number of cells", len(v))
	}
	out := make([]uint32, len(v)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(v[4*i:])
	}
	return out, nil
}

// U32 decodes the property as exactly one 32-bit cell.
func (n *Node) U32(name string) (uint32, error) {
	v, err := n.get(name)
	if err != nil {
		return 0, err
	}
	if len(v) != 4 {
		return 0, n.propErr(name, "%d bytes, want a <u32>", len(v))
	}
	return binary.BigEndian.Uint32(v), nil
}

// U64 decodes the property as exactly one <u64> (two cells, 2.2.4.2).
func (n *Node) U64(name string) (uint64, error) {
	v, err := n.get(name)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, n.propErr(name, "%d bytes, want a <u64>", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// String decodes the property as one NUL-terminated <string>.
func (n *Node) String(name string) (string, error) {
	v, err := n.get(name)
	if err != nil {
		return "", err
	}
	if len(v) == 0 || v[len(v)-1] != 0 || indexByte(v[:len(v)-1], 0) >= 0 {
		return "", n.propErr(name, "not a single NUL-terminated string")
	}
	return string(v[:len(v)-1]), nil
}

// Strings decodes the property as a <stringlist> (2.2.4.2): one or more
// NUL-terminated strings.
func (n *Node) Strings(name string) ([]string, error) {
	v, err := n.get(name)
	if err != nil {
		return nil, err
	}
	if len(v) == 0 || v[len(v)-1] != 0 {
		return nil, n.propErr(name, "not a NUL-terminated string list")
	}
	return strings.Split(string(v[:len(v)-1]), "\x00"), nil
}

// cellsProp returns the #address-cells or #size-cells value of n, or def
// when absent (2.3.5: these are not inherited).
func (n *Node) cellsProp(name string, def uint32) (uint32, error) {
	if !n.Has(name) {
		return def, nil
	}
	return n.U32(name)
}

// AddressCells returns n's #address-cells, 2 when absent (2.3.5). It is
// the number of cells in a child's reg address.
func (n *Node) AddressCells() (uint32, error) { return n.cellsProp("#address-cells", 2) }

// SizeCells returns n's #size-cells, 1 when absent (2.3.5).
func (n *Node) SizeCells() (uint32, error) { return n.cellsProp("#size-cells", 1) }

// Reg decodes n's reg property (2.3.6) with its parent's #address-cells
// and #size-cells. Only 1 or 2 address cells and 0 to 2 size cells are
// supported (the ranges are 64-bit); a range that wraps is an error.
func (n *Node) Reg() ([]Range, error) {
	if n.Parent == nil {
		return nil, n.propErr("reg", "the root has no parent to give #address-cells")
	}
	ac, err := n.Parent.AddressCells()
	if err != nil {
		return nil, err
	}
	sc, err := n.Parent.SizeCells()
	if err != nil {
		return nil, err
	}
	if ac < 1 || ac > 2 || sc > 2 {
		return nil, n.propErr("reg", "unsupported #address-cells %d / #size-cells %d", ac, sc)
	}
	v, err := n.get("reg")
	if err != nil {
		return nil, err
	}
	return decodeReg(v, ac, sc)
}
