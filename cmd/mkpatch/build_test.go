// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tamavisor/tamavisor/hotpatch/gofunc"
	"github.com/tamavisor/tamavisor/hotpatch/payload"
	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
)

// fixtureInfo is the info array of testdata/prog.
const fixtureInfo = "main.info"

var fixtureDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "mkpatch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fixtureDir = d
	code := m.Run()
	if os.Getenv("MKPATCH_KEEP") == "" {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// tamagoGo returns the TamaGo toolchain's go command ($TAMAGO, else the
// default install under ~/.cache), skipping the test when there is none
// unless TAMAVISOR_REQUIRE_TOOLCHAIN=1.
func tamagoGo(t *testing.T) string {
	t.Helper()
	tg := os.Getenv("TAMAGO")
	if tg == "" {
		home, _ := os.UserHomeDir()
		tg = filepath.Join(home, ".cache", "tamago-go", "tamago-go1.25.7", "bin", "go")
	}
	if _, err := os.Stat(tg); err != nil {
		if os.Getenv("TAMAVISOR_REQUIRE_TOOLCHAIN") == "1" {
			t.Fatalf("TamaGo toolchain %s: %v (TAMAVISOR_REQUIRE_TOOLCHAIN=1)", tg, err)
		}
		t.Skipf("TamaGo toolchain %s not installed (set $TAMAGO): skipping the fixture builds", tg)
	}
	return tg
}

var fixtures = struct {
	sync.Mutex
	built map[string][]byte
	errs  map[string]error
}{built: map[string][]byte{}, errs: map[string]error{}}

// fixture returns testdata/prog with variants/variant/v.go built for
// linux/arch. The "old" variant is post-linked by `tvimage hpinfo
// -symbol main.info`, as the running image would be.
func fixture(t *testing.T, arch, variant string) []byte {
	t.Helper()
	tg := tamagoGo(t)
	fixtures.Lock()
	defer fixtures.Unlock()
	key := arch + "-" + variant
	if b, ok := fixtures.built[key]; ok {
		return b
	}
	if err, ok := fixtures.errs[key]; ok {
		t.Fatal(err)
	}
	b, err := buildFixture(tg, arch, variant)
	if err != nil {
		fixtures.errs[key] = err
		t.Fatal(err)
	}
	fixtures.built[key] = b
	return b
}

func buildFixture(tg, arch, variant string) ([]byte, error) {
	src := filepath.Join(fixtureDir, key(arch, variant))
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	for _, f := range []string{"testdata/prog/go.mod", "testdata/prog/main.go", "testdata/prog/variants/" + variant + "/v.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(src, filepath.Base(f)), b, 0o644); err != nil {
			return nil, err
		}
	}
	out := src + ".elf"
	cmd := exec.Command(tg, "build", "-trimpath", "-buildvcs=false", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", src, err, b)
	}
	if variant == "old" {
		tv, err := tvimage()
		if err != nil {
			return nil, err
		}
		if b, err := exec.Command(tv, "hpinfo", "-symbol", fixtureInfo, out).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("tvimage hpinfo %s: %v\n%s", out, err, b)
		}
	}
	return os.ReadFile(out)
}

func key(arch, variant string) string { return arch + "-" + variant }

var tvimage = sync.OnceValues(func() (string, error) {
	out := filepath.Join(fixtureDir, "tvimage")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/tvimage")
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cmd/tvimage: %v\n%s", err, b)
	}
	return out, nil
})

// symsOf opens an image for the tests.
func symsOf(t *testing.T, what string, b []byte) *image {
	t.Helper()
	im, err := openImage(what, b)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// selfImage parses OLD's post-linked info array, the running image's
// view of itself.
func selfImage(t *testing.T, old *image) *selfimage.Image {
	t.Helper()
	s := old.byName[fixtureInfo]
	b, _ := old.bytesAt(s.addr, s.size)
	img, err := selfimage.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var arches = []string{"amd64", "arm64"}

// TestBuildFixed is the key test: the payload from (old, fixed), linked
// at NEW's address of each function against NEW's symbols, must give
// NEW's bytes exactly; it must carry OLD's build-id and old sizes, parse,
// open with the signing key and pass Check against OLD.
func TestBuildFixed(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			oldB, newB := fixture(t, arch, "old"), fixture(t, arch, "fixed")
			dir := t.TempDir()
			oldF, newF := filepath.Join(dir, "old.elf"), filepath.Join(dir, "new.elf")
			os.WriteFile(oldF, oldB, 0o644)
			os.WriteFile(newF, newB, 0o644)
			var out bytes.Buffer
			if err := run([]string{"keygen", "-o", filepath.Join(dir, "k")}, &out); err != nil {
				t.Fatal(err)
			}
			pf := filepath.Join(dir, "fix.tvp")
			out.Reset()
			err := run([]string{"build", "-old", oldF, "-new", newF, "-name", "fix-limit", "-symbol", fixtureInfo,
				"-depends", "0102", "-k", filepath.Join(dir, "k.key"), "-o", pf}, &out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("report:\n%s", out.String())
			pubHex, _ := os.ReadFile(filepath.Join(dir, "k.pub"))
			pub, _ := hex.DecodeString(strings.TrimSpace(string(pubHex)))
			signed, _ := os.ReadFile(pf)
			p, err := payload.Open(signed, []ed25519.PublicKey{pub})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			old, new := symsOf(t, "OLD", oldB), symsOf(t, "NEW", newB)
			self := selfImage(t, old)
			if !bytes.Equal(p.BuildID, self.BuildID()) || !bytes.Equal(p.Depends, []byte{1, 2}) || p.Name != "fix-limit" {
				t.Errorf("build-id %x (OLD %x), depends %x, name %q", p.BuildID, self.BuildID(), p.Depends, p.Name)
			}
			var names []string
			for _, f := range p.Funcs {
				names = append(names, f.Name)
				if f.OldSize != old.funcs[f.Name].size {
					t.Errorf("%s: OldSize %#x, OLD's st_size %#x", f.Name, f.OldSize, old.funcs[f.Name].size)
				}
				if !strings.Contains(out.String(), f.Name) {
					t.Errorf("report does not name %s", f.Name)
				}
			}
			slices.Sort(names)
			if want := []string{"main.checkLimit", "main.process"}; !slices.Equal(names, want) {
				t.Errorf("replaced %q, want %q", names, want)
			}
			kinds := map[payload.RelocKind]int{}
			for _, r := range p.Relocs {
				kinds[r.Kind]++
			}
			t.Logf("relocations: %v", kinds)
			relink(t, p, new)
			// The runtime tables are NEW's, in payload order, and
			// cover each function's code exactly.
			fs, err := gofunc.Decode(p.PCLN)
			if err != nil || len(fs) != len(p.Funcs) {
				t.Fatalf("PCLN: %d funcs, %v", len(fs), err)
			}
			for i, f := range p.Funcs {
				if fs[i].Name != f.Name || fs[i].Size != f.Size || uint64(f.Size) < new.funcs[f.Name].size {
					t.Errorf("PCLN[%d] %s size %#x; payload %s size %#x (st_size %#x)", i, fs[i].Name, fs[i].Size, f.Name, f.Size, new.funcs[f.Name].size)
				}
			}
			// The payload applies to the running image.
			textAddr := (old.hi + 1<<20) &^ (1<<20 - 1)
			if err := p.Check(self, textAddr, nil); err != nil {
				t.Errorf("Check against OLD: %v", err)
			}
			// ... and not to NEW.
			other := *p
			other.BuildID = []byte{0xde, 0xad}
			if err := other.Check(self, textAddr, nil); !errors.Is(err, payload.ErrBuildID) {
				t.Errorf("Check with another build-id: %v", err)
			}
		})
	}
}

// relink links each function of p at NEW's address of it, resolving
// names in NEW, and compares with NEW's bytes.
func relink(t *testing.T, p *payload.Payload, new *image) {
	t.Helper()
	for _, f := range p.Funcs {
		ns := new.funcs[f.Name]
		got, err := p.Link(symImage{im: new}, ns.addr-uint64(f.Offset))
		if err != nil {
			t.Errorf("%s: Link: %v", f.Name, err)
			continue
		}
		want, _ := new.bytesAt(ns.addr, uint64(f.Size))
		if g := got[f.Offset : f.Offset+f.Size]; !bytes.Equal(g, want) {
			t.Errorf("%s: linked at NEW's %#x:\n got % x\nwant % x", f.Name, ns.addr, g, want)
		}
	}
}

// TestBuildUnchanged: the same tree twice has nothing to patch.
func TestBuildUnchanged(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			b := fixture(t, arch, "old")
			_, err := build(buildOptions{old: b, new: b, name: "none", symbol: fixtureInfo})
			if !errors.Is(err, errNoChange) || !strings.Contains(err.Error(), "no functions changed") {
				t.Errorf("got %v, want %v", err, errNoChange)
			}
		})
	}
}

// TestBuildFuncFlag checks -func: it restricts the set, and each named
// function must exist and have changed.
func TestBuildFuncFlag(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			o := buildOptions{old: fixture(t, arch, "old"), new: fixture(t, arch, "fixed"), name: "f", symbol: fixtureInfo}
			o.funcs = []string{"main.checkLimit"}
			r, err := build(o)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.p.Funcs) != 1 || r.p.Funcs[0].Name != "main.checkLimit" || !slices.Equal(r.skipped, []string{"main.process"}) {
				t.Errorf("funcs %+v, skipped %q", r.p.Funcs, r.skipped)
			}
			var out bytes.Buffer
			r.report(&out, "")
			if !strings.Contains(out.String(), "left out by -func: main.process") {
				t.Errorf("report:\n%s", out.String())
			}
			relink(t, r.p, symsOf(t, "NEW", o.new))
			for _, c := range []struct {
				fn   string
				want error
				sub  string
			}{
				{"main.classify", errNoChange, "main.classify is unchanged"},
				{"main.nosuch", nil, "no such function in NEW"},
			} {
				o.funcs = []string{"main.checkLimit", c.fn}
				_, err := build(o)
				if err == nil || !strings.Contains(err.Error(), c.sub) || (c.want != nil && !errors.Is(err, c.want)) {
					t.Errorf("-func %s: %v, want %q", c.fn, err, c.sub)
				}
			}
		})
	}
}

// TestBuildRefusals checks that each unsound change is refused with the
// function, the offset and the reason.
func TestBuildRefusals(t *testing.T) {
	for _, arch := range arches {
		for _, c := range []struct{ variant, sub string }{
			{"newglobal", "main.process+0x"},
			{"newglobal", "new global variable main.extra"},
			{"layout", "type main.T changed layout or moved"},
			{"newfunc", "new function main.newHelper (not in OLD)"},
			{"jumptable", "main.classify+0x"},
			{"jumptable", "jump table"},
		} {
			t.Run(arch+"/"+c.variant, func(t *testing.T) {
				_, err := build(buildOptions{old: fixture(t, arch, "old"), new: fixture(t, arch, c.variant), name: "x", symbol: fixtureInfo})
				if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), c.sub) {
					t.Errorf("got %v\nwant %v with %q", err, errRefused, c.sub)
				}
			})
		}
	}
}

// TestBuildUsage checks the command line of build.
func TestBuildUsage(t *testing.T) {
	var out bytes.Buffer
	for _, a := range [][]string{
		{"build"},
		{"build", "-old", "a", "-new", "b"},
		{"build", "-old", "a", "-new", "b", "-name", "n", "-k", "key"},
		{"build", "-old", "a", "-new", "b", "-name", "n", "extra"},
	} {
		if err := run(a, &out); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v", a, err)
		}
	}
	if err := run([]string{"build", "-old", "a", "-new", "b", "-name", "n", "-depends", "xyz"}, &out); err == nil || !strings.Contains(err.Error(), "-depends") {
		t.Errorf("bad -depends: %v", err)
	}
	if err := run([]string{"build", "-old", "/nonexistent", "-new", "b", "-name", "n"}, &out); err == nil {
		t.Error("missing OLD accepted")
	}
}
