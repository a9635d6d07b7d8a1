// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Layout of a Go 1.25 type descriptor, internal/abi.Type, on a 64-bit
// target (GOROOT/src/internal/abi/type.go): the fields the differ
// compares, and the struct type that follows it for Kind_ Struct.
const (
	abiTypeSize_       = 0  // uintptr
	abiTypePtrBytes    = 8  // uintptr
	abiTypeHash        = 16 // uint32
	abiTypeTFlag       = 20 // uint8
	abiTypeAlign_      = 21 // uint8
	abiTypeFieldAlign_ = 22 // uint8
	abiTypeKind_       = 23 // uint8
	abiTypeEqual       = 24 // func pointer
	abiTypeGCData      = 32 // *byte
	abiTypeStr         = 40 // NameOff, int32, from runtime.types
	abiTypePtrToThis   = 44 // TypeOff, int32
	abiTypeLen         = 48

	abiKindMask   = 0x1f // abi.KindMask
	abiKindStruct = 25   // abi.Struct

	// abi.TFlagGCMaskOnDemand: GCData points to a cache slot filled at
	// run time, not to the bitmap.
	abiTFlagGCMaskOnDemand = 1 << 4
	// abi.TFlagExtraStar: the name has a '*' the type's name lacks.
	abiTFlagExtraStar = 1 << 1

	// abi.StructType after the Type: PkgPath Name (8 bytes), Fields
	// []StructField (pointer, len, cap); a StructField is Name (8), Typ
	// *Type (8), Offset uintptr (8).
	abiStructFields      = abiTypeLen + 8
	abiStructFieldLen    = 24
	abiStructFieldName   = 0
	abiStructFieldTyp    = 8
	abiStructFieldOffset = 16
	maxStructFields      = 4096
)

// goType is what the differ knows of a type descriptor.
type goType struct {
	name  string
	ident string // everything compared, as one string
	kind  byte   // abi.Kind
}

// Kinds whose descriptor continues past the abi.Type header with fields
// code reads at fixed offsets (internal/abi: ArrayType, ChanType,
// FuncType, InterfaceType, SwissMapType, PtrType, SliceType,
// StructType).
const (
	abiKindArray     = 17
	abiKindChan      = 18
	abiKindFunc      = 19
	abiKindInterface = 20
	abiKindMap       = 21
	abiKindPointer   = 22
	abiKindSlice     = 23

	maxTypeExtent = 112 // abi.SwissMapType, the largest
)

// typeExtent is the size of the kind's descriptor struct: the bytes
// from the descriptor's start that code may reference (reflect copies a
// whole PtrType, header and Elem, by value). A FuncType's parameters and
// any UncommonType follow at offsets that depend on the type; a
// reference to them is not taken for a field.
func typeExtent(kind byte) uint64 {
	switch kind & abiKindMask {
	case abiKindArray:
		return abiTypeLen + 24 // Elem, Slice, Len
	case abiKindChan:
		return abiTypeLen + 16 // Elem, Dir
	case abiKindFunc:
		return abiTypeLen + 8 // InCount, OutCount, padding
	case abiKindInterface, abiKindStruct:
		return abiTypeLen + 32 // PkgPath, and Methods or Fields
	case abiKindMap:
		return maxTypeExtent
	case abiKindPointer, abiKindSlice:
		return abiTypeLen + 8 // Elem
	}
	return abiTypeLen
}

// typeAt decodes the type descriptor at addr. deep also compares a
// struct's field names, offsets and field types' headers, and the GC
// pointer bitmap.
func (im *image) typeAt(addr uint64, deep bool) (goType, error) {
	le := binary.LittleEndian
	b, ok := im.bytesAt(addr, abiTypeLen)
	if !ok {
		return goType{}, fmt.Errorf("%s: no type descriptor at %#x", im.what, addr)
	}
	name, err := im.nameAt(im.types + uint64(int64(int32(le.Uint32(b[abiTypeStr:])))))
	if err != nil {
		return goType{}, fmt.Errorf("%s: type descriptor at %#x: name: %w", im.what, addr, err)
	}
	size, ptr := le.Uint64(b[abiTypeSize_:]), le.Uint64(b[abiTypePtrBytes:])
	tflag, kind := b[abiTypeTFlag], b[abiTypeKind_]
	if tflag&abiTFlagExtraStar != 0 && strings.HasPrefix(name, "*") {
		name = name[1:] // the name of T is stored as that of *T
	}
	if err := im.plausibleType(b); err != nil {
		return goType{}, fmt.Errorf("%s: no type descriptor at %#x: %v", im.what, addr, err)
	}
	var id strings.Builder
	fmt.Fprintf(&id, "%s size=%d ptr=%d hash=%#x tflag=%#x align=%d/%d kind=%d",
		name, size, ptr, le.Uint32(b[abiTypeHash:]), tflag, b[abiTypeAlign_], b[abiTypeFieldAlign_], kind)
	if !deep {
		return goType{name, id.String(), kind}, nil
	}
	if ptr > 0 && tflag&abiTFlagGCMaskOnDemand == 0 {
		n := (ptr/8 + 7) / 8
		mask, ok := im.bytesAt(le.Uint64(b[abiTypeGCData:]), n)
		if !ok {
			return goType{}, fmt.Errorf("%s: type %s: GC bitmap at %#x not in the image", im.what, name, le.Uint64(b[abiTypeGCData:]))
		}
		fmt.Fprintf(&id, " gc=%x", mask)
	}
	if kind&abiKindMask == abiKindStruct {
		h, ok := im.bytesAt(addr+abiStructFields, 16)
		if !ok {
			return goType{}, fmt.Errorf("%s: struct type %s at %#x truncated", im.what, name, addr)
		}
		n := le.Uint64(h[8:])
		if n > maxStructFields {
			return goType{}, fmt.Errorf("%s: struct type %s at %#x: %d fields", im.what, name, addr, n)
		}
		fields, ok := im.bytesAt(le.Uint64(h), n*abiStructFieldLen)
		if !ok {
			return goType{}, fmt.Errorf("%s: struct type %s: fields not in the image", im.what, name)
		}
		for i := range n {
			f := fields[i*abiStructFieldLen:]
			fname, err := im.nameAt(le.Uint64(f[abiStructFieldName:]))
			if err != nil {
				return goType{}, fmt.Errorf("%s: struct type %s field %d: %w", im.what, name, i, err)
			}
			ft, err := im.typeAt(le.Uint64(f[abiStructFieldTyp:]), false)
			if err != nil {
				return goType{}, fmt.Errorf("%s: struct type %s field %s: %w", im.what, name, fname, err)
			}
			fmt.Fprintf(&id, " {%s @%d %s}", fname, le.Uint64(f[abiStructFieldOffset:]), ft.ident)
		}
	}
	return goType{name, id.String(), kind}, nil
}

// nameAt decodes an abi.Name at addr: a flags byte, a uvarint length and
// the bytes.
func (im *image) nameAt(addr uint64) (string, error) {
	h, ok := im.bytesAt(addr, 1)
	if !ok {
		return "", fmt.Errorf("name at %#x not in the image", addr)
	}
	_ = h
	var n uint64
	var i uint64
	for ; i < 10; i++ {
		c, ok := im.bytesAt(addr+1+i, 1)
		if !ok {
			return "", fmt.Errorf("name at %#x truncated", addr)
		}
		n |= uint64(c[0]&0x7f) << (7 * i)
		if c[0]&0x80 == 0 {
			break
		}
	}
	if n > 1<<16 {
		return "", fmt.Errorf("name at %#x of %d bytes", addr, n)
	}
	s, ok := im.bytesAt(addr+2+i, n)
	if !ok {
		return "", fmt.Errorf("name at %#x truncated", addr)
	}
	return string(s), nil
}

// typeHolding returns the type descriptor that holds addr: code
// references a descriptor's start (LEAQ type:T(SB)), a header field
// (MOVZX type:T+23(SB) reads Kind_) or a field of the kind's descriptor
// (reflect copies a PtrType with its Elem). It tries the 8-byte aligned
// starts from addr down to the furthest one whose descriptor could still
// hold addr, and takes the nearest that decodes and whose extent does
// hold it.
func (im *image) typeHolding(addr, regionStart uint64) (uint64, goType, error) {
	var first error
	for start := addr &^ 7; start+maxTypeExtent > addr && start >= regionStart; start -= 8 {
		t, err := im.typeAt(start, true)
		if err == nil && start+typeExtent(t.kind) > addr {
			return start, t, nil
		}
		if err == nil {
			err = fmt.Errorf("%s: %#x is past the %d-byte descriptor of %s at %#x", im.what, addr, typeExtent(t.kind), t.name, start)
		}
		if first == nil {
			first = err
		}
		if start < 8 {
			break
		}
	}
	if first == nil {
		first = fmt.Errorf("%s: no type descriptor holds %#x", im.what, addr)
	}
	return 0, goType{}, first
}

// typeFieldKey names what the word of the descriptor at start holding
// byte off means, for a field past the header: a type (by its shallow
// identity), a function, or else its bytes. Two images agree on the
// field when the keys are equal.
func (im *image) typeFieldKey(start, off uint64) (string, bool) {
	if off < abiTypeLen {
		return "", true // the header is part of the type's identity
	}
	w, ok := im.bytesAt((start+off)&^7, 8)
	if !ok {
		return "", false
	}
	v := binary.LittleEndian.Uint64(w)
	if s, ok := im.resolve(v); ok && v != 0 {
		if s.kind == kindRegion && s.name == regionType {
			t, err := im.typeAt(v, false)
			if err != nil {
				return "", false
			}
			return "type " + t.ident, true
		}
		if s.kind == kindFunc && s.addr == v {
			return "func " + s.name, true
		}
		return "", false
	}
	return fmt.Sprintf("word %#x", v), true
}

// Limits of a plausible type descriptor header.
const (
	abiKindMax  = 26     // abi.UnsafePointer, the last Kind
	abiTFlagMax = 1 << 5 // abi.TFlagGCMaskOnDemand is the highest flag
	maxTypeSize = 1 << 40
)

// plausibleType checks that the 48 bytes b look like an abi.Type header
// of this image: a Kind, flags and alignments abi defines, pointer bytes
// within the size, and Equal (a func value) and GCData nil or in the
// image. Code refers to header fields as well as to
// descriptors (MOVZX type:T+23(SB) reads Kind_), so typeHolding tries
// several starts, and this keeps it from taking the tail of one
// descriptor for another.
func (im *image) plausibleType(b []byte) error {
	le := binary.LittleEndian
	size, ptr := le.Uint64(b[abiTypeSize_:]), le.Uint64(b[abiTypePtrBytes:])
	pow2 := func(x uint8) bool { return x != 0 && x&(x-1) == 0 }
	switch k := b[abiTypeKind_] & abiKindMask; {
	case k == 0 || k > abiKindMax:
		return fmt.Errorf("kind %d", k)
	case b[abiTypeTFlag] >= abiTFlagMax:
		return fmt.Errorf("tflag %#x", b[abiTypeTFlag])
	case !pow2(b[abiTypeAlign_]) || !pow2(b[abiTypeFieldAlign_]):
		return fmt.Errorf("alignment %d/%d", b[abiTypeAlign_], b[abiTypeFieldAlign_])
	case size > maxTypeSize || ptr > size || ptr%8 != 0:
		return fmt.Errorf("size %#x, pointer bytes %#x", size, ptr)
	}
	if eq := le.Uint64(b[abiTypeEqual:]); eq != 0 && !im.inImage(eq) {
		return fmt.Errorf("equal %#x outside the image", eq) // a func value
	}
	if gc := le.Uint64(b[abiTypeGCData:]); gc != 0 && !im.inImage(gc) {
		return fmt.Errorf("gcdata %#x outside the image", gc)
	}
	return nil
}
