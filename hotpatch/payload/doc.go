// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

// Package payload defines tamavisor's hot-patch payload: a signed file that
// carries new machine code for some functions of the running hypervisor
// image. Applying it (package hotpatch, not this one) copies the new code
// into hypervisor memory and writes a branch, the trampoline, at the entry
// of each old function. The idea follows Xen's livepatch payloads; the file
// format is tamavisor's own and is defined below.
//
// This package owns the bytes and the decisions that can be made without
// touching the machine:
//
//   - Encode, Parse: the payload file, an ELF64 relocatable object.
//   - Sign, Open, Verify: the appended Ed25519 signature trailer. Open
//     authenticates (Verify) before it parses (Parse), so unauthenticated
//     bytes are never read beyond the trailer.
//   - Check: the CHECK step of a live patch: does this payload apply to
//     this image (architecture, build-id, every symbol, every old function
//     size, every relocation and trampoline in range, nothing already
//     patched)?
//   - Link: the payload's code with its relocations resolved for the
//     address it will run at.
//   - Trampoline: the branch written at an old function's entry.
//
// It is plain portable Go (standard library only, no unsafe, no assembly,
// no build tags). It runs inside the hypervisor on every TamaGo target
// (GOOS=tamago, arm64 and amd64), where payloads are opened, checked and
// linked, and on the build host, where tools encode and sign them. Payload
// files are untrusted input: Parse never panics, bounds-checks every
// offset and size, and caps every count; FuzzParse and FuzzOpen hold it to
// that. The ELF reader is a small strict one written for this format, not
// debug/elf, whose allocations are sized by header fields before they are
// checked.
//
// Errors wrap one of the Err* sentinels, one per refusal class, with the
// section, offset, symbol or value that caused the refusal in the message.
//
// # File format
//
// A signed payload is
//
//	signed = elf || signature || keyid || length || magic
//
//	elf        the ELF file below, len(elf) bytes
//	signature  64 bytes: Ed25519 (RFC 8032, pure Ed25519, no context)
//	           signature of exactly the elf bytes
//	keyid      8 bytes: SHA-256(public key)[0:8], the raw 32-byte key
//	length     4 bytes: len(elf), unsigned little-endian
//	magic      28 bytes: the ASCII string "~tamavisor patch signature~\n"
//
// so the trailer is TrailerSize = 104 bytes and is found by reading the
// end of the file, as Linux finds an appended module signature. The key id
// only selects which trusted key to try; the signature itself decides. The
// signing key must be used for nothing but payloads, since the signature
// covers the raw ELF bytes with no domain-separation prefix.
//
// The elf part is an ELF-64 object (ELF-64 Object File Format 1.5; System
// V ABI generic part, chapter 4 "Object Files"): ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE,
// e_type ET_REL, e_machine EM_X86_64 (62) or EM_AARCH64 (183), e_flags 0,
// no program headers, e_entry 0. It has exactly these sections after the
// null section 0, each at most once, in any order; any other section makes
// the file invalid, so a payload that needs a later format feature is
// refused by a hypervisor that would ignore it. All integers are
// little-endian; every section has sh_addr, sh_link and sh_info 0.
//
//	.tvpatch.text     SHT_PROGBITS, SHF_ALLOC|SHF_EXECINSTR. The new code
//	                  of all replacement functions, concatenated; each
//	                  function starts at a multiple of TextAlign (16)
//	                  bytes. 1..MaxText bytes. Required.
//
//	.tvpatch.funcs    SHT_PROGBITS, sh_entsize 24. One record per replaced
//	                  function, 1..MaxFuncs records (funcRecord):
//	                    0  u32 name      offset of the old function's
//	                                     symbol name in .strtab
//	                    4  u32 offset    start of the new code in
//	                                     .tvpatch.text, multiple of 16
//	                    8  u32 size      bytes of new code, > 0
//	                   12  u32 reserved  zero
//	                   16  u64 old_size  st_size the old function must
//	                                     have in the running image
//	                  Required. Names are unique; new code ranges lie in
//	                  the text and do not overlap.
//
//	.tvpatch.relocs   SHT_PROGBITS, sh_entsize 24. 0..MaxRelocs records
//	                  (relocRecord):
//	                    0  u32 offset    offset in .tvpatch.text of the
//	                                     field to patch (P)
//	                    4  u32 kind      ELF relocation type (RelocKind)
//	                    8  u32 symbol    offset of the symbol name in
//	                                     .strtab (S)
//	                   12  u32 reserved  zero
//	                   16  i64 addend    A
//	                  Optional (absent means no relocations). Each field
//	                  lies inside one function's new code, fields do not
//	                  overlap, and the kind belongs to e_machine.
//
//	.tvpatch.buildid  SHT_PROGBITS. The build-id of the hypervisor image
//	                  the payload applies to, 1..MaxBuildID (64) bytes.
//	                  Required.
//
//	.tvpatch.depends  SHT_PROGBITS. The build-id of the payload this one is
//	                  stacked on, 1..MaxBuildID bytes. Optional.
//
//	.tvpatch.name     SHT_PROGBITS. The payload's name, 1..MaxName (128)
//	                  bytes of UTF-8 with no control characters (so no
//	                  NUL), without a terminator. Required.
//
//	.tvpatch.pcln     SHT_PROGBITS, sh_addralign 8. The Go runtime
//	                  metadata of the new code (every function's pc-value
//	                  tables, stack maps, inline trees ...), 1..MaxPCLN
//	                  (1 MiB) bytes. Optional (absent means none). This
//	                  package carries it as opaque bytes
//	                  (Payload.PCLN); its encoding is package
//	                  hotpatch/gofunc's, which decodes it and builds the
//	                  runtime module that makes the new code known to the
//	                  Go runtime.
//
//	.strtab           SHT_STRTAB. Symbol names: a NUL byte first, NUL-
//	                  terminated strings, NUL last (gABI "String Table").
//	                  Each name is 1..MaxSymbol bytes of UTF-8 without
//	                  control characters. Required.
//
//	.shstrtab         SHT_STRTAB, the section named by e_shstrndx. Section
//	                  names, same rules. Required.
//
// Section contents lie inside the file, start at a multiple of their
// sh_addralign (0 or a power of two) and overlap neither each other, the
// ELF header nor the section header table. The whole ELF is at most
// MaxFile bytes.
//
// # Relocations
//
// Each relocation patches the field at P = textAddr + offset with a value
// computed from S, the address of the named symbol in the running image,
// and A, the addend, as the psABI of the architecture defines it (System V
// AMD64 psABI 4.4.1 "Relocation Types"; ELF for the Arm 64-bit
// Architecture (AAELF64), "Relocation", "Static AArch64 relocations"); see
// RelocKind for the supported kinds and their range checks. Symbols resolve in the running image only: the
// payload's own functions call each other with PC-relative code fixed
// when the payload was built (their distances inside .tvpatch.text do not
// change), and naming a replaced function resolves to its old entry,
// whose trampoline forwards to the newest code.
//
// arm64 also supports R_AARCH64_LDST8/16/32/64/128_ABS_LO12_NC (278, 284,
// 285, 286, 299): the imm12 of a load/store register (unsigned immediate)
// of 1, 2, 4, 8 or 16 bytes is ((S + A) & 0xfff) >> log2(size). Parse
// checks the instruction's size field (LDST8: general registers only;
// LDST128: the SIMD&FP Q form), and Link refuses S + A that is not a
// multiple of the access size.
//
// # Trampolines
//
// amd64 writes JMP rel32 (5 bytes), so the new code must lie within
// ±2 GiB of every old function. arm64 writes LDR X16, #8; BR X16; .quad
// target (16 bytes), which reaches any address: payload memory may be
// allocated farther than the ±128 MiB a B instruction reaches. See
// Trampoline.
package payload
