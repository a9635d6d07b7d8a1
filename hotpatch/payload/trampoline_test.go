// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestTrampolineSize(t *testing.T) {
	if TrampolineSize(ArchAMD64) != 5 || TrampolineSize(ArchARM64) != 16 || TrampolineSize(7) != 0 {
		t.Errorf("sizes %d %d %d", TrampolineSize(ArchAMD64), TrampolineSize(ArchARM64), TrampolineSize(7))
	}
	for _, a := range []Arch{ArchAMD64, ArchARM64} {
		b, err := Trampoline(a, 0x40210000, 0x40800000)
		if err != nil || len(b) != TrampolineSize(a) {
			t.Errorf("%v: %d bytes, %v", a, len(b), err)
		}
	}
}

// TestTrampolineARM64Encoding derives the two instruction words from the
// field layouts of ARM DDI 0487 C6.2 and compares them with the constants
// the spec-reading gave (0x58000050, 0xd61f0200) and with what
// Trampoline writes.
//
// LDR (literal), 64-bit variant: bits 31:30 opc = 01, 29:27 = 011,
// 26 V = 0, 25:24 = 00, 23:5 imm19, 4:0 Rt; the address is PC + imm19*4.
// For a literal 8 bytes ahead imm19 = 2, and Rt = X16:
// 01 011 0 00 | 0000000000000000010 | 10000
// = 0x58000000 | 2<<5 | 16 = 0x58000050.
//
// BR: bits 31:25 = 1101011, 24 = 0, 23 = 0, 22:21 = 00, 20:16 = 11111,
// 15:12 = 0000, 11 = 0, 10 = 0, 9:5 Rn, 4:0 = 00000; Rn = X16:
// 1101011 0 0 00 11111 0000 0 0 | 10000 | 00000
// = 0xd61f0000 | 16<<5 = 0xd61f0200.
//
// TestObjdump confirms both with binutils when it is installed.
func TestTrampolineARM64Encoding(t *testing.T) {
	ldr := uint32(0b01)<<30 | 0b011<<27 | 0<<26 | 0b00<<24 | 2<<5 | 16
	br := uint32(0b1101011)<<25 | 0b11111<<16 | 16<<5
	if ldr != 0x58000050 || br != 0xd61f0200 {
		t.Fatalf("derived ldr %#08x br %#08x", ldr, br)
	}
	got, err := Trampoline(ArchARM64, 0x40210000, 0x1234_5678_9abc)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x50, 0x00, 0x00, 0x58, // LDR X16, #8
		0x00, 0x02, 0x1f, 0xd6, // BR X16
		0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, // .quad 0x123456789abc
	}
	if !bytes.Equal(got, want) {
		t.Errorf("arm64 trampoline\n got % x\nwant % x", got, want)
	}
}

func TestTrampolineAMD64(t *testing.T) {
	for _, c := range []struct {
		from, to uint64
		want     []byte
		ok       bool
	}{
		// rel32 = to - (from+5).
		{0x10010000, 0x20000000, []byte{0xe9, 0xfb, 0xff, 0xfe, 0x0f}, true}, // 0x0ffefffb
		{0x20000000, 0x10010000, []byte{0xe9, 0xfb, 0xff, 0x00, 0xf0}, true}, // -0x0fff0005
		{0x1000, 0x1005, []byte{0xe9, 0, 0, 0, 0}, true},
		{0x1000, 0x1000, []byte{0xe9, 0xfb, 0xff, 0xff, 0xff}, true}, // -5: a jump to itself
		{0x1000, 0x1005 + 0x7fffffff, []byte{0xe9, 0xff, 0xff, 0xff, 0x7f}, true},
		{0x1000, 0x1005 + 0x80000000, nil, false},
		{0x80001000, 0x1005, []byte{0xe9, 0x00, 0x00, 0x00, 0x80}, true}, // -2^31
		{0x80001001, 0x1005, nil, false},
		{0xffffffff80001000, 0xffffffff80200000, []byte{0xe9, 0xfb, 0xef, 0x1f, 0x00}, true},
	} {
		got, err := Trampoline(ArchAMD64, c.from, c.to)
		if (err == nil) != c.ok || !bytes.Equal(got, c.want) {
			t.Errorf("from %#x to %#x: % x, %v; want % x ok=%v", c.from, c.to, got, err, c.want, c.ok)
		}
		if err != nil {
			wantErr(t, err, "JMP rel32 from", ErrRange)
		}
	}
}

func TestTrampolineRefused(t *testing.T) {
	_, err := Trampoline(ArchARM64, 0x40210004, 0x40800000)
	wantErr(t, err, "arm64 trampoline from 0x40210004 (want 8-byte aligned)", ErrRange)
	_, err = Trampoline(ArchARM64, 0x40210000, 0x40800002)
	wantErr(t, err, "to 0x40800002 (want 4-byte aligned)", ErrRange)
	_, err = Trampoline(3, 0, 0)
	wantErr(t, err, "no trampoline for Arch(3)", ErrArch)
}

// disassemble runs binutils' objdump over code placed at vma for the
// BFD machine mach (aarch64 or i386:x86-64) and returns the mnemonic and
// operands of each instruction. It skips the test when no objdump on the
// PATH can disassemble mach (a Debian host objdump has no aarch64; the
// binutils-aarch64-linux-gnu package provides one).
func disassemble(t *testing.T, mach string, vma uint64, code []byte) []string {
	t.Helper()
	cands := []string{"objdump", "x86_64-linux-gnu-objdump"}
	if mach == "aarch64" {
		cands = []string{"objdump", "aarch64-linux-gnu-objdump"}
	}
	bin := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(bin, code, 0o644); err != nil {
		t.Fatal(err)
	}
	insn := regexp.MustCompile(`^\s*[0-9a-f]+:\s+(?:[0-9a-f]{8}|(?:[0-9a-f]{2} )+)\s+(.+)$`)
	space := regexp.MustCompile(`\s+`)
	for _, c := range cands {
		path, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-D", "-b", "binary", "-m", mach,
			fmt.Sprintf("--adjust-vma=%#x", vma), bin).CombinedOutput()
		if err != nil {
			t.Logf("%s cannot disassemble %s: %v", c, mach, err)
			continue
		}
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			if m := insn.FindStringSubmatch(l); m != nil {
				got = append(got, space.ReplaceAllString(strings.TrimSpace(m[1]), " "))
			}
		}
		return got
	}
	t.Skipf("no objdump (binutils) that disassembles %s", mach)
	return nil
}

// TestObjdumpTrampoline disassembles both trampolines.
func TestObjdumpTrampoline(t *testing.T) {
	t.Run("arm64", func(t *testing.T) {
		b, err := Trampoline(ArchARM64, 0x40210000, 0x1234_5678_9abc)
		if err != nil {
			t.Fatal(err)
		}
		got := disassemble(t, "aarch64", 0x40210000, b)
		if len(got) < 2 || got[0] != "ldr x16, 0x40210008" || got[1] != "br x16" {
			t.Errorf("arm64 trampoline disassembles as %q", got)
		}
	})
	t.Run("amd64", func(t *testing.T) {
		b, err := Trampoline(ArchAMD64, 0x10010000, 0x20000000)
		if err != nil {
			t.Fatal(err)
		}
		got := disassemble(t, "i386:x86-64", 0x10010000, b)
		if len(got) != 1 || got[0] != "jmp 0x20000000" {
			t.Errorf("amd64 trampoline disassembles as %q", got)
		}
	})
}

// TestObjdumpLinked disassembles the linked test texts and checks that
// every relocated instruction reaches the symbol the fake image gives.
func TestObjdumpLinked(t *testing.T) {
	t.Run("arm64", func(t *testing.T) {
		code, err := arm64Payload().Link(arm64Image(), arm64Text)
		if err != nil {
			t.Fatal(err)
		}
		got := disassemble(t, "aarch64", arm64Text, code[:0x18])
		want := []string{
			"adrp x0, 0x40b12000", // Page(hv.counters)
			"add x0, x0, #0x348",  // hv.counters & 0xfff
			"ldr x1, [x0, #2744]", // (hv.table+8) & 0xfff = 0xab8
			"bl 0x40300000",       // hv.log
			"b 0x40900020",        // hv.exit
			"ret",
		}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("linked arm64 code\n got %q\nwant %q", got, want)
		}
		if v := binary.LittleEndian.Uint64(code[0x18:]); v != 0x40b12358 {
			t.Errorf("ABS64 %#x", v)
		}
	})
	t.Run("amd64", func(t *testing.T) {
		code, err := amd64Payload().Link(amd64Image(), amd64Text)
		if err != nil {
			t.Fatal(err)
		}
		got := disassemble(t, "i386:x86-64", amd64Text, code)
		want := []string{"call 0x10020000", "movabs $0x10500018,%rax", "ret", "jmp 0x10030000", "ret"}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("linked amd64 code\n got %q\nwant %q", got, want)
		}
	})
}

// TestObjdumpReadsPayload lets binutils read an encoded payload as the
// ELF relocatable it claims to be.
func TestObjdumpReadsPayload(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump (binutils) not installed")
	}
	f := filepath.Join(t.TempDir(), "p.o")
	if err := os.WriteFile(f, mustEncode(t, amd64Payload()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-h", f).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -h: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "file format elf64-x86-64") {
		t.Errorf("objdump -h:\n%s", s)
	}
	for _, name := range []string{SectionText, SectionFuncs, SectionRelocs, SectionBuildID, SectionDepends, SectionName, SectionStrtab} {
		if !strings.Contains(s, name) {
			t.Errorf("objdump -h does not list %s:\n%s", name, s)
		}
	}
	if !regexp.MustCompile(`\.tvpatch\.text\s+00000016\s.*2\*\*4\s+CONTENTS, ALLOC, LOAD, READONLY, CODE`).MatchString(s) {
		t.Errorf("text section not CODE, 0x16 bytes, 16-aligned:\n%s", s)
	}
}
