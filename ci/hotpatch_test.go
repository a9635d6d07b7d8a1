// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package ci_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"debug/elf"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/ci/qemu"
	"github.com/tamavisor/tamavisor/hotpatch/payload"
	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
)

// imageInfo reads the build-id and symbol table tvimage hpinfo wrote
// into an image file.
func imageInfo(t *testing.T, path string) *selfimage.Image {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name != "github.com/tamavisor/tamavisor/hotpatch/selfimage.info" {
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && s.Value >= p.Vaddr && s.Value+s.Size <= p.Vaddr+p.Filesz {
				off := p.Off + s.Value - p.Vaddr
				img, err := selfimage.Parse(raw[off : off+s.Size])
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				return img
			}
		}
	}
	t.Fatalf("%s: no selfimage.info in a loaded segment", path)
	return nil
}

// signingKey is the build's own key (make image creates it).
func signingKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "build", "hotpatch", "ci.key"))
	if err != nil {
		t.Fatalf("%v: make image creates the build's key pair", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("ci.key: %v", err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// testPayload replaces fn (old size oldSize) with a function that
// returns at once: RET on amd64 (with a CALL to helper first, to carry
// a PC32 relocation), MOV X0,#1; RET on arm64.
func testPayload(t *testing.T, arch payload.Arch, id []byte, name, fn string, oldSize uint64, helper string) []byte {
	t.Helper()
	p := &payload.Payload{Name: name, Arch: arch, BuildID: id}
	switch arch {
	case payload.ArchAMD64:
		p.Text = []byte{0xe8, 0, 0, 0, 0, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc} // CALL rel32; RET
		p.Relocs = []payload.Reloc{{Offset: 1, Kind: payload.R_X86_64_PC32, Symbol: helper, Addend: -4}}
	default:
		p.Text = binary.LittleEndian.AppendUint32(nil, 0xd2800020)    // MOV X0, #1
		p.Text = binary.LittleEndian.AppendUint32(p.Text, 0xd65f03c0) // RET
	}
	p.Funcs = []payload.Func{{Name: fn, Size: uint32(len(p.Text)), OldSize: oldSize}}
	b, err := payload.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload sends raw as name through the shell's upload protocol and
// returns the line that answers it (a status or an error).
func (s *session) upload(name string, raw []byte) string {
	s.t.Helper()
	sum := sha256.Sum256(raw)
	s.send(fmt.Sprintf("patch upload %s %d %x", name, len(raw), sum))
	if m, err := s.m.ExpectLine(`^(patch upload: send .*|error: .*)$`, cmdTimeout); err != nil {
		s.t.Fatal(err)
	} else if strings.HasPrefix(m[0], "error:") {
		s.prompt()
		return m[0]
	}
	for i := 0; i < len(raw); i += 180 {
		s.send(base64.StdEncoding.EncodeToString(raw[i:min(i+180, len(raw))]))
	}
	got := s.line(`^(`+regexp.QuoteMeta(name)+`: .*|error: .*)$`, cmdTimeout)[0]
	s.prompt()
	return got
}

// act runs "patch VERB NAME --wait" and returns the answer line.
func (s *session) act(verb, name string) string {
	s.t.Helper()
	s.send("patch " + verb + " " + name + " --wait")
	got := s.line(`^(`+regexp.QuoteMeta(name)+`: .*|error: .*)$`, cmdTimeout)[0]
	s.prompt()
	return got
}

// smallFunc returns a function of the image at path, known to the
// running image's symbol table, that is smaller than n bytes (a Go
// function, not a linker marker such as go:textfipsstart), and its
// size ("" if there is none).
func smallFunc(t *testing.T, path string, img *selfimage.Image, n int) (string, uint64) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || s.Size >= uint64(n) || strings.HasPrefix(s.Name, "go:") {
			continue
		}
		if _, size, ok := img.Symbol(s.Name); ok && size == s.Size && img.IsFunc(s.Name) {
			return s.Name, s.Size
		}
	}
	return "", 0
}

// TestHotpatchControl boots each tier-1 board and drives live patching's
// control plane on the target through the shell: signed payloads are
// uploaded over the console, CHECKed against the running image's
// build-id and symbol table (written by tvimage hpinfo), and refused
// with the errno the issue asks for, with nothing stored or changed.
// These hand-made payloads carry no Go runtime metadata, so CHECK
// refuses even the well-formed one (EINVAL): code the runtime cannot
// unwind is never applied. TestHotpatchApply applies real payloads.
func TestHotpatchControl(t *testing.T) {
	for _, c := range []struct {
		board, fn, helper string
		arch              payload.Arch
	}{
		{qemu.Q35AMD64, "github.com/tamavisor/tamavisor/hotpatch.CheckName", "github.com/tamavisor/tamavisor/hotpatch.(*Manager).Get", payload.ArchAMD64},
		{qemu.VirtARM64, "github.com/tamavisor/tamavisor/hotpatch.CheckName", "", payload.ArchARM64},
	} {
		t.Run(c.board, func(t *testing.T) {
			path := filepath.Join("..", "build", c.board, "tamavisor.elf")
			if _, err := os.Stat(path); err != nil {
				if os.Getenv("TAMAVISOR_REQUIRE_IMAGES") == "1" {
					t.Fatalf("%v (make image BOARD=%s)", err, c.board)
				}
				t.Skipf("SKIP: %v", err)
			}
			img := imageInfo(t, path)
			key := signingKey(t)
			id := img.BuildID()
			_, size, ok := img.Symbol(c.fn)
			if !ok {
				t.Fatalf("%s not in the image's symbol table", c.fn)
			}
			if _, _, ok := img.Symbol(c.helper); c.helper != "" && !ok {
				t.Fatalf("%s not in the image's symbol table", c.helper)
			}
			sign := func(b []byte) []byte { return payload.Sign(b, key) }

			m := qemu.Boot(t, c.board, qemu.Options{Limit: 5 * time.Minute})
			s := &session{t: t, m: m}
			s.line(`^board: `, bootTimeout)
			got := s.line(`^tamavisor: hotpatch: build-id ([0-9a-f]+), (\d+) symbols, 1 keys, code arena 0x[0-9a-f]+\+0x[0-9a-f]+`, bootTimeout)
			if got[1] != hex.EncodeToString(id) || got[2] != fmt.Sprint(img.Len()) {
				t.Errorf("image reports build-id %s, %s symbols; the file holds %x, %d", got[1], got[2], id, img.Len())
			}
			s.prompt()

			good := sign(testPayload(t, c.arch, id, "fix-1", c.fn, size, c.helper))
			// Refused at upload: nothing stored.
			bad := append([]byte(nil), good...)
			bad[len(bad)/3] ^= 0x40
			for _, r := range []struct{ name, want string }{
				{"badsig", "EPERM"},
				{strings.Repeat("n", 129), "ENAMETOOLONG"},
			} {
				raw := bad
				if r.name != "badsig" {
					raw = good
				}
				if ans := s.upload(r.name, raw); !strings.Contains(ans, r.want) {
					t.Errorf("upload %.20s: %q, want %s", r.name, ans, r.want)
				}
			}
			if ans := s.upload("garbage", sign([]byte("\x7fELF\x02\x01\x01 truncated"))); !strings.Contains(ans, "ENOEXEC") {
				t.Errorf("garbage ELF: %q", ans)
			}

			// The well-formed payload: LOADED; CHECK refuses it for want
			// of runtime metadata, and APPLY needs CHECKED.
			if ans := s.upload("fix-1", good); ans != "fix-1: LOADED rc=OK" {
				t.Errorf("upload fix-1: %q", ans)
			}
			if ans := s.upload("fix-1", good); !strings.Contains(ans, "EEXIST") {
				t.Errorf("duplicate upload: %q", ans)
			}
			if ans := s.act("check", "fix-1"); !strings.HasPrefix(ans, "fix-1: LOADED rc=EINVAL") || !strings.Contains(ans, "runtime metadata") {
				t.Errorf("check fix-1: %q, want LOADED rc=EINVAL for the missing runtime metadata", ans)
			}
			if ans := s.act("apply", "fix-1"); !strings.Contains(ans, "EINVAL") {
				t.Errorf("apply fix-1 while LOADED: %q", ans)
			}

			// Refused at CHECK: the payload stays LOADED with the errno.
			type refusal struct {
				name string
				raw  []byte
				want string
				msg  string // in the answer, if set
			}
			refusals := []refusal{
				{"other-build", testPayload(t, c.arch, []byte("not this image's id"), "other-build", c.fn, size, c.helper), "ENOEXEC", "build-id"},
				{"unknown-sym", testPayload(t, c.arch, id, "unknown-sym", "hv.noSuchFunction", 64, c.helper), "ENOENT", "hv.noSuchFunction"},
				{"wrong-size", testPayload(t, c.arch, id, "wrong-size", c.fn, size+16, c.helper), "EINVAL", "size"},
			}
			// An old function smaller than the trampoline (amd64: the
			// 5-byte JMP rel32; every arm64 function holds a 4-byte B).
			if tiny, tsize := smallFunc(t, path, img, payload.TrampolineSize(c.arch)); tiny != "" {
				refusals = append(refusals, refusal{"too-small", testPayload(t, c.arch, id, "too-small", tiny, tsize, c.helper), "EINVAL", "too small for the trampoline"})
			} else if c.arch == payload.ArchAMD64 {
				t.Errorf("no function smaller than the amd64 trampoline in %s", path)
			}
			for _, r := range refusals {
				if ans := s.upload(r.name, sign(r.raw)); ans != r.name+": LOADED rc=OK" {
					t.Errorf("upload %s: %q", r.name, ans)
					continue
				}
				if ans := s.act("check", r.name); !strings.HasPrefix(ans, r.name+": LOADED rc="+r.want) || !strings.Contains(ans, r.msg) {
					t.Errorf("check %s: %q, want LOADED rc=%s", r.name, ans, r.want)
				}
				if ans := s.act("unload", r.name); ans != r.name+": unloaded" {
					t.Errorf("unload %s: %q", r.name, ans)
				}
			}
			s.send("patch --json list")
			js := s.line(`^\{"version":.*\}$`, cmdTimeout)[0]
			s.prompt()
			if !strings.Contains(js, `"patches":[{"name":"fix-1","state":"LOADED"`) || !strings.Contains(js, `"remaining":0`) {
				t.Errorf("patch list: %s", js)
			}
			if ans := s.act("unload", "fix-1"); ans != "fix-1: unloaded" {
				t.Errorf("unload fix-1: %q", ans)
			}
		})
	}
}
