// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

func TestKeygenSign(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ci")
	var out bytes.Buffer
	if err := run([]string{"keygen", "-o", prefix}, &out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(prefix + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	pubHex, _ := os.ReadFile(prefix + ".pub")
	pub, err := hex.DecodeString(strings.TrimSpace(string(pubHex)))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("pub %q: %v", pubHex, err)
	}
	p := &payload.Payload{Name: "t", Arch: payload.ArchAMD64, BuildID: []byte("id"), Text: make([]byte, 16),
		Funcs: []payload.Func{{Name: "f", Size: 16, OldSize: 32}}}
	elf, err := payload.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "p.elf")
	os.WriteFile(in, elf, 0o644)
	if err := run([]string{"sign", "-k", prefix + ".key", "-o", in + ".signed", in}, &out); err != nil {
		t.Fatal(err)
	}
	signed, _ := os.ReadFile(in + ".signed")
	if got, err := payload.Open(signed, []ed25519.PublicKey{pub}); err != nil || got.Name != "t" {
		t.Fatalf("Open: %v %+v", err, got)
	}
	// Refusals: garbage to sign, bad key file, usage.
	os.WriteFile(in+".bad", []byte("not an elf"), 0o644)
	if err := run([]string{"sign", "-k", prefix + ".key", "-o", in + ".x", in + ".bad"}, &out); err == nil {
		t.Error("signing garbage accepted")
	}
	os.WriteFile(prefix+".badkey", []byte("zz"), 0o600)
	if err := run([]string{"sign", "-k", prefix + ".badkey", "-o", in + ".x", in}, &out); err == nil {
		t.Error("bad key accepted")
	}
	for _, a := range [][]string{nil, {"keygen"}, {"sign", "-o", "x"}, {"frob"}} {
		if err := run(a, &out); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
}
