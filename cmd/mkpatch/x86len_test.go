// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// TestX86LengthObjdump checks x86Length, the fallback for what x86asm
// does not decode (VEX, EVEX, VMX, SHA), against GNU objdump's
// instruction boundaries in every function of the amd64 image that needs
// it. crypto/internal/boring/sig's markers are data, not code.
func TestX86LengthObjdump(t *testing.T) {
	path := "../../build/qemu-q35-amd64/tamavisor.elf.link"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no image: %v", err)
	}
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("no objdump")
	}
	im, err := openImage("X", b)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\s+([0-9a-f]+):\t`)
	bad, total, fns := 0, 0, 0
	for name, s := range im.funcs {
		f, _ := im.decode(s)
		// our starts
		ours := map[uint64]bool{}
		uses := false
		stop := uint64(len(f.code))
		for off := 0; off < len(f.code); {
			in, err := x86asm.Decode(f.code[off:], 64)
			if isVEX(f.code[off:]) || err != nil || in.Len == 0 {
				n, _, ok := x86Length(f.code[off:])
				if !ok {
					stop = uint64(off)
					break
				}
				uses = true
				ours[s.addr+uint64(off)] = true
				off += n
				continue
			}
			ours[s.addr+uint64(off)] = true
			off += in.Len
		}
		if !uses {
			continue
		}
		fns++
		out, err := exec.Command("objdump", "-d", "--no-show-raw-insn", fmt.Sprintf("--start-address=%#x", s.addr), fmt.Sprintf("--stop-address=%#x", s.end()), path).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(out, []byte("\n")) {
			m := re.FindSubmatch(l)
			if m == nil {
				continue
			}
			a, _ := strconv.ParseUint(string(m[1]), 16, 64)
			total++
			if a-s.addr >= stop {
				break
			}
			if !ours[a] && !strings.Contains(name, "boring/sig.") {
				bad++
				if bad < 10 {
					t.Errorf("%s: objdump insn at %#x (+%#x) not ours: %s", name, a, a-s.addr, l)
				}
				break
			}
		}
	}
	t.Logf("%d functions use the fallback; %d instructions compared", fns, total)
}
