// cmd/tvimage: post-link tool that makes bootable tamavisor images.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
)

// selfProg reports what selfimage.Self sees in its own binary.
const selfProg = `package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"

	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
)

//go:noinline
func target(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i
	}
	return s
}

func main() {
	img, err := selfimage.Self()
	if errors.Is(err, selfimage.ErrNotPostLinked) {
		fmt.Println("not-post-linked")
		return
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("build-id %x\n", img.BuildID())
	fmt.Printf("arch %d\n", img.Arch())
	for _, name := range []string{"main.main", "main.target"} {
		addr, size, ok := img.Symbol(name)
		fmt.Printf("symbol %s %d %d %v\n", name, addr, size, ok)
	}
	pc := reflect.ValueOf(target).Pointer()
	name, off, ok := img.SymbolAt(uint64(pc))
	fmt.Printf("pc %d %s %d %v %d\n", pc, name, off, ok, target(3))
}
`

// buildSelfProg builds selfProg against this repository in a temporary
// module and returns the binary's path.
func buildSelfProg(t *testing.T, ldflags string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("the test runs a linux amd64/arm64 binary, host is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module selfprog\n\ngo 1.25\n\nrequire github.com/tamavisor/tamavisor v0.0.0\n\nreplace github.com/tamavisor/tamavisor => " + root + "\n"
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(selfProg)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "selfprog")
	cmd := exec.Command(goBin, "build", "-ldflags="+ldflags, "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runProg(t *testing.T, bin string) map[string][]string {
	t.Helper()
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		key := f[0]
		if key == "symbol" {
			key, f = f[1], f[1:]
		}
		lines[key] = f[1:]
	}
	return lines
}

// infoRange finds the info array in the ELF at path, independently of
// openImage: through the section that holds it.
func infoRange(t *testing.T, path string) (off uint64, syms []elf.Symbol, f *elf.File) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	syms, err = f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name != symHPInfo {
			continue
		}
		sec := f.Sections[s.Section]
		if sec.Name != ".noptrdata" || sec.Type != elf.SHT_PROGBITS || s.Size != selfimage.InfoSize {
			t.Fatalf("info in %s (%v), %d bytes", sec.Name, sec.Type, s.Size)
		}
		return sec.Offset + (s.Value - sec.Addr), syms, f
	}
	t.Fatalf("%s has no %s", path, symHPInfo)
	return 0, nil, nil
}

func symbolNamed(syms []elf.Symbol, name string) elf.Symbol {
	for _, s := range syms {
		if s.Name == name {
			return s
		}
	}
	return elf.Symbol{}
}

var hpinfoLine = regexp.MustCompile(`^hpinfo: build-id ([0-9a-f]{40}), (\d+) functions, \d+ objects, (\d+) of 524288 bytes\n$`)

func TestHPInfoEndToEnd(t *testing.T) {
	bin := buildSelfProg(t, "")
	orig, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	off, syms, f := infoRange(t, bin)

	// Before post-linking.
	if got := runProg(t, bin); got["not-post-linked"] == nil {
		t.Fatalf("before hpinfo the program says %v", got)
	}
	var out bytes.Buffer
	if err := run([]string{"buildid", bin}, &out); !errors.Is(err, selfimage.ErrNotPostLinked) {
		t.Errorf("buildid before hpinfo: %v", err)
	}

	out.Reset()
	if err := run([]string{"hpinfo", bin}, &out); err != nil {
		t.Fatal(err)
	}
	m := hpinfoLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("hpinfo printed %q", out.String())
	}
	id, nfuncs, used := m[1], m[2], m[3]
	first, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	// Only the array changed.
	if len(first) != len(orig) || !bytes.Equal(first[:off], orig[:off]) || !bytes.Equal(first[off+selfimage.InfoSize:], orig[off+selfimage.InfoSize:]) {
		t.Error("hpinfo changed bytes outside the info array")
	}
	// The build-id as doc.go defines it, recomputed here.
	zeroed := bytes.Clone(orig)
	clear(zeroed[off : off+selfimage.InfoSize])
	h := sha256.New()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			h.Write(zeroed[p.Off : p.Off+p.Filesz])
		}
	}
	if want := hex.EncodeToString(h.Sum(nil)[:20]); id != want {
		t.Errorf("build-id %s, recomputed %s", id, want)
	}
	// The printed size is the blob's: the array parses cut there, not
	// one byte shorter.
	n, _ := strconv.Atoi(used)
	arr := first[off : off+selfimage.InfoSize]
	if _, err := selfimage.Parse(arr[:n]); err != nil {
		t.Errorf("blob cut at the printed %d bytes: %v", n, err)
	}
	if _, err := selfimage.Parse(arr[:n-1]); err == nil {
		t.Errorf("blob cut at %d bytes parses", n-1)
	}
	_, wantFuncs, _, _ := imageSymbols(syms)
	if nfuncs != strconv.Itoa(wantFuncs) {
		t.Errorf("%s functions, .symtab has %d", nfuncs, wantFuncs)
	}

	// What the program sees of itself.
	got := runProg(t, bin)
	if got["build-id"] == nil || got["build-id"][0] != id {
		t.Errorf("program's build-id %v, hpinfo printed %s", got["build-id"], id)
	}
	if want := strconv.Itoa(int(f.Machine)); got["arch"] == nil || got["arch"][0] != want {
		t.Errorf("program's arch %v, e_machine %s", got["arch"], want)
	}
	for _, name := range []string{"main.main", "main.target"} {
		s := symbolNamed(syms, name)
		want := []string{strconv.FormatUint(s.Value, 10), strconv.FormatUint(s.Size, 10), "true"}
		if s.Size == 0 || strings.Join(got[name], " ") != strings.Join(want, " ") {
			t.Errorf("program's %s: %v, .symtab %v", name, got[name], want)
		}
	}
	// The function's run-time entry is the symbol's address.
	if pc := got["pc"]; len(pc) != 5 || pc[0] != strconv.FormatUint(symbolNamed(syms, "main.target").Value, 10) ||
		pc[1] != "main.target" || pc[2] != "0" || pc[3] != "true" {
		t.Errorf("program's SymbolAt(entry of target): %v", pc)
	}

	out.Reset()
	if err := run([]string{"buildid", bin}, &out); err != nil || out.String() != id+"\n" {
		t.Errorf("buildid: %q, %v; want %s", out.String(), err, id)
	}

	// A second run changes nothing.
	var out2 bytes.Buffer
	if err := run([]string{"hpinfo", "-symbol", symHPInfo, bin}, &out2); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) || out2.String() != m[0] {
		t.Errorf("second hpinfo run changed the file (%v) or printed %q", !bytes.Equal(first, second), out2.String())
	}

	t.Run("refusals", func(t *testing.T) { testHPInfoRefusals(t, orig, first, off) })
}

// testHPInfoRefusals runs hpinfo and buildid on broken copies of the
// image (orig before hpinfo, linked after).
func testHPInfoRefusals(t *testing.T, orig, linked []byte, off uint64) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The info symbol's name, corrupted in .strtab.
	renamed := bytes.Clone(orig)
	suffix := []byte("/hotpatch/selfimage.info\x00")
	i := bytes.Index(renamed, suffix)
	if i < 0 || bytes.Count(renamed, suffix) != 1 {
		t.Fatal("symbol name not found once in the image")
	}
	renamed[i+len(suffix)-5] = 'j' // ...selfimage.jnfo
	badMagic := bytes.Clone(orig)
	badMagic[off] = 'X'
	badMagicLinked := bytes.Clone(linked)
	badMagicLinked[off+3] = 'x'
	notPL := write("not-post-linked", orig)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"hpinfo", write("renamed", renamed)}, "selfimage.info not found in .symtab"},
		{[]string{"buildid", write("renamed2", renamed)}, "selfimage.info not found in .symtab"},
		{[]string{"hpinfo", "-symbol", "main.nosuch", notPL}, "main.nosuch not found in .symtab"},
		{[]string{"hpinfo", "-symbol", "main.main", notPL}, "not the info array"},
		{[]string{"hpinfo", write("bad-magic", badMagic)}, `not the "TVHPINFO" magic`},
		{[]string{"buildid", write("bad-magic-linked", badMagicLinked)}, `not the "TVHPINFO" magic`},
		{[]string{"buildid", notPL}, "not post-linked"},
		{[]string{"hpinfo", write("not-elf", []byte("not an ELF file"))}, "not an ELF image"},
		{[]string{"buildid", write("not-elf-long", bytes.Repeat([]byte("not an ELF file"), 10))}, "not an ELF image: bad magic number"},
		{[]string{"hpinfo", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"hpinfo"}, "usage"},
		{[]string{"hpinfo", notPL, notPL}, "usage"},
		{[]string{"buildid", "-bogus", notPL}, "usage"},
	} {
		before, _ := os.ReadFile(c.args[len(c.args)-1])
		var out bytes.Buffer
		err := run(c.args, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.args, err, c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%q printed %q", c.args, out.String())
		}
		if after, _ := os.ReadFile(c.args[len(c.args)-1]); !bytes.Equal(before, after) {
			t.Errorf("%q changed the file", c.args)
		}
	}
}

// TestHPInfoStripped: an image linked with -s has no .symtab, and hpinfo
// says so.
func TestHPInfoStripped(t *testing.T) {
	bin := buildSelfProg(t, "-s")
	var out bytes.Buffer
	if err := run([]string{"hpinfo", bin}, &out); err == nil || !strings.Contains(err.Error(), "stripped") {
		t.Errorf("stripped image: %v", err)
	}
}

func TestFileOffset(t *testing.T) {
	f := &elf.File{Progs: []*elf.Prog{
		{ProgHeader: elf.ProgHeader{Type: elf.PT_NOTE, Off: 0x100, Vaddr: 0x5000, Filesz: 0x1000, Memsz: 0x1000}},
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Off: 0x1000, Vaddr: 0x40_0000, Filesz: 0x2000, Memsz: 0x2000}},
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Off: 0x3000, Vaddr: 0x50_0000, Filesz: 0x1000, Memsz: 0x8000}},
	}}
	const flen = 0x4000
	for _, c := range []struct {
		va, size uint64
		off      uint64
		ok       bool
	}{
		{0x40_0000, 0x2000, 0x1000, true},
		{0x40_1000, 0x10, 0x2000, true},
		{0x50_0ff0, 0x10, 0x3ff0, true},
		{0x40_1ff0, 0x20, 0, false},           // runs past the segment
		{0x50_0ff0, 0x20, 0, false},           // runs into .bss
		{0x50_2000, 0x10, 0, false},           // in .bss
		{0x5000, 0x10, 0, false},              // PT_NOTE only
		{0x60_0000, 0x10, 0, false},           // nowhere
		{0x40_0010, ^uint64(0) - 8, 0, false}, // size wraps
	} {
		off, err := fileOffset(f, flen, c.va, c.size)
		if (err == nil) != c.ok || off != c.off {
			t.Errorf("fileOffset(%#x, %#x) = %#x, %v", c.va, c.size, off, err)
		}
	}
	// A segment whose file bytes are claimed past the end of the file.
	if _, err := fileOffset(f, 0x3800, 0x50_0ff0, 0x10); err == nil {
		t.Error("offset past the end of the file accepted")
	}
}

func TestImageSymbols(t *testing.T) {
	fn := elf.ST_INFO(elf.STB_GLOBAL, elf.STT_FUNC)
	obj := elf.ST_INFO(elf.STB_GLOBAL, elf.STT_OBJECT)
	long := strings.Repeat("x", selfimage.MaxName+1)
	got, nf, no, skipped := imageSymbols([]elf.Symbol{
		{Name: "main.main", Info: fn, Value: 0x1000, Size: 0x40},
		{Name: "runtime.text", Info: fn, Value: 0x1000, Size: 0},
		{Name: "main.data", Info: obj, Value: 0x9000, Size: 8},
		{Name: "type:*", Info: obj, Value: 0x8000, Size: 0},
		{Name: "local.f", Info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_FUNC), Value: 0x1040, Size: 0x10},
		{Name: long, Info: fn, Value: 0x2000, Size: 0x10},
		{Name: "dup", Info: obj, Value: 0x9100, Size: 8},
		{Name: "dup", Info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_OBJECT), Value: 0x9200, Size: 8},
		{Name: "sect", Info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_SECTION), Value: 0x9300},
	})
	want := []selfimage.Sym{
		{Name: "main.main", Addr: 0x1000, Size: 0x40, Kind: selfimage.Func},
		{Name: "main.data", Addr: 0x9000, Size: 8, Kind: selfimage.Object},
		{Name: "type:*", Addr: 0x8000, Size: 0, Kind: selfimage.Object},
		{Name: "local.f", Addr: 0x1040, Size: 0x10, Kind: selfimage.Func},
	}
	if !slices.Equal(got, want) || nf != 2 || no != 2 || skipped != 3 {
		t.Errorf("imageSymbols: %v, %d funcs, %d objects, %d skipped", got, nf, no, skipped)
	}
}
