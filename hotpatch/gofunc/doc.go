// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

// Package gofunc extracts, carries and lays out the Go runtime's metadata
// for the functions of a live patch, so that the runtime knows the new
// code: findfunc, pc-value lookups (stack growth, GC stack scanning,
// tracebacks, morestack), stack maps, stack objects, inline trees and
// open-coded defers all work on PCs in the payload text.
//
// It implements the layout of Go 1.25 (pcHeader magic 0xfffffff1, the
// _func record of runtime/runtime2.go, the findfuncbucket table, the
// funcdata and pcdata indexes of internal/abi/symtab.go) for 64-bit
// little-endian targets, amd64 (PC quantum 1) and arm64 (PC quantum 4). A
// later Go release that changes any of them needs a new version of this
// package and of its encoding.
//
// The three steps are:
//
//   - Open, Image.Func (build host): read one function's metadata from a
//     Go 1.25 ELF executable (GOOS=linux or tamago, amd64 or arm64), as a
//     position-independent Func: every PC is an offset from the function
//     entry and funcdata are carried by contents, not by address.
//   - Encode, Decode: the Funcs as bytes, carried in the payload's
//     .tvpatch.pcln section (package payload treats them as opaque).
//   - Build (hypervisor): lay the Funcs out, at the offsets their code has
//     in the payload text, as the tables of a runtime.moduledata (Tables),
//     which the caller links into the runtime's module list.
//
// It is plain portable Go, standard library only, without unsafe or build
// tags: the host tests run it on Linux, and the hypervisor runs Decode and
// Build on GOOS=tamago (arm64 and amd64). Decode's input is untrusted:
// it bounds-checks every offset and length, caps every count (the Max*
// constants), allocates at most a small multiple of its input, never
// panics, and validates every Func as Build needs it (FuzzDecode holds it
// to that). Build validates its input the same way.
//
// Errors wrap one of the Err* sentinels and name the function, the
// funcdata or pcdata index and the offset at fault.
//
// # What is carried, and what is not
//
// The pc-value tables (pcsp, pcfile, pcln, every pcdata) are carried in
// their encoded form, exactly as in the runtime's pctab, each with its
// terminating 0 byte. The funcdata are carried by kind (FuncData):
//
//   - FUNCDATA_ArgsPointerMaps, FUNCDATA_LocalsPointerMaps: the stackmap
//     (int32 n, int32 nbit, n bitmaps of (nbit+7)/8 bytes).
//   - FUNCDATA_StackObjects: the records, each with its pointer mask
//     itself instead of the mask's rodata offset.
//   - FUNCDATA_InlTree: the inlinedCall entries with the callee's name
//     instead of its funcnametab offset; there are (the largest
//     PCDATA_InlTreeIndex value) + 1 of them.
//   - FUNCDATA_OpenCodedDeferInfo: its two uvarints.
//   - FUNCDATA_ArgInfo: the byte sequence printArgs reads, through its
//     end marker 0xff.
//
// FUNCDATA_ArgLiveInfo is dropped with PCDATA_ArgLiveIndex: its length is
// not recorded anywhere and cannot be derived exactly from the other
// metadata. Without it, a traceback prints every argument of a patched
// function as live (no "?" after possibly dead register-argument spill
// slots). FUNCDATA_WrapInfo (it holds a text offset of the wrapped
// function) and any unknown funcdata index are refused with
// ErrUnsupported, as are more pcdata tables than Go 1.25 has.
//
// # Encoding
//
// Encode writes, little-endian, where str and bytes are a u32 length
// followed by that many bytes (length 0 means nil):
//
//	header     "TVGOFUNC"  8 bytes, magic
//	           u16 version (1), u8 minLC (1 or 4), u8 ptrSize (8)
//	           u32 nfunc   1..MaxFuncs
//	           nfunc function records, and nothing after them
//	function   u32 length  bytes of the record after this field
//	           str name
//	           u32 size, i32 args, u32 deferreturn, i32 startLine
//	           u8 funcID, u8 flag, u8 npcdata, u8 nfuncdata
//	           bytes pcsp, bytes pcfile, bytes pcln
//	           npcdata × bytes pcdata
//	           u32 nfiles, nfiles × str file ("" = unused or unknown)
//	           nfuncdata × funcdata
//	funcdata   u8 kind (FuncDataKind), 3 zero bytes, u32 length, body:
//	           Absent: empty
//	           ArgsPointerMaps, LocalsPointerMaps, OpenCodedDeferInfo,
//	           ArgInfo: the bytes
//	           StackObjects: u32 n, n × (i32 off, i32 size, i32 ptrBytes,
//	           bytes mask)
//	           InlTree: u32 n, n × (u8 funcID, 3 zero bytes, i32 parentPC,
//	           i32 startLine, str name)
//
// Every length is checked against what contains it and every count
// against the bytes left and its Max* constant.
package gofunc
