// hotpatch/selfimage: the running image's own build-id and function symbols.
// SPDX-License-Identifier: BSD-3-Clause

// Package selfimage tells the running hypervisor what it is: its build-id
// and the address and size of each of its functions. Live patching needs
// both, as Xen livepatch does: a payload names the build-id of the image
// it was built against and the functions it replaces, and the CHECK step
// (payload.Check) compares them with the running image. *Image implements
// payload.Image.
//
// A Go binary carries no symbol table it can read at run time in a form
// that gives sizes and the linker's names, and a TamaGo image is not
// loaded from a file system, so the knowledge is written into the image
// itself after linking:
//
//  1. This package reserves info, an initialised [InfoSize]byte array
//     whose first 8 bytes are the magic "TVHPINFO". Being initialised, it
//     lies in .noptrdata and all of it is in the ELF file.
//  2. The post-link step `tvimage hpinfo IMAGE` (cmd/tvimage) finds the
//     array through .symtab, computes the build-id (below), encodes the
//     image's function symbols and the build-id with Encode, and writes
//     the blob over the array, in the file, zero-padded to InfoSize.
//  3. At run time Self parses the array. Nothing else writes it.
//
// An image that skipped step 2 still holds the bare magic followed by
// zeros; Parse and Self then return ErrNotPostLinked.
//
// The package is plain portable Go (standard library only: no os, no
// syscall, no cgo, no unsafe, no assembly, no build tags). Self runs
// inside the hypervisor on every TamaGo target (GOOS=tamago, arm64 and
// amd64); Encode runs on the build host. Parse treats the blob as
// untrusted: it never panics, bounds-checks every offset, length and
// count, and refuses anything the format below does not allow (FuzzParse
// holds it to that).
//
// # Blob format (version 1)
//
// All integers are little-endian. Offsets are from the start of the blob.
//
//	offset  size      field
//	0       8         magic, the ASCII bytes "TVHPINFO"
//	8       4         u32 version, 2
//	12      2         u16 arch: the image's ELF e_machine, 62 (EM_X86_64)
//	                  or 183 (EM_AARCH64), as payload.Arch
//	14      2         u16 build-id length, 1..MaxBuildID (64)
//	16      64        build-id, zero-padded to 64 bytes
//	80      4         u32 nsyms, number of symbol records
//	84      4         u32 strsize, bytes of the string table
//	88      24*nsyms  symbol records, sorted by name (below)
//	88+24*nsyms
//	        strsize   string table: the names, back to back, no
//	                  terminators
//	...               zero bytes up to the end of the blob
//
// A symbol record is
//
//	offset  size  field
//	0       8     u64 addr, the symbol's address (st_value)
//	8       8     u64 size, its size in bytes (st_size)
//	16      4     u32 name offset in the string table
//	20      2     u16 name length, 1..MaxName bytes
//	22      1     u8 kind: 1 a function (STT_FUNC), 2 a data object
//	              (STT_OBJECT, including size-0 region symbols)
//	23      1     zero
//
// The encoding is canonical, so Parse accepts exactly what Encode writes
// plus zero padding:
//
//   - records are sorted by name, compared as byte strings, with no name
//     twice (Image.Symbol binary-searches them without building a map);
//   - the names are stored in record order, so record i's name offset is
//     the sum of the lengths of records 0..i-1, and strsize is the sum of
//     all lengths;
//   - a name is 1..MaxName (payload.MaxSymbol) bytes of UTF-8 without
//     control characters, the rule payload symbol names follow, so every
//     name a payload can use can be stored;
//   - addr+size does not wrap around 2^64;
//   - 88 + 24*nsyms + strsize is at most the blob's length, which is at
//     most InfoSize, and every byte after it is zero.
//
// A blob that is the magic followed only by zeros is an image that was not
// post-linked (ErrNotPostLinked); any other version is refused
// (ErrVersion).
//
// # Build-id
//
// The build-id is the first 20 bytes of SHA-256 over the file bytes of
// every PT_LOAD segment (p_offset to p_offset+p_filesz) of the image's
// ELF file, in program-header order, with the InfoSize bytes of the info
// array taken as zero. Leaving the array out makes the build-id
// independent of the blob, so running `tvimage hpinfo` again on an image
// rewrites the same bytes. It covers everything the loader puts in memory
// from the file (code, read-only data, initialised data), so two images
// that differ in any of that differ in build-id.
//
// The build-id is computed on the file hpinfo is given. A post-link step
// that changes loaded bytes after hpinfo (tvimage mb2 writes the RAM
// reservation into initialised data) changes what a recomputation would
// give, so tools that build payloads (cmd/mkpatch) take the build-id from
// the blob in the final image, as `tvimage buildid IMAGE` prints it, not
// from a recomputation.
//
// # Symbols
//
// hpinfo stores the STT_FUNC entries of .symtab with a non-zero size (the
// Go linker marks every text symbol STT_FUNC), which payloads replace,
// and the STT_OBJECT entries of any size, which payload relocations refer
// to: global variables, and the linker's size-0 region symbols (type:*,
// go:string.*) whose offsets mkpatch proves unchanged. A symbol whose
// name is longer than MaxName is left out: no payload could name it. Of
// objects sharing one name (static symbols of different packages), all
// are left out: a relocation could not say which one it means.
package selfimage
