// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Command mkpatch builds, and signs, tamavisor live patches (package
// hotpatch/payload), and makes their signing keys. It runs on the build
// host.
//
//	mkpatch keygen -o PREFIX      write PREFIX.key (ed25519 seed, hex, mode 0600) and PREFIX.pub (public key, hex)
//	mkpatch sign -k PREFIX.key -o OUT ELF
//	                              append the signature trailer (hotpatch/payload) to a payload ELF
//	mkpatch build -old OLD.elf -new NEW.elf -name NAME [-func F]... [-depends HEX]
//	              [-symbol INFO] [-k PREFIX.key] [-o OUT]
//	                              build the payload that turns OLD's changed functions into NEW's
//
// The image accepts the public keys given to the Makefile's
// HOTPATCH_KEYS (by default the build's own key pair, generated under
// build/hotpatch and never committed).
//
// # build
//
// OLD is the running image, post-linked by `tvimage hpinfo` (its
// build-id is read from the selfimage info array, the symbol -symbol);
// NEW is the same tree with the fix, built the same way. Both are
// statically linked Go ELF executables with a .symtab.
//
// build compares every function (STT_FUNC in .text) of NEW with OLD's of
// the same name, instruction by instruction (golang.org/x/arch x86asm in
// 64-bit mode, arm64asm), with every PC-relative reference replaced by
// what it refers to: an offset in the function itself, a function or
// named object by name and offset (a read-only object also by its
// contents, with pointers in it compared by what they point to), a type
// descriptor (type:*) by its decoded header, name, GC bitmap and struct
// fields, a string literal (go:string.*) by its bytes. The references are
// CALL/JMP/Jcc and RIP-relative operands on amd64; B, BL, B.cond,
// CBZ/CBNZ, TBZ/TBNZ, ADR, LDR (literal) and ADRP with the ADD or
// LDR/STR that completes it on arm64. Words LDR (literal) loads (the
// literal pool) and words that do not decode compare as raw bytes. A
// function that differs only because other code or data moved is
// unchanged. -func limits the payload to the named functions, each of
// which must have changed; changed functions it leaves out are listed as
// a warning.
//
// Each changed function's NEW code goes into the payload with
// relocations against the running image's symbols: R_X86_64_PC32 for
// rel32 branches and RIP-relative operands (the addend accounts for an
// immediate after the displacement); R_AARCH64_CALL26/JUMP26 for BL/B;
// R_AARCH64_ADR_PREL_PG_HI21 with ADD_ABS_LO12_NC or
// LDST{8,16,32,64,128}_ABS_LO12_NC for ADRP pairs. A call to another
// replaced function names its old entry, whose trampoline forwards.
// References inside the function need none. The payload records OLD's
// build-id and each old function's size.
//
// References into data are accepted only where OLD provably holds the
// same thing: a named global of the same size and section (a read-only
// one with the same contents); a type descriptor (type:*, found from a
// reference to its start or to a header field) identical at the same
// offset of OLD's type:*; a string literal or GC bitmap (go:string.*,
// runtime.gcbits.*) when OLD's region holds the same bytes from that
// offset to its end; a static func value (go:func.*) whose word at the
// same offset in OLD is the entry of OLD's function of the same name;
// read-only unnamed data (file-local statics the linker leaves out of
// .symtab) after the same symbol at the same offset with the same
// contents up to the next symbol; the middle of another function
// (Duff's devices) only if that function did not change.
//
// build refuses, naming the function, the instruction offset and the
// reason, everything else: a new function or global variable ("new
// function F", "new global variable X"), a global whose size or section
// changed ("global X changed size"), read-only data whose contents
// changed, a type whose descriptor differs or moved ("type T changed
// layout or moved"), changed string literal data, a jump table (a
// switch compiled to a table of absolute code addresses), unnamed
// writable data, other anonymous regions; a short (rel8) or arm64
// B.cond/CBZ/TBZ/ADR/LDR-literal reference out of the function; an ADRP
// without its pair; an absolute address in the code or literal pool; an
// instruction that cannot be decoded (x86asm, with a fallback that
// measures VEX/EVEX and 0F-map instructions from the encoding rules);
// a function whose runtime metadata hotpatch/gofunc cannot carry.
//
// The payload carries the Go runtime metadata of the new functions
// (hotpatch/gofunc, section .tvpatch.pcln), and each function's code is
// as long as that metadata covers: up to the next function, padding
// included.
//
// build prints the changed functions, their sizes and relocation counts,
// and writes the payload to OUT, signed with -k if given (without -o it
// only reports). It fails with "no functions changed" when there is
// nothing to patch.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkpatch:", err)
		os.Exit(2)
	}
}

var errUsage = errors.New("usage: mkpatch keygen -o PREFIX | sign -k KEY -o OUT ELF |\n" +
	"\tbuild -old OLD.elf -new NEW.elf -name NAME [-func F]... [-depends HEX] [-symbol INFO] [-k KEY] [-o OUT]")

// funcList is a repeatable -func flag.
type funcList []string

func (f *funcList) String() string     { return strings.Join(*f, ",") }
func (f *funcList) Set(s string) error { *f = append(*f, s); return nil }

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	fs := flag.NewFlagSet("mkpatch "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "output")
	keyFile := fs.String("k", "", "private key file (hex seed)")
	var funcs funcList
	var oldFile, newFile, name, depends, symbol *string
	if args[0] == "build" {
		oldFile = fs.String("old", "", "the running image (ELF)")
		newFile = fs.String("new", "", "the fixed image (ELF)")
		name = fs.String("name", "", "payload name")
		depends = fs.String("depends", "", "build-id (hex) of the payload this one stacks on")
		symbol = fs.String("symbol", symHPInfo, "the selfimage info array's symbol in OLD")
		fs.Var(&funcs, "func", "a function to replace (repeatable; default: every changed function)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%v\n%v", err, errUsage)
	}
	switch args[0] {
	case "keygen":
		if *out == "" || fs.NArg() != 0 {
			return errUsage
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out+".key", []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(*out+".pub", []byte(hex.EncodeToString(pub)+"\n"), 0o644); err != nil {
			return err
		}
		id := payload.KeyID(pub)
		fmt.Fprintf(stdout, "mkpatch: key %x: %s.key, %s.pub\n", id[:], *out, *out)
		return nil
	case "sign":
		if *out == "" || *keyFile == "" || fs.NArg() != 1 {
			return errUsage
		}
		key, err := ReadKey(*keyFile)
		if err != nil {
			return err
		}
		elf, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		if _, err := payload.Parse(elf); err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		return os.WriteFile(*out, payload.Sign(elf, key), 0o644)
	case "build":
		if *oldFile == "" || *newFile == "" || *name == "" || fs.NArg() != 0 || (*keyFile != "" && *out == "") {
			return errUsage
		}
		return runBuild(buildFlags{*oldFile, *newFile, *name, funcs, *depends, *symbol, *keyFile, *out}, stdout)
	}
	return errUsage
}

// ReadKey reads a private key file written by keygen.
func ReadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: not a hex ed25519 seed of %d bytes", path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// buildFlags are the command-line inputs of build.
type buildFlags struct {
	old, new, name string
	funcs          []string
	depends        string
	symbol         string
	key, out       string
}

// runBuild runs "build".
func runBuild(f buildFlags, stdout io.Writer) error {
	o := buildOptions{name: f.name, funcs: f.funcs, symbol: f.symbol}
	var err error
	if f.depends != "" {
		if o.depends, err = hex.DecodeString(f.depends); err != nil || len(o.depends) == 0 || len(o.depends) > payload.MaxBuildID {
			return fmt.Errorf("-depends %q: want 1..%d bytes of hex", f.depends, payload.MaxBuildID)
		}
	}
	var key ed25519.PrivateKey
	if f.key != "" {
		if key, err = ReadKey(f.key); err != nil {
			return err
		}
	}
	if o.old, err = os.ReadFile(f.old); err != nil {
		return err
	}
	if o.new, err = os.ReadFile(f.new); err != nil {
		return err
	}
	res, err := build(o)
	if err != nil {
		return err
	}
	res.report(stdout, f.out)
	if f.out == "" {
		return nil
	}
	elf, err := payload.Encode(res.p)
	if err != nil {
		return err
	}
	// What a payload stacking on this one passes as -depends.
	fmt.Fprintf(stdout, "  payload id %x\n", payload.ID(elf))
	if key != nil {
		elf = payload.Sign(elf, key)
	}
	return os.WriteFile(f.out, elf, 0o644)
}
