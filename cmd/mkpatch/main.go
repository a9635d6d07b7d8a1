// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Command mkpatch makes the signing keys of tamavisor live patches and
// signs payloads:
//
//	mkpatch keygen -o PREFIX      write PREFIX.key (ed25519 seed, hex, mode 0600) and PREFIX.pub (public key, hex)
//	mkpatch sign -k PREFIX.key -o OUT ELF
//	                              append the signature trailer (hotpatch/payload) to a payload ELF
//
// The image accepts the public keys given to the Makefile's
// HOTPATCH_KEYS (by default the build's own key pair, generated under
// build/hotpatch and never committed). Building payloads from two images
// (the function differ) is not written yet: see docs/hotpatch.md.
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

var errUsage = errors.New("usage: mkpatch keygen -o PREFIX | sign -k KEY -o OUT ELF")

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	fs := flag.NewFlagSet("mkpatch "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "output")
	keyFile := fs.String("k", "", "private key file (hex seed)")
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
