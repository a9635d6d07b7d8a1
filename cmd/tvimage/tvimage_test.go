// cmd/tvimage: post-link tool that makes bootable tamavisor images.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/image/multiboot2"
)

func TestHeaderChoices(t *testing.T) {
	for _, bs := range []bool{true, false} {
		o := defaultMB2
		o.efiBS = bs
		b, err := header(0x1009_cda0, o).Encode()
		if err != nil {
			t.Fatal(err)
		}
		h, err := multiboot2.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		r := h.Relocatable
		if r == nil || r.MinAddr != relocMin || r.MaxAddr != relocMax || r.Align != 2<<20 || r.Preference != multiboot2.RelocPreferenceHigh {
			t.Errorf("relocatable %+v", r)
		}
		if h.EFIBootServices != bs || h.EFIAmd64Entry == nil || *h.EFIAmd64Entry != 0x1009_cda0 || h.ModuleAlign == false {
			t.Errorf("efi bs %v (want %v), entry %v, module align %v", h.EFIBootServices, bs, h.EFIAmd64Entry, h.ModuleAlign)
		}
		// The request is optional so BIOS loaders, which have no EFI
		// tags, still boot the image.
		if len(h.InfoRequestsRequired) != 0 || len(h.InfoRequests) != len(requestedTags) {
			t.Errorf("info requests %v required=%v", h.InfoRequests, h.InfoRequestsRequired)
		}
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "x")
	if err := os.WriteFile(notELF, []byte("not an ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		nil,
		{"frobnicate", notELF},
		{"mb2", "-o", filepath.Join(dir, "out")},
		{"mb2", "-o", filepath.Join(dir, "out"), notELF},
		{"efi", "-o", filepath.Join(dir, "out"), notELF},
		{"mb2", "-reloc-min", "0x100000000", "-o", filepath.Join(dir, "out"), notELF},
		{"show", notELF},
		{"mb2", "-bogus", notELF},
	} {
		var out bytes.Buffer
		if err := run(args, &out); err == nil {
			t.Errorf("%q: no error", args)
		}
		if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
			t.Fatalf("%q: wrote output despite the error", args)
		}
	}
}

// TestRealImage runs the tool on the linker's output when it has been
// built (make image BOARD=qemu-q35-amd64).
func TestRealImage(t *testing.T) {
	in := filepath.Join("..", "..", "build", "qemu-q35-amd64", "tamavisor.elf.link")
	if _, err := os.Stat(in); err != nil {
		t.Skipf("%s not built", in)
	}
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"mb2", "-o", filepath.Join(dir, "mb2.elf"), in}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "reserved: 0x10000000-0x20000000") {
		t.Errorf("output: %s", out.String())
	}
	// A window too small for the RAM window is refused.
	err := run([]string{"mb2", "-reloc-min", "0x10000000", "-reloc-max", "0x18000000", "-o", filepath.Join(dir, "bad.elf"), in}, &out)
	if err == nil || !strings.Contains(err.Error(), "cannot hold") {
		t.Errorf("small window: %v", err)
	}
	if err := run([]string{"efi", "-o", filepath.Join(dir, "BOOTX64.EFI"), in}, &out); err != nil {
		t.Fatal(err)
	}
}
