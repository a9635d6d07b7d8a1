// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

// symImage is a payload.Image over an ELF image's whole .symtab:
// functions, objects, regions and markers, as the NEW image has them in
// the relink tests.
type symImage struct {
	im *image
	id []byte
}

func (s symImage) Arch() payload.Arch { return s.im.arch }
func (s symImage) BuildID() []byte    { return s.id }
func (s symImage) Symbol(name string) (addr, size uint64, ok bool) {
	if f := s.im.funcs[name]; f != nil {
		return f.addr, f.size, true
	}
	if o := s.im.byName[name]; o != nil {
		return o.addr, o.size, true
	}
	return 0, 0, false
}

// relinkOne builds a one-function payload from f of NEW against OLD,
// links it at f's own address resolving names in NEW, and compares the
// result with f's bytes. It returns the refusals.
func relinkOne(t *testing.T, old, new *image, f *fn) []refusal {
	t.Helper()
	relocs, rs := relocate(old, new, f, 0)
	if len(rs) > 0 {
		return rs
	}
	if f.s.addr%payload.TextAlign != 0 {
		t.Errorf("%s at %#x not aligned", f.s.name, f.s.addr)
		return nil
	}
	p := &payload.Payload{Name: "relink", Arch: new.arch, BuildID: []byte{1}, Text: f.code, Relocs: relocs,
		Funcs: []payload.Func{{Name: f.s.name, Size: uint32(len(f.code)), OldSize: f.s.size}}}
	got, err := p.Link(symImage{im: new}, f.s.addr)
	if err != nil {
		t.Errorf("%s: link: %v", f.s.name, err)
		return nil
	}
	if !bytes.Equal(got, f.code) {
		for i := range got {
			if got[i] != f.code[i] {
				t.Errorf("%s: relinked bytes differ first at +%#x", f.s.name, i)
				break
			}
		}
	}
	return nil
}

var hexNumber = regexp.MustCompile(`0x[0-9a-f]+|[0-9]+`)

// TestRelinkRealImages treats every function of the tamavisor images
// under build/ as changed and checks that its relocations, linked at its
// own address against its own image, give back its bytes exactly: a
// check of every site kind and addend over a few hundred thousand real
// instructions. The refusals are summarised in the log; a reference
// into type:* that is not understood fails the test.
func TestRelinkRealImages(t *testing.T) {
	for _, board := range []string{"qemu-q35-amd64", "qemu-virt-arm64"} {
		t.Run(board, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "build", board, "tamavisor.elf.link"))
			if err != nil {
				t.Skipf("no image: %v", err)
			}
			im, err := openImage("NEW", b)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(im.funcs))
			for n := range im.funcs {
				names = append(names, n)
			}
			sort.Strings(names)
			reasons := map[string]int{}
			ok, sites := 0, 0
			for i, n := range names {
				if im.dups[n] || (raceEnabled && i%16 != 0) {
					continue
				}
				f, err := im.decode(im.funcs[n])
				if err != nil {
					t.Fatal(err)
				}
				sites += len(f.sites)
				rs := relinkOne(t, im, im, f)
				if len(rs) == 0 {
					ok++
				}
				for _, r := range rs {
					// Every reference into type:* must be understood:
					// a descriptor, a header field or a kind field
					// (reflect.(*rtype).ptrTo copies a PtrType whole).
					if strings.Contains(r.why, "not a type descriptor") {
						t.Errorf("%s: %s", n, r.why)
					}
					why := hexNumber.ReplaceAllString(r.why, "N")
					if i := strings.Index(why, " ("); i > 0 && !strings.HasPrefix(why, "unnamed") {
						why = why[:i]
					}
					reasons[why]++
				}
			}
			t.Logf("%d of %d functions relinked exactly (%d PC-relative sites)", ok, len(names), sites)
			for r, n := range reasons {
				t.Logf("%6d × %s", n, r)
			}
		})
	}
}
