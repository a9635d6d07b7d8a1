// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTrampolineDisassembly disassembles each piece of the trampoline in
// its CPU mode with binutils' objdump and checks every instruction and
// patched address, for a page at 0x8000.
func TestTrampolineDisassembly(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump (binutils) not installed")
	}
	b, err := BuildTrampoline(0x8000, 0x1234000, 0x901|eferLMA, 0xffff8000, 0x5555)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "tramp.bin")
	if err := os.WriteFile(bin, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pieces := []struct {
		mach       string
		start, end int
		want       []string
	}{
		{"i8086", 0, 0x1e, []string{"cli", "cld", "mov %cs,%ax", "mov %ax,%ds", "lgdtl 0xa0",
			"mov %cr0,%eax", "or $0x1,%eax", "mov %eax,%cr0", "ljmpl $0x8,$0x8020"}},
		{"i386", 0x20, 0x60, []string{"mov $0x10,%eax", "mov %eax,%ds", "mov %eax,%es", "mov %eax,%ss",
			"mov %cr4,%eax", "or $0x20,%eax", "mov %eax,%cr4", "mov 0x80c0,%eax", "mov %eax,%cr3",
			"mov $0xc0000080,%ecx", "mov 0x80c8,%eax", "mov 0x80cc,%edx", "wrmsr",
			"mov %cr0,%eax", "or $0x80000001,%eax", "mov %eax,%cr0", "ljmp $0x18,$0x8060"}},
		{"i386:x86-64", 0x60, 0x72, []string{"mov 0x80d0,%rax", "mov 0x80d8,%rdi", "jmp *%rax"}},
	}
	insn := regexp.MustCompile(`^\s*[0-9a-f]+:\s+(?:[0-9a-f]{2} )+\s*(.+)$`)
	space := regexp.MustCompile(`\s+`)
	for _, p := range pieces {
		out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", p.mach,
			"--start-address="+itoa(p.start), "--stop-address="+itoa(p.end), bin).Output()
		if err != nil {
			t.Fatalf("objdump %s: %v", p.mach, err)
		}
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			if m := insn.FindStringSubmatch(l); m != nil {
				got = append(got, space.ReplaceAllString(strings.TrimSpace(m[1]), " "))
			}
		}
		if strings.Join(got, "; ") != strings.Join(p.want, "; ") {
			t.Errorf("%s code:\n got  %q\n want %q", p.mach, got, p.want)
		}
	}
	le := binary.LittleEndian
	if g := le.Uint64(b[trampEFER:]); g != 0x901 {
		t.Errorf("EFER word %#x, want LMA dropped: 0x901", g)
	}
	if le.Uint64(b[trampCR3:]) != 0x1234000 || le.Uint64(b[trampEntry:]) != 0xffff8000 || le.Uint64(b[trampArg:]) != 0x5555 {
		t.Errorf("data words: % x", b[trampCR3:])
	}
	if lim, base := le.Uint16(b[trampGDTR:]), le.Uint32(b[trampGDTR+2:]); lim != 31 || base != 0x8080 {
		t.Errorf("GDTR limit %d base %#x, want 31, 0x8080", lim, base)
	}
	SetTrampolineArg(b, 7)
	if le.Uint64(b[trampArg:]) != 7 {
		t.Error("SetTrampolineArg did not rewrite the arg word")
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(digits[n%10]) + s
	}
	return s
}

func TestBuildTrampolineRefuses(t *testing.T) {
	for _, page := range []uint64{0, 0x8001, 0xff000 + 4096, 1 << 20} {
		if _, err := BuildTrampoline(page, 0x1000, 0, 0, 0); err == nil {
			t.Errorf("page %#x accepted", page)
		}
	}
	if _, err := BuildTrampoline(0x8000, 1<<32, 0, 0, 0); err == nil {
		t.Error("page tables above 4 GiB accepted")
	}
	if _, err := BuildTrampoline(0xff000, 0x1000, 0, 0, 0); err != nil {
		t.Errorf("last page below 1 MiB refused: %v", err)
	}
}

func TestChooseTrampolinePage(t *testing.T) {
	ram := []Range{{0, 0x9fc00}, {0x100000, 0x7ff00000}}
	cases := []struct {
		name     string
		ram      []Range
		reserved []Range
		want     uint64
		ok       bool
	}{
		{"first free page", ram, nil, 0x1000, true},
		{"skips reserved", ram, []Range{{0x1000, 0x2000}, {0x3800, 1}}, 0x4000, true},
		{"partial last page excluded", []Range{{0x9e800, 0x1400}}, nil, 0, false},
		{"no low RAM", []Range{{0x100000, 1 << 30}}, nil, 0, false},
		{"all reserved", ram, []Range{{0, 0x100000}}, 0, false},
		{"wrapping range ignored", []Range{{0x2000, ^uint64(0)}}, nil, 0, false},
	}
	for _, c := range cases {
		got, err := ChooseTrampolinePage(c.ram, c.reserved)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: got %#x, %v; want %#x ok=%v", c.name, got, err, c.want, c.ok)
		}
	}
}
